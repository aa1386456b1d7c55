//! `amiset unreferenced` (DESIGN §9), pure over files and Git: every AMI id
//! a config repository references, in its work tree and in the last N
//! commits that changed the config (the rollback window), and the images EC2
//! listed that none of them names.
//!
//! References are found by scanning the raw text of every config file for
//! AMI ids, so a file that does not parse, a revoked id in `amiset.toml` or
//! an id in a comment still counts as referenced; and, for a file that
//! parses, in every string value as TOML decodes it, so an id written with
//! escapes (`"ami-\u0037..."`) or across a line continuation counts too.
//! An image that anything mentions is never listed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use git2::Repository;

use crate::config::{Content, Inputs, Limits};
use crate::ec2::images::{Found, NamedImage};
use crate::git::{self, GitError};

/// Every AMI id (`ami-` and 8 or 17 hex digits) in `bytes`.
pub fn ami_ids_in(bytes: &[u8], out: &mut BTreeSet<String>) {
    let mut i = 0;
    while let Some(pos) = find(&bytes[i..], b"ami-") {
        let start = i + pos;
        let hex_start = start + 4;
        let len = bytes[hex_start..].iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let before_ok = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric());
        if before_ok && (len == 8 || len == 17) {
            let id = String::from_utf8_lossy(&bytes[start..hex_start + len]).to_ascii_lowercase();
            out.insert(id);
        }
        i = hex_start + len;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Adds the AMI ids of every readable file of `inputs`.
pub fn ids_in_inputs(inputs: &Inputs, out: &mut BTreeSet<String>) {
    for f in &inputs.files {
        if let Content::Bytes(b) = &f.content {
            ami_ids_in(b, out);
            ids_in_decoded(&f.path, b, out);
        }
    }
}

/// The AMI ids in the string values (and keys) of a TOML file as they
/// decode, where the raw text may spell them with escapes.
fn ids_in_decoded(path: &str, bytes: &[u8], out: &mut BTreeSet<String>) {
    fn walk(value: &serde_json::Value, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::String(s) => ami_ids_in(s.as_bytes(), out),
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| {
                ami_ids_in(k.as_bytes(), out);
                walk(v, out);
            }),
            _ => {}
        }
    }
    if !path.ends_with(".toml") || !bytes.contains(&b'\\') {
        return; // Without a backslash, TOML decodes no string differently from its text.
    }
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Ok((_, json)) = crate::config::doc::Doc::parse_json(path, std::sync::Arc::from(text))
    {
        walk(&json, out);
    }
}

/// How much of a file [`ami_ids_in_reader`] holds at once.
const CHUNK: usize = 64 * 1024;
/// The longest id with the byte before it: a match that may continue past a
/// chunk's end starts within this many bytes of it.
const CARRY: usize = 1 + 4 + 17 + 1;

/// The AMI ids of everything `reader` yields, holding at most a chunk (and
/// a few bytes carried over) in memory: for files over the size limit.
pub fn ami_ids_in_reader(mut reader: impl std::io::Read, out: &mut BTreeSet<String>) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + CARRY);
    let mut chunk = vec![0u8; CHUNK];
    // Whether `buf[0]` is the first byte of the file (nothing before it).
    let mut at_start = true;
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let eof = n == 0;
        buf.extend_from_slice(&chunk[..n]);
        scan(&buf, at_start, eof, out);
        if eof {
            return Ok(());
        }
        if buf.len() > CARRY {
            buf.drain(..buf.len() - CARRY);
            at_start = false;
        }
    }
}

/// [`ami_ids_in`] over a window of a stream: a match at the window's start
/// counts only at the stream's start (else the byte before it is unknown and
/// the match is seen again in the next window, which carries it), and one
/// whose hex digits reach the window's end only at the end of the stream.
fn scan(bytes: &[u8], at_start: bool, eof: bool, out: &mut BTreeSet<String>) {
    let mut i = 0;
    while let Some(pos) = find(&bytes[i..], b"ami-") {
        let start = i + pos;
        let hex_start = start + 4;
        let len = bytes[hex_start..].iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let before_ok = if start == 0 {
            at_start
        } else {
            !bytes[start - 1].is_ascii_alphanumeric()
        };
        let ended = eof || hex_start + len < bytes.len();
        if before_ok && ended && (len == 8 || len == 17) {
            let id = String::from_utf8_lossy(&bytes[start..hex_start + len]).to_ascii_lowercase();
            out.insert(id);
        }
        i = hex_start + len;
    }
}

