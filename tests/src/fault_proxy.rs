//! An HTTP/1.1 proxy that sits between the code under test and an
//! Elasticsearch-compatible server and injects faults by script: error
//! statuses, dropped connections (before or after the write reached the
//! server), delays, and per-item failures inside `_bulk` responses.
//!
//! Besides one-shot faults, a standing [`Mode`] can be switched at runtime:
//! hang matching requests (a stuck cluster), answer them an error status
//! every time, or refuse connections (nothing listening: a cluster down).
//!
//! It runs on its own thread with its own tokio runtime, so sync and async
//! tests use it alike. It speaks just enough HTTP for reqwest: requests with
//! `content-length` bodies, and every answer closes the connection.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// Which requests a pushed fault applies to, by path (query included).
#[derive(Debug, Clone)]
pub enum PathMatch {
    Any,
    Contains(String),
}

impl PathMatch {
    fn matches(&self, target: &str) -> bool {
        match self {
            PathMatch::Any => true,
            PathMatch::Contains(needle) => target.contains(needle.as_str()),
        }
    }
}

/// A one-shot fault for a whole request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status with an Elasticsearch-style JSON error, without
    /// forwarding (429 is `es_rejected_execution_exception`).
    Status(u16),
    /// Read the whole request, then close without answering; nothing is
    /// forwarded.
    DropConnection,
    /// Forward upstream, then close without answering: the write happened
    /// but the client never hears of it.
    DropAfterForward,
    /// Sleep, then forward normally (even if the client gave up meanwhile,
    /// as a real server would).
    Delay(Duration),
}

/// A standing behaviour, kept until changed with [`FaultProxy::set_mode`]
/// (one-shot faults still apply to the requests it lets through).
#[derive(Debug, Clone)]
pub enum Mode {
    /// Forward every request.
    Pass,
    /// Read matching requests and answer nothing while the mode lasts: a
    /// cluster that accepts connections and never answers. When the mode
    /// changes they go on (forwarded), unless their client gave up.
    Hang(PathMatch),
    /// Answer matching requests this status (an Elasticsearch-style
    /// error), every time, without forwarding.
    Status(PathMatch, u16),
    /// Nothing listens on the port: every connection is refused, as when
    /// the cluster is down. The same port listens again on another mode.
    Refuse,
}

impl Mode {
    fn hangs(&self, target: &str) -> bool {
        matches!(self, Mode::Hang(m) if m.matches(target))
    }
}

/// A fault for one item of a `_bulk` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemFault {
    /// Item status 429, `es_rejected_execution_exception` (retryable).
    TooManyRequests,
    /// Item status 400, `mapper_parsing_exception` (not retryable).
    MappingError,
}

/// What the proxy has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Requests read from clients.
    pub requests: u64,
    /// Requests sent upstream.
    pub forwarded: u64,
    /// Connections closed without an answer (both drop faults).
    pub dropped: u64,
    /// Requests answered with an injected status.
    pub status_faults: u64,
    /// Requests delayed.
    pub delayed: u64,
    /// `_bulk` requests read.
    pub bulk_requests: u64,
    /// Bulk items answered with an injected failure.
    pub bulk_items_faulted: u64,
    /// Requests held by [`Mode::Hang`].
    pub hung: u64,
}

type ItemFaultFn = dyn Fn(&str, u32) -> Option<ItemFault> + Send + Sync;

/// A fault-injecting proxy on a free loopback port; stops on drop.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    upstream: String,
    mode: watch::Sender<Mode>,
    faults: Mutex<VecDeque<(PathMatch, Fault)>>,
    item_faults: Mutex<Option<Arc<ItemFaultFn>>>,
    /// How often each bulk `_id` went through the proxy.
    seen: Mutex<HashMap<String, u32>>,
    requests: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    status_faults: AtomicU64,
    delayed: AtomicU64,
    bulk_requests: AtomicU64,
    bulk_items_faulted: AtomicU64,
    hung: AtomicU64,
}

