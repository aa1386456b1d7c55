//! `amiset lsp` end to end: the real binary over stdio, driven with
//! JSON-RPC (tests/common/lsp.rs). Expected ranges are computed here from
//! the texts (UTF-16 columns counted independently of the server).

mod common;

use std::fs;
use std::path::Path;

use common::lsp::{Client, find, pos, uri};
use serde_json::{Value, json};

const POLICY: &str = "regions = [\"us-east-1\", \"us-west-2\"]\nlegacyImageIds = \"warn\"\n\n[teams]\n\"@example/relops\" = [\"@alice\"]\n";
const SCOPES: &str = "aws-provisioner:admin    @example/relops\n";
const SET: &str = "description = \"Ubuntu 22.04\"\n\n[[amis]]\nregion = \"us-east-1\"\nhvm = \"ami-0123456789abcdef0\"\n\n[[amis]]\nregion = \"us-west-2\"\nhvm = \"ami-0a1b2c3d4e5f60718\"\n";
const ARM_SET: &str = "[[amis]]\nregion = \"us-east-1\"\narch = \"arm64\"\nhvm = \"ami-0fedcba9876543210\"\n";
/// Two mistakes, the second on a line with non-ASCII text before it.
const BROKEN: &str = "# Linux workers — ünïcode 😀\ndescription = \"Ünïcode 😀 workers\"\namiSetId = \"ubuntu-2024\"\nmaxCapacity = 5\nregions = [{ region = \"us-west-2\", launchSpec = { KeyName = \"clé-😀\" } }, { region = \"us-esat-1\" }]\n\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n";
const FIXED: &str = "# Linux workers — ünïcode 😀\ndescription = \"Ünïcode 😀 workers\"\namiSetId = \"ubuntu-2204\"\nmaxCapacity = 5\nregions = [{ region = \"us-west-2\", launchSpec = { KeyName = \"clé-😀\" } }, { region = \"us-east-1\" }]\n\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n";
const ARM_WORKER: &str = "amiSetId = \"ubuntu-2204\"\nmaxCapacity = 2\n\n[[instanceTypes]]\ninstanceType = \"m6g.large\"\n\n[[regions]]\nregion = \"us-east-1\"\n";
const LEGACY: &str = "maxCapacity = 1\n\n[[instanceTypes]]\ninstanceType = \"m5.large\"\n\n[[regions]]\nregion = \"us-east-1\"\nlaunchSpec = { ImageId = \"ami-0123abcd\" }\n";

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
}

/// A repository whose only worker type on disk is valid.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("amiset.toml", POLICY),
            ("SCOPES", SCOPES),
            ("ami-sets/ubuntu-2204.toml", SET),
            ("worker-types/linux.toml", FIXED),
        ],
    );
    dir
}

fn server() -> Client {
    Client::start(Path::new(env!("CARGO_BIN_EXE_amiset")))
}

fn codes(diags: &[Value]) -> Vec<&str> {
    let mut c: Vec<&str> = diags.iter().map(|d| d["code"].as_str().expect("a string code")).collect();
    c.sort();
    c
}

fn range_of(text: &str, needle: &str) -> Value {
    let (line, character) = find(text, needle);
    let end = character + needle.encode_utf16().count() as u32;
    json!({"start": pos(line, character), "end": pos(line, end)})
}

