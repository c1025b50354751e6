//! The `iiswsgi-bench` command: measures the gateway against the transport's ceiling,
//! wfastcgi and flup in one run. See docs/PERFORMANCE.md.
//!
//! ```text
//! iiswsgi-bench [--smoke] [--duration SECS] [--warmup SECS] [--conns N] [--write-docs]
//! iiswsgi-bench responder hello|stream|echo      (the no-Python ceiling, on STDIN)
//! iiswsgi-bench load URL [--conns N] [--duration SECS] [--requests N]   (drive one front, e.g. to profile it)
//! iiswsgi-bench prepare-sim ROOT PROCESSES   (the HTTP-front cell's simulated machine, not served)
//! iiswsgi-bench nginx-conf DIR SOCKET PORT    (the HTTP-front cell's nginx.conf, written in DIR)
//! ```

use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::process::{Command, ExitCode};
use std::time::Duration;

use crate::bench::{self, Cell, Env, Peer, Workload, MIB, WORKLOADS};
use crate::{fixtures_apps, python, repo_root};

const PEERS: [Peer; 6] = [
    Peer::Ceiling,
    Peer::Wfastcgi,
    Peer::Flup,
    Peer::IiswsgiPipe,
    Peer::IiswsgiBind,
    Peer::IiswsgiWorkers,
];

struct Options {
    smoke: bool,
    duration: Duration,
    warmup: Duration,
    conns: usize,
    write_docs: bool,
    /// Only workloads whose name starts with this.
    only: Option<String>,
    /// Only gateways whose label starts with this.
    peer: Option<String>,
    /// `load` only: this many requests on one connection instead of a timed run.
    requests: Option<u64>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        smoke: false,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        conns: 2,
        write_docs: false,
        only: None,
        peer: None,
        requests: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<f64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--smoke" => o.smoke = true,
            "--duration" => o.duration = Duration::from_secs_f64(num("--duration")?),
            "--warmup" => o.warmup = Duration::from_secs_f64(num("--warmup")?),
            "--conns" => o.conns = num("--conns")? as usize,
            "--write-docs" => o.write_docs = true,
            "--only" => o.only = it.next().cloned(),
            "--peer" => o.peer = it.next().cloned(),
            "--requests" => o.requests = Some(num("--requests")? as u64),
            "-h" | "--help" => {
                return Err("usage: iiswsgi-bench [--smoke] [--duration SECS] [--warmup SECS] [--conns N] [--write-docs]".into())
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.smoke {
        o.duration = Duration::from_millis(700);
        o.warmup = Duration::from_millis(300);
    }
    Ok(o)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(std::num::NonZero::get)
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<u64>().ok())
                .unwrap_or(0)
                / 1024
                / 1024
        })
        .unwrap_or(0);
    let py = Command::new(python())
        .args(["-c", "import sys; print(sys.version.split()[0])"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {mem} GiB, Linux {}, CPython {py}",
        kernel.trim()
    )
}

