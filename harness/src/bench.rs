//! The benchmark: a closed-loop `FastCGI` load generator built on the codec's
//! web-server side, and the peers it measures in one run.
//!
//! Every response is checked (status and exact body length); a cell with an
//! error reports failure, not a rate.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iiswsgi_fastcgi::proto::{self, RecordType, Role, WRITE_CHUNK};
use iiswsgi_fastcgi::server::ServerConnection;

use crate::{fixtures_apps, python, repo_root, ChildGuard, Client};

mod probes;
mod procfs;
pub use probes::{block_rss, cold_start, idle_connections, responder, upload_rss, IdleProbe};
pub use procfs::{children_of, cpu_us, peak_rss_kib, rss_kib};

pub const MIB: usize = 1024 * 1024;

/// One kind of request.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub name: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub body_len: usize,
    pub expect_len: usize,
    /// The WSGI callable in `bench_app` (or `flask_hello:app`).
    pub module: &'static str,
    pub callable: &'static str,
}

pub const HELLO: Workload = Workload {
    name: "hello",
    method: "GET",
    path: "/hello",
    body_len: 0,
    expect_len: 13,
    module: "bench_app",
    callable: "hello",
};
pub const STREAM: Workload = Workload {
    name: "1 MiB, one reused chunk",
    method: "GET",
    path: "/stream",
    body_len: 0,
    expect_len: MIB,
    module: "bench_app",
    callable: "stream",
};
pub const FRESH: Workload = Workload {
    name: "1 MiB, fresh chunks",
    method: "GET",
    path: "/stream",
    body_len: 0,
    expect_len: MIB,
    module: "bench_app",
    callable: "stream_fresh",
};
pub const FILE: Workload = Workload {
    name: "1 MiB file",
    method: "GET",
    path: "/file",
    body_len: 0,
    expect_len: MIB,
    module: "bench_app",
    callable: "file_chunks",
};
pub const UPLOAD: Workload = Workload {
    name: "1 MiB upload",
    method: "POST",
    path: "/echo",
    body_len: MIB,
    expect_len: MIB,
    module: "bench_app",
    callable: "echo",
};
pub const FLASK: Workload = Workload {
    name: "Flask hello",
    method: "GET",
    path: "/",
    body_len: 0,
    expect_len: 13,
    module: "flask_hello",
    callable: "app",
};

pub const WORKLOADS: [Workload; 6] = [HELLO, STREAM, FRESH, FILE, UPLOAD, FLASK];

/// The parameters IIS sends (site-root application); `physical` replaces
/// `APPL_PHYSICAL_PATH` (wfastcgi reads its web.config from there).
pub fn params(w: &Workload, physical: Option<&Path>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut p = crate::iis_params(w.method, "", w.path, "", w.body_len);
    if let Some(dir) = physical {
        for (k, v) in &mut p {
            if k == b"APPL_PHYSICAL_PATH" {
                *v = dir.display().to_string().into_bytes();
            }
        }
    }
    p
}

/// Pre-encoded requests for ids 1..=255, so the client spends its time on I/O.
struct Requests {
    heads: Vec<Vec<u8>>,
    /// STDIN records for id 1; the id bytes are patched per request.
    body: Vec<u8>,
    body_headers: Vec<usize>,
}

impl Requests {
    fn new(w: &Workload, physical: Option<&Path>) -> Requests {
        let p = params(w, physical);
        let mut codec = ServerConnection::new();
        let heads = (1..=255u16)
            .map(|id| {
                let mut out = Vec::new();
                codec.begin_request(&mut out, id, Role::Responder, true);
                codec
                    .params(&mut out, id, p.iter().map(|(a, b)| (a, b)), None)
                    .expect("benchmark params encode");
                if w.body_len == 0 {
                    codec.stdin_end(&mut out, id);
                }
                out
            })
            .collect();
        let mut body = Vec::new();
        let mut body_headers = Vec::new();
        if w.body_len > 0 {
            let data = vec![b'u'; w.body_len];
            for chunk in data.chunks(WRITE_CHUNK) {
                body_headers.push(body.len());
                proto::write_record(&mut body, RecordType::Stdin, 1, chunk);
            }
            body_headers.push(body.len());
            proto::write_stream_end(&mut body, RecordType::Stdin, 1);
        }
        Requests {
            heads,
            body,
            body_headers,
        }
    }

