//! One-off measurements beside the closed-loop cells: cold start, a large
//! upload, a large single-block response, idle keep-alive connections, and
//! the no-Python responder that gives the ceiling.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use iiswsgi_fastcgi::proto::{self, RecordType, Role, HEADER_LEN, WRITE_CHUNK};

use super::{
    params, peak_rss_kib, rss_kib, wait_for_socket, Env, Peer, Requests, Workload, HELLO, MIB,
};
use crate::Client;

/// Cold start: process spawn to the first complete hello response, in IIS's model.
pub fn cold_start(env: &Env, peer: Peer, samples: usize) -> io::Result<Duration> {
    let mut times = Vec::new();
    for _ in 0..samples {
        let (ours, theirs) = UnixStream::pair()?;
        let t0 = Instant::now();
        let mut child = env.spawn(peer, &HELLO, Some(theirs), None)?;
        let physical = env.physical_path(peer, &HELLO);
        let mut reqs = Requests::new(&HELLO, physical.as_deref());
        let (status, len) = reqs.exchange(&mut Client::new(ours), 1)?;
        let dt = t0.elapsed();
        child.kill_all();
        if status != 200 || len != 13 {
            return Err(io::Error::other(format!(
                "cold start: status {status}, {len} bytes"
            )));
        }
        times.push(dt);
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Peak RSS of an iiswsgi pipe-model process receiving `size` bytes of upload.
pub fn upload_rss(env: &Env, size: usize) -> io::Result<(u64, Duration)> {
    let w = Workload {
        name: "upload",
        method: "POST",
        path: "/upload",
        body_len: size,
        expect_len: size.to_string().len(),
        module: "bench_app",
        callable: "upload_size",
    };
    let (ours, theirs) = UnixStream::pair()?;
    let mut child = env.spawn(Peer::IiswsgiPipe, &w, Some(theirs), None)?;
    let mut client = Client::new(ours);
    let mut head = Vec::new();
    let codec = client.codec();
    codec.begin_request(&mut head, 1, Role::Responder, true);
    let p = params(&w, None);
    codec
        .params(&mut head, 1, p.iter().map(|(a, b)| (a, b)), None)
        .map_err(io::Error::other)?;
    let t0 = Instant::now();
    let mut writer = client.socket().try_clone()?;
    let send = std::thread::spawn(move || -> io::Result<()> {
        writer.write_all(&head)?;
        let block = vec![b'u'; WRITE_CHUNK];
        let mut records = Vec::with_capacity(WRITE_CHUNK + HEADER_LEN);
        let mut left = size;
        while left > 0 {
            let n = left.min(block.len());
            records.clear();
            proto::write_record(&mut records, RecordType::Stdin, 1, &block[..n]);
            writer.write_all(&records)?;
            left -= n;
        }
        records.clear();
        proto::write_stream_end(&mut records, RecordType::Stdin, 1);
        writer.write_all(&records)
    });
    let r = client.read_summary(1)?;
    let (status, len) = (r.status, r.body_len);
    let dt = t0.elapsed();
    send.join()
        .map_err(|_| io::Error::other("sender panicked"))??;
    let rss = peak_rss_kib(child.id());
    child.kill_all();
    if status != 200 || len != w.expect_len {
        return Err(io::Error::other(format!(
            "upload: status {status}, {len} bytes"
        )));
    }
    Ok((rss, dt))
}

/// Peak RSS (KiB) of a `peer` process in IIS's model serving one response
/// that is a single block of `mib` MiB (`bench_app.block`).
pub fn block_rss(env: &Env, peer: Peer) -> io::Result<u64> {
    const BLOCK_MIB: usize = 200;
    let w = Workload {
        name: "block",
        method: "GET",
        path: "/block",
        body_len: 0,
        expect_len: BLOCK_MIB * MIB,
        module: "bench_app",
        callable: "block",
    };
    let (ours, theirs) = UnixStream::pair()?;
    let mut child = env.spawn(peer, &w, Some(theirs), None)?;
    let physical = env.physical_path(peer, &w);
    let mut reqs = Requests::new(&w, physical.as_deref());
    let (status, len) = reqs.exchange(&mut Client::new(ours), 1)?;
    let rss = peak_rss_kib(child.id());
    child.kill_all();
    if status != 200 || len != w.expect_len {
        return Err(io::Error::other(format!(
            "block: status {status}, {len} bytes"
        )));
    }
    Ok(rss)
}

/// What [`idle_connections`] measured.
#[derive(Debug, Clone)]
pub struct IdleProbe {
    pub idle: usize,
    /// Resident memory added per parked connection, in KiB.
    pub kib_per_conn: f64,
    /// A new client's connect + first hello response with the connections parked.
    pub new_client_p50: Duration,
    pub new_client_max: Duration,
}

fn hello_on(client: &mut Client<UnixStream>) -> io::Result<()> {
    let mut reqs = Requests::new(&HELLO, None);
    match reqs.exchange(client, 1)? {
        (200, 13) => Ok(()),
        (status, len) => Err(io::Error::other(format!(
            "hello: status {status}, {len} bytes"
        ))),
    }
}

/// `iiswsgi serve --bind`: parks `n` keep-alive connections that have each
/// served one request (as nginx's upstream `keepalive` does), then measures the
/// memory they hold and how fast a new client is answered.
pub fn idle_connections(env: &Env, n: usize, samples: usize) -> io::Result<IdleProbe> {
    let sock = env.work.join("idle.sock");
    let _ = std::fs::remove_file(&sock);
    let mut child = env.spawn(Peer::IiswsgiBind, &HELLO, None, Some(&sock))?;
    wait_for_socket(&sock, &mut child)?;
    let mut first = Client::connect(&sock)?;
    hello_on(&mut first)?;
    std::thread::sleep(Duration::from_millis(200));
    let base = rss_kib(child.id());
    let mut parked = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = Client::connect(&sock)?;
        hello_on(&mut s)?;
        parked.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let with_idle = rss_kib(child.id());
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t0 = Instant::now();
        let mut s = Client::connect(&sock)?;
        hello_on(&mut s)?;
        times.push(t0.elapsed());
    }
    drop(parked);
    child.kill_all();
    times.sort();
    Ok(IdleProbe {
        idle: n,
        kib_per_conn: with_idle.saturating_sub(base) as f64 / n as f64,
        new_client_p50: times.get(times.len() / 2).copied().unwrap_or_default(),
        new_client_max: times.last().copied().unwrap_or_default(),
    })
}

/// The no-Python responder (`iiswsgi-bench responder WORKLOAD` on STDIN): the
/// same responses as `bench_app`, through the same codec and transport.
pub fn responder(callable: &str, stream: UnixStream) -> io::Result<()> {
    use iiswsgi_fastcgi::app::{AppConfig, AppConnection, AppEvent};
    let mut s = stream;
    let mut conn = AppConnection::new(AppConfig::single_request());
    let mut out = Vec::with_capacity(2 * MIB);
    let chunk = vec![b'x'; 64 * 1024];
    let mut body: Vec<u8> = Vec::new();
    loop {
        let mut respond = None;
        while let Some(ev) = conn.poll().map_err(io::Error::other)? {
            match ev {
                AppEvent::Request(_) => body.clear(),
                AppEvent::Stdin { data, .. } => body.extend_from_slice(data),
                AppEvent::StdinEnd { request_id } => {
                    respond = Some(request_id);
                    break;
                }
                AppEvent::Abort { .. } => {}
            }
        }
        if let Some(id) = respond.take() {
            out.clear();
            match callable {
                "hello" => {
                    let mut msg =
                        b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
                            .to_vec();
                    msg.extend_from_slice(b"Hello, World!");
                    proto::write_stream(&mut out, RecordType::Stdout, id, &msg);
                }
                // The same bytes on the wire as bench_app's streamed responses.
                "stream" | "stream_fresh" | "file_chunks" => {
                    let head = format!("Status: 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {MIB}\r\n\r\n");
                    let mut first = head.into_bytes();
                    first.extend_from_slice(&chunk);
                    proto::write_stream(&mut out, RecordType::Stdout, id, &first);
                    s.write_all(&out)?;
                    for _ in 1..MIB / chunk.len() {
                        out.clear();
                        proto::write_stream(&mut out, RecordType::Stdout, id, &chunk);
                        s.write_all(&out)?;
                    }
                    out.clear();
                }
                _ => {
                    let head = format!(
                        "Status: 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    proto::write_stream(&mut out, RecordType::Stdout, id, head.as_bytes());
                    proto::write_stream(&mut out, RecordType::Stdout, id, &body);
                }
            }
            proto::write_stream_end(&mut out, RecordType::Stdout, id);
            conn.end_request(&mut out, id, 0);
            s.write_all(&out)?;
            continue;
        }
        if !conn.output().is_empty() {
            s.write_all(conn.output())?;
            conn.clear_output();
        }
        let slot = conn.read_buf().spare(256 * 1024);
        let n = s.read(slot)?;
        if n == 0 {
            return Ok(());
        }
        conn.read_buf().advance(n);
    }
}