fn check_peers() -> Result<(), String> {
    let out = Command::new(python())
        .args(["-c", "import wfastcgi, flup, flask, iiswsgi"])
        .env(
            "PYTHONPATH",
            format!(
                "{}:{}",
                repo_root().join("harness/peers").display(),
                fixtures_apps().display()
            ),
        )
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python().display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "the peers are not installed in {} (ci/setup.sh installs wfastcgi 3.0.0, flup 1.0.3, Flask): {}",
            python().display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn fmt_rate(c: &Cell) -> String {
    if let Some(e) = &c.error {
        return format!("FAILED ({e})");
    }
    if c.rate >= 10_000.0 {
        format!("{:.1}k", c.rate / 1000.0)
    } else {
        format!("{:.0}", c.rate)
    }
}

fn ratio(a: &Cell, b: Option<&Cell>) -> String {
    match b {
        Some(b) if a.error.is_none() && b.error.is_none() && b.rate > 0.0 => {
            format!("{:.2}×", a.rate / b.rate)
        }
        _ => "–".into(),
    }
}

fn run(o: &Options) -> Result<(String, bool), String> {
    check_peers()?;
    let work = tempfile::Builder::new()
        .prefix("iiswsgi-bench-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let env = Env {
        work: work.path().to_path_buf(),
        bench_exe: std::env::current_exe().map_err(|e| e.to_string())?,
    };
    env.prepare().map_err(|e| e.to_string())?;
    let mut table = String::new();
    let mut failed = workloads(o, &env, &mut table);
    if o.only.as_deref().is_none_or(|f| "http".starts_with(f)) && o.peer.is_none() {
        let (fronts, f) = crate::bench_http::run_fronts(&env.work, o.conns, o.warmup, o.duration);
        table.push_str(&fronts);
        failed |= f;
    }
    if o.only.is_some() || o.peer.is_some() {
        return Ok((table, failed));
    }
    failed |= cold_starts(o, &env, &mut table);
    failed |= probes(o, &env, &mut table);
    failed |= upload(o, &env, &mut table);
    Ok((table, failed))
}

fn wanted(name: &str, filter: Option<&str>) -> bool {
    filter.is_none_or(|f| name.starts_with(f))
}

/// The table of workloads × gateways; true if a cell failed.
fn workloads(o: &Options, env: &Env, table: &mut String) -> bool {
    let mut failed = false;
    let _ = writeln!(
        table,
        "| workload | gateway | req/s | p50 | p99 | CPU/request | peak RSS/process | × ceiling | × wfastcgi |\n|---|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for w in WORKLOADS
        .into_iter()
        .filter(|w| wanted(w.name, o.only.as_deref()))
    {
        let mut cells: Vec<(Peer, Cell)> = Vec::new();
        for peer in PEERS
            .into_iter()
            .filter(|p| wanted(p.label(), o.peer.as_deref()))
        {
            // Flask has no Rust equivalent: its ceiling is the hello responder.
            let wl: Workload = if peer == Peer::Ceiling && w.module != "bench_app" {
                Workload {
                    callable: "hello",
                    ..w
                }
            } else {
                w
            };
            eprintln!("==> {} · {}", w.name, peer.label());
            let cell = bench::run_cell(env, peer, &wl, o.conns, o.warmup, o.duration);
            if let Some(e) = &cell.error {
                eprintln!("    FAILED: {e}");
                failed = true;
            } else {
                eprintln!(
                    "    {:.0} req/s, p50 {} µs, p99 {} µs, {:.0} µs CPU/request, peak RSS {} KiB",
                    cell.rate, cell.p50_us, cell.p99_us, cell.cpu_us_per_req, cell.rss_kib
                );
            }
            cells.push((peer, cell));
        }
        rows(table, &w, &cells);
    }
    failed
}

/// One workload's rows, with the ratios to the ceiling and to wfastcgi.
fn rows(table: &mut String, w: &Workload, cells: &[(Peer, Cell)]) {
    let of = |peer: Peer| cells.iter().find(|(p, _)| *p == peer).map(|(_, c)| c);
    let (ceiling, wf) = (of(Peer::Ceiling), of(Peer::Wfastcgi));
    for (peer, c) in cells {
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} µs | {} µs | {:.0} µs | {:.1} MiB | {} | {} |",
            w.name,
            peer.label(),
            fmt_rate(c),
            c.p50_us,
            c.p99_us,
            c.cpu_us_per_req,
            c.rss_kib as f64 / 1024.0,
            if *peer == Peer::Ceiling {
                "1.00×".into()
            } else {
                ratio(c, ceiling)
            },
            if *peer == Peer::Wfastcgi {
                "1.00×".into()
            } else {
                ratio(c, wf)
            },
        );
    }
}

