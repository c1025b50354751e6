//! The HTTP-front cell of the benchmark: the same gateway and app
//! (`conformance:app`, two Python processes) behind `iiswsgi sim serve`
//! (IIS's model: one process per request, `maxInstances`) and behind nginx
//! (`iiswsgi serve --bind unix:… --workers`), driven over keep-alive HTTP/1.1
//! connections in the same run, in alternating rounds. Both fronts log each
//! request (the simulator its W3C log, nginx its access log, both written
//! in batches). The simulator must not be the bottleneck of a test that
//! uses it: the target is ≥ 0.8× nginx; the CPU time per request of each
//! front process shows it regardless of the machine's load.

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
/// `sim serve` starts its `FastCGI` processes on the first requests).
pub struct Watched<'a> {
    pub front: u32,
    pub gateway: &'a dyn Fn() -> Vec<u32>,
}

fn cpu_of(pids: &[u32]) -> u64 {
    pids.iter().map(|&p| crate::bench::cpu_us(p)).sum()
}

/// What measured windows gave: every latency, their length, and the CPU
/// time of the front and of the gateway over them.
#[derive(Debug, Default)]
pub struct Sample {
    pub lat: Vec<u32>,
    pub secs: f64,
    pub front_cpu_us: u64,
    pub gateway_cpu_us: u64,
}

impl Sample {
    fn add(&mut self, o: Sample) {
        self.lat.extend(o.lat);
        self.secs += o.secs;
        self.front_cpu_us += o.front_cpu_us;
        self.gateway_cpu_us += o.gateway_cpu_us;
    }

    /// The figures of the table.
    pub fn cell(&self) -> FrontCell {
        let mut lat = self.lat.clone();
        lat.sort_unstable();
        let n = lat.len();
        let pct = |p: f64| {
            lat.get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        let per_req = |us: u64| us as f64 / n.max(1) as f64;
        FrontCell {
            rate: n as f64 / self.secs.max(f64::EPSILON),
            p50_us: pct(0.5).into(),
            p99_us: pct(0.99).into(),
            front_cpu_us: per_req(self.front_cpu_us),
            gateway_cpu_us: per_req(self.gateway_cpu_us),
            error: None,
        }
    }
}

/// `conns` keep-alive connections requesting `path` for `duration` after
/// `warmup`; the CPU time of `watched` over the measured window.
pub fn drive_http(
    base: &str,
    path: &str,
    conns: usize,
    (warmup, duration): (Duration, Duration),
    watched: &Watched<'_>,
) -> io::Result<Sample> {
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
    let mut lat = Vec::new();
    for t in threads {
        lat.extend(
            t.join()
                .map_err(|_| io::Error::other("driver panicked"))??,
        );
    }
    Ok(Sample {
        lat,
        secs: duration.as_secs_f64(),
        front_cpu_us: cpu_end.0.saturating_sub(cpu_start.0),
        gateway_cpu_us: cpu_end.1.saturating_sub(cpu_start.1),
    })
}

/// A machine serving `conformance:app` through the gateway, `processes` at most.
pub fn sim_front(work: &Path, processes: usize) -> io::Result<SimServe> {
    let root = work.join("sim-front");
    prepare_sim_front(&root, processes)?;
    SimServe::start(&root, &[], 1)
}

/// Makes the machine of [`sim_front`] at `root`, without serving it.
pub fn prepare_sim_front(root: &Path, processes: usize) -> io::Result<()> {
    new_machine(root)?;
    let py = "C:\\Python311\\python.exe";
    let args = "-m iiswsgi serve conformance:app";
    register_fastcgi(
        root,
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
    )
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

/// `DIR/nginx.conf` for the cell: one worker, no daemon, on `127.0.0.1:port`,
/// every request to the gateway on the Unix socket `sock`, with a kept-alive
/// upstream and a buffered access log (temp folders and logs in `dir`).
pub fn write_nginx_conf(dir: &Path, sock: &Path, port: u16) -> io::Result<()> {
    let root = std::env::var("USER").map_or(true, |u| u == "root");
    let conf = format!(
        "{user}daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\nevents {{ worker_connections 256; }}\nhttp {{\n access_log {d}/access.log combined buffer=64k flush=250ms;\n keepalive_requests 1000000;\n client_body_temp_path {d}/cb; fastcgi_temp_path {d}/fc; proxy_temp_path {d}/px; uwsgi_temp_path {d}/uw; scgi_temp_path {d}/sc;\n upstream gateway {{ server unix:{s}; keepalive 8; }}\n server {{\n  listen 127.0.0.1:{port};\n  location / {{\n   include /etc/nginx/fastcgi_params;\n   fastcgi_param SCRIPT_NAME \"\";\n   fastcgi_param PATH_INFO $uri;\n   fastcgi_keep_conn on;\n   fastcgi_pass gateway;\n  }}\n }}\n}}\n",
        user = if root { "user root;\n" } else { "" },
        d = dir.display(),
        s = sock.display(),
    );
    std::fs::write(dir.join("nginx.conf"), conf)
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
    write_nginx_conf(&dir, &sock, port)?;
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

/// The cell's measurements alternate between the fronts in this many
/// rounds (in turn first), so that both see the same neighbours' load.
const ROUNDS: u32 = 4;

/// One front of the cell, as measured so far.
struct Front<'a> {
    label: &'static str,
    base: String,
    watched: Watched<'a>,
    /// What nginx's error log said on failure.
    error_log: Option<PathBuf>,
    got: Result<Sample, String>,
}

impl Front<'_> {
    fn measure(&mut self, path: &str, conns: usize, times: (Duration, Duration)) {
        let Ok(acc) = &mut self.got else { return };
        match drive_http(&self.base, path, conns, times, &self.watched) {
            Ok(s) => acc.add(s),
            Err(e) => {
                let log = self
                    .error_log
                    .as_ref()
                    .and_then(|p| std::fs::read_to_string(p).ok())
                    .and_then(|l| l.lines().last().map(|l| format!("; error.log: {l}")))
                    .unwrap_or_default();
                self.got = Err(format!("{e}{log}"));
            }
        }
    }
}

/// A process and its descendants (the gateway's workers).
fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    all.extend(crate::simserve::descendants(pid));
    all
}

