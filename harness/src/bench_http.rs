//! The HTTP-front cell of the benchmark: the same gateway and app
//! (`conformance:app`, two Python processes) behind `iiswsgi sim serve`
//! (IIS's model: one process per request, `maxInstances`) and behind nginx
//! (`iiswsgi serve --bind unix:… --workers`), driven over keep-alive HTTP/1.1
//! connections in the same run. The simulator must not be the bottleneck
//! of a test that uses it: the target is ≥ 0.8× nginx.

use std::fmt::Write as _;
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::HttpConn;
use crate::simserve::{new_machine, register_fastcgi, write_web_config, SimServe};
use crate::{fixtures_apps, python};

/// One front × workload measurement.
#[derive(Debug, Clone, Default)]
pub struct FrontCell {
    pub rate: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// CPU time (user + system) of the front's process per request, in µs.
    pub front_cpu_us: f64,
    /// CPU time of the gateway processes behind it per request, in µs.
    pub gateway_cpu_us: f64,
    pub error: Option<String>,
}

/// The processes whose CPU time a measurement charges to a front: the
/// front's own, and the gateway's (looked up after the warm-up, since
/// `sim serve` starts its FastCGI processes on the first requests).
pub struct Watched<'a> {
    pub front: u32,
    pub gateway: &'a dyn Fn() -> Vec<u32>,
}

fn cpu_of(pids: &[u32]) -> u64 {
    pids.iter().map(|&p| crate::bench::cpu_us(p)).sum()
}