/// Adds the AMI ids of the files of `inputs` read from the work tree `dir`
/// that were over the size limit, streaming each.
fn ids_in_large_files(dir: &Path, inputs: &Inputs, out: &mut BTreeSet<String>) -> Result<(), String> {
    for f in &inputs.files {
        if let Content::TooLarge(_) = f.content {
            let file = crate::config::load::open_file(dir, &f.path).map_err(|e| e.to_string())?;
            if let Some(file) = file {
                ami_ids_in_reader(file, out).map_err(|e| format!("cannot read `{}`: {e}", dir.join(&f.path).display()))?;
            }
        }
    }
    Ok(())
}

/// Where references come from.
pub struct Sources<'a> {
    /// The config directory in the work tree, if there is one.
    pub work_tree: Option<&'a Path>,
    /// The repository and the config directory relative to its root.
    pub repo: Option<(&'a Repository, &'a str)>,
    /// How many of the latest commits that changed the config count.
    pub keep_revisions: usize,
}

/// The commits (newest first) whose config differs from their first
/// parent's, at most `n`, following first parents only from HEAD: the
/// revisions the branch itself had. Commits that a merge brought in from a
/// side branch are not revisions the branch ever ran, and do not fill the
/// window; the merge commit counts when it changed the config.
pub fn config_commits(repo: &Repository, dir: &str, n: usize) -> Result<Vec<git2::Oid>, GitError> {
    let mut out = Vec::new();
    if n == 0 {
        return Ok(out);
    }
    let Ok(head) = repo.head() else { return Ok(out) };
    let mut next = Some(head.peel_to_commit()?);
    while let Some(commit) = next {
        let parent = commit.parents().next();
        let mine = git::config_entries(repo, &commit.tree()?, dir)?;
        let changed = match &parent {
            None => !mine.is_empty(),
            Some(parent) => git::config_entries(repo, &parent.tree()?, dir)? != mine,
        };
        if changed {
            out.push(commit.id());
            if out.len() == n {
                break;
            }
        }
        next = parent;
    }
    Ok(out)
}

/// Every AMI id referenced by the work tree and the rollback window. In a
/// bare repository HEAD's tree stands for the work tree, so the config the
/// branch has now always counts, whatever the window.
pub fn references(sources: &Sources<'_>, limits: &Limits) -> Result<BTreeSet<String>, String> {
    let mut out = BTreeSet::new();
    if let Some(dir) = sources.work_tree {
        let inputs = crate::config::load::read_dir(dir, limits).map_err(|e| e.to_string())?;
        every_file_read(&inputs, limits, "the work tree")?;
        ids_in_inputs(&inputs, &mut out);
        // Every file counts, whatever its size: those over the limit are streamed.
        ids_in_large_files(dir, &inputs, &mut out)?;
    }
    if let Some((repo, dir)) = sources.repo {
        let git_err = |e: GitError| e.to_string();
        let mut trees = Vec::new();
        if sources.work_tree.is_none() && repo.head().is_ok() {
            trees.push(("HEAD".to_string(), git::tree_at(repo, "HEAD").map_err(git_err)?));
        }
        for id in config_commits(repo, dir, sources.keep_revisions).map_err(git_err)? {
            let tree = repo.find_commit(id).and_then(|c| c.tree()).map_err(|e| e.message().to_string())?;
            trees.push((format!("commit {id}"), tree));
        }
        // No size limit here: a large file must still count as a reference.
        let unlimited = Limits {
            max_file_size: u64::MAX,
            ..limits.clone()
        };
        for (what, tree) in trees {
            let inputs = git::tree_inputs(repo, &tree, dir, &unlimited).map_err(git_err)?;
            every_file_read(&inputs, limits, &what)?;
            ids_in_inputs(&inputs, &mut out);
        }
    }
    Ok(out)
}

/// An error when `inputs` stopped at the file count limit: an image
/// referenced only by a file past it would be called unreferenced.
fn every_file_read(inputs: &Inputs, limits: &Limits, what: &str) -> Result<(), String> {
    let count = inputs
        .files
        .iter()
        .filter(|f| f.path.starts_with("ami-sets/") || f.path.starts_with("worker-types/"))
        .count();
    if count > limits.max_files {
        return Err(format!(
            "{what} has more than {} files in `ami-sets/` and `worker-types/`; every file must be read before an image is called unreferenced: raise `--max-files`",
            limits.max_files
        ));
    }
    Ok(())
}