impl FaultProxy {
    /// Start a proxy in front of `upstream` (e.g. `http://127.0.0.1:9200`).
    pub fn start(upstream: &str) -> FaultProxy {
        FaultProxy::start_in(upstream, Mode::Pass)
    }

    /// Start a proxy already in `mode` (e.g. [`Mode::Refuse`]: its port is
    /// known, and nothing listens on it yet).
    pub fn start_in(upstream: &str, mode: Mode) -> FaultProxy {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port for the proxy");
        listener
            .set_nonblocking(true)
            .expect("make the proxy listener non-blocking");
        let addr = listener.local_addr().expect("proxy listener address");
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            mode: watch::Sender::new(mode.clone()),
            faults: Mutex::default(),
            item_faults: Mutex::default(),
            seen: Mutex::default(),
            requests: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            status_faults: AtomicU64::new(0),
            delayed: AtomicU64::new(0),
            bulk_requests: AtomicU64::new(0),
            bulk_items_faulted: AtomicU64::new(0),
            hung: AtomicU64::new(0),
        });
        // Refusing from the start: the port is known, and closed at once.
        let listener = (!matches!(mode, Mode::Refuse)).then_some(listener);
        let (shutdown, stop) = oneshot::channel();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("fault-proxy".into())
                .spawn(move || serve(listener, addr, shared, stop))
                .expect("spawn the proxy thread")
        };
        FaultProxy {
            addr,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The proxy's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switch the standing behaviour, from the next request (or, for
    /// [`Mode::Refuse`], the next connection) on.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.send_replace(mode);
    }

    /// Queue a one-shot fault for the next request whose path matches.
    /// Queued faults are tried in the order they were pushed.
    pub fn push_fault(&self, matcher: PathMatch, fault: Fault) {
        lock(&self.shared.faults).push_back((matcher, fault));
    }

    /// Decide a fault for each item of every `_bulk` request from its `_id`
    /// (empty when the request has none) and how many times the proxy saw
    /// that `_id` before (0 on first sight). Replaces any earlier function.
    pub fn set_bulk_item_faults(
        &self,
        f: impl Fn(&str, u32) -> Option<ItemFault> + Send + Sync + 'static,
    ) {
        *lock(&self.shared.item_faults) = Some(Arc::new(f));
    }

    /// Stop injecting bulk item faults.
    pub fn clear_bulk_item_faults(&self) {
        *lock(&self.shared.item_faults) = None;
    }

    /// Counters so far.
    pub fn stats(&self) -> ProxyStats {
        let s = &self.shared;
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        ProxyStats {
            requests: get(&s.requests),
            forwarded: get(&s.forwarded),
            dropped: get(&s.dropped),
            status_faults: get(&s.status_faults),
            delayed: get(&s.delayed),
            bulk_requests: get(&s.bulk_requests),
            bulk_items_faulted: get(&s.bulk_items_faulted),
            hung: get(&s.hung),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The proxy thread: accept until told to stop (not listening while the
/// mode refuses); dropping the runtime then cancels the connections still
/// in flight.
fn serve(
    listener: Option<std::net::TcpListener>,
    addr: SocketAddr,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the proxy runtime");
    runtime.block_on(async move {
        let mut listener =
            listener.map(|l| TcpListener::from_std(l).expect("register the proxy listener"));
        let mut modes = shared.mode.subscribe();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("build the proxy's upstream client");
        loop {
            let refusing = matches!(*modes.borrow_and_update(), Mode::Refuse);
            if refusing {
                // Closing the socket is what makes connections refused.
                listener = None;
            } else if listener.is_none() {
                listener = Some(rebind(addr).await);
            }
            let accept = async {
                match &listener {
                    Some(l) => l.accept().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut stop => break,
                _ = modes.changed() => {}
                accepted = accept => {
                    let Ok((stream, _)) = accepted else { continue };
                    tokio::spawn(handle(stream, shared.clone(), client.clone()));
                }
            }
        }
    });
}

/// Listen on the proxy's port again (it was closed to refuse).
async fn rebind(addr: SocketAddr) -> TcpListener {
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(_) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot listen on {addr} again: {e}"),
        }
    }
}

/// A request as read from the client.
struct Request {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_bulk(&self) -> bool {
        let path = self.target.split('?').next().unwrap_or_default();
        path == "/_bulk" || path.ends_with("/_bulk")
    }
}

/// An answer to send back.
struct Response {
    status: u16,
    content_type: Option<String>,
    /// Extra headers worth passing back (e.g. `x-elastic-product`).
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn handle(mut stream: TcpStream, shared: Arc<Shared>, client: reqwest::Client) {
    let request = match read_request(&mut stream).await {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err(response) => {
            let _ = write_response(&mut stream, &request_head_only(), &response).await;
            return;
        }
    };
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if request.is_bulk() {
        shared.bulk_requests.fetch_add(1, Ordering::SeqCst);
    }
    let hangs = shared.mode.borrow().hangs(&request.target);
    if hangs {
        shared.hung.fetch_add(1, Ordering::SeqCst);
        let mut modes = shared.mode.subscribe();
        // Until the mode lets it through, or the proxy stops.
        let _ = modes.wait_for(|m| !m.hangs(&request.target)).await;
    }
    let standing = match &*shared.mode.borrow() {
        Mode::Status(matcher, status) if matcher.matches(&request.target) => Some(*status),
        _ => None,
    };
    if let Some(status) = standing {
        shared.status_faults.fetch_add(1, Ordering::SeqCst);
        let _ = write_response(&mut stream, &request, &injected_status(status)).await;
        return;
    }

    let fault = {
        let mut faults = lock(&shared.faults);
        let found = faults.iter().position(|(m, _)| m.matches(&request.target));
        found.and_then(|i| faults.remove(i)).map(|(_, f)| f)
    };
    let drop_after = match fault {
        Some(Fault::Status(status)) => {
            shared.status_faults.fetch_add(1, Ordering::SeqCst);
            let _ = write_response(&mut stream, &request, &injected_status(status)).await;
            return;
        }
        Some(Fault::DropConnection) => {
            shared.dropped.fetch_add(1, Ordering::SeqCst);
            return;
        }
        Some(Fault::Delay(delay)) => {
            shared.delayed.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            false
        }
        Some(Fault::DropAfterForward) => true,
        None => false,
    };

    let response = if request.is_bulk() {
        bulk(&shared, &client, &request).await
    } else {
        forward(
            &shared,
            &client,
            &request,
            &request.target,
            request.body.clone(),
        )
        .await
    };

    if drop_after {
        shared.dropped.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let _ = write_response(&mut stream, &request, &response).await;
}

/// Read one request: head up to the blank line, then `content-length`
/// bytes. `Ok(None)` when the client closed first; `Err` is an answer to
/// send for what this proxy does not speak.
async fn read_request(stream: &mut TcpStream) -> Result<Option<Request>, Response> {
    const MAX_HEAD: usize = 64 * 1024;
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(plain(431, "request head too large"));
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target)) = (request_line.next(), request_line.next()) else {
        return Err(plain(400, "bad request line"));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: buf[head_end + 4..].to_vec(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|te| te.contains("chunked"))
    {
        return Err(plain(501, "FaultProxy reads content-length bodies only"));
    }
    let length: usize = match request.header("content-length") {
        Some(v) => v.parse().map_err(|_| plain(400, "bad content-length"))?,
        None => 0,
    };
    while request.body.len() < length {
        let mut chunk = vec![0u8; (length - request.body.len()).min(64 * 1024)];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => request.body.extend_from_slice(&chunk[..n]),
        }
    }
    request.body.truncate(length);
    Ok(Some(request))
}

/// A stand-in request for answering one that could not be parsed.
fn request_head_only() -> Request {
    Request {
        method: "GET".into(),
        target: "/".into(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

async fn write_response(
    stream: &mut TcpStream,
    request: &Request,
    response: &Response,
) -> std::io::Result<()> {
    let reason = reqwest::StatusCode::from_u16(response.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", response.status);
    if let Some(content_type) = &response.content_type {
        head.push_str(&format!("content-type: {content_type}\r\n"));
    }
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        response.body.len()
    ));
    stream.write_all(head.as_bytes()).await?;
    if request.method != "HEAD" {
        stream.write_all(&response.body).await?;
    }
    stream.flush().await?;
    stream.shutdown().await
}

/// Send the request upstream with `target` and `body` in place of the
/// client's; connection errors become a 502.
async fn forward(
    shared: &Shared,
    client: &reqwest::Client,
    request: &Request,
    target: &str,
    body: Vec<u8>,
) -> Response {
    shared.forwarded.fetch_add(1, Ordering::SeqCst);
    let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
        return plain(400, "bad method");
    };
    let mut upstream = client.request(method, format!("{}{target}", shared.upstream));
    for name in ["content-type", "authorization", "content-encoding"] {
        if let Some(value) = request.header(name) {
            upstream = upstream.header(name, value);
        }
    }
    if !body.is_empty() {
        upstream = upstream.body(body);
    }
    let result = async {
        let response = upstream.send().await?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type");
        let headers = ["x-elastic-product", "content-encoding", "warning"]
            .into_iter()
            .filter_map(|n| Some((n.to_string(), header(n)?)))
            .collect();
        let body = response.bytes().await?.to_vec();
        Ok::<_, reqwest::Error>(Response {
            status,
            content_type,
            headers,
            body,
        })
    }
    .await;
    result.unwrap_or_else(|e| {
        es_error(
            502,
            "proxy_upstream_exception",
            &format!("upstream failed: {e}"),
        )
    })
}

/// One item of a bulk request: its raw lines and what identifies it.
struct BulkItem<'a> {
    lines: Vec<&'a [u8]>,
    action: String,
    index: Value,
    id: String,
}

/// Apply item faults to a `_bulk`: forward the items without a fault, and
/// merge synthesized failures back in request order.
async fn bulk(shared: &Shared, client: &reqwest::Client, request: &Request) -> Response {
    let passthrough = || {
        forward(
            shared,
            client,
            request,
            &request.target,
            request.body.clone(),
        )
    };
    let Some(items) = parse_bulk(&request.body, default_index(&request.target)) else {
        // Let the server produce its own error for a body we cannot read.
        return passthrough().await;
    };
    let decide = lock(&shared.item_faults).clone();
    let faults: Vec<Option<ItemFault>> = {
        let mut seen = lock(&shared.seen);
        items
            .iter()
            .map(|item| {
                let count = seen.entry(item.id.clone()).or_insert(0);
                let before = *count;
                *count += 1;
                decide.as_ref().and_then(|f| f(&item.id, before))
            })
            .collect()
    };
    if faults.iter().all(Option::is_none) {
        return passthrough().await;
    }
    shared.bulk_items_faulted.fetch_add(
        faults.iter().filter(|f| f.is_some()).count() as u64,
        Ordering::SeqCst,
    );

    let kept: Vec<&BulkItem> = items
        .iter()
        .zip(&faults)
        .filter(|(_, f)| f.is_none())
        .map(|(item, _)| item)
        .collect();
    // With every item faulted there is nothing to send upstream.
    let (mut upstream_items, mut headers) = (Vec::new(), Vec::new());
    if !kept.is_empty() {
        let mut body = Vec::new();
        for line in kept.iter().flat_map(|item| &item.lines) {
            body.extend_from_slice(line);
            body.push(b'\n');
        }
        // filter_path could drop items from the answer and break the merge by
        // position; the client gets the full answer (a superset) instead.
        let target = strip_query_param(&request.target, "filter_path");
        let response = forward(shared, client, request, &target, body).await;
        // A failed bulk as a whole (or an odd answer) goes back unmerged.
        let parsed: Option<Value> = serde_json::from_slice(&response.body).ok();
        let Some(mut parsed) = parsed.filter(|_| response.status == 200) else {
            return response;
        };
        upstream_items = match parsed["items"].take() {
            Value::Array(items) if items.len() == kept.len() => items,
            _ => return response,
        };
        headers = response.headers;
    }

    let mut from_upstream = upstream_items.into_iter();
    let merged: Vec<Value> = items
        .iter()
        .zip(&faults)
        .map(|(item, fault)| match fault {
            None => from_upstream
                .next()
                .expect("one upstream item per kept item"),
            Some(fault) => injected_item(item, *fault),
        })
        .collect();
    // At least one item failed, so `errors` is true whatever upstream said.
    let body = json!({"took": 0, "errors": true, "items": merged});
    Response {
        status: 200,
        content_type: Some("application/json; charset=UTF-8".into()),
        headers,
        body: body.to_string().into_bytes(),
    }
}

/// Split an NDJSON bulk body into items: an action line, then a source line
/// unless the action is `delete`. `None` if it does not parse.
fn parse_bulk<'a>(body: &'a [u8], default_index: Option<&str>) -> Option<Vec<BulkItem<'a>>> {
    let mut lines = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    let mut items = Vec::new();
    while let Some(action_line) = lines.next() {
        let action: Value = serde_json::from_slice(action_line).ok()?;
        let (name, meta) = action.as_object()?.iter().next()?;
        let mut item_lines = vec![action_line];
        if name != "delete" {
            item_lines.push(lines.next()?);
        }
        let index = match meta.get("_index") {
            Some(index) => index.clone(),
            None => default_index.map_or(Value::Null, |i| Value::String(i.to_string())),
        };
        let id = match meta.get("_id") {
            Some(Value::String(id)) => id.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        items.push(BulkItem {
            lines: item_lines,
            action: name.clone(),
            index,
            id,
        });
    }
    Some(items)
}

/// The index named in `/{index}/_bulk`, if any.
fn default_index(target: &str) -> Option<&str> {
    let path = target.split('?').next()?;
    let index = path.strip_suffix("/_bulk")?.trim_start_matches('/');
    (!index.is_empty()).then_some(index)
}

fn strip_query_param(target: &str, name: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let query: Vec<&str> = query
        .split('&')
        .filter(|p| p.split('=').next() != Some(name))
        .collect();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

fn injected_item(item: &BulkItem, fault: ItemFault) -> Value {
    let (status, kind, reason) = match fault {
        ItemFault::TooManyRequests => (
            429,
            "es_rejected_execution_exception",
            "rejected execution of coordinating operation [injected]",
        ),
        ItemFault::MappingError => (
            400,
            "mapper_parsing_exception",
            "failed to parse field [k8scop.count] of type [long] [injected]",
        ),
    };
    let mut result = serde_json::Map::new();
    result.insert(
        item.action.clone(),
        json!({
            "_index": item.index,
            "_id": item.id,
            "status": status,
            "error": {"type": kind, "reason": reason},
        }),
    );
    Value::Object(result)
}

/// The answer for `Fault::Status`, shaped like an Elasticsearch error.
fn injected_status(status: u16) -> Response {
    let kind = match status {
        429 => "es_rejected_execution_exception",
        503 => "unavailable_shards_exception",
        401 | 403 => "security_exception",
        _ => "status_exception",
    };
    es_error(status, kind, &format!("injected fault: status {status}"))
}

fn es_error(status: u16, kind: &str, reason: &str) -> Response {
    let body = json!({
        "error": {
            "root_cause": [{"type": kind, "reason": reason}],
            "type": kind,
            "reason": reason,
        },
        "status": status,
    });
    Response {
        status,
        content_type: Some("application/json; charset=UTF-8".into()),
        headers: Vec::new(),
        body: body.to_string().into_bytes(),
    }
}

fn plain(status: u16, message: &str) -> Response {
    Response {
        status,
        content_type: Some("text/plain; charset=UTF-8".into()),
        headers: Vec::new(),
        body: message.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::es_server::TestCluster;
    use std::time::Instant;

    /// A proxy in front of a fresh cluster, and an index name for the test.
    fn setup(name: &str) -> (TestCluster, FaultProxy, String, reqwest::Client) {
        let cluster = TestCluster::start();
        let index = format!("{}-events", cluster.unique_prefix(name));
        let (status, body) = cluster.request("PUT", &format!("/{index}"), None);
        assert_eq!(status, 200, "{body}");
        let proxy = FaultProxy::start(cluster.url());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        (cluster, proxy, index, client)
    }

    async fn put_doc(
        client: &reqwest::Client,
        proxy: &FaultProxy,
        index: &str,
        id: &str,
    ) -> reqwest::Result<(u16, Value)> {
        let response = client
            .put(format!("{}/{index}/_doc/{id}", proxy.url()))
            .json(&json!({"k8scop": {"count": 1}}))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    #[tokio::test]
    async fn status_fault_is_answered_once_then_requests_pass() {
        let (cluster, proxy, index, client) = setup("status");
        proxy.push_fault(PathMatch::Contains("/_doc/".into()), Fault::Status(503));

        let (status, body) = put_doc(&client, &proxy, &index, "1").await.unwrap();
        assert_eq!(status, 503);
        assert_eq!(body["error"]["type"], "unavailable_shards_exception");
        assert_eq!(body["status"], 503);
        assert_eq!(cluster.count(&index), 0, "a status fault forwards nothing");

        let (status, body) = put_doc(&client, &proxy, &index, "1").await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(cluster.count(&index), 1);
        let stats = proxy.stats();
        assert_eq!(
            (stats.requests, stats.status_faults, stats.forwarded),
            (2, 1, 1)
        );
    }

    #[tokio::test]
    async fn status_429_has_the_rejected_execution_type() {
        let (_cluster, proxy, index, client) = setup("status429");
        proxy.push_fault(PathMatch::Any, Fault::Status(429));
        let (status, body) = put_doc(&client, &proxy, &index, "1").await.unwrap();
        assert_eq!(status, 429);
        assert_eq!(body["error"]["type"], "es_rejected_execution_exception");
    }

    #[tokio::test]
    async fn faults_wait_for_a_matching_path() {
        let (_cluster, proxy, index, client) = setup("matching");
        proxy.push_fault(PathMatch::Contains("_bulk".into()), Fault::Status(500));
        let (status, _) = put_doc(&client, &proxy, &index, "1").await.unwrap();
        assert_eq!(status, 201, "the fault is kept for a bulk request");
        let response = client
            .post(format!("{}/_bulk", proxy.url()))
            .header("content-type", "application/x-ndjson")
            .body(format!("{{\"index\":{{\"_index\":\"{index}\"}}}}\n{{}}\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 500);
    }

    #[tokio::test]
    async fn drop_connection_errors_and_forwards_nothing() {
        let (cluster, proxy, index, client) = setup("drop");
        proxy.push_fault(PathMatch::Any, Fault::DropConnection);

        let error = put_doc(&client, &proxy, &index, "1").await.unwrap_err();
        assert!(!error.is_timeout(), "closed, not timed out: {error:?}");
        assert_eq!(cluster.count(&index), 0);
        let stats = proxy.stats();
        assert_eq!((stats.dropped, stats.forwarded), (1, 0));
    }

    #[tokio::test]
    async fn drop_after_forward_writes_but_the_client_errors() {
        let (cluster, proxy, index, client) = setup("dropafter");
        proxy.push_fault(PathMatch::Any, Fault::DropAfterForward);

        assert!(put_doc(&client, &proxy, &index, "1").await.is_err());
        assert_eq!(cluster.count(&index), 1, "the write reached the server");
        let stats = proxy.stats();
        assert_eq!((stats.dropped, stats.forwarded), (1, 1));
    }

    #[tokio::test]
    async fn delay_delays_then_forwards() {
        let (cluster, proxy, index, client) = setup("delay");
        let delay = Duration::from_millis(400);
        proxy.push_fault(PathMatch::Any, Fault::Delay(delay));

        let started = Instant::now();
        let (status, _) = put_doc(&client, &proxy, &index, "1").await.unwrap();
        assert_eq!(status, 201);
        assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
        assert_eq!(cluster.count(&index), 1);

        let started = Instant::now();
        put_doc(&client, &proxy, &index, "2").await.unwrap();
        assert!(
            started.elapsed() < delay,
            "only the first request is delayed"
        );
        assert_eq!(proxy.stats().delayed, 1);
    }

    #[test]
    fn works_from_sync_code() {
        let cluster = TestCluster::start();
        let proxy = FaultProxy::start(cluster.url());
        proxy.push_fault(PathMatch::Any, Fault::Status(502));
        let through = TestCluster::external(&proxy.url());
        // `external` waited for `GET /` to answer 200, past the 502.
        assert_eq!(through.request("GET", "/", None).0, 200);
        assert_eq!(proxy.stats().status_faults, 1);
    }

    #[tokio::test]
    async fn hang_mode_holds_matching_requests_until_the_mode_changes() {
        let (cluster, proxy, index, client) = setup("hang");
        proxy.set_mode(Mode::Hang(PathMatch::Contains("/_doc/".into())));
        let stuck = tokio::time::timeout(
            Duration::from_millis(500),
            put_doc(&client, &proxy, &index, "1"),
        )
        .await;
        assert!(stuck.is_err(), "no answer while hanging");
        let response = client
            .get(format!("{}/{index}/_count", proxy.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "other paths pass");

        let held = tokio::spawn({
            let (client, url, index) = (client.clone(), proxy.url(), index.clone());
            async move {
                client
                    .put(format!("{url}/{index}/_doc/2"))
                    .json(&json!({"k8scop": {"count": 1}}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while proxy.stats().hung < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(proxy.stats().hung, 2);
        proxy.set_mode(Mode::Pass);
        assert_eq!(
            held.await.unwrap().unwrap(),
            201,
            "released, then forwarded"
        );
        assert!(cluster.count(&index) >= 1);
    }

    #[tokio::test]
    async fn status_mode_answers_every_matching_request_until_changed() {
        let (_cluster, proxy, index, client) = setup("standing");
        proxy.set_mode(Mode::Status(PathMatch::Any, 503));
        for id in ["1", "2", "3"] {
            assert_eq!(put_doc(&client, &proxy, &index, id).await.unwrap().0, 503);
        }
        proxy.set_mode(Mode::Pass);
        assert_eq!(put_doc(&client, &proxy, &index, "4").await.unwrap().0, 201);
        let stats = proxy.stats();
        assert_eq!((stats.status_faults, stats.forwarded), (3, 1));
    }

    #[tokio::test]
    async fn refuse_mode_closes_the_port_and_pass_opens_it_again() {
        let cluster = TestCluster::start();
        let proxy = FaultProxy::start_in(cluster.url(), Mode::Refuse);
        let refused = tokio::net::TcpStream::connect(proxy.addr).await;
        assert!(refused.is_err(), "nothing listens: {refused:?}");
        proxy.set_mode(Mode::Pass);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let answered = loop {
            match client.get(proxy.url()).send().await {
                Ok(response) => break response.status().as_u16(),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("the port never listened again: {e}"),
            }
        };
        assert_eq!(answered, 200);
        proxy.set_mode(Mode::Refuse);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(proxy.addr).await.is_ok() {
            assert!(Instant::now() < deadline, "still listening");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn bulk_body(index: &str, ids: impl IntoIterator<Item = u32>) -> String {
        ids.into_iter()
            .map(|id| {
                format!(
                    "{{\"create\":{{\"_index\":\"{index}\",\"_id\":\"{id}\"}}}}\n{{\"k8scop\":{{\"count\":{id}}}}}\n"
                )
            })
            .collect()
    }

    async fn send_bulk(client: &reqwest::Client, proxy: &FaultProxy, body: String) -> Value {
        let response = client
            .post(format!("{}/_bulk?refresh=true", proxy.url()))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    fn item_statuses(response: &Value) -> Vec<(String, u64)> {
        response["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let result = &item["create"];
                (
                    result["_id"].as_str().unwrap().to_string(),
                    result["status"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn bulk_item_faults_merge_in_request_order() {
        let (cluster, proxy, index, client) = setup("bulk");
        proxy.set_bulk_item_faults(|id, seen| match (id, seen) {
            ("3" | "7", 0) => Some(ItemFault::TooManyRequests),
            ("5", _) => Some(ItemFault::MappingError),
            _ => None,
        });

        let response = send_bulk(&client, &proxy, bulk_body(&index, 0..10)).await;
        assert_eq!(response["errors"], true);
        let expected: Vec<(String, u64)> = (0..10)
            .map(|id| {
                let status = match id {
                    3 | 7 => 429,
                    5 => 400,
                    _ => 201,
                };
                (id.to_string(), status)
            })
            .collect();
        assert_eq!(item_statuses(&response), expected);
        let items = &response["items"];
        assert_eq!(items[3]["create"]["_index"], index.as_str());
        assert_eq!(
            items[3]["create"]["error"]["type"],
            "es_rejected_execution_exception"
        );
        assert_eq!(
            items[5]["create"]["error"]["type"],
            "mapper_parsing_exception"
        );
        assert_eq!(cluster.count(&index), 7);
        for id in ["3", "5", "7"] {
            let (status, _) = cluster.request("GET", &format!("/{index}/_doc/{id}"), None);
            assert_eq!(status, 404, "faulted item {id} must not reach the server");
        }

        // The retry of the rejected items succeeds; 5 keeps failing.
        let response = send_bulk(&client, &proxy, bulk_body(&index, [3, 7])).await;
        assert_eq!(response["errors"], false, "{response}");
        assert_eq!(
            item_statuses(&response),
            [("3".to_string(), 201), ("7".to_string(), 201)]
        );
        let response = send_bulk(&client, &proxy, bulk_body(&index, [5])).await;
        assert_eq!(item_statuses(&response), [("5".to_string(), 400)]);
        assert_eq!(cluster.count(&index), 9);

        let stats = proxy.stats();
        assert_eq!(stats.bulk_requests, 3);
        assert_eq!(stats.bulk_items_faulted, 4);
        assert_eq!(stats.forwarded, 2, "the all-faulted bulk was not forwarded");
    }

    #[tokio::test]
    async fn bulk_keeps_deletes_and_the_index_from_the_path() {
        let (cluster, proxy, index, client) = setup("bulkpath");
        cluster.request_ndjson(
            &format!("/{index}/_bulk?refresh=true"),
            "{\"index\":{\"_id\":\"gone\"}}\n{}\n",
        );
        proxy.set_bulk_item_faults(|id, _| (id == "b").then_some(ItemFault::TooManyRequests));
        let body = "{\"delete\":{\"_id\":\"gone\"}}\n\
                    {\"index\":{\"_id\":\"a\"}}\n{\"x\":1}\n\
                    {\"index\":{\"_id\":\"b\"}}\n{\"x\":2}\n";
        let response = client
            .post(format!(
                "{}/{index}/_bulk?refresh=true&filter_path=items.*.error",
                proxy.url()
            ))
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        let response: Value = response.json().await.unwrap();
        let items = response["items"].as_array().unwrap();
        assert_eq!(items.len(), 3, "{response}");
        assert_eq!(items[0]["delete"]["status"], 200);
        assert_eq!(items[1]["index"]["status"], 201);
        assert_eq!(items[2]["index"]["status"], 429);
        assert_eq!(items[2]["index"]["_index"], index.as_str());
        assert_eq!(cluster.count(&index), 1);
    }
}
