#![cfg(unix)]
//! Drives the gateway as a web server does: IIS's model (one end of a
//! socketpair as the process's STDIN) or a `--bind` socket, through the
//! web-server side of the project's FastCGI codec.

pub mod bench;
pub mod bench_cli;

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use iiswsgi_fastcgi::proto::{ProtocolStatus, Role};
use iiswsgi_fastcgi::server::{ServerConnection, ServerEvent};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The Python with iiswsgi installed: `$IISWSGI_PYTHON`, else the repo's `.venv`.
pub fn python() -> PathBuf {
    std::env::var_os("IISWSGI_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

pub fn fixtures_apps() -> PathBuf {
    repo_root().join("fixtures/apps")
}

/// A parsed response.
#[derive(Debug, Default, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub stderr: Vec<u8>,
    pub app_status: u32,
    pub protocol_status: Option<ProtocolStatus>,
    /// Content lengths of the STDOUT records, in order (the last is the empty end).
    pub stdout_records: Vec<usize>,
    /// The raw STDOUT stream (head and body).
    pub raw: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn parse_head(&mut self) {
        let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            self.body = self.raw.clone();
            return;
        };
        let head = String::from_utf8_lossy(&self.raw[..end]).into_owned();
        self.body = self.raw[end + 4..].to_vec();
        for line in head.split("\r\n") {
            if let Some((k, v)) = line.split_once(':') {
                let v = v.trim().to_string();
                if k.eq_ignore_ascii_case("Status") {
                    let (code, reason) = v.split_once(' ').unwrap_or((&v, ""));
                    self.status = code.parse().unwrap_or(0);
                    self.reason = reason.to_string();
                } else {
                    self.headers.push((k.to_string(), v));
                }
            }
        }
        if self.status == 0 {
            self.status = 200;
        }
    }
}

/// Parameters of a request as IIS sends them for an application mounted at
/// `mount` (`""` for the site root): the full URL path in both PATH_INFO and
/// SCRIPT_NAME, as with a `path="*"` handler.
pub fn iis_params(
    method: &str,
    mount: &str,
    path: &str,
    query: &str,
    body_len: usize,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let md = if mount.is_empty() {
        "/LM/W3SVC/1/ROOT".to_string()
    } else {
        format!("/LM/W3SVC/1/ROOT{mount}")
    };
    let mut p: Vec<(&str, String)> = vec![
        ("APPL_MD_PATH", md),
        (
            "APPL_PHYSICAL_PATH",
            format!("{}/", fixtures_apps().display()),
        ),
        ("AUTH_TYPE", String::new()),
        ("CONTENT_LENGTH", body_len.to_string()),
        (
            "CONTENT_TYPE",
            if body_len > 0 {
                "application/octet-stream".into()
            } else {
                String::new()
            },
        ),
        ("GATEWAY_INTERFACE", "CGI/1.1".into()),
        ("HTTPS", "off".into()),
        ("INSTANCE_ID", "1".into()),
        ("LOCAL_ADDR", "127.0.0.1".into()),
        ("PATH_INFO", path.into()),
        (
            "PATH_TRANSLATED",
            format!("C:\\inetpub\\wwwroot{}", path.replace('/', "\\")),
        ),
        ("QUERY_STRING", query.into()),
        ("REMOTE_ADDR", "127.0.0.1".into()),
        ("REMOTE_HOST", "127.0.0.1".into()),
        ("REMOTE_PORT", "50123".into()),
        ("REQUEST_METHOD", method.into()),
        ("SCRIPT_NAME", path.into()),
        ("SERVER_NAME", "localhost".into()),
        ("SERVER_PORT", "80".into()),
        ("SERVER_PORT_SECURE", "0".into()),
        ("SERVER_PROTOCOL", "HTTP/1.1".into()),
        ("SERVER_SOFTWARE", "Microsoft-IIS/10.0".into()),
        ("HTTP_HOST", "localhost".into()),
        ("HTTP_USER_AGENT", "iiswsgi-harness".into()),
    ];
    if body_len > 0 {
        p.push(("HTTP_CONTENT_LENGTH", body_len.to_string()));
    }
    p.into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
        .collect()
}

/// How to send one request.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Cut the PARAMS stream into records of at most this many bytes.
    pub params_split: Option<usize>,
    /// Body bytes per STDIN record (IIS uses about 10 KB; default 64 KiB - 8).
    pub stdin_chunk: Option<usize>,
    pub keep_conn: bool,
}

impl RequestSpec {
    pub fn new(params: Vec<(Vec<u8>, Vec<u8>)>, body: Vec<u8>) -> Self {
        RequestSpec {
            params,
            body,
            params_split: None,
            stdin_chunk: None,
            keep_conn: true,
        }
    }
}

