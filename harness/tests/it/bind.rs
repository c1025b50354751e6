//! Serving with `--bind` (issue 8, point 3): idle keep-alive connections, read
//! timeouts, SIGTERM with a blocked application, orphaned workers, start-up
//! errors.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use iiswsgi_fastcgi::proto::{self, Role};
use iiswsgi_harness::IisGet as _;
use iiswsgi_harness::{iis_params, wait_output, Client, GatewayCommand, RequestSpec};

use crate::tmp;

/// Connects without blocking on a full backlog: `None` when the gateway does
/// not accept (within `patience`).
fn connect_patiently(sock: &Path, patience: Duration) -> Option<UnixStream> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let addr = SockAddr::unix(sock).ok()?;
    let deadline = Instant::now() + patience;
    loop {
        let s = Socket::new(Domain::UNIX, Type::STREAM, None).ok()?;
        s.set_nonblocking(true).ok()?;
        match s.connect(&addr) {
            Ok(()) => {
                s.set_nonblocking(false).ok()?;
                return Some(UnixStream::from(std::os::fd::OwnedFd::from(s)));
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => return None,
        }
    }
}

/// Raises this process's open-files limit to its hard limit: the idle test
/// holds 1,000 client sockets, beyond a common soft limit of 1,024 with the rest.
#[allow(unsafe_code)]
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: FFI edge; `lim` is a valid rlimit for getrlimit to fill, and
    // setrlimit only reads it.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim);
        }
    }
}

fn kill(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill {sig} {pid}");
}

#[test]
fn idle_connections_do_not_starve_a_new_client() {
    raise_open_files_limit();
    let dir = tmp();
    let sock = dir.path().join("idle.sock");
    let _gw = GatewayCommand::serve(&["conformance:app"], &dir.path().join("i.log"))
        .spawn_bind(&sock)
        .unwrap();
    // 1,000 parked keep-alive connections, far more than --max-conns (64).
    let mut idle = Vec::new();
    for i in 0..1000 {
        let s = connect_patiently(&sock, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("idle connection {i} was not accepted"));
        idle.push(s);
    }
    // Give the gateway time to accept them all.
    std::thread::sleep(Duration::from_millis(500));
    let s = connect_patiently(&sock, Duration::from_secs(10)).expect("a new client connects");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut c = Client::new(s);
    let r = c
        .get("/hello", "")
        .expect("a new client is served while 1,000 connections are idle");
    assert_eq!(r.body, b"Hello, World!");
    // An idle connection still works afterwards.
    let mut first = Client::new(idle.swap_remove(0));
    assert_eq!(first.get("/hello", "").unwrap().status, 200);
}

#[test]
fn a_half_sent_request_times_out() {
    let dir = tmp();
    let sock = dir.path().join("rt.sock");
    let _gw = GatewayCommand::serve(
        &["conformance:app", "--read-timeout", "1"],
        &dir.path().join("rt.log"),
    )
    .spawn_bind(&sock)
    .unwrap();
    // Half a record header.
    let mut w = Vec::new();
    proto::write_begin_request(&mut w, 1, Role::Responder, proto::KEEP_CONN);
    let mut a = UnixStream::connect(&sock).unwrap();
    a.write_all(&w[..5]).unwrap();
    // A body that stops half-way while the application reads it.
    let mut b = Client::connect(&sock).unwrap();
    let spec = RequestSpec::new(
        iis_params("POST", "", "/upload-size", "", 100_000),
        vec![b'x'; 100_000],
    );
    let (_, wire) = b.encode(&spec).unwrap();
    b.send_raw(&wire[..wire.len() / 2]).unwrap();
    let started = Instant::now();
    for s in [&mut a, &mut b.socket().try_clone().unwrap()] {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut sink = Vec::new();
        let r = s.read_to_end(&mut sink);
        assert!(r.is_ok(), "the gateway closes the connection: {r:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    // Still serving.
    let mut c = Client::connect(&sock).unwrap();
    assert_eq!(c.get("/hello", "").unwrap().status, 200);
}

#[test]
fn sigterm_with_a_blocked_application_exits_after_the_graceful_timeout() {
    let dir = tmp();
    let sock = dir.path().join("gt.sock");
    let log = dir.path().join("gt.log");
    let mut gw = GatewayCommand::serve(&["conformance:app", "--graceful-timeout", "1"], &log)
        .spawn_bind(&sock)
        .unwrap();
    let mut c = Client::connect(&sock).unwrap();
    let (_, wire) = c
        .encode(&RequestSpec::new(
            iis_params("GET", "", "/sleep", "secs=3600", 0),
            vec![],
        ))
        .unwrap();
    c.send_raw(&wire).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    kill(gw.id(), "-TERM");
    let (status, _, stderr) = wait_output(&mut gw, Duration::from_secs(20)).unwrap();
    assert!(
        !status.success() && status.code().is_some(),
        "exits non-zero by itself: {status}"
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("/sleep"),
        "names the request:\n{text}\n{stderr}"
    );
}

/// Kills leftover processes by pid when dropped.
struct Pids(Vec<u32>);

impl Drop for Pids {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &p.to_string()])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next())
        })
        .flatten()
        .is_some_and(|state| state != 'Z' && state != 'X')
}

