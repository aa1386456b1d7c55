//! moto's EC2 server on a free loopback port, seeded with template AMIs,
//! killed when the guard drops (also when a test fails).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};

/// The account moto gives to images it creates (CopyImage).
pub const MOTO_ACCOUNT: &str = "123456789012";

/// One template AMI for `MOTO_AMIS_PATH`: it appears in every region.
#[derive(Clone, Debug)]
pub struct Template {
    pub id: String,
    pub owner: String,
    pub virt: &'static str,
    pub arch: &'static str,
    pub state: &'static str,
    /// The image name (default `template <id>`).
    pub name: Option<String>,
    /// CreationDate, RFC 3339 (default: when moto starts).
    pub created: Option<String>,
}

impl Template {
    pub fn new(id: impl Into<String>, virt: &'static str, arch: &'static str) -> Template {
        Template {
            id: id.into(),
            owner: MOTO_ACCOUNT.into(),
            virt,
            arch,
            state: "available",
            name: None,
            created: None,
        }
    }

    pub fn named(mut self, name: &str) -> Template {
        self.name = Some(name.into());
        self
    }

    pub fn created(mut self, time: &str) -> Template {
        self.created = Some(time.into());
        self
    }

    pub fn owner(mut self, owner: &str) -> Template {
        self.owner = owner.into();
        self
    }

    pub fn state(mut self, state: &'static str) -> Template {
        self.state = state;
        self
    }
}

/// The Python venv with moto: `$AMISET_TEST_VENV`, else `<repo>/.venv`.
pub fn venv() -> PathBuf {
    std::env::var_os("AMISET_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"))
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

/// A running moto server.
pub struct Moto {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto with `templates` as its only default AMIs.
    pub fn start(templates: &[Template]) -> Moto {
        let bin = venv().join("bin/moto_server");
        assert!(
            bin.is_file(),
            "moto is not installed at {}: run `scripts/setup` (or set AMISET_TEST_VENV to a venv with moto[server])",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let amis: Vec<serde_json::Value> = templates
            .iter()
            .map(|t| {
                let mut ami = serde_json::json!({"ami_id": t.id, "name": t.name.clone().unwrap_or_else(|| format!("template {}", t.id)),
                    "owner_id": t.owner, "public": true, "virtualization_type": t.virt, "architecture": t.arch, "state": t.state});
                if let Some(created) = &t.created {
                    ami["creation_date"] = serde_json::json!(created);
                }
                ami
            })
            .collect();
        let amis_path = dir.path().join("amis.json");
        std::fs::write(&amis_path, serde_json::to_string(&amis).expect("json")).expect("write amis.json");
        let log = std::fs::File::create(dir.path().join("moto.log")).expect("moto log");
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_AMIS_PATH", &amis_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                let log = std::fs::read_to_string(moto._dir.path().join("moto.log")).unwrap_or_default();
                panic!("moto_server exited with {status}:\n{log}");
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(b"GET /moto-api/ HTTP/1.0\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {
                    break;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto_server did not come up on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// An SDK client for `region` at this server.
    pub fn client(&self, region: &str) -> Client {
        client(&self.url, region)
    }
}

/// An SDK client for `region` at `url` with dummy credentials.
pub fn client(url: &str, region: &str) -> Client {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(conf)
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a future to completion on a fresh runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Copies template `source` into `region`; returns the new region-only AMI id.
pub fn copy_image(moto: &Moto, source: &str, region: &str) -> String {
    copy_named(moto, source, region, &format!("copy of {source}"))
}

/// Copies template `source` into `region` under `name`; returns the new AMI id.
pub fn copy_named(moto: &Moto, source: &str, region: &str, name: &str) -> String {
    let c = moto.client(region);
    block_on(async {
        c.copy_image()
            .source_region("us-east-1")
            .source_image_id(source)
            .name(name)
            .send()
            .await
            .expect("CopyImage")
            .image_id()
            .expect("an image id")
            .to_string()
    })
}

/// Deregisters `ami` in `region`.
pub fn deregister(moto: &Moto, ami: &str, region: &str) {
    let c = moto.client(region);
    block_on(async { c.deregister_image().image_id(ami).send().await.expect("DeregisterImage") });
}