#[test]
fn diagnostics_carry_code_severity_and_utf16_range_and_clear_when_fixed() {
    let dir = repo();
    let wt = uri(&dir.path().join("worker-types/linux.toml"));
    let set = uri(&dir.path().join("ami-sets/ubuntu-2204.toml"));
    let mut c = server();
    let p = c.published(|c| c.open(&wt, BROKEN));
    let diags = &p[&wt];
    assert_eq!(codes(diags), ["ref::unknown-ami-set", "region::unknown"]);
    let region = diags.iter().find(|d| d["code"] == "region::unknown").unwrap();
    // `"us-esat-1"` comes after `clé-😀` on its line: 3 UTF-16 units fewer than bytes before it.
    assert_eq!(region["range"], range_of(BROKEN, "\"us-esat-1\""));
    assert_eq!(region["range"]["start"]["character"], 85);
    assert_eq!(region["severity"], 1);
    assert_eq!(region["source"], "amiset");
    assert!(
        region["message"].as_str().unwrap().contains("did you mean `us-east-1`?"),
        "{region}"
    );
    let unknown = diags.iter().find(|d| d["code"] == "ref::unknown-ami-set").unwrap();
    assert_eq!(unknown["range"], range_of(BROKEN, "\"ubuntu-2024\""));
    // Nothing uses the set now: a warning on the set file, which is not even open.
    assert_eq!(codes(&p[&set]), ["ami-set::unused"]);
    assert_eq!(p[&set][0]["severity"], 2);

    let p = c.published(|c| c.change(&wt, 2, FIXED));
    assert_eq!(p.get(&wt), Some(&vec![]), "a file that became valid gets an empty list");
    assert_eq!(p.get(&set), Some(&vec![]), "the set is used again");
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn editing_a_set_rediagnoses_its_worker_types_and_closing_falls_back_to_disk() {
    let dir = repo();
    write(dir.path(), &[("worker-types/arm.toml", ARM_WORKER)]);
    let arm = uri(&dir.path().join("worker-types/arm.toml"));
    let set = uri(&dir.path().join("ami-sets/ubuntu-2204.toml"));
    let mut c = server();
    let p = c.published(|c| c.open(&arm, ARM_WORKER));
    assert_eq!(codes(&p[&arm]), ["resolve::no-usable-ami"]);
    assert_eq!(p[&arm][0]["range"], range_of(ARM_WORKER, "\"m6g.large\""));

    let with_arm = format!("{SET}\n{ARM_SET}");
    let p = c.published(|c| {
        c.open(&set, SET);
        c.change(&set, 2, &with_arm);
    });
    assert_eq!(p.get(&arm), Some(&vec![]), "the set now has arm64 in us-east-1: {p:?}");

    // The disk still has the set without arm64.
    let p = c.published(|c| c.close(&set));
    assert_eq!(codes(&p[&arm]), ["resolve::no-usable-ami"]);
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn definition_references_and_hover() {
    let dir = repo();
    write(dir.path(), &[("worker-types/arm.toml", ARM_WORKER)]);
    let wt_path = dir.path().join("worker-types/linux.toml");
    let wt = uri(&wt_path);
    let set = uri(&dir.path().join("ami-sets/ubuntu-2204.toml"));
    let mut c = server();
    c.open(&wt, FIXED);

    let (line, ch) = find(FIXED, "ubuntu-2204");
    let at = json!({"textDocument": {"uri": wt}, "position": pos(line, ch + 3)});
    let def = c.request("textDocument/definition", at.clone());
    assert_eq!(def["result"]["uri"], set.as_str(), "{def}");

    // A team in SCOPES leads to its `[teams]` entry.
    let scopes = uri(&dir.path().join("SCOPES"));
    c.open(&scopes, SCOPES);
    let (line, ch) = find(SCOPES, "@example/relops");
    let def = c.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": scopes}, "position": pos(line, ch + 2)}),
    );
    assert_eq!(def["result"]["uri"], uri(&dir.path().join("amiset.toml")).as_str());
    assert_eq!(def["result"]["range"], range_of(POLICY, "\"@example/relops\""));

    // References of the set: both worker types, at their amiSetId values.
    let refs = c.request(
        "textDocument/references",
        json!({"textDocument": {"uri": set}, "position": pos(0, 0), "context": {"includeDeclaration": false}}),
    );
    let mut got: Vec<(String, Value)> = refs["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["uri"].as_str().unwrap().to_string(), l["range"].clone()))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let arm = uri(&dir.path().join("worker-types/arm.toml"));
    assert_eq!(
        got,
        [
            (arm, range_of(ARM_WORKER, "\"ubuntu-2204\"")),
            (wt.clone(), range_of(FIXED, "\"ubuntu-2204\""))
        ]
    );

    // Hover on amiSetId: the images per region and arch, and who uses the set.
    let hover = c.request("textDocument/hover", at);
    let text = hover["result"]["contents"]["value"].as_str().unwrap();
    for needle in ["ami-0123456789abcdef0", "ami-0a1b2c3d4e5f60718", "us-west-2", "`arm`", "`linux`"] {
        assert!(text.contains(needle), "hover lacks {needle}: {text}");
    }
    // Hover on a key: its schema description.
    let schema: Value =
        serde_json::from_str(&fs::read_to_string(common::manifest_dir().join("schemas/worker-type.schema.json")).unwrap()).unwrap();
    let description = schema["properties"]["amiSetId"]["description"].as_str().unwrap();
    let hover = c.request("textDocument/hover", json!({"textDocument": {"uri": wt}, "position": pos(2, 2)}));
    assert!(
        hover["result"]["contents"]["value"].as_str().unwrap().contains(description),
        "{hover}"
    );
    // Hover on an AMI id: where it is used.
    let set_text = SET;
    c.open(&set, set_text);
    let (line, ch) = find(set_text, "ami-0a1b2c3d4e5f60718");
    let hover = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": set}, "position": pos(line, ch + 5)}),
    );
    let text = hover["result"]["contents"]["value"].as_str().unwrap();
    assert!(text.contains("AMI set `ubuntu-2204`: us-west-2 x86_64 hvm"), "{text}");
    assert_eq!(c.shutdown(), 0);
}

fn labels(completion: &Value) -> Vec<String> {
    let items = completion["result"]
        .as_array()
        .or_else(|| completion["result"]["items"].as_array())
        .expect("items");
    items.iter().map(|i| i["label"].as_str().unwrap().to_string()).collect()
}

#[test]
fn completion_offers_set_ids_policy_regions_instance_types_and_schema_keys() {
    let dir = repo();
    write(dir.path(), &[("ami-sets/windows-2022.toml", SET)]);
    let wt = uri(&dir.path().join("worker-types/new.toml"));
    let mut c = server();
    let typing = "amiSetId = \"ubu\n";
    c.open(&wt, typing);
    let done = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": wt}, "position": pos(0, 14)}),
    );
    assert_eq!(labels(&done), ["ubuntu-2204", "windows-2022"]);
    let edit = &done["result"][0]["textEdit"];
    assert_eq!(edit["range"], json!({"start": pos(0, 12), "end": pos(0, 14)}));
    assert_eq!(edit["newText"], "ubuntu-2204");

    let typing = "maxCapacity = 1\n[[regions]]\nregion = \n";
    c.change(&wt, 2, typing);
    let done = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": wt}, "position": pos(2, 9)}),
    );
    assert_eq!(labels(&done), ["us-east-1", "us-west-2"], "the policy's regions");
    assert_eq!(done["result"][0]["textEdit"]["newText"], "\"us-east-1\"");

    let typing = "[[instanceTypes]]\ninstanceType = \"m6\n";
    c.change(&wt, 3, typing);
    let done = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": wt}, "position": pos(1, 18)}),
    );
    let got = labels(&done);
    assert!(got.contains(&"m6g.".to_string()) && got.contains(&"m5.".to_string()), "{got:?}");

    let typing = "[[instanceTypes]]\nca\n";
    c.change(&wt, 4, typing);
    let done = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": wt}, "position": pos(1, 2)}),
    );
    let got = labels(&done);
    for key in ["instanceType", "capacity", "utility", "launchSpec"] {
        assert!(got.contains(&key.to_string()), "{key} missing from {got:?}");
    }
    assert!(
        !got.contains(&"amiSetId".to_string()),
        "top-level keys offered inside [[instanceTypes]]: {got:?}"
    );
    let top = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": wt}, "position": pos(0, 0)}),
    );
    let item = top["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "amiSetId")
        .expect("amiSetId offered");
    assert!(item["documentation"]["value"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn code_actions_apply_did_you_mean_and_move_raw_image_ids_into_a_set() {
    let dir = repo();
    write(dir.path(), &[("worker-types/old.toml", LEGACY)]);
    let wt = uri(&dir.path().join("worker-types/linux.toml"));
    // A client that applies edits which create files, as VS Code and Neovim do.
    let capabilities =
        json!({"workspace": {"workspaceEdit": {"documentChanges": true, "resourceOperations": ["create", "rename", "delete"]}}});
    let (mut c, _) = Client::start_with(
        Path::new(env!("CARGO_BIN_EXE_amiset")),
        json!({"processId": null, "rootUri": null, "capabilities": capabilities}),
    );
    c.open(&wt, BROKEN);
    let range = range_of(BROKEN, "\"us-esat-1\"");
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": wt}, "range": range, "context": {"diagnostics": []}}),
    );
    let actions = actions["result"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0]["kind"], "quickfix");
    assert_eq!(actions[0]["diagnostics"][0]["code"], "region::unknown");
    // The edit replaces the text inside the quotes, so the quoting style stays.
    assert_eq!(
        actions[0]["edit"]["changes"][&wt],
        json!([{"range": range_of(BROKEN, "us-esat-1"), "newText": "us-east-1"}])
    );

    // A set id with no close match: the help says to create the set.
    let far = FIXED.replace("\"ubuntu-2204\"", "\"centos-7\"");
    c.change(&wt, 2, &far);
    let range = range_of(&far, "\"centos-7\"");
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": wt}, "range": range, "context": {"diagnostics": []}}),
    );
    let ops = &actions["result"][0]["edit"]["documentChanges"];
    let new_set = uri(&dir.path().join("ami-sets/centos-7.toml"));
    assert_eq!(ops[0], json!({"kind": "create", "uri": new_set}), "{actions}");
    assert_eq!(ops[1]["textDocument"]["uri"], new_set.as_str());
    assert!(ops[1]["edits"][0]["newText"].as_str().unwrap().contains("region = \"us-east-1\""));

    // A set's id in another case is no set to create: the file would collide with it.
    let cased = FIXED.replace("\"ubuntu-2204\"", "\"UBUNTU-2204\"");
    c.change(&wt, 3, &cased);
    let range = range_of(&cased, "\"UBUNTU-2204\"");
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": wt}, "range": range, "context": {"diagnostics": []}}),
    );
    let titles: Vec<&str> = actions["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert!(!titles.iter().any(|t| t.starts_with("Create AMI set")), "{titles:?}");

    let old = uri(&dir.path().join("worker-types/old.toml"));
    c.open(&old, LEGACY);
    let range = range_of(LEGACY, "ImageId");
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": old}, "range": range, "context": {"diagnostics": []}}),
    );
    let action = actions["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["diagnostics"][0]["code"] == "policy::legacy-image-id")
        .expect("a migrate action");
    let ops = action["edit"]["documentChanges"].as_array().unwrap();
    let created: Vec<&str> = ops
        .iter()
        .filter(|o| o["kind"] == "create")
        .map(|o| o["uri"].as_str().unwrap())
        .collect();
    assert_eq!(created.len(), 1, "{ops:?}");
    assert!(created[0].contains("/ami-sets/"), "{created:?}");
    let worker_edit = ops
        .iter()
        .find(|o| o["textDocument"]["uri"] == old.as_str())
        .expect("the worker type is rewritten");
    let new_text = worker_edit["edits"][0]["newText"].as_str().unwrap();
    assert!(new_text.contains("amiSetId") && !new_text.contains("ImageId"), "{new_text}");
    assert_eq!(c.shutdown(), 0);

    // A client that cannot create files is offered no action that would.
    let mut c = server();
    c.open(&wt, &far);
    c.open(&old, LEGACY);
    for (doc, text, needle) in [(&wt, far.as_str(), "\"centos-7\""), (&old, LEGACY, "ImageId")] {
        let actions = c.request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": doc}, "range": range_of(text, needle), "context": {"diagnostics": []}}),
        );
        assert!(
            actions["result"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["edit"]["documentChanges"].is_null()),
            "{actions}"
        );
    }
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn hostile_input_never_ends_the_session() {
    let dir = repo();
    // Another file on disk is not UTF-8.
    fs::write(dir.path().join("ami-sets/bad.toml"), b"description = \"\xff\"\n").unwrap();
    let wt = uri(&dir.path().join("worker-types/linux.toml"));
    let mut c = server();

    // Malformed JSON-RPC: not JSON, JSON that is no message, bytes that are not UTF-8.
    for (body, code) in [
        (&b"{\"jsonrpc\": 2.0, "[..], -32700),
        (&b"[1, 2, 3]"[..], -32600),
        (&b"\xff\xfe{}"[..], -32700),
    ] {
        c.send_body(body);
        let r = c.response(&Value::Null);
        assert_eq!(r["error"]["code"], code, "{r}");
    }
    let r = c.request("textDocument/hover", json!("not params"));
    assert_eq!(r["error"]["code"], -32602);
    let r = c.request("workspace/nonsense", json!({}));
    assert_eq!(r["error"]["code"], -32601);

    // Requests about files nobody opened, outside any repository, or that do not exist.
    let elsewhere = tempfile::tempdir().unwrap();
    let stray = uri(&elsewhere.path().join("x.toml"));
    for u in [stray.as_str(), "file:///nonexistent/worker-types/x.toml", "untitled:Untitled-1"] {
        let at = json!({"textDocument": {"uri": u}, "position": pos(0, 0)});
        for method in ["textDocument/definition", "textDocument/hover", "textDocument/completion"] {
            let r = c.request(method, at.clone());
            assert_eq!(r["result"], Value::Null, "{method} {u}: {r}");
        }
    }
    // A file outside any config repository gets no diagnostics.
    let p = c.published(|c| c.open(&stray, "this is = = not toml"));
    assert!(p.is_empty(), "{p:?}");

    // The invalid UTF-8 file on disk is reported once its repository is read.
    let p = c.published(|c| c.open(&wt, FIXED));
    let bad = uri(&dir.path().join("ami-sets/bad.toml"));
    assert_eq!(codes(&p[&bad]), ["file::invalid-utf8"]);

    // A 20 MB buffer is over the size limit: a finding, not a crash.
    let huge = format!("description = \"{}\"\n", "x".repeat(20 * 1024 * 1024));
    let p = c.published(|c| c.change(&wt, 2, &huge));
    assert_eq!(codes(&p[&wt]), ["limits::file-too-large"]);
    let r = c.request("textDocument/hover", json!({"textDocument": {"uri": wt}, "position": pos(0, 3)}));
    assert_eq!(r["result"], Value::Null);
    let p = c.published(|c| c.change(&wt, 3, FIXED));
    assert_eq!(p.get(&wt), Some(&vec![]));
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn each_workspace_folder_is_its_own_repository_diagnosed_before_anything_is_opened() {
    let a = repo();
    let b = repo();
    // In b, the worker type names a set that only a has.
    fs::remove_file(b.path().join("ami-sets/ubuntu-2204.toml")).unwrap();
    write(b.path(), &[("ami-sets/only-arm.toml", ARM_SET), ("ami-sets/other.toml", SET)]);
    let wa = uri(&a.path().join("worker-types/linux.toml"));
    let wb = uri(&b.path().join("worker-types/linux.toml"));
    let folders = json!([
        {"uri": uri(a.path()), "name": "a"},
        // A folder inside a repository belongs to that repository.
        {"uri": uri(&b.path().join("worker-types")), "name": "b"},
    ]);
    let (mut c, _) = Client::start_with(
        Path::new(env!("CARGO_BIN_EXE_amiset")),
        json!({"processId": null, "rootUri": null, "capabilities": {}, "workspaceFolders": folders}),
    );
    // Each folder's repository is read and diagnosed at `initialized`, nothing opened.
    let p = c.published(|_| {});
    let only_arm = uri(&b.path().join("ami-sets/only-arm.toml"));
    let other = uri(&b.path().join("ami-sets/other.toml"));
    let files: Vec<&String> = p.keys().collect();
    assert_eq!(files, [&only_arm, &other, &wb], "only b has findings: {p:?}");
    assert_eq!(codes(&p[&wb]), ["ref::unknown-ami-set"]);
    assert_eq!(p[&wb][0]["range"], range_of(FIXED, "\"ubuntu-2204\""));
    assert_eq!(codes(&p[&only_arm]), ["ami-set::unused"]);
    // Opening the files changes nothing: the same text as on disk.
    let p = c.published(|c| {
        c.open(&wa, FIXED);
        c.open(&wb, FIXED);
    });
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(c.shutdown(), 0);

    // Without folders nothing is read until a file is opened.
    let mut c = server();
    let p = c.published(|_| {});
    assert!(p.is_empty(), "{p:?}");
    let p = c.published(|c| c.open(&wb, FIXED));
    assert_eq!(codes(&p[&wb]), ["ref::unknown-ami-set"]);
    assert!(!p.contains_key(&wa));
    assert_eq!(c.shutdown(), 0);
}

/// A client that can register file watchers, with `folders`; and its `initialize` response.
fn watching_client(folders: &[&Path], relative: bool) -> (Client, Value) {
    let folders: Vec<Value> = folders.iter().map(|f| json!({"uri": uri(f), "name": "f"})).collect();
    let watch = if relative {
        json!({"dynamicRegistration": true, "relativePatternSupport": true})
    } else {
        json!({"dynamicRegistration": true})
    };
    Client::start_with(
        Path::new(env!("CARGO_BIN_EXE_amiset")),
        json!({
            "processId": null,
            "rootUri": null,
            "capabilities": {"workspace": {"didChangeWatchedFiles": watch}},
            "workspaceFolders": folders,
        }),
    )
}

/// The watchers of every `client/registerCapability` received so far, per registration.
fn registered(c: &Client) -> Vec<Vec<Value>> {
    c.requests
        .iter()
        .filter(|r| r["method"] == "client/registerCapability")
        .flat_map(|r| r["params"]["registrations"].as_array().unwrap().clone())
        .map(|reg| {
            assert_eq!(reg["method"], "workspace/didChangeWatchedFiles", "{reg}");
            reg["registerOptions"]["watchers"].as_array().unwrap().clone()
        })
        .collect()
}

const WATCHED: [&str; 7] = [
    "amiset.toml",
    "SCOPES",
    "offerings.json",
    "ami-sets",
    "ami-sets/*",
    "worker-types",
    "worker-types/*",
];

#[test]
fn watchers_are_registered_for_each_repository_when_the_client_can_register_them() {
    let a = repo();
    let b = repo();
    let (mut c, _) = watching_client(&[a.path()], true);
    c.published(|_| {});
    let expected: Vec<Value> = WATCHED
        .iter()
        .map(|p| json!({"globPattern": {"baseUri": uri(a.path()), "pattern": p}}))
        .collect();
    assert_eq!(registered(&c), std::slice::from_ref(&expected));
    // A file of another repository, opened later: its watchers too, once.
    let wb = uri(&b.path().join("worker-types/linux.toml"));
    c.published(|c| {
        c.open(&wb, FIXED);
        c.change(&wb, 2, SET);
        c.change(&wb, 3, FIXED);
    });
    let for_b: Vec<Value> = WATCHED
        .iter()
        .map(|p| json!({"globPattern": {"baseUri": uri(b.path()), "pattern": p}}))
        .collect();
    assert_eq!(registered(&c), [expected, for_b]);
    assert_eq!(c.shutdown(), 0);

    // Without relative patterns: absolute globs.
    let (mut c, _) = watching_client(&[a.path()], false);
    c.published(|_| {});
    let root = a.path().to_str().unwrap();
    let expected: Vec<Value> = WATCHED.iter().map(|p| json!({"globPattern": format!("{root}/{p}")})).collect();
    assert_eq!(registered(&c), [expected]);
    assert_eq!(c.shutdown(), 0);

    // A client that cannot register watchers is not asked to.
    let mut c = server();
    let wa = uri(&a.path().join("worker-types/linux.toml"));
    c.published(|c| c.open(&wa, FIXED));
    assert!(c.requests.is_empty(), "{:?}", c.requests);
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn a_set_renamed_on_disk_rediagnoses_the_worker_types_that_use_it_and_open_buffers_win() {
    let dir = repo();
    write(dir.path(), &[("worker-types/arm.toml", ARM_WORKER)]);
    let linux = uri(&dir.path().join("worker-types/linux.toml"));
    let arm = uri(&dir.path().join("worker-types/arm.toml"));
    let old = uri(&dir.path().join("ami-sets/ubuntu-2204.toml"));
    let new = uri(&dir.path().join("ami-sets/ubuntu-2404.toml"));
    let (mut c, _) = watching_client(&[dir.path()], false);
    let p = c.published(|_| {});
    assert_eq!(codes(&p[&arm]), ["resolve::no-usable-ami"]);
    assert!(!p.contains_key(&linux), "{p:?}");

    // The arm worker type is open with unsaved text that names the new set.
    let arm_text = ARM_WORKER.replace("ubuntu-2204", "ubuntu-2404");
    let p = c.published(|c| c.open(&arm, &arm_text));
    assert_eq!(codes(&p[&arm]), ["ref::unknown-ami-set"]);
    // A branch switch renames the set (a delete and a create) and rewrites arm.toml on disk.
    fs::rename(
        dir.path().join("ami-sets/ubuntu-2204.toml"),
        dir.path().join("ami-sets/ubuntu-2404.toml"),
    )
    .unwrap();
    fs::write(dir.path().join("worker-types/arm.toml"), "this is = = not toml").unwrap();
    let p = c.published(|c| c.watched(&[(&old, 3), (&new, 1), (&arm, 2)]));
    // linux.toml is not open: it now names a set that does not exist.
    assert_eq!(codes(&p[&linux]), ["ref::unknown-ami-set"], "{p:?}");
    assert_eq!(p[&linux][0]["range"], range_of(FIXED, "\"ubuntu-2204\""));
    // The open buffer of arm.toml keeps precedence over the disk: it uses the renamed set.
    assert_eq!(codes(&p[&arm]), ["resolve::no-usable-ami"]);
    assert_eq!(p[&arm][0]["range"], range_of(&arm_text, "\"m6g.large\""));
    assert!(!p.contains_key(&old) && !p.contains_key(&new), "the set is used by arm: {p:?}");

    // Renamed back (another branch switch).
    fs::rename(
        dir.path().join("ami-sets/ubuntu-2404.toml"),
        dir.path().join("ami-sets/ubuntu-2204.toml"),
    )
    .unwrap();
    let p = c.published(|c| c.watched(&[(&new, 3), (&old, 1)]));
    assert_eq!(p.get(&linux), Some(&vec![]), "{p:?}");
    assert_eq!(codes(&p[&arm]), ["ref::unknown-ami-set"]);
    // Closing the buffer falls back to the disk, which has the broken text.
    let p = c.published(|c| c.close(&arm));
    assert_eq!(codes(&p[&arm]), ["parse::syntax"], "{p:?}");
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn files_and_directories_deleted_on_disk_are_dropped_from_the_diagnostics() {
    let dir = repo();
    write(dir.path(), &[("worker-types/arm.toml", ARM_WORKER)]);
    let linux = uri(&dir.path().join("worker-types/linux.toml"));
    let arm = uri(&dir.path().join("worker-types/arm.toml"));
    let set = uri(&dir.path().join("ami-sets/ubuntu-2204.toml"));
    let (mut c, _) = watching_client(&[dir.path()], true);
    let p = c.published(|_| {});
    assert_eq!(codes(&p[&arm]), ["resolve::no-usable-ami"]);

    // Deleting arm.toml clears its diagnostics.
    fs::remove_file(dir.path().join("worker-types/arm.toml")).unwrap();
    let p = c.published(|c| c.watched(&[(&arm, 3)]));
    assert_eq!(p.get(&arm), Some(&vec![]), "{p:?}");
    // Deleting the last worker type that uses the set: the set is unused.
    fs::remove_file(dir.path().join("worker-types/linux.toml")).unwrap();
    let p = c.published(|c| c.watched(&[(&linux, 3)]));
    assert_eq!(codes(&p[&set]), ["ami-set::unused"], "{p:?}");

    // A whole directory removed, reported as the directory alone.
    write(dir.path(), &[("worker-types/linux.toml", FIXED)]);
    let p = c.published(|c| c.watched(&[(&linux, 1)]));
    assert_eq!(p.get(&set), Some(&vec![]), "{p:?}");
    fs::remove_dir_all(dir.path().join("ami-sets")).unwrap();
    let p = c.published(|c| c.watched(&[(&uri(&dir.path().join("ami-sets")), 3)]));
    assert_eq!(codes(&p[&linux]), ["ref::unknown-ami-set"], "{p:?}");

    // Files that are no config files, or outside the repository, change nothing.
    let elsewhere = tempfile::tempdir().unwrap();
    let p = c.published(|c| {
        c.watched(&[
            (&uri(&dir.path().join("README.md")), 1),
            (&uri(&elsewhere.path().join("amiset.toml")), 1),
            ("file:///nonexistent/worker-types/x.toml", 3),
        ])
    });
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn incremental_edits_after_non_ascii_text_give_the_diagnostics_of_the_full_text() {
    let dir = repo();
    let wt = uri(&dir.path().join("worker-types/linux.toml"));
    // CRLF line ends, as a Windows checkout has them.
    let start = FIXED.replace('\n', "\r\n");
    let (mut c, init) = watching_client(&[dir.path()], true);
    assert_eq!(
        init["result"]["capabilities"]["textDocumentSync"]["change"], 2,
        "incremental sync: {init}"
    );
    c.published(|c| c.open(&wt, &start));
    // Two changes in one notification, each in the text the previous one left:
    // drop `-😀` (three UTF-16 units) from KeyName, then misspell the region after it.
    let (line, ch) = find(&start, "-😀\"");
    let after_first = start.replacen("-😀\"", "\"", 1);
    let (line2, ch2) = find(&after_first, "east");
    let last = after_first.replacen("us-east-1", "us-esat-1", 1);
    // And a key appended at the end of the first line (past its length: before the CRLF).
    let final_text = last.replacen("\r\n", " # é\r\n", 1);
    let p = c.published(|c| {
        c.change_ranges(
            &wt,
            2,
            &[
                ((line, ch), (line, ch + 3), ""),
                ((line2, ch2), (line2, ch2 + 4), "esat"),
                ((0, 200), (0, 200), " # é"),
            ],
        )
    });
    let incremental = p[&wt].clone();
    assert_eq!(codes(&incremental), ["region::unknown"]);
    assert_eq!(incremental[0]["range"], range_of(&final_text, "\"us-esat-1\""));

    // The same text sent whole, to a fresh server, gives the same diagnostics.
    let mut full = server();
    let p = full.published(|c| c.open(&wt, &final_text));
    assert_eq!(p[&wt], incremental);
    assert_eq!(full.shutdown(), 0);
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn exit_without_shutdown_exits_1() {
    let mut c = server();
    c.notify("exit", Value::Null);
    let deadline = std::time::Instant::now() + common::lsp::TIMEOUT;
    let code = loop {
        if let Some(code) = c.try_exit_code() {
            break code;
        }
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(code, 1);
}

/// Neovim (Debian's, installed by scripts/setup) opens a broken worker type
/// with `amiset lsp` as its language server and reads the diagnostics back,
/// then fixes one mistake with an edit that Neovim sends incrementally.
/// Neovim turns the UTF-16 positions into byte columns itself, so a wrong
/// UTF-16 column shows up as a wrong byte column here.
#[test]
fn neovim_shows_the_diagnostics_of_a_broken_worker_type() {
    let nvim = std::env::var_os("AMISET_NVIM").unwrap_or_else(|| "nvim".into());
    let version = std::process::Command::new(&nvim).arg("--version").output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "neovim is not installed: run scripts/setup (it apt-installs Debian's neovim)"
    );
    let dir = repo();
    write(dir.path(), &[("worker-types/linux.toml", BROKEN)]);
    let file = dir.path().join("worker-types/linux.toml");
    let out = dir.path().join("diagnostics.txt");
    let script = common::manifest_dir().join("tests/editors/nvim.lua");
    let status = std::process::Command::new(&nvim)
        .args(["--headless", "--clean", "-n", "-c"])
        .arg(format!("luafile {}", script.display()))
        .env("AMISET_FILE", &file)
        .env("AMISET_BIN", env!("CARGO_BIN_EXE_amiset"))
        .env("AMISET_ROOT", dir.path())
        .env("AMISET_OUT", &out)
        .stdin(std::process::Stdio::null())
        .status()
        .expect("nvim runs");
    assert!(status.success());
    let got = fs::read_to_string(&out).expect("the script wrote the diagnostics");
    // Byte columns: `"ubuntu-2024"` at 11 on line 2; `"us-esat-1"` after `clé-😀` at byte 88 of line 4.
    let byte_col = |needle: &str| {
        let at = BROKEN.find(needle).unwrap();
        at - BROKEN[..at].rfind('\n').map_or(0, |i| i + 1)
    };
    assert_eq!(byte_col("\"us-esat-1\""), 88);
    // Then: the server asked for incremental sync, and after Neovim's
    // ranged change on line 4 (after `clé-😀`) only the set id is wrong.
    let expected = format!(
        "ref::unknown-ami-set 2 {set} 1\nregion::unknown 4 {} 1\nsync 2\nafter the edit\nref::unknown-ami-set 2 {set} 1\n",
        byte_col("\"us-esat-1\""),
        set = byte_col("\"ubuntu-2024\""),
    );
    assert_eq!(got, expected);
}

#[test]
fn completion_offers_the_zones_of_the_enclosing_region() {
    let dir = repo();
    // offerings.json knows three zones of us-east-1 and one of us-west-2.
    write(
        dir.path(),
        &[(
            "offerings.json",
            "{\"zones\": {\"us-east-1a\": [\"m5.large\"], \"us-east-1b\": [\"m5.large\"], \"us-east-1c\": [], \"us-west-2a\": [\"m5.large\"]}}\n",
        )],
    );
    let wt = uri(&dir.path().join("worker-types/new.toml"));
    let mut c = server();
    let typing = "[[regions]]\nregion = \"us-west-2\"\n\n[[regions]]\nregion = \"us-east-1\"\nzones = [\n  { zone = \"us-\n";
    c.open(&wt, typing);
    let done = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": wt}, "position": pos(6, 15)}),
    );
    assert_eq!(labels(&done), ["us-east-1a", "us-east-1b", "us-east-1c"]);
    // The edit replaces what was typed after the opening quote (column 11).
    let edit = &done["result"][0]["textEdit"];
    assert_eq!(edit["range"], json!({"start": pos(6, 12), "end": pos(6, 15)}));

    // The key is the one just before the value, after a launchSpec on the
    // same line; the entry's `region` may follow its zones, unspaced.
    let typing = "[[regions]]\nregion = \"us-east-1\"\n\n[[regions]]\nzones = [\n  { launchSpec = { SubnetId = \"s\" }, zone = \"\n]\nregion=\"us-west-2\"\n";
    c.change(&wt, 2, typing);
    let line = "  { launchSpec = { SubnetId = \"s\" }, zone = \"";
    let done = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": wt}, "position": pos(5, line.len() as u32)}),
    );
    assert_eq!(labels(&done), ["us-west-2a"]);
    assert_eq!(c.shutdown(), 0);
}

/// A worker type file that is a link (or a directory) is refused on disk;
/// opening it in the editor with valid text does not make it a config file:
/// the editor says what `check` says.
#[test]
fn opening_a_link_or_a_directory_keeps_its_file_error() {
    let dir = repo();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("target.toml"), FIXED).unwrap();
    std::os::unix::fs::symlink(outside.path().join("target.toml"), dir.path().join("worker-types/linked.toml")).unwrap();
    fs::create_dir(dir.path().join("worker-types/dir.toml")).unwrap();
    let (linked, folder) = (
        uri(&dir.path().join("worker-types/linked.toml")),
        uri(&dir.path().join("worker-types/dir.toml")),
    );
    let mut c = server();
    let p = c.published(|c| {
        c.open(&linked, FIXED);
        c.open(&folder, FIXED);
    });
    assert_eq!(codes(&p[&linked]), ["file::symlink"], "{p:?}");
    assert_eq!(codes(&p[&folder]), ["file::not-a-file"], "{p:?}");
    // An edit changes nothing about it: nothing new is published for it.
    let p = c.published(|c| c.change(&linked, 2, &format!("{FIXED}\n")));
    assert!(p.get(&linked).is_none_or(|d| codes(d) == ["file::symlink"]), "{p:?}");
    assert_eq!(c.shutdown(), 0);
}
