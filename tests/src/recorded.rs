//! A tiny HTTP server answering canned responses, recorded in the shape of
//! a server's documentation: for dialects we cannot run here (Elasticsearch
//! 8's point-in-time API). It records every request for assertions.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

struct Route {
    method: String,
    path_prefix: String,
    /// Answers in order; the last one repeats.
    answers: VecDeque<(u16, String)>,
}

#[derive(Default)]
struct State {
    routes: Vec<Route>,
    requests: Vec<Recorded>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct RecordedServer {
    url: String,
    state: Arc<Mutex<State>>,
}

impl RecordedServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        RecordedServer { url, state }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answer `method` requests whose path starts with `path_prefix` (the
    /// longest matching prefix wins) with these (status, JSON body) answers
    /// in turn, the last one repeating.
    pub fn route(&self, method: &str, path_prefix: &str, answers: &[(u16, serde_json::Value)]) {
        self.state.lock().unwrap().routes.push(Route {
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            answers: answers.iter().map(|(s, b)| (*s, b.to_string())).collect(),
        });
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the socket"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut length = 0usize;
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            headers.push((name, value));
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let (status, answer) = {
        let mut state = state.lock().unwrap();
        state.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        // The most specific route wins ("/" is only the root's fallback).
        let route = state
            .routes
            .iter_mut()
            .filter(|r| r.method == method && path.starts_with(&r.path_prefix))
            .max_by_key(|r| r.path_prefix.len());
        match route {
            Some(r) if r.answers.len() > 1 => r.answers.pop_front().unwrap(),
            Some(r) => r.answers.front().cloned().unwrap_or((500, "{}".into())),
            None => (
                404,
                format!(r#"{{"error":"no recorded answer for {method} {path}"}}"#),
            ),
        }
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
}