#[test]
fn workers_exit_when_the_supervisor_is_killed() {
    let dir = tmp();
    let sock = dir.path().join("orphan.sock");
    let mut parent = GatewayCommand::serve(
        &["conformance:app", "--workers", "2"],
        &dir.path().join("o.log"),
    )
    .spawn_bind(&sock)
    .unwrap();
    let ppid = parent.id();
    let workers = Pids(
        iiswsgi_harness::wait_for_children(ppid, 2, Duration::from_secs(20))
            .expect("two workers start"),
    );
    // A request in flight when the supervisor dies is finished.
    let sock2 = sock.clone();
    let in_flight = std::thread::spawn(move || Client::connect(&sock2)?.get("/sleep", "secs=2"));
    std::thread::sleep(Duration::from_millis(500));
    kill(ppid, "-KILL");
    let _ = parent.wait();
    let r = in_flight
        .join()
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(r.status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while workers.0.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "workers still running after their supervisor died: {:?}",
            workers.0
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Linux: the workers' command lines are read from /proc.
#[cfg(target_os = "linux")]
#[test]
fn workers_are_started_with_the_supervisors_own_arguments() {
    let dir = tmp();
    let sock = dir.path().join("argv.sock");
    let apps = iiswsgi_harness::fixtures_apps();
    // Options in an order of the user's; the workers get them as written,
    // without --bind and --workers (the workers accept on the shared socket).
    let parent = GatewayCommand::serve(
        &[
            "--read-timeout",
            "7",
            "conformance:app",
            "--workers=2",
            "--chdir",
            apps.to_str().unwrap(),
            "--log-level",
            "info",
        ],
        &dir.path().join("argv.log"),
    )
    .spawn_bind(&sock)
    .unwrap();
    let workers = iiswsgi_harness::wait_for_children(parent.id(), 2, Duration::from_secs(20))
        .expect("two workers start");
    for pid in workers {
        // Read once the worker has exec'd (a forked child shows its parent's
        // command line, or none, until then).
        let deadline = Instant::now() + Duration::from_secs(20);
        let args = loop {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .skip(1)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if !args.contains(&"--workers=2".to_owned()) && !args.is_empty()
                || Instant::now() > deadline
            {
                break args;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            args,
            [
                "-m",
                "iiswsgi",
                "serve",
                "--read-timeout",
                "7",
                "conformance:app",
                "--chdir",
                apps.to_str().unwrap(),
                "--log-level",
                "info",
            ]
        );
    }
    let r = Client::connect(&sock).unwrap().get("/hello", "").unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn start_up_errors_say_what_failed_on_stderr_and_in_the_log() {
    let dir = tmp();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = format!("tcp:{}", taken.local_addr().unwrap());
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a socket").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--bind".into(), taken_addr.clone()], "in use"),
        (
            vec![
                "--bind".into(),
                format!("unix:{}", dir.path().join("missing/x.sock").display()),
            ],
            "does not exist",
        ),
        (
            vec!["--bind".into(), format!("unix:{}", file.display())],
            "not a socket",
        ),
        (
            vec!["--bind".into(), "tcp:no-such-host.invalid:9000".into()],
            "resolve",
        ),
        (
            vec![
                "--bind".into(),
                format!("unix:{}", dir.path().join("ok.sock").display()),
                "--app-dir".into(),
                dir.path().join("no-such-dir").display().to_string(),
            ],
            "application directory",
        ),
    ];
    for (i, (args, what)) in cases.iter().enumerate() {
        let log = dir.path().join(format!("start-{i}.log"));
        let mut all: Vec<&str> = vec!["conformance:app"];
        all.extend(args.iter().map(String::as_str));
        let (status, _, stderr) = GatewayCommand::serve(&all, &log)
            .run_to_exit(&[], Duration::from_secs(20))
            .unwrap();
        assert_eq!(status.code(), Some(1), "{args:?}: {status}\n{stderr}");
        assert!(stderr.contains(what), "{args:?}: stderr says {stderr:?}");
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(logged.contains(what), "{args:?}: the log says {logged:?}");
    }
    drop(taken);
}