/// The large upload's peak RSS; true if it failed.
fn upload(o: &Options, env: &Env, table: &mut String) -> bool {
    let size = if o.smoke { 64 * MIB } else { 1024 * MIB };
    eprintln!("==> upload of {} MiB · iiswsgi (IIS pipe)", size / MIB);
    match bench::upload_rss(env, size) {
        Ok((rss, dt)) => {
            let _ = writeln!(
                table,
                "\n{} MiB upload through iiswsgi (IIS pipe, read in 64 KiB steps): peak RSS **{:.1} MiB**, {:.0} MiB/s.",
                size / MIB,
                rss as f64 / 1024.0,
                size as f64 / MIB as f64 / dt.as_secs_f64()
            );
            false
        }
        Err(e) => {
            let _ = writeln!(table, "\nupload: FAILED ({e})");
            true
        }
    }
}

/// Cold start of the IIS-model gateways; true if one failed.
fn cold_starts(o: &Options, env: &Env, table: &mut String) -> bool {
    let mut failed = false;
    let samples = if o.smoke { 1 } else { 7 };
    let _ = writeln!(
        table,
        "\n| cold start (spawn → first hello response, median of {samples}) | time |\n|---|---:|"
    );
    for peer in [Peer::Ceiling, Peer::Wfastcgi, Peer::IiswsgiPipe] {
        eprintln!("==> cold start · {}", peer.label());
        match bench::cold_start(env, peer, samples) {
            Ok(d) => {
                let _ = writeln!(
                    table,
                    "| {} | {:.1} ms |",
                    peer.label(),
                    d.as_secs_f64() * 1000.0
                );
            }
            Err(e) => {
                failed = true;
                let _ = writeln!(table, "| {} | FAILED ({e}) |", peer.label());
            }
        }
    }

    failed
}

/// The 200 MiB block and the idle keep-alive connections; true if one failed.
fn probes(o: &Options, env: &Env, table: &mut String) -> bool {
    let mut failed = false;
    let _ = writeln!(
        table,
        "\n| 200 MiB single-block response (IIS pipe) | peak RSS | × the block |\n|---|---:|---:|"
    );
    for peer in [Peer::Wfastcgi, Peer::IiswsgiPipe] {
        eprintln!("==> 200 MiB block · {}", peer.label());
        match bench::block_rss(env, peer) {
            Ok(kib) => {
                let _ = writeln!(
                    table,
                    "| {} | {:.1} MiB | {:.2}× |",
                    peer.label(),
                    kib as f64 / 1024.0,
                    kib as f64 / 1024.0 / 200.0
                );
            }
            Err(e) => {
                failed = true;
                let _ = writeln!(table, "| {} | FAILED ({e}) | |", peer.label());
            }
        }
    }
    let (n, samples) = if o.smoke { (100, 5) } else { (1000, 51) };
    eprintln!("==> {n} idle connections · iiswsgi (--bind)");
    match bench::idle_connections(env, n, samples) {
        Ok(p) => {
            let _ = writeln!(
                table,
                "\n{} parked keep-alive connections (each served one hello) on `iiswsgi serve --bind` (`--max-conns` 64): **{:.1} KiB** of RSS per idle connection; a new client's connect + hello answered in {:.2} ms (median of {samples}, max {:.2} ms).",
                p.idle,
                p.kib_per_conn,
                p.new_client_p50.as_secs_f64() * 1000.0,
                p.new_client_max.as_secs_f64() * 1000.0
            );
        }
        Err(e) => {
            failed = true;
            let _ = writeln!(table, "\nidle connections: FAILED ({e})");
        }
    }
    failed
}