/// A FastCGI client connection (the web server's side).
pub struct Client {
    sock: UnixStream,
    codec: ServerConnection,
    next_id: u16,
}

impl Client {
    pub fn new(sock: UnixStream) -> Self {
        Client {
            sock,
            codec: ServerConnection::new(),
            next_id: 1,
        }
    }

    pub fn connect(path: &Path) -> io::Result<Self> {
        Ok(Client::new(UnixStream::connect(path)?))
    }

    pub fn socket(&self) -> &UnixStream {
        &self.sock
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sock.write_all(bytes)
    }

    /// Encodes a request; the id cycles 1..=255 as IIS's does.
    pub fn encode(&mut self, spec: &RequestSpec) -> (u16, Vec<u8>) {
        let id = self.next_id;
        self.next_id = if self.next_id >= 255 {
            1
        } else {
            self.next_id + 1
        };
        let mut w = Vec::new();
        self.codec
            .begin_request(&mut w, id, Role::Responder, spec.keep_conn);
        self.codec
            .params(
                &mut w,
                id,
                spec.params.iter().map(|(a, b)| (a, b)),
                spec.params_split,
            )
            .expect("params encode");
        match spec.stdin_chunk {
            Some(n) => {
                for c in spec.body.chunks(n.max(1)) {
                    self.codec.stdin(&mut w, id, c);
                }
            }
            None => self.codec.stdin(&mut w, id, &spec.body),
        }
        self.codec.stdin_end(&mut w, id);
        (id, w)
    }

    /// Sends a request (from a thread, so large bodies and responses cannot
    /// deadlock) and reads its response.
    pub fn request(&mut self, spec: &RequestSpec) -> io::Result<Response> {
        let (id, wire) = self.encode(spec);
        let mut w = self.sock.try_clone()?;
        let writer = std::thread::spawn(move || w.write_all(&wire));
        let resp = self.read_response(id);
        writer
            .join()
            .map_err(|_| io::Error::other("writer thread panicked"))??;
        resp
    }

    /// A GET in IIS's shape for the application at the site root.
    pub fn get(&mut self, path: &str, query: &str) -> io::Result<Response> {
        self.request(&RequestSpec::new(
            iis_params("GET", "", path, query, 0),
            Vec::new(),
        ))
    }

    /// Reads records until END_REQUEST for `id`.
    pub fn read_response(&mut self, id: u16) -> io::Result<Response> {
        let mut resp = Response::default();
        loop {
            let mut done = false;
            while let Some(ev) = self
                .codec
                .poll()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                match ev {
                    ServerEvent::Stdout { request_id, data } if request_id == id => {
                        resp.stdout_records.push(data.len());
                        resp.raw.extend_from_slice(data);
                    }
                    ServerEvent::Stderr { request_id, data } if request_id == id => {
                        resp.stderr.extend_from_slice(data)
                    }
                    ServerEvent::EndRequest {
                        request_id,
                        app_status,
                        protocol_status,
                    } if request_id == id => {
                        resp.app_status = app_status;
                        resp.protocol_status = Some(protocol_status);
                        done = true;
                        break;
                    }
                    other => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("unexpected record while waiting for request {id}: {other:?}"),
                        ))
                    }
                }
            }
            if done {
                break;
            }
            let slot = self.codec.read_buf().spare(128 * 1024);
            let n = self.sock.read(slot)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed before END_REQUEST of request {id}"),
                ));
            }
            self.codec.read_buf().advance(n);
        }
        resp.parse_head();
        Ok(resp)
    }

    /// Reads the next events whatever they are (management replies).
    pub fn read_events(&mut self, want: usize) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        while out.len() < want {
            while let Some(ev) = self
                .codec
                .poll()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                out.push(format!("{ev:?}"));
            }
            if out.len() >= want {
                break;
            }
            let slot = self.codec.read_buf().spare(4096);
            let n = self.sock.read(slot)?;
            if n == 0 {
                break;
            }
            self.codec.read_buf().advance(n);
        }
        Ok(out)
    }

    pub fn codec(&mut self) -> &mut ServerConnection {
        &mut self.codec
    }
}

/// A child process that is killed (with its own children, e.g. `--workers`)
/// when the guard is dropped, so a failing test leaves no process behind.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Kills the process and its children now and reaps it.
    pub fn kill_all(&mut self) {
        let kids = bench::children_of(self.0.id());
        let _ = self.0.kill();
        for pid in kids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.kill_all();
        }
    }
}

/// A gateway process in IIS's model: STDIN is one end of a socketpair.
pub struct PipeGateway {
    pub child: Child,
    pub client: Client,
    pub log: PathBuf,
}

