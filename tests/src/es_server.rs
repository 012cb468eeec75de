//! An Elasticsearch-compatible server for tests.
//!
//! By default each [`TestCluster`] is its own `osmem-server` process (an
//! in-memory OpenSearch-compatible server from the PyPI package
//! `osmem-server`, installed into `.venv/` by `make setup`). Set
//! `K8SCOP_TEST_ES_URL` (e.g. `https://elastic:secret@localhost:9200`) to run
//! the same tests against a real cluster instead; index names from
//! [`TestCluster::unique_prefix`] keep runs apart there and are deleted on drop.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Env var naming an external cluster to use instead of starting osmem-server.
pub const EXTERNAL_URL_ENV: &str = "K8SCOP_TEST_ES_URL";
/// Env var naming the osmem-server binary (else the one in `.venv/`).
pub const OSMEM_BIN_ENV: &str = "OSMEM_SERVER_BIN";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Elasticsearch-compatible cluster: a private osmem-server
/// process, or the external cluster named by `K8SCOP_TEST_ES_URL`.
pub struct TestCluster {
    url: String,
    server: Option<Server>,
    prefixes: Mutex<Vec<String>>,
    http: Http,
}

/// The osmem-server child. The server exits when its stdin closes, so holding
/// `stdin` keeps it alive, and the OS closes it for us if the test process
/// dies without running `Drop`.
struct Server {
    child: Mutex<Child>,
    _stdin: ChildStdin,
    /// Its last lines on stderr (it writes only why it exits, or a Go
    /// panic): a request without an answer then says what happened.
    stderr: Arc<Mutex<VecDeque<String>>>,
}

/// Lines of osmem-server's stderr kept for an error message.
const STDERR_LINES: usize = 40;

impl TestCluster {
    /// The external cluster if `K8SCOP_TEST_ES_URL` is set, else a fresh
    /// osmem-server on a free loopback port. Panics if neither is available.
    pub fn start() -> TestCluster {
        match std::env::var(EXTERNAL_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => TestCluster::external(url.trim()),
            _ => TestCluster::osmem(),
        }
    }

    /// Use an already running cluster; nothing is started or stopped, but
    /// indices under this value's prefixes are deleted on drop.
    pub fn external(url: &str) -> TestCluster {
        let cluster = TestCluster {
            url: url.trim_end_matches('/').to_string(),
            server: None,
            prefixes: Mutex::new(Vec::new()),
            http: Http::new(),
        };
        cluster.wait_ready(Instant::now() + STARTUP_TIMEOUT, None);
        cluster
    }