/// `conns` keep-alive connections requesting `path` for `duration` after
/// `warmup`; the CPU time of `watched` over the measured window.
pub fn drive_http(
    base: &str,
    path: &str,
    conns: usize,
    (warmup, duration): (Duration, Duration),
    watched: &Watched<'_>,
) -> io::Result<FrontCell> {
    let start = Instant::now() + warmup;
    let end = start + duration;
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let base = base.to_owned();
            let path = path.to_owned();
            std::thread::spawn(move || -> io::Result<Vec<u32>> {
                let mut c = HttpConn::connect(&base)?;
                let mut lat = Vec::new();
                loop {
                    let t = Instant::now();
                    if t >= end {
                        return Ok(lat);
                    }
                    c.send("GET", &path, &[], b"")?;
                    let r = c.read(false)?;
                    if r.status != 200 {
                        return Err(io::Error::other(format!("status {}", r.status)));
                    }
                    if r.header("Connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                    {
                        c = HttpConn::connect(&base)?;
                    }
                    if t >= start {
                        lat.push(t.elapsed().as_micros() as u32);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(start.saturating_duration_since(Instant::now()));
    let gateway = (watched.gateway)();
    let cpu_start = (crate::bench::cpu_us(watched.front), cpu_of(&gateway));
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    let cpu_end = (crate::bench::cpu_us(watched.front), cpu_of(&gateway));
    let mut all = Vec::new();
    for t in threads {
        all.extend(
            t.join()
                .map_err(|_| io::Error::other("driver panicked"))??,
        );
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let per_req = |a: u64, b: u64| b.saturating_sub(a) as f64 / all.len().max(1) as f64;
    Ok(FrontCell {
        rate: all.len() as f64 / duration.as_secs_f64(),
        p50_us: pct(0.5).into(),
        p99_us: pct(0.99).into(),
        front_cpu_us: per_req(cpu_start.0, cpu_end.0),
        gateway_cpu_us: per_req(cpu_start.1, cpu_end.1),
        error: None,
    })
}

/// A machine serving `conformance:app` through the gateway, `processes` at most.
pub fn sim_front(work: &Path, processes: usize) -> io::Result<SimServe> {
    let root = work.join("sim-front");
    new_machine(&root)?;
    let py = "C:\\Python311\\python.exe";
    let args = "-m iiswsgi serve conformance:app";
    register_fastcgi(
        &root,
        py,
        args,
        &format!(",maxInstances='{processes}',instanceMaxRequests='10000000'"),
    )?;
    let fixtures = fixtures_apps().display().to_string();
    write_web_config(
        &root.join("C/inetpub/wwwroot"),
        &format!("{py}|{args}"),
        "",
        &[("PYTHONPATH", &fixtures), ("WSGI_RESTART_FILE_REGEX", "")],
    )?;
    SimServe::start(&root, &[], 1)
}

/// nginx and the gateway it proxies to; both killed on drop.
pub struct NginxFront {
    pub nginx: Child,
    pub gateway: Child,
    pub base: String,
}

impl Drop for NginxFront {
    fn drop(&mut self) {
        for c in [&mut self.nginx, &mut self.gateway] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn nginx_binary() -> io::Result<PathBuf> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| io::Error::other("nginx is not installed (ci/setup.sh installs it)"))
}

fn wait_connect(addr: &str, what: &str) -> io::Result<()> {
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(io::Error::other(format!("{what} did not listen on {addr}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// nginx on a free port in front of `iiswsgi serve conformance:app --workers N`.
pub fn nginx_front(work: &Path, processes: usize) -> io::Result<NginxFront> {
    let dir = work.join("nginx-front");
    std::fs::create_dir_all(&dir)?;
    let sock = dir.join("gw.sock");
    let mut gateway = Command::new(python())
        .args([
            "-m",
            "iiswsgi",
            "serve",
            "conformance:app",
            "--workers",
            &processes.to_string(),
        ])
        .arg("--bind")
        .arg(format!("unix:{}", sock.display()))
        .env("PYTHONPATH", fixtures_apps())
        .env("WSGI_RESTART_FILE_REGEX", "")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    if let Err(e) = crate::bench::wait_for_socket(&sock, &mut gateway) {
        let _ = gateway.kill();
        let _ = gateway.wait();
        return Err(e);
    }
    let port = free_port()?;
    let root = std::env::var("USER").map_or(true, |u| u == "root");
    let conf = format!(
        "{user}daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\nevents {{ worker_connections 256; }}\nhttp {{\n access_log off;\n keepalive_requests 1000000;\n client_body_temp_path {d}/cb; fastcgi_temp_path {d}/fc; proxy_temp_path {d}/px; uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;\n upstream gateway {{ server unix:{s}; keepalive 8; }}\n server {{\n  listen 127.0.0.1:{port};\n  location / {{\n   include /etc/nginx/fastcgi_params;\n   fastcgi_param SCRIPT_NAME \"\";\n   fastcgi_param PATH_INFO $uri;\n   fastcgi_keep_conn on;\n   fastcgi_pass gateway;\n  }}\n }}\n}}\n",
        user = if root { "user root;\n" } else { "" },
        d = dir.display(),
        s = sock.display(),
    );
    std::fs::write(dir.join("nginx.conf"), conf)?;
    let nginx = Command::new(nginx_binary()?)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let front = NginxFront {
        nginx,
        gateway,
        base: format!("http://127.0.0.1:{port}"),
    };
    wait_connect(&format!("127.0.0.1:{port}"), "nginx")?;
    Ok(front)
}

const WORKLOADS: [(&str, &str); 2] = [
    ("hello", "/hello"),
    ("1 MiB", "/stream?size=1048576&chunk=65536"),
];

fn measure(
    base: &str,
    path: &str,
    conns: usize,
    times: (Duration, Duration),
    watched: &Watched<'_>,
) -> FrontCell {
    drive_http(base, path, conns, times, watched).unwrap_or_else(|e| FrontCell {
        error: Some(e.to_string()),
        ..FrontCell::default()
    })
}

/// A process and its descendants (the gateway's workers).
fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    all.extend(crate::simserve::descendants(pid));
    all
}

fn failed_cell(e: &io::Error) -> FrontCell {
    FrontCell {
        error: Some(e.to_string()),
        ..Default::default()
    }
}

/// Runs the cell; the markdown table and whether anything failed.
pub fn run_fronts(
    work: &Path,
    conns: usize,
    warmup: Duration,
    duration: Duration,
) -> (String, bool) {
    let mut table = String::from(
        "\n| workload (HTTP, keep-alive) | front → gateway | req/s | p50 | p99 | front CPU/request | gateway CPU/request | × nginx |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut failed = false;
    let sim = sim_front(work, conns);
    let nginx = nginx_front(work, conns);
    for (name, path) in WORKLOADS {
        let s = match &sim {
            Ok(s) => {
                let gateway = || crate::simserve::descendants(s.pid());
                let watched = Watched {
                    front: s.pid(),
                    gateway: &gateway,
                };
                measure(s.url("http/"), path, conns, (warmup, duration), &watched)
            }
            Err(e) => failed_cell(e),
        };
        let n = match &nginx {
            Ok(n) => {
                let gateway = || tree(n.gateway.id());
                let watched = Watched {
                    front: n.nginx.id(),
                    gateway: &gateway,
                };
                let mut c = measure(&n.base, path, conns, (warmup, duration), &watched);
                if let Some(e) = &mut c.error {
                    let log = std::fs::read_to_string(work.join("nginx-front/error.log"))
                        .unwrap_or_default();
                    e.push_str(&format!(
                        "; nginx error.log: {}",
                        log.lines().last().unwrap_or_default()
                    ));
                }
                c
            }
            Err(e) => failed_cell(e),
        };
        for (front, c) in [
            ("nginx → iiswsgi --bind", &n),
            ("iiswsgi sim serve → iiswsgi (IIS pipe)", &s),
        ] {
            eprintln!(
                "==> {name} · {front}: {:.0} req/s, front {:.1} µs CPU/request {}",
                c.rate,
                c.front_cpu_us,
                c.error.as_deref().unwrap_or("")
            );
            failed |= c.error.is_some();
            let ratio = if c.error.is_none() && n.error.is_none() && n.rate > 0.0 {
                format!("{:.2}×", c.rate / n.rate)
            } else {
                "–".into()
            };
            let rate = c
                .error
                .as_ref()
                .map_or_else(|| format!("{:.0}", c.rate), |e| format!("FAILED ({e})"));
            let _ = writeln!(
                table,
                "| {name} | {front} | {rate} | {} µs | {} µs | {:.1} µs | {:.1} µs | {ratio} |",
                c.p50_us, c.p99_us, c.front_cpu_us, c.gateway_cpu_us
            );
        }
    }
    (table, failed)
}
