//! EC2's answers as they come off the wire: arbitrary HTTP bodies, served by
//! a loopback HTTP server standing in for EC2, read by the real client
//! (`Ec2::fetch`: the AWS SDK's XML parsing, pagination, error parsing and
//! amiset's `CompleteXml` check) for everything `config-example/` asks
//! about in its first region, then verified against `config-example/`.
//!
//! The first byte picks the HTTP status, the rest is the body of every
//! answer. Invariants: no panic, no hang (each run is bounded by the
//! client's timeouts); every AMI the config refers to that the answer did
//! not describe as available is an error (nothing unverified passes).
#![no_main]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use amiset::ec2::client::{Ec2, Options};
use amiset::ec2::{Status, Wanted, verify};
use amiset::{Config, Limits, Report};
use amiset_fuzz::{assert_nothing_unverified_passes, check_report, example};
use libfuzzer_sys::fuzz_target;

const STATUSES: &[(u16, &str)] = &[
    (200, "OK"),
    (400, "Bad Request"),
    (403, "Forbidden"),
    (500, "Internal Server Error"),
    (503, "Service Unavailable"),
];

/// 2026-11-25T09:30:00Z.
const NOW: i64 = 1_795_599_000;

/// What the server answers: status line and body.
static ANSWER: Mutex<(u16, &str, Vec<u8>)> = Mutex::new((200, "OK", Vec::new()));

struct World {
    runtime: tokio::runtime::Runtime,
    ec2: Ec2,
    config: Config,
    loaded: Report,
    wanted: Wanted,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // SAFETY: set before this process starts a thread of its own.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "fuzz");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "fuzz");
            std::env::remove_var("AWS_PROFILE");
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream));
            }
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let ec2 = runtime.block_on(Ec2::connect(Options {
            endpoint: Some(endpoint),
            concurrency: 8,
            call_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            max_attempts: 1,
            initial_backoff: Duration::from_millis(1),
        }));
        let (config, loaded) = amiset::check::run(&example::inputs(|_| true), &Limits::default());
        // One region: its three calls are all the parsing there is, and
        // every further region would only repeat them.
        let mut wanted = Wanted::of(&config);
        let first = wanted.regions.keys().next().cloned();
        wanted.regions.retain(|r, _| Some(r) == first.as_ref());
        World {
            runtime,
            ec2,
            config,
            loaded,
            wanted,
        }
    })
}

/// Answers every request on one connection with the current answer.
fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut request = vec![0; length];
        if reader.read_exact(&mut request).is_err() {
            return;
        }
        let (code, reason, body) = ANSWER.lock().expect("the answer").clone();
        // One write: a head and a body written apart would wait for a delayed ACK.
        let mut answer = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(&body);
        if writer.write_all(&answer).is_err() {
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&status, body)) = data.split_first() else { return };
    let w = world();
    let (code, reason) = STATUSES[status as usize % STATUSES.len()];
    *ANSWER.lock().expect("the answer") = (code, reason, body.to_vec());

    let inventory = w.runtime.block_on(w.ec2.fetch(&w.wanted, &|_, _| {}));
    let verification = verify(&w.config, &inventory, NOW);

    assert_nothing_unverified_passes(&w.wanted, &inventory, &verification.findings);
    // An answer that is not a success describes nothing: every AMI is unverified.
    if code != 200 {
        for (region, want) in &w.wanted.regions {
            for ami in &want.amis {
                let unverified = match inventory.region(region) {
                    Status::Found(r) => matches!(r.image(ami), Status::Unverified(_)),
                    Status::Unverified(_) => true,
                    _ => false,
                };
                assert!(unverified, "`{ami}` in {region} is not unverified after HTTP {code}");
            }
        }
    }
    check_report(&Report {
        findings: verification.findings,
        sources: w.loaded.sources.clone(),
    });
});
