#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::same_poll::testing::{Wakes, counting_wakes};

const ANSWER: &str = r#"{"status":"success"}"#;

/// What the test server does after reading each request.
#[derive(Clone, Copy)]
enum After {
    /// Answers and keeps the connection open.
    Answer,
    /// Answers, then closes the connection a moment later without saying so (as an idle
    /// timeout does), once the client has put it back as idle.
    AnswerThenClose,
    /// Closes the connection without answering.
    Close,
}

/// A loopback HTTP/1.1 server counting the connections it accepted.
struct Server {
    url: String,
    connections: Arc<AtomicUsize>,
}

async fn server(after: After) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                while read_request(&mut tcp).await {
                    if let After::Close = after {
                        return;
                    }
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{ANSWER}",
                        ANSWER.len()
                    );
                    if tcp.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                    if let After::AnswerThenClose = after {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        return;
                    }
                }
            });
        }
    });
    Server { url, connections }
}

/// Reads one request (head and `Content-Length` body); false when the client closed.
async fn read_request(tcp: &mut tokio::net::TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tcp.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    tcp.read_exact(&mut body).await.is_ok()
}

fn request(transport: &Transport) -> Request<String> {
    Request::post(transport.target("/api/v1/query"))
        .body("query=up".to_owned())
        .unwrap()
}

#[tokio::test]
async fn sequential_requests_share_one_kept_alive_connection() {
    let server = server(After::Answer).await;
    let transport = Transport::new(&server.url, None, Duration::from_secs(1)).unwrap();
    for _ in 0..3 {
        let (status, body) = transport.send(request(&transport)).await.unwrap();
        assert_eq!((status, &body[..]), (200, ANSWER.as_bytes()));
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_requests_each_take_a_connection_and_keep_it_for_later() {
    let server = server(After::Answer).await;
    let transport = Transport::new(&server.url, None, Duration::from_secs(1)).unwrap();
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            transport.send(request(&transport)),
            transport.send(request(&transport))
        );
        assert_eq!(a.unwrap().0, 200);
        assert_eq!(b.unwrap().0, 200);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_the_store_closed_while_idle_costs_no_failed_request() {
    let server = server(After::AnswerThenClose).await;
    let transport = Transport::new(&server.url, None, Duration::from_secs(1)).unwrap();
    for _ in 0..3 {
        // The close arrives while the connection sits idle in the pool.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (status, _) = transport.send(request(&transport)).await.unwrap();
        assert_eq!(status, 200);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_is_unavailable_not_a_hang() {
    let server = server(After::Close).await;
    let transport = Transport::new(&server.url, None, Duration::from_secs(1)).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), transport.send(request(&transport)))
        .await
        .unwrap();
    assert!(
        matches!(&result, Err(Error::Unavailable { url, .. }) if *url == server.url),
        "{result:?}"
    );
}

#[test]
fn the_base_url_is_read_once_and_its_path_kept() {
    let transport =
        Transport::new("http://[::1]:9090/prom/", None, Duration::from_secs(1)).unwrap();
    assert_eq!(transport.host, "::1");
    assert_eq!(transport.port, 9090);
    assert_eq!(transport.authority, "[::1]:9090");
    assert_eq!(transport.target("/api/v1/query"), "/prom/api/v1/query");
    let plain = Transport::new("http://prometheus", None, Duration::from_secs(1)).unwrap();
    assert_eq!((plain.port, plain.target("/x")), (80, "/x".to_owned()));
    assert!(matches!(
        Transport::new("https://prometheus", None, Duration::from_secs(1)),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Transport::new("ftp://prometheus", None, Duration::from_secs(1)),
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn an_exchange_wakes_its_task_only_when_the_store_has_written() {
    let server = server(After::Answer).await;
    let transport = Transport::new(&server.url, None, Duration::from_secs(1)).unwrap();
    // The connection is made and pooled first: the exchange measured is a kept-alive one.
    transport.send(request(&transport)).await.unwrap();
    for _ in 0..20 {
        let wakes = Arc::new(Wakes::default());
        let (status, _) = counting_wakes(&wakes, transport.send(request(&transport)))
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(wakes.during_poll.load(Ordering::SeqCst), 0);
        assert!(
            wakes.total.load(Ordering::SeqCst) >= 1,
            "the answer woke it"
        );
    }
}