    /// Sends request `id` on `client` (which then expects its response).
    fn send(&mut self, client: &mut Client<UnixStream>, id: u16) -> io::Result<()> {
        client
            .codec()
            .begin_request(&mut Vec::new(), id, Role::Responder, true);
        client.send_raw(&self.heads[usize::from(id) - 1])?;
        if !self.body.is_empty() {
            let b = id.to_be_bytes();
            for &h in &self.body_headers {
                self.body[h + 2] = b[0];
                self.body[h + 3] = b[1];
            }
            client.send_raw(&self.body)?;
        }
        Ok(())
    }

    /// Sends request `id` and reads its (status, body length).
    fn exchange(&mut self, client: &mut Client<UnixStream>, id: u16) -> io::Result<(u16, usize)> {
        self.send(client, id)?;
        let r = client.read_summary(id)?;
        Ok((r.status, r.body_len))
    }
}

/// What one client connection measured.
#[derive(Default, Debug)]
pub struct ConnStats {
    pub count: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub latencies_us: Vec<u32>,
}

/// Runs the closed loop on one connection until `end`, recording latencies
/// after `warm`.
pub fn drive(
    client: &mut Client<UnixStream>,
    w: &Workload,
    physical: Option<&Path>,
    warm: Instant,
    end: Instant,
) -> ConnStats {
    let mut reqs = Requests::new(w, physical);
    let mut stats = ConnStats::default();
    let mut id: u16 = 1;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        match reqs.exchange(client, id) {
            Ok((200, len)) if len == w.expect_len => {
                if now >= warm {
                    stats.count += 1;
                    let us = now.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                    stats.latencies_us.push(us);
                }
            }
            Ok((status, len)) => {
                stats.errors += 1;
                stats.first_error.get_or_insert(format!(
                    "status {status}, {len} body bytes (expected 200, {})",
                    w.expect_len
                ));
                break;
            }
            Err(e) => {
                stats.errors += 1;
                stats.first_error.get_or_insert(e.to_string());
                break;
            }
        }
        id = if id == 255 { 1 } else { id + 1 };
    }
    stats
}

/// A gateway under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A Rust responder without Python over the same transport: the ceiling.
    Ceiling,
    /// wfastcgi 3.0.0 (`PyPI`) in IIS's model.
    Wfastcgi,
    /// flup 1.0.3's threaded server on a unix socket.
    Flup,
    /// iiswsgi in IIS's model (STDIN pipe per process).
    IiswsgiPipe,
    /// iiswsgi with `--bind unix:`.
    IiswsgiBind,
    /// iiswsgi with `--bind unix:` and one worker process per connection.
    IiswsgiWorkers,
}

impl Peer {
    pub fn label(self) -> &'static str {
        match self {
            Peer::Ceiling => "ceiling (Rust, no Python)",
            Peer::Wfastcgi => "wfastcgi 3.0.0",
            Peer::Flup => "flup 1.0.3 (threaded)",
            Peer::IiswsgiPipe => "iiswsgi (IIS pipe)",
            Peer::IiswsgiBind => "iiswsgi (--bind)",
            Peer::IiswsgiWorkers => "iiswsgi (--bind --workers 2)",
        }
    }

    /// Whether each connection gets its own process (IIS's model).
    pub fn per_process(self) -> bool {
        matches!(self, Peer::Ceiling | Peer::Wfastcgi | Peer::IiswsgiPipe)
    }
}

/// Paths and settings shared by the peers.
pub struct Env {
    pub work: PathBuf,
    pub bench_exe: PathBuf,
}

impl Env {
    /// The 1 MiB file `bench_app.file_chunks` serves.
    pub fn data_file(&self) -> PathBuf {
        self.work.join("data-1mib.bin")
    }

