//! Editing config files in place, with `toml_edit`, so that comments, key
//! order and the layout of everything else stay exactly as they were. Every
//! command that writes a config file edits through here: `migrate`
//! (switching a worker type to `amiSetId` and removing its raw `ImageId`s,
//! writing a new AMI set file), `update` and `promote` (an AMI set's ids and
//! `[workerConfig]`).

use toml_edit::{DocumentMut, Item, Key, TableLike, Value};

use crate::config::model::{AmiEntry, Arch, Virt};

/// Keys after which `amiSetId` is placed, in order of preference, else
/// before which: DESIGN's example order is `description`, `owner`,
/// `amiSetId`, `minCapacity`, `maxCapacity` (which every worker type has).
const AFTER: [&str; 2] = ["owner", "description"];
const BEFORE: [&str; 2] = ["minCapacity", "maxCapacity"];

/// Rewrites a worker type file: adds `amiSetId = "<set_id>"` and removes
/// `ImageId` from every `regions[].launchSpec` (a `launchSpec` left empty
/// goes too). Everything else keeps its text.
pub fn switch_worker_type(text: &str, set_id: &str) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| e.message().to_string())?;
    let root = doc.as_table_mut();
    if root.contains_key("amiSetId") {
        return Err("it already has `amiSetId`".into());
    }
    let regions = root.get_mut("regions").ok_or("it has no `regions`")?;
    let mut removed = 0usize;
    match regions {
        Item::ArrayOfTables(aot) => {
            for table in aot.iter_mut() {
                removed += remove_image_id(table);
            }
        }
        Item::Value(Value::Array(array)) => {
            for value in array.iter_mut() {
                if let Some(table) = value.as_inline_table_mut() {
                    removed += remove_image_id(table);
                }
            }
        }
        _ => return Err("`regions` is not an array of tables".into()),
    }
    if removed == 0 {
        return Err("it has no raw `ImageId`".into());
    }
    insert_by_anchor(root, "amiSetId", set_id);
    let out = doc.to_string();
    // toml_edit writes `\n`; a file checked out with CRLF keeps its line endings.
    if text.contains("\r\n") {
        return Ok(out.replace("\r\n", "\n").replace('\n', "\r\n"));
    }
    Ok(out)
}

/// Rewrites AMI ids of an AMI set file in place: for each `(region, arch,
/// virt, ami)`, the `hvm`/`pv` value of the `[[amis]]` entry of that region
/// and arch becomes `ami`. Only those string values change; comments, order,
/// quoting style of other values and layout stay. An entry or key that is
/// not there is an error (nothing is added).
pub fn set_ami_ids(text: &str, changes: &[(&str, Arch, Virt, &str)]) -> Result<String, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| e.message().to_string())?;
    for (region, arch, virt, ami) in changes {
        let entry = find_entry(doc.as_table_mut(), region, *arch)
            .ok_or_else(|| format!("it has no `[[amis]]` entry for {region} {}", arch.as_str()))?;
        let key = virt.as_str();
        let Some(Item::Value(old)) = entry.get_mut(key) else {
            return Err(format!("its entry for {region} {} has no `{key}`", arch.as_str()));
        };
        let decor = old.decor().clone();
        let mut new = Value::from(*ami);
        *new.decor_mut() = decor;
        *old = new;
    }
    let out = doc.to_string();
    if text.contains("\r\n") {
        return Ok(out.replace("\r\n", "\n").replace('\n', "\r\n"));
    }
    Ok(out)
}