fn write_docs(o: &Options, table: &str) -> std::io::Result<()> {
    let path = repo_root().join("docs/PERFORMANCE.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (start, end) = ("<!-- results:start -->", "<!-- results:end -->");
    let block = format!(
        "{start}\nMeasured on {}, {} concurrent pipes (connections), {:.0} s per cell after {:.0} s of warm-up:\n\n```sh\nci/bench.sh\n```\n\n{table}{end}",
        machine(),
        o.conns,
        o.duration.as_secs_f64(),
        o.warmup.as_secs_f64()
    );
    let new = match (text.find(start), text.find(end)) {
        (Some(a), Some(b)) if b > a => format!("{}{}{}", &text[..a], block, &text[b + end.len()..]),
        _ => format!("{text}\n{block}\n"),
    };
    std::fs::write(path, new)
}

/// `n` GETs of `path`, one after the other on one keep-alive connection: a
/// fixed amount of work, for instruction counts (e.g. under callgrind).
fn load_count(base: &str, path: &str, n: u64) -> std::io::Result<()> {
    let mut c = crate::http::HttpConn::connect(base)?;
    for _ in 0..n {
        c.send("GET", path, &[], b"")?;
        let r = c.read(false)?;
        if r.status != 200 {
            return Err(std::io::Error::other(format!("status {}", r.status)));
        }
    }
    println!("{n} requests");
    Ok(())
}

/// The exit of a subcommand: success, or its error on stderr.
fn finish(what: &str, r: Result<(), impl std::fmt::Display>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iiswsgi-bench {what}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A usage error: the message, exit code 2.
fn usage(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(2)
}

/// `load URL [--conns N] [--duration SECS] [--requests N]`: keep-alive GETs
/// of `URL` on `N` connections for `SECS` (after a one-second warm-up), then
/// the rate and latencies; or `--requests N` one after the other on one
/// connection. A load of known shape on one front, to profile it.
fn load(args: &[String]) -> ExitCode {
    const USAGE: &str =
        "usage: iiswsgi-bench load URL [--conns N] [--duration SECS] [--requests N]";
    let Some(url) = args.first() else {
        return usage(USAGE);
    };
    let Some((base, path)) = url
        .strip_prefix("http://")
        .map(|rest| rest.find('/').map_or((rest, "/"), |i| rest.split_at(i)))
    else {
        return usage(&format!(
            "iiswsgi-bench load: {url:?} is not an http:// URL"
        ));
    };
    let o = match parse(&args[1..]) {
        Ok(o) => o,
        Err(e) => return usage(&e),
    };
    if let Some(n) = o.requests {
        return finish("load", load_count(base, path, n));
    }
    let none = Vec::new;
    let watched = crate::bench_http::Watched {
        front: std::process::id(),
        gateway: &none,
    };
    let times = (Duration::from_secs(1), o.duration);
    let run =
        crate::bench_http::drive_http(&format!("http://{base}"), path, o.conns, times, &watched);
    finish(
        "load",
        run.map(|s| {
            let c = s.cell();
            println!(
                "{url}: {:.0} req/s, p50 {} µs, p99 {} µs, this client {:.1} µs CPU/request",
                c.rate, c.p50_us, c.p99_us, c.front_cpu_us
            );
        }),
    )
}

/// Runs `iiswsgi-bench` with the process's arguments.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("responder") {
        let callable = args.get(1).cloned().unwrap_or_else(|| "hello".into());
        let stream = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map(std::os::unix::net::UnixStream::from);
        return match stream.and_then(|s| bench::responder(&callable, s)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    if args.first().map(String::as_str) == Some("load") {
        return load(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("prepare-sim") {
        let (Some(root), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse().ok())) else {
            return usage("usage: iiswsgi-bench prepare-sim ROOT PROCESSES");
        };
        let made = crate::bench_http::prepare_sim_front(std::path::Path::new(root), n);
        return finish("prepare-sim", made);
    }
    if args.first().map(String::as_str) == Some("nginx-conf") {
        let (Some(dir), Some(sock), Some(port)) = (
            args.get(1),
            args.get(2),
            args.get(3).and_then(|p| p.parse().ok()),
        ) else {
            return usage("usage: iiswsgi-bench nginx-conf DIR SOCKET PORT");
        };
        let (dir, sock) = (std::path::Path::new(dir), std::path::Path::new(sock));
        return finish(
            "nginx-conf",
            crate::bench_http::write_nginx_conf(dir, sock, port),
        );
    }
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok((table, failed)) => {
            println!("{}\n", machine());
            println!("{table}");
            if o.write_docs {
                if let Err(e) = write_docs(&o, &table) {
                    eprintln!("cannot write docs/PERFORMANCE.md: {e}");
                    return ExitCode::FAILURE;
                }
            }
            if failed {
                eprintln!("some cells failed: the benchmark reports failure, not rates");
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("iiswsgi-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