    /// Start a private osmem-server, whatever `K8SCOP_TEST_ES_URL` says.
    pub fn osmem() -> TestCluster {
        let bin = osmem_binary();
        let mut child = Command::new(&bin)
            .args(["-addr", "127.0.0.1:0", "-no-ja", "-parent-pid"])
            .arg(std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // It only logs its exit reason (or a Go panic): kept, not
            // printed, and shown when a request gets no answer.
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let kept = stderr.clone();
        std::thread::Builder::new()
            .name("osmem-stderr".into())
            .spawn(move || {
                for line in BufReader::new(stderr_pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                    if kept.len() == STDERR_LINES {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
            })
            .expect("spawn the osmem stderr reader");

        // The first stdout line announces the address. Read it on a thread so
        // a silent server cannot hang the test, and keep draining stdout
        // afterwards: a Go program dies of SIGPIPE when it writes to a closed
        // stdout.
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("osmem-stdout".into())
            .spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let _ = tx.send(lines.next());
                for _ in lines {}
            })
            .expect("spawn the osmem stdout reader");
        let mut server = Server {
            child: Mutex::new(child),
            _stdin: stdin,
            stderr,
        };
        let line = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            other => {
                let child = server.child.get_mut().unwrap_or_else(|e| e.into_inner());
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "osmem-server ({}) did not announce its address within {STARTUP_TIMEOUT:?}: {other:?}, exit: {status:?}",
                    bin.display()
                );
            }
        };
        let url = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v.get("url")?.as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("osmem-server's first line has no url: {line}"));

        let cluster = TestCluster {
            url: url.trim_end_matches('/').to_string(),
            server: Some(server),
            prefixes: Mutex::new(Vec::new()),
            http: Http::new(),
        };
        cluster.wait_ready(Instant::now() + STARTUP_TIMEOUT, Some(&bin));
        cluster
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:45055`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True for a cluster named by `K8SCOP_TEST_ES_URL` (shared, not ours).
    pub fn is_external(&self) -> bool {
        self.server.is_none()
    }

    /// An index-name prefix unique to this test process and call, e.g.
    /// `k8scop-test-4242-lx3k9q-1-alerts`. Everything the test creates should
    /// start with it: on an external cluster, indices, data streams and index
    /// templates matching `{prefix}*` are deleted when the cluster drops.
    pub fn unique_prefix(&self, name: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
        let name: String = name
            .chars()
            .map(|c| match c.to_ascii_lowercase() {
                c @ ('a'..='z' | '0'..='9' | '_' | '.') => c,
                _ => '-',
            })
            .collect();
        let prefix = format!("k8scop-test-{}-{n}-{name}", run_id());
        self.prefixes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(prefix.clone());
        prefix
    }

    /// One request with an optional JSON body; returns the status and the
    /// body as JSON (`Null` when empty, a JSON string when not JSON). Panics
    /// only when no HTTP answer comes back. Usable from sync and async tests.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.send(method, path, body)
    }

    /// POST an NDJSON body to `path` (e.g. `/_bulk?refresh=true`).
    pub fn request_ndjson(&self, path: &str, ndjson: &str) -> (u16, Value) {
        let body = Some(("application/x-ndjson", ndjson.as_bytes().to_vec()));
        self.send("POST", path, body)
    }

    /// Refresh `index` (a name, list or pattern) so searches see recent writes.
    pub fn refresh(&self, index: &str) {
        let (status, body) = self.request("POST", &format!("/{index}/_refresh"), None);
        assert_eq!(status, 200, "refresh {index}: {body}");
    }

    /// Refresh, then count the documents of `index`; 0 if it does not exist.
    pub fn count(&self, index: &str) -> u64 {
        let (status, body) = self.request(
            "POST",
            &format!("/{index}/_refresh?ignore_unavailable=true&allow_no_indices=true"),
            None,
        );
        assert_eq!(status, 200, "refresh {index}: {body}");
        let (status, body) = self.request("GET", &format!("/{index}/_count"), None);
        match status {
            200 => body["count"]
                .as_u64()
                .unwrap_or_else(|| panic!("count {index}: {body}")),
            404 => 0,
            _ => panic!("count {index}: {status} {body}"),
        }
    }

    fn send(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        self.http
            .send(method, &url, body)
            .unwrap_or_else(|e| panic!("{method} {url}: {e}{}", self.server_state()))
    }

    /// For a request without an answer: whether our osmem-server is still
    /// running, how it exited, and its last words on stderr.
    fn server_state(&self) -> String {
        let Some(server) = &self.server else {
            return String::new();
        };
        let state = match server
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_wait()
        {
            Ok(None) => "still running".to_string(),
            Ok(Some(status)) => format!("exited: {status}"),
            Err(e) => format!("state unknown: {e}"),
        };
        let stderr = server.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let stderr: Vec<&str> = stderr.iter().map(String::as_str).collect();
        format!(
            "\nosmem-server {state}; its last stderr lines:\n{}",
            stderr.join("\n")
        )
    }

    fn wait_ready(&self, deadline: Instant, bin: Option<&PathBuf>) {
        let url = format!("{}/", self.url);
        loop {
            let last = match self.http.send("GET", &url, None) {
                Ok((200, _)) => return,
                Ok((status, body)) => format!("{status} {body}"),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                let what = bin.map_or("external cluster".into(), |b| b.display().to_string());
                panic!("{what} at {url} not ready: {last}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Delete what the prefixes name on a shared cluster. Names are listed
    /// first and deleted one by one because Elasticsearch 8 refuses wildcard
    /// deletes of indices (`action.destructive_requires_name`).
    fn clean_up_external(&self) {
        let prefixes =
            std::mem::take(&mut *self.prefixes.lock().unwrap_or_else(|e| e.into_inner()));
        for prefix in prefixes {
            let pattern = format!("{prefix}*");
            let list = |path: String, key: &str, field: &str| -> Vec<String> {
                match self.http.send("GET", &format!("{}{path}", self.url), None) {
                    Ok((200, body)) => {
                        let items = if key.is_empty() { &body } else { &body[key] };
                        items
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|i| i[field].as_str().map(str::to_string))
                            .collect()
                    }
                    _ => Vec::new(),
                }
            };
            let data_streams = list(format!("/_data_stream/{pattern}"), "data_streams", "name");
            let indices = list(
                format!("/_cat/indices/{pattern}?format=json&h=index&expand_wildcards=all"),
                "",
                "index",
            );
            let templates = list(
                format!("/_index_template/{pattern}"),
                "index_templates",
                "name",
            );
            let deletes = data_streams
                .iter()
                .map(|n| format!("/_data_stream/{n}"))
                .chain(indices.iter().map(|n| format!("/{n}")))
                .chain(templates.iter().map(|n| format!("/_index_template/{n}")));
            for path in deletes {
                // Best effort: a failure here must not panic inside Drop.
                match self
                    .http
                    .send("DELETE", &format!("{}{path}", self.url), None)
                {
                    Ok((200 | 404, _)) => {}
                    Ok((status, body)) => eprintln!("test cleanup: DELETE {path}: {status} {body}"),
                    Err(e) => eprintln!("test cleanup: DELETE {path}: {e}"),
                }
            }
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        match &mut self.server {
            Some(server) => {
                let child = server.child.get_mut().unwrap_or_else(|e| e.into_inner());
                let _ = child.kill();
                let _ = child.wait();
            }
            None => self.clean_up_external(),
        }
    }
}

/// Where osmem-server is: `OSMEM_SERVER_BIN`, else the one `make setup`
/// installs into `<workspace>/.venv/lib/python3*/site-packages/`.
pub fn osmem_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os(OSMEM_BIN_ENV) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "{OSMEM_BIN_ENV}={} is not a file",
            bin.display()
        );
        return bin;
    }
    let lib = crate::workspace_root().join(".venv").join("lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
            .map(|e| e.path().join("site-packages/osmem_server/bin/osmem-server"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "osmem-server not found under {}/python3*/site-packages/osmem_server/bin/: \
             run `make setup` (installs it into .venv/), or set {OSMEM_BIN_ENV}, \
             or point {EXTERNAL_URL_ENV} at a running cluster",
            lib.display()
        )
    })
}

/// Part of every prefix: the pid alone could repeat across machines sharing
/// one real cluster, so mix in the start time.
fn run_id() -> &'static str {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{}-{}", std::process::id(), base36(nanos % 36u128.pow(6)))
    })
}

fn base36(mut n: u128) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).expect("ascii")
}

/// How long an idle connection is kept for the next request. osmem-server
/// closes a connection idle for 60 s, and this client's runtime runs only
/// during a request, so it never sees that close: a connection idle longer
/// than that was reused dead, and the request failed with an incomplete
/// message (the replay bench's count after a 1M replay, a minute or more
/// after the load). Well under the server's 60 s, a connection is never
/// reused after the server may have closed it.
const POOL_IDLE: Duration = Duration::from_secs(20);

/// A blocking HTTP client usable from sync code and from inside an async
/// test: each call runs on a short-lived thread of its own, since blocking on
/// a runtime from inside another runtime panics. reqwest gives us https and
/// credentials in the URL for external clusters.
struct Http {
    runtime: Option<tokio::runtime::Runtime>,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Http {
        Http::with_idle(POOL_IDLE)
    }

    fn with_idle(pool_idle: Duration) -> Http {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build the test HTTP runtime");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(pool_idle)
            .build()
            .expect("build the test HTTP client");
        Http {
            runtime: Some(runtime),
            client,
        }
    }

    fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<(u16, Value), String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = self.client.request(method, url);
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let runtime = self.runtime.as_ref().expect("runtime lives until drop");
        let fut = async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        };
        let (status, text) = std::thread::scope(|s| s.spawn(|| runtime.block_on(fut)).join())
            .map_err(|_| "HTTP thread panicked".to_string())?
            .map_err(|e| format!("{e:?}"))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, body))
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        // Dropping a runtime inside an async test would panic; this may not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A server that closes idle connections (as osmem-server does after
    /// 60 s) never gets a request on a connection it has closed: the pool
    /// lets idle connections go sooner.
    #[test]
    fn a_connection_the_server_closed_when_idle_is_not_reused() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    // Answer one request, keep the connection open a while
                    // (the client may pool it), then close it as idle.
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf);
                    let body = "{}";
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes());
                    std::thread::sleep(Duration::from_millis(300));
                });
            }
        });
        let http = Http::with_idle(Duration::from_millis(100));
        for _ in 0..3 {
            let answer = http.send("GET", &url, None);
            assert!(matches!(answer, Ok((200, _))), "{answer:?}");
            // Longer than the server keeps an idle connection.
            std::thread::sleep(Duration::from_millis(600));
        }
    }

    /// A request the server never answers because it died says so, with
    /// how it exited, instead of only "connection closed".
    #[test]
    fn a_request_to_a_dead_server_says_how_it_exited() {
        let cluster = TestCluster::osmem();
        {
            let server = cluster.server.as_ref().expect("our own server");
            let mut child = server.child.lock().unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cluster.request("GET", "/", None)
        }))
        .expect_err("no server, no answer");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("osmem-server exited"), "{message}");
    }

    #[test]
    fn indexes_refreshes_and_counts() {
        let cluster = TestCluster::start();
        let index = format!("{}-events", cluster.unique_prefix("count"));
        let (status, body) = cluster.request(
            "PUT",
            &format!("/{index}/_doc/1"),
            Some(&json!({"verb": "create", "k8scop": {"count": 1}})),
        );
        assert!(status == 200 || status == 201, "{status} {body}");
        cluster.refresh(&index);
        assert_eq!(cluster.count(&index), 1);
        let (status, body) = cluster.request(
            "GET",
            &format!("/{index}/_search"),
            Some(&json!({"query": {"term": {"verb": "create"}}})),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["hits"]["hits"][0]["_id"], "1");
    }

    #[test]
    fn prefixes_are_unique_lowercase_index_names() {
        let cluster = TestCluster::start();
        let a = cluster.unique_prefix("My Alerts");
        let b = cluster.unique_prefix("My Alerts");
        assert_ne!(a, b);
        assert!(
            a.starts_with("k8scop-test-") && a.ends_with("-my-alerts"),
            "{a}"
        );
        assert_eq!(a, a.to_lowercase());
        assert_eq!(cluster.count(&format!("{a}*")), 0);
    }

    #[tokio::test]
    async fn request_works_inside_an_async_test() {
        let cluster = TestCluster::start();
        let (status, body) = cluster.request("GET", "/", None);
        assert_eq!(status, 200, "{body}");
        drop(cluster);
    }

    #[test]
    fn external_cluster_is_cleaned_up_on_drop() {
        // A private osmem stands in for a shared real cluster.
        let real = TestCluster::osmem();
        let keep = "unrelated-index";
        assert_eq!(real.request("PUT", &format!("/{keep}"), None).0, 200);
        let prefix;
        {
            let external = TestCluster::external(real.url());
            assert!(external.is_external());
            prefix = external.unique_prefix("cleanup");
            for suffix in ["a", "b"] {
                let (status, body) = external.request("PUT", &format!("/{prefix}-{suffix}"), None);
                assert_eq!(status, 200, "{body}");
            }
            let template = json!({"index_patterns": [format!("{prefix}-*")], "template": {}});
            let path = format!("/_index_template/{prefix}-tpl");
            let (status, body) = external.request("PUT", &path, Some(&template));
            assert_eq!(status, 200, "{body}");
        }
        let (_, indices) = real.request("GET", "/_cat/indices?format=json&h=index", None);
        let names: Vec<&str> = indices
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["index"].as_str())
            .collect();
        assert_eq!(names, [keep]);
        let (status, _) = real.request("GET", &format!("/_index_template/{prefix}-tpl"), None);
        assert_eq!(status, 404);
    }
}
