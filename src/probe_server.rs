//! Serves the probe router (`/health`, `/livez`, `/metrics`) within fixed limits.
//!
//! The probe port shares the bot's one runtime thread and its file-descriptor table, so what
//! reaches it must not be able to starve the bot: connections are capped (the rest wait in the
//! kernel's backlog, holding none of our descriptors), accepted at a bounded rate, must send
//! their headers quickly and within a small size, and serve one request each (no keep-alive,
//! so a pipelined flood is one answer per connection). Nothing here changes state.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::wait::safe_wait_for;

/// What one probe server accepts.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub connections: usize,
    /// New connections accepted per second, at most.
    pub per_second: u32,
    /// How long a client has to send its request's headers.
    pub header_timeout: Duration,
    /// How long one connection may live, request and answer included.
    pub connection_timeout: Duration,
    /// The largest request head (request line and headers) read, in bytes (8 KiB at least:
    /// hyper's floor).
    pub max_header_bytes: usize,
}

impl Limits {
    /// For probes and a metrics scraper: a few connections at a time, a few hundred a second.
    pub const PROBES: Limits = Limits {
        connections: 16,
        per_second: 200,
        header_timeout: Duration::from_secs(2),
        connection_timeout: Duration::from_secs(10),
        max_header_bytes: 8 * 1024,
    };
}

/// How long to wait before accepting again after `accept` failed (out of descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long open connections get to finish once `shutdown` fires.
const DRAIN: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` within `limits` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let open = Arc::new(Semaphore::new(limits.connections));
    let connections = TaskTracker::new();
    let mut pace = tokio::time::interval(Duration::from_secs(1) / limits.per_second.max(1));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        // Take a connection's room and a tick of the rate before accepting: until then the
        // client waits in the kernel's backlog and costs this process nothing.
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => permit,
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = permit else { break };
        tokio::select! {
            _ = pace.tick() => {}
            () = shutdown.cancelled() => break,
        }
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(error = %err, "the probe server could not accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // Probe answers are small: send them at once rather than waiting on Nagle.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY on a probe connection");
        }
        let service = TowerToHyperService::new(router.clone());
        connections.spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(limits.max_header_bytes)
                .keep_alive(false);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            if safe_wait_for(connection, limits.connection_timeout)
                .await
                .is_none()
            {
                tracing::debug!("closed a probe connection that outlived its deadline");
            }
            drop(permit);
        });
    }
    connections.close();
    if safe_wait_for(connections.wait(), DRAIN).await.is_none() {
        tracing::debug!("probe connections still open at shutdown were dropped");
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // #[tokio::test] builds a runtime; tests may time out.
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const TEST: Limits = Limits {
        connections: 2,
        per_second: 1000,
        header_timeout: Duration::from_millis(300),
        connection_timeout: Duration::from_secs(5),
        max_header_bytes: 8 * 1024,
    };

    async fn start(limits: Limits) -> (std::net::SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/health", get(|| async { "ok" }));
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, router, limits, stop.clone()));
        (addr, stop)
    }

    /// Everything the server sends until it closes, or `None` if it is still open after
    /// `within`.
    async fn read_all(stream: &mut TcpStream, within: Duration) -> Option<String> {
        let mut out = Vec::new();
        let read = stream.read_to_end(&mut out);
        safe_wait_for(read, within).await?.ok()?;
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    const GET: &[u8] = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_cut_off() {
        let (addr, _stop) = start(TEST).await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let answer = read_all(&mut slow, Duration::from_secs(3)).await;
        let answer = answer.expect("the connection is still open");
        assert!(!answer.contains("200 OK"), "{answer}");
    }

    #[tokio::test]
    async fn connections_over_the_cap_wait_until_one_closes() {
        let limits = Limits {
            header_timeout: Duration::from_secs(30),
            connection_timeout: Duration::from_secs(30),
            ..TEST
        };
        let (addr, _stop) = start(limits).await;
        let idle_a = TcpStream::connect(addr).await.unwrap();
        let _idle_b = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = TcpStream::connect(addr).await.unwrap();
        third.write_all(GET).await.unwrap();
        let early = read_all(&mut third, Duration::from_millis(300)).await;
        assert!(early.is_none(), "served over the cap: {early:?}");
        drop(idle_a);
        let answer = read_all(&mut third, Duration::from_secs(3)).await;
        assert!(answer.is_some_and(|a| a.contains("200 OK")));
    }

    #[tokio::test]
    async fn oversized_headers_are_refused() {
        let (addr, _stop) = start(TEST).await;
        let mut big = TcpStream::connect(addr).await.unwrap();
        let filler = format!("X-Filler: {}\r\n", "a".repeat(1000));
        let request = format!(
            "GET /health HTTP/1.1\r\nHost: x\r\n{}\r\n",
            filler.repeat(40)
        );
        // The server may close while we still write: that is the refusal.
        let _ = big.write_all(request.as_bytes()).await;
        // Refused means answered with an error or closed (perhaps reset), not left hanging.
        let mut out = Vec::new();
        let ended = safe_wait_for(big.read_to_end(&mut out), Duration::from_secs(3)).await;
        assert!(ended.is_some(), "the server neither answered nor closed");
        let answer = String::from_utf8_lossy(&out);
        assert!(!answer.contains("200 OK"), "{answer}");
    }

    #[tokio::test]
    async fn a_pipelined_flood_gets_one_answer_per_connection() {
        let (addr, _stop) = start(TEST).await;
        let mut flood = TcpStream::connect(addr).await.unwrap();
        flood.write_all(&GET.repeat(50)).await.unwrap();
        let answer = read_all(&mut flood, Duration::from_secs(3)).await.unwrap();
        assert_eq!(answer.matches("HTTP/1.1 200").count(), 1, "{answer}");
    }
}
