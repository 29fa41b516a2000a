//! A store that misbehaves on purpose — never answers, or answers garbage — and records what it
//! was sent. Real stores cover the happy paths; this covers the faults a real store cannot be
//! made to show on demand.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::{Error, Result};

/// One HTTP request as received: the request line, the headers, the body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordedRequest {
    /// `POST /api/v1/query HTTP/1.1`
    pub request_line: String,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the faulty store behaves.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Accepts connections and reads requests, but never answers.
    Silent,
    /// Answers every request with this status and body.
    Answer {
        /// HTTP status code.
        status: u16,
        /// Response body.
        body: String,
    },
    /// Answers every request with this status and body after `delay` (a slow but healthy
    /// store, to hold queries in flight).
    Delayed {
        /// How long each answer takes.
        delay: std::time::Duration,
        /// HTTP status code.
        status: u16,
        /// Response body.
        body: String,
    },
}

/// A loopback HTTP server with a fixed [`Behaviour`]; stops when dropped.
pub struct FaultyStore {
    url: String,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    task: JoinHandle<()>,
}

impl FaultyStore {
    /// Starts the server on a free loopback port.
    pub async fn start(behaviour: Behaviour) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| Error::Io {
                what: "a listener".into(),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| Error::Io {
                what: "a listener".into(),
                source,
            })?
            .port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let recorded = recorded.clone();
                let behaviour = behaviour.clone();
                tokio::spawn(async move {
                    loop {
                        let Some(request) = read_request(&mut socket).await else {
                            return;
                        };
                        if let Ok(mut all) = recorded.lock() {
                            all.push(request);
                        }
                        match &behaviour {
                            Behaviour::Silent => {
                                // Hold the connection open without a word until the client leaves.
                                let mut sink = [0u8; 1024];
                                while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
                                return;
                            }
                            Behaviour::Answer { status, body }
                            | Behaviour::Delayed { status, body, .. } => {
                                if let Behaviour::Delayed { delay, .. } = &behaviour {
                                    tokio::time::sleep(*delay).await;
                                }
                                let response = format!(
                                    "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                                    body.len()
                                );
                                if socket.write_all(response.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        Ok(FaultyStore {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            task,
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for FaultyStore {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body), or `None` at end of stream.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<RecordedRequest> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(position) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break position;
        }
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    Some(RecordedRequest {
        request_line,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