/// Makes the `workerConfig` of an AMI set file the one of `from_text` (an
/// AMI set file too), copied with its own text and comments; when `from_text`
/// has none, the file's `workerConfig` is removed. Everything else keeps its
/// text. A `[workerConfig]` table the file did not have is added after its
/// last table.
pub fn set_worker_config(text: &str, from_text: &str) -> Result<String, String> {
    let parse = |t: &str| t.parse::<DocumentMut>().map_err(|e: toml_edit::TomlError| e.message().to_string());
    let (mut doc, from) = (parse(text)?, parse(from_text)?);
    let root = doc.as_table_mut();
    let old_tables = root.get("workerConfig").map(|item| {
        let mut positions = Vec::new();
        table_positions(item, &mut positions);
        positions
    });
    root.remove("workerConfig");
    if let Some(item) = from.as_table().get("workerConfig") {
        let mut item = item.clone();
        let mut copied = Vec::new();
        table_positions(&item, &mut copied);
        copied.sort_unstable();
        // Where TO's own `[workerConfig]` was, else after the last table.
        let start = match old_tables.and_then(|p| p.into_iter().min()) {
            Some(first) => first,
            None => {
                let mut all = Vec::new();
                for (_, other) in root.iter() {
                    table_positions(other, &mut all);
                }
                all.into_iter().max().map_or(0, |m| m + 1)
            }
        };
        let count = copied.len() as isize;
        // Tables at or after the insertion point move down to make room.
        for (_, other) in root.iter_mut() {
            map_positions(other, &|p| if p >= start { p + count } else { p });
        }
        // FROM's tables keep their order among themselves.
        map_positions(&mut item, &|p| start + copied.iter().position(|c| *c == p).unwrap_or(0) as isize);
        root.insert("workerConfig", item);
    }
    let out = doc.to_string();
    if text.contains("\r\n") {
        return Ok(out.replace("\r\n", "\n").replace('\n', "\r\n"));
    }
    Ok(out)
}

/// The document positions of every (sub)table of `item`.
fn table_positions(item: &Item, out: &mut Vec<isize>) {
    match item {
        Item::Table(t) => {
            out.extend(t.position());
            for (_, child) in t.iter() {
                table_positions(child, out);
            }
        }
        Item::ArrayOfTables(aot) => {
            for t in aot.iter() {
                out.extend(t.position());
                for (_, child) in t.iter() {
                    table_positions(child, out);
                }
            }
        }
        _ => {}
    }
}

/// Replaces the document position `p` of every (sub)table of `item` by `f(p)`.
fn map_positions(item: &mut Item, f: &dyn Fn(isize) -> isize) {
    let one = |t: &mut toml_edit::Table| {
        if let Some(p) = t.position() {
            t.set_position(Some(f(p)));
        }
        for (_, child) in t.iter_mut() {
            map_positions(child, f);
        }
    };
    match item {
        Item::Table(t) => one(t),
        Item::ArrayOfTables(aot) => aot.iter_mut().for_each(one),
        _ => {}
    }
}

/// The `[[amis]]` entry (array of tables or inline array) for `region` and `arch`.
fn find_entry<'a>(root: &'a mut toml_edit::Table, region: &str, arch: Arch) -> Option<&'a mut dyn TableLike> {
    let matches = |t: &dyn TableLike| {
        let r = t.get("region").and_then(Item::as_str);
        let a = t.get("arch").and_then(Item::as_str).unwrap_or("x86_64");
        r == Some(region) && a == arch.as_str()
    };
    match root.get_mut("amis")? {
        Item::ArrayOfTables(aot) => aot.iter_mut().find(|t| matches(*t)).map(|t| t as &mut dyn TableLike),
        Item::Value(Value::Array(array)) => array
            .iter_mut()
            .filter_map(Value::as_inline_table_mut)
            .find(|t| matches(*t))
            .map(|t| t as &mut dyn TableLike),
        _ => None,
    }
}

/// Removes `launchSpec.ImageId` from one region entry; returns how many were removed.
fn remove_image_id(region: &mut dyn TableLike) -> usize {
    let Some(spec) = region.get_mut("launchSpec") else { return 0 };
    let emptied = match spec {
        Item::Table(table) => {
            if table.remove("ImageId").is_none() {
                return 0;
            }
            // A header table whose decor carries a comment stays, empty, so the comment is not lost.
            let commented = table.decor().prefix().and_then(|p| p.as_str()).is_some_and(|p| p.contains('#'));
            table.is_empty() && !commented
        }
        Item::Value(Value::InlineTable(table)) => {
            if !table.contains_key("ImageId") {
                return 0;
            }
            remove_keeping_spacing(table, "ImageId");
            table.is_empty()
        }
        _ => return 0,
    };
    if emptied {
        remove_keeping_spacing(region, "launchSpec");
    }
    1
}