/// The images of `found` that `referenced` does not name, per region that
/// could be read; regions that could not are left out (the caller reports them).
pub fn unreferenced(found: &Found, referenced: &BTreeSet<String>) -> BTreeMap<String, Vec<NamedImage>> {
    found
        .iter()
        .filter_map(|(region, answer)| answer.as_ref().ok().map(|images| (region, images)))
        .map(|(region, images)| {
            let list = images
                .iter()
                .filter(|i| !referenced.contains(&i.id.to_ascii_lowercase()))
                .cloned()
                .collect();
            (region.clone(), list)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ids_of_both_lengths_and_nothing_else() {
        let mut out = BTreeSet::new();
        ami_ids_in(
            b"hvm = \"ami-0123456789abcdef0\" # was ami-0a1b2c3d\nx=\"ami-123\" y=\"xami-0a1b2c3e\" z=ami-0a1b2c3d4 AMI-0A1B2C3F",
            &mut out,
        );
        let want: BTreeSet<String> = ["ami-0123456789abcdef0", "ami-0a1b2c3d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(out, want);
    }

    /// An id that TOML decodes from escapes or a line continuation is a
    /// reference, as `check` and `resolve` read it.
    #[test]
    fn ids_spelled_with_escapes_or_continuations_are_references() {
        let text = "[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-\\u0037000000000000000a\"\n\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"\"\"ami-7000000\\\n   000000000b\"\"\"\n";
        let (_, json) = crate::config::doc::Doc::parse_json("ami-sets/s.toml", std::sync::Arc::from(text)).unwrap();
        assert_eq!(
            json["amis"][0]["hvm"], "ami-7000000000000000a",
            "the escape decodes as check reads it"
        );
        assert_eq!(json["amis"][1]["hvm"], "ami-7000000000000000b");
        let inputs = Inputs {
            files: vec![crate::config::InputFile {
                path: "ami-sets/s.toml".into(),
                content: Content::Bytes(text.as_bytes().to_vec()),
            }],
        };
        let mut out = BTreeSet::new();
        ids_in_inputs(&inputs, &mut out);
        let want: BTreeSet<String> = ["ami-7000000000000000a", "ami-7000000000000000b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(out, want);
    }

    /// A reader that yields at most `step` bytes per call.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.data.len().min(self.step).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn streaming_finds_what_reading_the_whole_file_finds_at_every_chunk_boundary() {
        // Ids, near-ids and ids glued to letters, placed so that some cross
        // the boundaries of 64 KiB chunks at every offset.
        let pieces: [&[u8]; 6] = [
            b"ami-0a1b2c3d ",
            b"xami-0b1b2c3d ",
            b"ami-0123456789abcdef0\n",
            b"ami-0c1b2c3d4 ",
            b"ami-0d1b2c3dzz",
            b"AMI-0E1B2C3D;",
        ];
        for shift in 0..24 {
            let mut data = vec![b'#'; CHUNK - 12 + shift];
            for (k, p) in pieces.iter().cycle().take(40).enumerate() {
                data.extend_from_slice(p);
                data.extend(std::iter::repeat_n(b' ', k % 5));
            }
            data.extend(vec![b'.'; CHUNK]);
            data.extend_from_slice(b"ami-0f1b2c3d");
            let mut whole = BTreeSet::new();
            ami_ids_in(&data, &mut whole);
            let want: BTreeSet<String> = ["ami-0a1b2c3d", "ami-0123456789abcdef0", "ami-0d1b2c3d", "ami-0f1b2c3d"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            assert_eq!(whole, want);
            for step in [CHUNK, 7, CHUNK - 1] {
                let mut streamed = BTreeSet::new();
                ami_ids_in_reader(Trickle { data: &data, step }, &mut streamed).unwrap();
                assert_eq!(streamed, whole, "shift {shift}, step {step}");
            }
        }
        // At the very start of the stream, and a file that is only an id.
        let mut got = BTreeSet::new();
        ami_ids_in_reader(&b"ami-0a1b2c3d"[..], &mut got).unwrap();
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec!["ami-0a1b2c3d".to_string()]);
    }
}
