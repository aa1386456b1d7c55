//! A loopback HTTP proxy in front of moto that counts EC2 calls per region
//! and action, adds latency, injects faults for chosen regions, stamps
//! `DeprecationTime` on chosen AMIs (moto cannot), and can replay answers
//! from a cache (for benchmarks, so moto's own speed does not count).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What goes wrong for a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 503 `RequestLimitExceeded`, on every attempt.
    Throttle,
    /// Waits this long before answering.
    Slow(Duration),
    /// Closes the connection without an answer.
    Reset,
    /// HTTP 200 with a body that is not XML.
    Malformed,
    /// HTTP 503 `RequestLimitExceeded` for this many requests, then answers.
    ThrottleFirst(usize),
    /// HTTP 401 `AuthFailure` (bad or expired credentials), on every attempt.
    AuthFailure,
    /// HTTP 200 with a well-formed answer that lists nothing.
    Empty,
}

/// Recorded answers by (region, request body).
type Cache = HashMap<(String, Vec<u8>), Vec<u8>>;

#[derive(Default)]
struct State {
    calls: Mutex<BTreeMap<(String, String), usize>>,
    later_pages: Mutex<BTreeMap<(String, String), usize>>,
    faults: Mutex<BTreeMap<String, Fault>>,
    /// Faults only for requests that ask for a later page (carry a NextToken).
    page_faults: Mutex<BTreeMap<String, Fault>>,
    /// Faults for one action of one region, before those of the whole region.
    action_faults: Mutex<BTreeMap<(String, String), Fault>>,
    latency: Mutex<Duration>,
    deprecations: Mutex<BTreeMap<String, String>>,
    cache: Mutex<Option<Cache>>,
    /// Items per page for the paginated Describe calls (0: moto's single page).
    page_size: Mutex<usize>,
    /// Items still to serve, by NextToken.
    pages: Mutex<BTreeMap<String, Vec<String>>>,
    next_token: std::sync::atomic::AtomicUsize,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    pub url: String,
    port: u16,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// A proxy to `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = Arc::new(State::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, up) = (s.clone(), upstream.clone());
                std::thread::spawn(move || serve(conn, &up, &s));
            }
        });
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            port,
            state,
            stop,
        }
    }

    pub fn fault(&self, region: &str, fault: Fault) {
        self.state.faults.lock().unwrap().insert(region.into(), fault);
    }

    /// `fault` for `region`'s requests of a second or later page only; first pages are answered.
    pub fn fault_after_first_page(&self, region: &str, fault: Fault) {
        self.state.page_faults.lock().unwrap().insert(region.into(), fault);
    }

    /// `fault` for `region`'s requests of `action` only (`DeregisterImage`).
    pub fn fault_action(&self, region: &str, action: &str, fault: Fault) {
        self.state
            .action_faults
            .lock()
            .unwrap()
            .insert((region.into(), action.into()), fault);
    }

    /// Ends every fault of `region`.
    pub fn clear_faults(&self, region: &str) {
        self.state.faults.lock().unwrap().remove(region);
        self.state.page_faults.lock().unwrap().remove(region);
        self.state.action_faults.lock().unwrap().retain(|(r, _), _| r != region);
    }

    /// Requests seen that asked for a later page (carried a NextToken), by (region, action).
    pub fn later_page_calls(&self) -> BTreeMap<(String, String), usize> {
        self.state.later_pages.lock().unwrap().clone()
    }

    pub fn latency(&self, d: Duration) {
        *self.state.latency.lock().unwrap() = d;
    }

    /// Makes DescribeImages report `ami` as deprecated from `time` (RFC 3339).
    pub fn deprecate(&self, ami: &str, time: &str) {
        self.state.deprecations.lock().unwrap().insert(ami.into(), time.into());
    }

    /// Splits every answer of the paginated Describe calls (images, instance
    /// types and their offerings, launch templates and their versions,
    /// instances by reservation) into pages of `n` items
    /// joined by `NextToken`, and DescribeTags answers into pages of `5 × n`
    /// (EC2's largest pages are 200 launch templates and 1,000 tags).
    pub fn page_size(&self, n: usize) {
        *self.state.page_size.lock().unwrap() = n;
    }

    /// Remembers every answer and replays it for the same region and request body.
    pub fn enable_cache(&self) {
        *self.state.cache.lock().unwrap() = Some(HashMap::new());
    }

    /// Calls seen, by (region, action).
    pub fn calls(&self) -> BTreeMap<(String, String), usize> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Total calls seen.
    pub fn total_calls(&self) -> usize {
        self.calls().values().sum()
    }

    pub fn reset_counts(&self) {
        self.state.calls.lock().unwrap().clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Request {
    head: Vec<String>,
    body: Vec<u8>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let len = header(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0usize);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request { head, body })
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The region of a SigV4-signed request: `Credential=AKID/DATE/REGION/ec2/aws4_request`.
fn region_of(head: &[String]) -> String {
    header(head, "authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("unknown")
        .to_string()
}

fn action_of(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("unknown")
        .to_string()
}

fn response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Sends `req` to moto, without any `NextToken` (the proxy serves later
/// pages itself); when paging, `MaxResults` is lifted so that moto, which
/// truncates at it without a token, answers with everything.
fn forward(upstream: &str, req: &Request, paging: bool) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(&req.body);
    let body: Vec<u8> = text
        .split('&')
        .filter(|kv| !kv.starts_with("NextToken="))
        .map(|kv| {
            if paging && kv.starts_with("MaxResults=") {
                "MaxResults=1000000"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes();
    let mut up = TcpStream::connect(upstream).ok()?;
    let mut out = String::new();
    for (i, line) in req.head.iter().enumerate() {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if i > 0 && (name == "connection" || name == "keep-alive" || name == "content-length") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    up.write_all(out.as_bytes()).ok()?;
    up.write_all(&body).ok()?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).ok()?;
    Some(resp)
}

/// Splits an HTTP response into status line and body (moto sends Content-Length, never chunks).
fn split_response(resp: &[u8]) -> Option<(String, String, Vec<u8>)> {
    let end = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&resp[..end]).to_string();
    let mut lines = head.lines();
    let status = lines.next()?.split_once(' ')?.1.to_string();
    let content_type = lines
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "text/xml".into());
    Some((status, content_type, resp[end + 4..].to_vec()))
}

fn serve(conn: TcpStream, upstream: &str, state: &State) {
    let Ok(read_half) = conn.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut conn = conn;
    let Some(req) = read_request(&mut reader) else { return };
    let region = region_of(&req.head);
    let action = action_of(&req.body);
    *state.calls.lock().unwrap().entry((region.clone(), action.clone())).or_default() += 1;
    let latency = *state.latency.lock().unwrap();
    if !latency.is_zero() {
        std::thread::sleep(latency);
    }
    let later_page = String::from_utf8_lossy(&req.body).split('&').any(|kv| kv.starts_with("NextToken="));
    if later_page {
        *state
            .later_pages
            .lock()
            .unwrap()
            .entry((region.clone(), action.clone()))
            .or_default() += 1;
    }
    let fault = if later_page {
        state.page_faults.lock().unwrap().get(&region).copied()
    } else {
        None
    };
    let fault = fault.or_else(|| {
        let key = (region.clone(), action.clone());
        state.action_faults.lock().unwrap().get_mut(&key).and_then(strike)
    });
    let fault = fault.or_else(|| state.faults.lock().unwrap().get_mut(&region).and_then(strike));
    let out = match fault {
        Some(Fault::Throttle) => response(
            "503 Service Unavailable",
            "text/xml",
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>proxy</RequestID></Response>",
        ),
        Some(Fault::AuthFailure) => response(
            "401 Unauthorized",
            "text/xml",
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>proxy</RequestID></Response>",
        ),
        Some(Fault::Reset) => {
            let _ = conn.shutdown(Shutdown::Both);
            return;
        }
        Some(Fault::Malformed) => response("200 OK", "text/xml", b"<DescribeImagesResponse><imagesSet><item><imageId>ami-"),
        Some(Fault::Empty) => response(
            "200 OK",
            "text/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>proxy</requestId></{action}Response>"
            )
            .as_bytes(),
        ),
        Some(Fault::Slow(d)) => {
            std::thread::sleep(d);
            upstream_answer(upstream, &req, &region, state)
        }
        // ThrottleFirst is resolved above into Throttle or an answer.
        Some(Fault::ThrottleFirst(_)) | None => upstream_answer(upstream, &req, &region, state),
    };
    let _ = conn.write_all(&out);
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Both);
}

/// The fault to serve now: a `ThrottleFirst` counts down and ends at zero.
fn strike(fault: &mut Fault) -> Option<Fault> {
    match fault {
        Fault::ThrottleFirst(0) => None,
        Fault::ThrottleFirst(n) => {
            *n -= 1;
            Some(Fault::Throttle)
        }
        other => Some(*other),
    }
}

/// The element that holds the items of each paginated answer.
const ITEM_SETS: [(&str, &str); 7] = [
    ("DescribeImages", "imagesSet"),
    ("DescribeInstances", "reservationSet"),
    ("DescribeInstanceTypeOfferings", "instanceTypeOfferingSet"),
    ("DescribeInstanceTypes", "instanceTypeSet"),
    ("DescribeLaunchTemplates", "launchTemplates"),
    ("DescribeLaunchTemplateVersions", "launchTemplateVersionSet"),
    ("DescribeTags", "tagSet"),
];

/// The top-level `<item>` elements of `content`, with their nested items.
fn split_items(content: &str) -> Vec<String> {
    let mut items = Vec::new();
    let (mut depth, mut start, mut i) = (0usize, 0usize, 0usize);
    while i < content.len() {
        let rest = &content[i..];
        if rest.starts_with("<item>") {
            if depth == 0 {
                start = i;
            }
            depth += 1;
            i += "<item>".len();
        } else if rest.starts_with("</item>") {
            depth = depth.saturating_sub(1);
            i += "</item>".len();
            if depth == 0 {
                items.push(content[start..i].to_string());
            }
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    items
}

/// One page of `items` in the answer `body` (whose item set is `set`), with a NextToken when more remain.
fn page(body: &str, set: &str, items: Vec<String>, state: &State, size: usize) -> String {
    let (open, close) = (format!("<{set}>"), format!("</{set}>"));
    let (Some(a), Some(b)) = (body.find(&open), body.find(&close)) else {
        return body.to_string();
    };
    let (first, rest) = items.split_at(items.len().min(size));
    let mut out = format!("{}{}{close}", &body[..a + open.len()], first.concat());
    let tail = &body[b + close.len()..];
    if rest.is_empty() {
        out.push_str(tail);
    } else {
        let mut pages = state.pages.lock().unwrap();
        let token = format!("page-{}", state.next_token.fetch_add(1, Ordering::SeqCst));
        pages.insert(token.clone(), rest.to_vec());
        out.push_str(&format!("<nextToken>{token}</nextToken>"));
        out.push_str(tail);
    }
    out
}

/// Serves a page: the next one for a request with a NextToken, else the first of moto's answer.
fn paged(body: String, req: &Request, state: &State) -> String {
    let size = *state.page_size.lock().unwrap();
    let action = action_of(&req.body);
    let Some((_, set)) = ITEM_SETS.iter().find(|(a, _)| *a == action) else {
        return body;
    };
    if size == 0 {
        return body;
    }
    let size = if action == "DescribeTags" { size * 5 } else { size };
    let request = String::from_utf8_lossy(&req.body).to_string();
    let token = request.split('&').find_map(|kv| kv.strip_prefix("NextToken="));
    let items = match token {
        Some(t) => state.pages.lock().unwrap().remove(t).unwrap_or_default(),
        None => {
            let (open, close) = (format!("<{set}>"), format!("</{set}>"));
            match (body.find(&open), body.find(&close)) {
                (Some(a), Some(b)) => split_items(&body[a + open.len()..b]),
                _ => return body,
            }
        }
    };
    page(&body, set, items, state, size)
}

fn upstream_answer(upstream: &str, req: &Request, region: &str, state: &State) -> Vec<u8> {
    let key = (region.to_string(), req.body.clone());
    if let Some(hit) = state.cache.lock().unwrap().as_ref().and_then(|c| c.get(&key).cloned()) {
        return hit;
    }
    let action = action_of(&req.body);
    let paging = *state.page_size.lock().unwrap() > 0
        && (action.starts_with("DescribeLaunchTemplate") || action == "DescribeTags" || action == "DescribeInstances");
    let Some(resp) = forward(upstream, req, paging) else {
        return response("502 Bad Gateway", "text/plain", b"upstream failed");
    };
    let Some((status, content_type, body)) = split_response(&resp) else {
        return response("502 Bad Gateway", "text/plain", b"upstream answer unreadable");
    };
    let mut body = String::from_utf8_lossy(&body).to_string();
    for (ami, time) in state.deprecations.lock().unwrap().iter() {
        let tag = format!("<imageId>{ami}</imageId>");
        body = body.replace(&tag, &format!("{tag}<deprecationTime>{time}</deprecationTime>"));
    }
    let body = paged(body, req, state);
    let out = response(&status, &content_type, body.as_bytes());
    if let Some(c) = state.cache.lock().unwrap().as_mut() {
        c.insert(key, out.clone());
    }
    out
}