/// What to start.
pub struct GatewayCommand {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub log: PathBuf,
}

impl GatewayCommand {
    /// `python -m iiswsgi serve ARGS...` with the fixtures importable and logging to `log`.
    pub fn serve(args: &[&str], log: &Path) -> Self {
        let mut all = vec!["-m".to_string(), "iiswsgi".into(), "serve".into()];
        all.extend(args.iter().map(|s| s.to_string()));
        GatewayCommand {
            args: all,
            env: vec![
                ("PYTHONPATH".into(), fixtures_apps().display().to_string()),
                ("WSGI_LOG".into(), log.display().to_string()),
            ],
            cwd: fixtures_apps(),
            log: log.to_path_buf(),
        }
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(a, _)| a != k);
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn without_env(mut self, k: &str) -> Self {
        self.env.retain(|(a, _)| a != k);
        self
    }

    pub fn cwd(mut self, d: &Path) -> Self {
        self.cwd = d.to_path_buf();
        self
    }

    fn command(&self) -> Command {
        let mut c = Command::new(python());
        c.args(&self.args).current_dir(&self.cwd);
        for key in [
            "WSGI_HANDLER",
            "WSGI_LOG",
            "WSGI_RESTART_FILE_REGEX",
            "SCRIPT_NAME",
            "PYTHONPATH",
        ] {
            c.env_remove(key);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs it to completion with STDIN closed (start-up errors), killing it
    /// after `timeout`; returns the exit status, stdout and stderr.
    pub fn run_to_exit(
        &self,
        extra: &[&str],
        timeout: Duration,
    ) -> io::Result<(ExitStatus, String, String)> {
        let mut child = ChildGuard(
            self.command()
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?,
        );
        wait_output(&mut child, timeout)
    }

    /// Starts it in IIS's model.
    pub fn spawn_pipe(&self) -> io::Result<PipeGateway> {
        let (ours, theirs) = UnixStream::pair()?;
        let child = self
            .command()
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        Ok(PipeGateway {
            child,
            client: Client::new(ours),
            log: self.log.clone(),
        })
    }

    /// Starts it with a listening socket at `sock` as STDIN, as FastCGI
    /// spawners (and IIS's `protocol="Tcp"`) do.
    pub fn spawn_listening(&self, sock: &Path) -> io::Result<ChildGuard> {
        let listener = std::os::unix::net::UnixListener::bind(sock)?;
        self.command()
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(listener)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map(ChildGuard)
    }

    /// Starts it with `--bind unix:SOCK` and waits for the socket.
    pub fn spawn_bind(&self, sock: &Path) -> io::Result<ChildGuard> {
        let mut c = self.command();
        c.arg("--bind").arg(format!("unix:{}", sock.display()));
        let mut child = ChildGuard(
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?,
        );
        let start = Instant::now();
        while UnixStream::connect(sock).is_err() {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!("gateway exited early: {status}")));
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(io::Error::other("gateway did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(child)
    }
}

impl Drop for PipeGateway {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl PipeGateway {
    pub fn request(&mut self, spec: &RequestSpec) -> io::Result<Response> {
        self.client.request(spec)
    }

    /// A GET in IIS's shape for the application at the site root.
    pub fn get(&mut self, path: &str, query: &str) -> io::Result<Response> {
        self.client.get(path, query)
    }

    pub fn post(&mut self, path: &str, query: &str, body: Vec<u8>) -> io::Result<Response> {
        let params = iis_params("POST", "", path, query, body.len());
        self.request(&RequestSpec::new(params, body))
    }

    /// Closes IIS's end (EOF for the gateway) and waits for the exit status.
    pub fn close_and_wait(mut self, timeout: Duration) -> io::Result<(ExitStatus, String, String)> {
        self.client.sock.shutdown(std::net::Shutdown::Both)?;
        wait_output(&mut self.child, timeout)
    }

    /// Waits for the process to exit by itself.
    pub fn wait(mut self, timeout: Duration) -> io::Result<(ExitStatus, String, String)> {
        wait_output(&mut self.child, timeout)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Waits until process `pid` has `n` children (`--workers`) and returns them.
pub fn wait_for_children(pid: u32, n: usize, timeout: Duration) -> io::Result<Vec<u32>> {
    let deadline = Instant::now() + timeout;
    loop {
        let kids = bench::children_of(pid);
        if kids.len() >= n {
            return Ok(kids);
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "process {pid} has {} children, not {n}",
                kids.len()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` (killing it after `timeout`) and returns its stdout and stderr.
pub fn wait_output(
    child: &mut Child,
    timeout: Duration,
) -> io::Result<(ExitStatus, String, String)> {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    Ok((status, out, err))
}