    /// Writes the files the workloads read.
    pub fn prepare(&self) -> io::Result<()> {
        std::fs::write(self.data_file(), vec![b'f'; MIB])
    }

    #[allow(
        clippy::unused_self,
        reason = "a method of the benchmark's environment like its siblings"
    )]
    fn pythonpath(&self, with_stub: bool) -> String {
        let mut parts = vec![fixtures_apps().display().to_string()];
        if with_stub {
            parts.insert(0, repo_root().join("harness/peers").display().to_string());
        }
        parts.join(":")
    }

    /// The web.config wfastcgi reads from `APPL_PHYSICAL_PATH` (the fixtures folder
    /// is shared, so each workload gets its own folder).
    fn wfastcgi_site(&self, w: &Workload) -> io::Result<PathBuf> {
        let dir = self.work.join(format!("wfastcgi-{}", w.callable));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("Web.config"),
            format!(
                r#"<?xml version="1.0"?>
<configuration><appSettings>
  <add key="WSGI_HANDLER" value="{}.{}" />
  <add key="WSGI_RESTART_FILE_REGEX" value="" />
</appSettings></configuration>"#,
                w.module, w.callable
            ),
        )?;
        Ok(dir)
    }

    /// Starts one process of `peer` on `stdin` (a socketpair end), or listening
    /// on `sock`; it is killed (with its workers) when the guard is dropped.
    pub fn spawn(
        &self,
        peer: Peer,
        w: &Workload,
        stdin: Option<UnixStream>,
        sock: Option<&Path>,
    ) -> io::Result<ChildGuard> {
        let log = self.work.join("gateway.log");
        let app = format!("{}:{}", w.module, w.callable);
        let mut cmd = match peer {
            Peer::Ceiling => {
                let mut c = Command::new(&self.bench_exe);
                c.args(["responder", w.callable]);
                c
            }
            Peer::Wfastcgi => {
                let mut c = Command::new(python());
                c.arg("-m")
                    .arg("wfastcgi")
                    .env("PYTHONPATH", self.pythonpath(true));
                c
            }
            Peer::Flup => {
                let mut c = Command::new(python());
                c.arg(repo_root().join("harness/peers/flup_server.py"))
                    .arg(sock.unwrap_or(Path::new("")))
                    .arg(&app)
                    .env("PYTHONPATH", self.pythonpath(false));
                c
            }
            Peer::IiswsgiPipe | Peer::IiswsgiBind | Peer::IiswsgiWorkers => {
                let mut c = Command::new(python());
                c.args(["-m", "iiswsgi", "serve", &app, "--log"])
                    .arg(&log)
                    .env("PYTHONPATH", self.pythonpath(false))
                    .env("WSGI_RESTART_FILE_REGEX", "");
                if let Some(sock) = sock {
                    c.arg("--bind").arg(format!("unix:{}", sock.display()));
                }
                if peer == Peer::IiswsgiWorkers {
                    c.args(["--workers", "2"]);
                }
                c
            }
        };
        if peer == Peer::Wfastcgi {
            let site = self.wfastcgi_site(w)?;
            cmd.current_dir(&site);
        } else {
            cmd.current_dir(&self.work);
        }
        cmd.env("IISWSGI_BENCH_FILE", self.data_file())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match stdin {
            Some(s) => cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(s))),
            None => cmd.stdin(Stdio::null()),
        };
        cmd.spawn().map(ChildGuard)
    }

    /// `APPL_PHYSICAL_PATH` for wfastcgi's requests.
    pub fn physical_path(&self, peer: Peer, w: &Workload) -> Option<PathBuf> {
        (peer == Peer::Wfastcgi).then(|| self.work.join(format!("wfastcgi-{}", w.callable)))
    }
}