fn row(table: &mut String, name: &str, f: &Front<'_>, nginx_rate: Option<f64>) -> bool {
    let (c, error) = match &f.got {
        Ok(s) => (s.cell(), None),
        Err(e) => (FrontCell::default(), Some(e.clone())),
    };
    eprintln!(
        "==> {name} · {}: {:.0} req/s, front {:.1} µs CPU/request {}",
        f.label,
        c.rate,
        c.front_cpu_us,
        error.as_deref().unwrap_or("")
    );
    let ratio = match nginx_rate {
        Some(n) if error.is_none() && n > 0.0 => format!("{:.2}×", c.rate / n),
        _ => "–".into(),
    };
    let rate = error
        .as_ref()
        .map_or_else(|| format!("{:.0}", c.rate), |e| format!("FAILED ({e})"));
    let _ = writeln!(
        table,
        "| {name} | {} | {rate} | {} µs | {} µs | {:.1} µs | {:.1} µs | {ratio} |",
        f.label, c.p50_us, c.p99_us, c.front_cpu_us, c.gateway_cpu_us
    );
    error.is_some()
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
    let sim_gateway = || {
        sim.as_ref()
            .map(|s| crate::simserve::descendants(s.pid()))
            .unwrap_or_default()
    };
    let nginx_gateway = || {
        nginx
            .as_ref()
            .map(|n| tree(n.gateway.id()))
            .unwrap_or_default()
    };
    for (name, path) in WORKLOADS {
        let mut fronts = [
            Front {
                label: "nginx → iiswsgi --bind",
                base: nginx.as_ref().map(|n| n.base.clone()).unwrap_or_default(),
                watched: Watched {
                    front: nginx.as_ref().map_or(0, |n| n.nginx.id()),
                    gateway: &nginx_gateway,
                },
                error_log: Some(work.join("nginx-front/error.log")),
                got: nginx
                    .as_ref()
                    .map(|_| Sample::default())
                    .map_err(std::string::ToString::to_string),
            },
            Front {
                label: "iiswsgi sim serve → iiswsgi (IIS pipe)",
                base: sim
                    .as_ref()
                    .map(|s| s.url("http/").to_owned())
                    .unwrap_or_default(),
                watched: Watched {
                    front: sim.as_ref().map_or(0, SimServe::pid),
                    gateway: &sim_gateway,
                },
                error_log: None,
                got: sim
                    .as_ref()
                    .map(|_| Sample::default())
                    .map_err(std::string::ToString::to_string),
            },
        ];
        for round in 0..ROUNDS {
            // Each front warms up once; later rounds only reconnect.
            let warm = if round == 0 {
                warmup
            } else {
                warmup.min(Duration::from_millis(200))
            };
            let times = (warm, duration / ROUNDS);
            if round % 2 == 0 {
                fronts[1].measure(path, conns, times);
                fronts[0].measure(path, conns, times);
            } else {
                fronts[0].measure(path, conns, times);
                fronts[1].measure(path, conns, times);
            }
        }
        let nginx_rate = fronts[0].got.as_ref().ok().map(|s| s.cell().rate);
        for f in &fronts {
            failed |= row(&mut table, name, f, nginx_rate);
        }
    }
    (table, failed)
}
