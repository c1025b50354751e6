//! The scenario's requests: `sim serve` runs in process while a thread
//! sends them (HTTP/1.0, one connection each, the body written while the
//! answer is read, so IIS's early 404.13 is seen whatever the body's size).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use super::model::Request;
use crate::deploy::{Deployed, StageError};

/// One answer: status and body text.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Sends one request to `base` (`http://127.0.0.1:PORT/app/`) + `path`.
pub fn send(base: &str, method: &str, path: &str, body_bytes: u64) -> Result<Answer, String> {
    let rest = base.strip_prefix("http://").ok_or("not an http URL")?;
    let (addr, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let target = format!("/{}{}", prefix.trim_end_matches('/'), path).replace("//", "/");
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_mins(5)));
    let head = format!(
        "{method} {target} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {body_bytes}\r\nUser-Agent: iiswsgi-scenario\r\n\r\n"
    );
    s.write_all(head.as_bytes())
        .map_err(|e| format!("send {target}: {e}"))?;
    let writer = (body_bytes > 0)
        .then(|| s.try_clone().ok())
        .flatten()
        .map(|mut w| {
            std::thread::spawn(move || {
                let chunk = vec![b'u'; 64 * 1024];
                let mut left = body_bytes;
                while left > 0 {
                    let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
                    if w.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                    left -= n as u64;
                }
            })
        });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A reset after the answer (IIS closes without reading the body).
            Err(_) if !buf.is_empty() => break,
            Err(e) => return Err(format!("{method} {target}: {e}")),
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
    if let Some(w) = writer {
        let _ = w.join();
    }
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{method} {target}: no HTTP answer"))?;
    let head = String::from_utf8_lossy(&buf[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            format!(
                "{method} {target}: bad status line {:?}",
                head.lines().next()
            )
        })?;
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&buf[split + 4..]).into_owned(),
    })
}

/// Sends a request `count` times, `concurrency` at a time; the answers in
/// the order they were sent.
pub fn send_all(base: &str, r: &Request) -> Vec<Result<Answer, String>> {
    let mut answers = Vec::new();
    let mut left = r.count;
    while left > 0 {
        let n = left.min(r.concurrency);
        let batch: Vec<_> = (0..n)
            .map(|_| {
                let (b, m, p, len) = (
                    base.to_owned(),
                    r.method.clone(),
                    r.path.clone(),
                    r.body_bytes,
                );
                std::thread::spawn(move || send(&b, &m, &p, len))
            })
            .collect();
        for h in batch {
            answers.push(
                h.join()
                    .unwrap_or_else(|_| Err("the request thread panicked".into())),
            );
        }
        left -= n;
    }
    answers
}

/// Runs `sim serve` on the deployed machine while `job` runs with the
/// application's URL; the server stops when `job` returns.
pub fn serve_with<R: Send + 'static>(
    d: &Deployed,
    listen: std::net::IpAddr,
    second: Duration,
    mapped: &mut dyn FnMut(&str),
    job: impl FnOnce(String) -> R + Send + 'static,
) -> Result<R, StageError> {
    let fail = |e: String| StageError {
        stage: "serve",
        reason: e,
        log: None,
    };
    let opts = crate::front::ServeOptions {
        root: d.machine.root().to_path_buf(),
        listen,
        ports: std::collections::BTreeMap::new(),
        show_process_output: false,
        second,
        once: false,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let result = rt.block_on(async {
        let server = crate::front::Server::bind(&opts)
            .await
            .map_err(|e| fail(iiswsgi_iisconfig::error_chain(&e)))?;
        for m in &server.mappings {
            mapped(&m.to_string());
        }
        let url = crate::deploy::app_url(&server.mappings, d)
            .ok_or_else(|| fail(format!("no http binding of site {:?}", d.site)))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(job(url));
        });
        let slot = std::sync::Arc::new(std::sync::Mutex::new(None));
        let s2 = std::sync::Arc::clone(&slot);
        server
            .run(async move {
                if let Ok(r) = rx.await {
                    *s2.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(r);
                }
            })
            .await;
        let r = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        r.ok_or_else(|| fail("the requests did not finish".into()))
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    result
}
