//! A simulated IIS serving in process for a test, stopped (with every
//! `FastCGI` process it started) when the guard drops, even on a failed
//! assertion; a blocking HTTP/1.1 client; the captured log.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use iiswsgi_sim::front::{ServeOptions, Server};
use iiswsgi_sim::machine::SimMachine;

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_log() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .with_target(false)
            .with_env_filter("info")
            .try_init();
    });
}

/// The simulator's log lines that contain `needle`.
pub(crate) fn log_lines(needle: &str) -> Vec<String> {
    let log = LOG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

/// A running simulator; dropping it stops everything.
pub(crate) struct Sim {
    /// Kept until the simulator stops (the machine lives in it).
    _dir: tempfile::TempDir,
    pub machine: SimMachine,
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn fake_app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fake_fcgi.py")
}

/// A machine whose site root is served by the fake `FastCGI` app registered
/// with `attrs` (extra `<application>` attributes, appcmd syntax) and a
/// web.config with `handler_attrs` on the handler.
pub(crate) fn machine_with_app(
    attrs: &str,
    handler_attrs: &str,
) -> (tempfile::TempDir, SimMachine, String) {
    let (dir, m) = crate::machine(false);
    let app = fake_app().display().to_string();
    let sp = format!("C:\\Python311\\python.exe|{app}");
    let add = format!("/+[fullPath='C:\\Python311\\python.exe',arguments='{app}'{attrs}]");
    let out = iiswsgi_sim::appcmd::run(
        &m,
        &[
            "set".into(),
            "config".into(),
            "-section:system.webServer/fastCgi".into(),
            add,
            "/commit:apphost".into(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    write_web_config(&m, "C:\\inetpub\\wwwroot", &sp, handler_attrs);
    (dir, m, sp)
}

pub(crate) fn write_web_config(
    m: &SimMachine,
    dir: &str,
    script_processor: &str,
    handler_attrs: &str,
) {
    let web_config = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <system.webServer>
    <handlers>
      <add name="Fake FastCGI" path="*" verb="*" modules="FastCgiModule" scriptProcessor="{script_processor}" resourceType="Unspecified" requireAccess="Script" {handler_attrs}/>
    </handlers>
    <httpErrors errorMode="Detailed" />
  </system.webServer>
</configuration>
"#
    );
    let host = m.host_path(dir).unwrap();
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("web.config"), web_config).unwrap();
}

/// Starts serving `m` (one configured second = `second_ms`).
pub(crate) fn serve(dir: tempfile::TempDir, machine: SimMachine, second_ms: u64) -> Sim {
    init_log();
    let opts = ServeOptions {
        root: machine.root().to_path_buf(),
        listen: "127.0.0.1".parse().unwrap(),
        ports: std::collections::BTreeMap::default(),
        show_process_output: true,
        second: Duration::from_millis(second_ms),
        once: false,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = match Server::bind(&opts).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = url_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = url_tx.send(Ok(server.mappings[0].url.clone()));
            server
                .run(async {
                    let _ = stop_rx.await;
                })
                .await;
        });
        rt.shutdown_timeout(Duration::from_secs(2));
    });
    let base = url_rx.recv().unwrap().unwrap();
    Sim {
        _dir: dir,
        machine,
        base: base.trim_end_matches('/').to_owned(),
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

/// An HTTP response.
#[derive(Debug)]
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a new connection (`Connection: close`).
pub(crate) fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_mins(1))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    if !body.is_empty() || method == "POST" {
        let _ = write!(req, "Content-Length: {}\r\n", body.len());
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse(&raw)
}

pub(crate) fn parse(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = nl + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
    out
}

/// Whether a process with this pid is alive.
pub(crate) fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Site 1's W3C log once `done` holds for its text (the simulator writes the
/// log in batches, at least every `W3C_FLUSH_EVERY`); the last text read
/// after 10 s otherwise, for the caller's assertion to show.
pub(crate) fn w3c_log(m: &SimMachine, done: impl Fn(&str) -> bool) -> String {
    let logs = m.host_path("C:\\inetpub\\logs\\LogFiles\\W3SVC1").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_dir(&logs)
            .ok()
            .and_then(|d| d.flatten().next())
            .and_then(|f| std::fs::read_to_string(f.path()).ok())
            .unwrap_or_default();
        if done(&text) || std::time::Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