pub fn wait_for_socket(path: &Path, child: &mut Child) -> io::Result<()> {
    let start = Instant::now();
    while UnixStream::connect(path).is_err() {
        if let Some(st) = child.try_wait()? {
            return Err(io::Error::other(format!("server exited early: {st}")));
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(io::Error::other("server did not listen"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// The result of one cell.
#[derive(Debug, Default, Clone)]
pub struct Cell {
    pub rate: f64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub rss_kib: u64,
    /// CPU time the serving processes spent per request after the warm-up
    /// (user + system): unlike the rate, it holds on a machine shared with
    /// other work.
    pub cpu_us_per_req: f64,
    pub error: Option<String>,
}

/// The processes that serve: the workers, not their supervisor, under --workers.
fn serving_pids(peer: Peer, children: &[ChildGuard]) -> Vec<u32> {
    children
        .iter()
        .flat_map(|c| {
            let kids = if peer == Peer::IiswsgiWorkers {
                children_of(c.id())
            } else {
                Vec::new()
            };
            if kids.is_empty() {
                vec![c.id()]
            } else {
                kids
            }
        })
        .collect()
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Measures `peer` on `w` with `conns` concurrent connections.
pub fn run_cell(
    env: &Env,
    peer: Peer,
    w: &Workload,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> Cell {
    match run_cell_inner(env, peer, w, conns, warmup, duration) {
        Ok(c) => c,
        Err(e) => Cell {
            error: Some(e.to_string()),
            ..Cell::default()
        },
    }
}

fn run_cell_inner(
    env: &Env,
    peer: Peer,
    w: &Workload,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> io::Result<Cell> {
    let mut children = Vec::new();
    let mut client_socks = Vec::new();
    if peer.per_process() {
        for _ in 0..conns {
            let (ours, theirs) = UnixStream::pair()?;
            children.push(env.spawn(peer, w, Some(theirs), None)?);
            client_socks.push(ours);
        }
    } else {
        let sock = env.work.join(format!(
            "{}-{}.sock",
            peer.label().split(' ').next().unwrap_or("p"),
            w.callable
        ));
        let _ = std::fs::remove_file(&sock);
        let mut child = env.spawn(peer, w, None, Some(&sock))?;
        wait_for_socket(&sock, &mut child)?;
        children.push(child);
        for _ in 0..conns {
            client_socks.push(UnixStream::connect(&sock)?);
        }
    }
    let physical = env.physical_path(peer, w);
    let wl = *w;
    let start = Instant::now();
    let warm = start + warmup;
    let end = warm + duration;
    let handles: Vec<_> = client_socks
        .into_iter()
        .map(|s| {
            let physical = physical.clone();
            std::thread::spawn(move || {
                let mut client = Client::new(s);
                let stats = drive(&mut client, &wl, physical.as_deref(), warm, end);
                // The connection stays open until the peak RSS has been read.
                (stats, client)
            })
        })
        .collect();
    std::thread::sleep(warm.saturating_duration_since(Instant::now()));
    let cpu_at_warm: u64 = serving_pids(peer, &children).into_iter().map(cpu_us).sum();
    let mut all = Vec::new();
    let mut count = 0;
    let mut error = None;
    let mut open = Vec::new();
    for h in handles {
        let (st, sock) = h
            .join()
            .map_err(|_| io::Error::other("client thread panicked"))?;
        open.push(sock);
        count += st.count;
        if st.errors > 0 && error.is_none() {
            error = st.first_error.clone().or(Some("error".into()));
        }
        all.extend(st.latencies_us);
    }
    // Per serving process: the workers', not their supervisor's, under --workers.
    let serving = serving_pids(peer, &children);
    let rss = serving.iter().copied().map(peak_rss_kib).max().unwrap_or(0);
    let cpu: u64 = serving.into_iter().map(cpu_us).sum();
    drop(open);
    for mut c in children {
        c.kill_all();
    }
    all.sort_unstable();
    Ok(Cell {
        rate: count as f64 / duration.as_secs_f64(),
        p50_us: percentile(&all, 0.50),
        p99_us: percentile(&all, 0.99),
        rss_kib: rss,
        cpu_us_per_req: cpu.saturating_sub(cpu_at_warm) as f64 / count.max(1) as f64,
        error,
    })
}