/// Removes `key` from a table; in an inline table whose last value it was,
/// the space before `}` moves to the new last value.
fn remove_keeping_spacing(table: &mut dyn TableLike, key: &str) {
    let was_last = table.iter().last().is_some_and(|(k, _)| k == key);
    let suffix = match table.remove(key) {
        Some(Item::Value(v)) if was_last => v.decor().suffix().cloned(),
        _ => None,
    };
    if let (Some(suffix), Some((_, Item::Value(last)))) = (suffix, table.iter_mut().last()) {
        last.decor_mut().set_suffix(suffix);
    }
}

/// Inserts `key = "value"` among the root's key-values: after the first
/// [`AFTER`] key present, else before the first [`BEFORE`] key (taking over
/// the comment above it, so the comment stays at the top), else last.
fn insert_by_anchor(root: &mut toml_edit::Table, key: &str, value: &str) {
    let keys: Vec<String> = root.iter().map(|(k, _)| k.to_string()).collect();
    let find = |names: &[&str]| names.iter().find_map(|a| keys.iter().position(|k| k == a));
    let mut new_key = Key::new(key);
    let rank = match (find(&AFTER), find(&BEFORE)) {
        (Some(after), _) => 2 * after + 1,
        (None, Some(before)) => {
            if let Some(mut anchor) = root.key_mut(&keys[before])
                && let Some(prefix) = anchor.leaf_decor().prefix().cloned()
            {
                anchor.leaf_decor_mut().set_prefix("");
                new_key.leaf_decor_mut().set_prefix(prefix);
            }
            2 * before
        }
        (None, None) => 2 * keys.len(),
    };
    root.insert_formatted(&new_key, toml_edit::value(value));
    sort_new_key(root, &keys, rank);
}

/// Stable sort of the root's items by original position, with the one new key at `rank`
/// (existing key `i` has rank `2 * i`; a tie puts the new key first).
fn sort_new_key(root: &mut toml_edit::Table, keys: &[String], rank: usize) {
    let rank_of = |k: &Key| -> (usize, usize) {
        match keys.iter().position(|o| o.as_str() == k.get()) {
            Some(i) => (2 * i, 1),
            None => (rank, 0),
        }
    };
    root.sort_values_by(|k1, _, k2, _| rank_of(k1).cmp(&rank_of(k2)));
}

/// The text of a new AMI set file holding `entries`, created for `workers`.
pub fn new_set_text(workers: &[String], entries: &[AmiEntry]) -> String {
    let mut doc = DocumentMut::new();
    let names: Vec<String> = workers.iter().map(|w| format!("`{w}`")).collect();
    let plural = if workers.len() == 1 { "" } else { "s" };
    let description = format!("Moved from the raw ImageIds of worker type{plural} {}", names.join(", "));
    doc.insert("description", toml_edit::value(description));
    let mut amis = toml_edit::ArrayOfTables::new();
    for entry in entries {
        let mut table = toml_edit::Table::new();
        table.insert("region", toml_edit::value(entry.region.as_str()));
        if entry.arch != Arch::X86_64 {
            table.insert("arch", toml_edit::value(entry.arch.as_str()));
        }
        if let Some(hvm) = &entry.hvm {
            table.insert("hvm", toml_edit::value(hvm.as_str()));
        }
        if let Some(pv) = &entry.pv {
            table.insert("pv", toml_edit::value(pv.as_str()));
        }
        amis.push(table);
    }
    doc.insert("amis", Item::ArrayOfTables(amis));
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_launch_spec_keeps_other_keys_and_spacing() {
        let text = "maxCapacity = 1\n\n[[regions]]\nregion = \"us-east-1\"\nlaunchSpec = { SubnetId = \"s\", ImageId = \"ami-12345678\" }\n\n[[regions]]\nregion = \"us-west-2\"\nlaunchSpec = { ImageId = \"ami-12345679\", SubnetId = \"t\" }\n";
        let out = switch_worker_type(text, "x").unwrap();
        assert_eq!(
            out,
            "amiSetId = \"x\"\nmaxCapacity = 1\n\n[[regions]]\nregion = \"us-east-1\"\nlaunchSpec = { SubnetId = \"s\" }\n\n[[regions]]\nregion = \"us-west-2\"\nlaunchSpec = { SubnetId = \"t\" }\n"
        );
    }

    #[test]
    fn emptied_launch_spec_is_removed_and_set_id_follows_owner() {
        let text = "# header\ndescription = \"d\"\nowner = \"o\" # who\nmaxCapacity = 1\n\n[[regions]]\nregion = \"us-east-1\"\nlaunchSpec = { ImageId = \"ami-12345678\" }\n";
        let out = switch_worker_type(text, "x").unwrap();
        assert_eq!(
            out,
            "# header\ndescription = \"d\"\nowner = \"o\" # who\namiSetId = \"x\"\nmaxCapacity = 1\n\n[[regions]]\nregion = \"us-east-1\"\n"
        );
    }

    #[test]
    fn without_description_or_owner_set_id_goes_before_capacity_under_the_header_comment() {
        let text = "# header\n\nmaxCapacity = 1\nregions = [{ region = \"us-east-1\", launchSpec = { ImageId = \"ami-12345678\" } }]\n";
        let out = switch_worker_type(text, "x").unwrap();
        assert_eq!(
            out,
            "# header\n\namiSetId = \"x\"\nmaxCapacity = 1\nregions = [{ region = \"us-east-1\" }]\n"
        );
    }

    #[test]
    fn crlf_files_keep_crlf() {
        let text = "# c\r\nmaxCapacity = 1\r\n\r\n[[regions]]\r\nregion = \"us-east-1\"\r\nlaunchSpec = { ImageId = \"ami-12345678\", KeyName = \"k\" }\r\n";
        let out = switch_worker_type(text, "x").unwrap();
        assert_eq!(
            out,
            "# c\r\namiSetId = \"x\"\r\nmaxCapacity = 1\r\n\r\n[[regions]]\r\nregion = \"us-east-1\"\r\nlaunchSpec = { KeyName = \"k\" }\r\n"
        );
    }

    #[test]
    fn set_ami_ids_changes_only_the_ids() {
        let text = "# Ubuntu\n[source]\nname = \"u-*\"\n\n[[amis]] # east\nregion = \"us-east-1\"\nhvm = 'ami-00000001' # x\npv  = \"ami-00000002\"\n\n[[amis]]\nregion = \"us-east-1\"\narch = \"arm64\"\nhvm = \"ami-00000003\"\n";
        let out = set_ami_ids(
            text,
            &[
                ("us-east-1", Arch::X86_64, Virt::Hvm, "ami-0000000a"),
                ("us-east-1", Arch::Arm64, Virt::Hvm, "ami-0000000b"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "# Ubuntu\n[source]\nname = \"u-*\"\n\n[[amis]] # east\nregion = \"us-east-1\"\nhvm = \"ami-0000000a\" # x\npv  = \"ami-00000002\"\n\n[[amis]]\nregion = \"us-east-1\"\narch = \"arm64\"\nhvm = \"ami-0000000b\"\n"
        );
        let inline = "amis = [ { region = \"eu-west-1\", pv = \"ami-00000001\" } ]\n";
        assert_eq!(
            set_ami_ids(inline, &[("eu-west-1", Arch::X86_64, Virt::Pv, "ami-00000009")]).unwrap(),
            "amis = [ { region = \"eu-west-1\", pv = \"ami-00000009\" } ]\n"
        );
        assert!(set_ami_ids(inline, &[("eu-west-1", Arch::X86_64, Virt::Hvm, "ami-00000009")]).is_err());
        assert!(set_ami_ids(inline, &[("us-west-1", Arch::X86_64, Virt::Pv, "ami-00000009")]).is_err());
    }

    #[test]
    fn refuses_files_it_cannot_edit() {
        assert!(switch_worker_type("amiSetId = \"a\"\n", "x").is_err());
        assert!(switch_worker_type("[[regions]]\nregion = \"us-east-1\"\n", "x").is_err());
        assert!(switch_worker_type("regions = 3\n", "x").is_err());
        assert!(switch_worker_type("= broken", "x").is_err());
    }
}
