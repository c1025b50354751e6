//! The gateway's life in IIS's model: configuration from web.config, import
//! failures, restart and shutdown, large uploads, what is on STDIN; on Unix
//! also a listening socket and `--bind` with workers.

use std::time::Duration;

use iiswsgi_fastcgi::proto::{self, ProtocolStatus, RecordType, Role};
use iiswsgi_harness::{
    fixtures_apps, iis_params, GatewayCommand, PipeGateway, RequestSpec, Transport,
};

use crate::pipe::{check_stdout_framing, ok_exit, start};
use crate::{json, tmp};

#[test]
fn web_config_only_configuration() {
    let site = tmp();
    let lib = site.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        lib.join("siteapp.py"),
        "import os\n\
         def make():\n    \
             def app(environ, start_response):\n        \
                 start_response('200 OK', [('Content-Type', 'text/plain')])\n        \
                 return [os.environ['GREETING'].encode()]\n    \
             return app\n",
    )
    .unwrap();
    let log = site.path().join("from-web-config.log");
    std::fs::write(
        site.path().join("Web.config"),
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <appSettings>
    <add key="WSGI_HANDLER" value="siteapp.make()" />
    <add key="PYTHONPATH" value="%SITE_ROOT%\lib;%SITE_ROOT%/lib" />
    <add key="WSGI_LOG" value="{}" />
    <add key="WSGI_RESTART_FILE_REGEX" value="" />
    <add key="GREETING" value="hello from web.config" />
  </appSettings>
</configuration>"#,
            log.display()
        ),
    )
    .unwrap();
    // No WSGI_LOG in the environment: start-up logs to $TMPDIR/iiswsgi.log,
    // then the log moves to web.config's WSGI_LOG.
    let first_log = site.path().join("iiswsgi.log");
    let mut gw = GatewayCommand::serve(&[], &first_log)
        .without_env("WSGI_LOG")
        .env("TMPDIR", &site.path().display().to_string())
        .env("TMP", &site.path().display().to_string())
        .env("TEMP", &site.path().display().to_string())
        .without_env("PYTHONPATH")
        .env("SITE_ROOT", &site.path().display().to_string())
        .cwd(&std::env::temp_dir())
        .spawn_pipe()
        .unwrap();
    let mut params = iis_params("GET", "", "/", "", 0);
    for (k, v) in &mut params {
        if k == b"APPL_PHYSICAL_PATH" {
            *v = format!("{}/", site.path().display()).into_bytes();
        }
    }
    let r = gw.request(&RequestSpec::new(params, vec![])).unwrap();
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "hello from web.config"),
        "{}",
        r.text()
    );
    let (status, _, _) = gw.close_and_wait(Duration::from_secs(20)).unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("loaded WSGI application siteapp.make()"),
        "{text}"
    );
    let startup = std::fs::read_to_string(&first_log).unwrap();
    assert!(startup.contains("log continues in"), "{startup}");
}

#[test]
fn import_failure_is_logged_and_exits_non_zero() {
    let dir = tmp();
    let log = dir.path().join("fail.log");
    let gw = GatewayCommand::serve(&["broken:app"], &log)
        .spawn_pipe()
        .unwrap();
    let (status, out, err) = gw.wait(Duration::from_secs(20)).unwrap();
    assert!(!status.success(), "exit {status}");
    assert_eq!(
        (out.as_str(), err.as_str()),
        ("", ""),
        "silent in the IIS model"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("could not import module \"broken\"")
            && text.contains("No module named 'a_module_that_does_not_exist'"),
        "{text}"
    );

    // The same found lazily through web.config: the first request gets a 500
    // with the error, then the process exits non-zero.
    let site = tmp();
    std::fs::write(
        site.path().join("web.config"),
        r#"<configuration><appSettings><add key="WSGI_HANDLER" value="nosuchmodule.app"/></appSettings></configuration>"#,
    )
    .unwrap();
    let mut gw = GatewayCommand::serve(&[], &log).spawn_pipe().unwrap();
    let mut params = iis_params("GET", "", "/", "", 0);
    for (k, v) in &mut params {
        if k == b"APPL_PHYSICAL_PATH" {
            *v = site.path().display().to_string().into_bytes();
        }
    }
    let r = gw.request(&RequestSpec::new(params, vec![])).unwrap();
    assert_eq!(r.status, 500);
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("nosuchmodule"),
        "{r:?}"
    );
    let (status, _, _) = gw.wait(Duration::from_secs(20)).unwrap();
    assert!(!status.success());
}

#[test]
fn restart_on_change_after_the_request_in_flight() {
    let site = tmp();
    std::fs::write(
        site.path().join("web.config"),
        r#"<configuration><appSettings><add key="WSGI_HANDLER" value="conformance.app"/></appSettings></configuration>"#,
    )
    .unwrap();
    let mut gw = GatewayCommand::serve(&[], &site.path().join("r.log"))
        .spawn_pipe()
        .unwrap();
    let mut params = iis_params("GET", "", "/hello", "", 0);
    for (k, v) in &mut params {
        if k == b"APPL_PHYSICAL_PATH" {
            *v = site.path().display().to_string().into_bytes();
        }
    }
    assert_eq!(
        gw.request(&RequestSpec::new(params, vec![]))
            .unwrap()
            .status,
        200
    );
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(site.path().join("touched.txt"), "not watched").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        gw.child.try_wait().unwrap().is_none(),
        "a .txt change does not restart"
    );
    std::fs::write(site.path().join("changed.py"), "x = 1\n").unwrap();
    let (status, _, _) = gw.wait(Duration::from_secs(20)).unwrap();
    assert!(
        status.success(),
        "exit 0 so IIS starts a fresh process: {status}"
    );
}

/// Stops the gateway with `stop` while a request is in flight (a 2 MiB body
/// sent in two halves): the request is finished, then the process exits 0.
fn stop_finishes_the_request_in_flight(stop: impl FnOnce(&PipeGateway)) {
    let (mut gw, _d) = start("conformance:app");
    let body = vec![b'y'; 2 * 1024 * 1024];
    let (id, wire) = gw
        .client
        .encode(&RequestSpec::new(
            iis_params("POST", "", "/upload-size", "", body.len()),
            body.clone(),
        ))
        .unwrap();
    let half = wire.len() / 2;
    gw.client.send_raw(&wire[..half]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stop(&gw);
    std::thread::sleep(Duration::from_millis(200));
    gw.client.send_raw(&wire[half..]).unwrap();
    let r = gw.client.read_response(id).unwrap();
    assert_eq!(json(&r.body)["size"].as_f64(), Some(body.len() as f64));
    let (status, _, _) = gw.wait(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{status}");
}

// Unix only: SIGTERM; IIS's way on Windows is the shutdown event (below).
#[cfg(unix)]
#[test]
fn sigterm_finishes_the_request_in_flight() {
    stop_finishes_the_request_in_flight(|gw| {
        let st = std::process::Command::new("kill")
            .args(["-TERM", &gw.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    });
}

/// IIS signals `_FCGI_SHUTDOWN_EVENT_` while a request is in flight.
#[cfg(windows)]
#[test]
fn shutdown_event_finishes_the_request_in_flight() {
    stop_finishes_the_request_in_flight(|gw| gw.signal_shutdown().unwrap());
}

#[test]
fn stdin_must_be_a_socket() {
    let out = std::process::Command::new(iiswsgi_harness::python())
        .args(["-m", "iiswsgi", "serve", "conformance:app"])
        .env("PYTHONPATH", fixtures_apps())
        .env(
            "WSGI_LOG",
            std::env::temp_dir().join("iiswsgi-stdin-test.log"),
        )
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let want = if cfg!(windows) {
        "stdin is neither IIS's named pipe nor a listening socket"
    } else {
        "stdin is not a socket"
    };
    assert!(err.contains(want) && err.contains("--bind"), "{err}");
}

/// 1 GiB on Unix (with a bound on the process's memory); 50 MiB through
/// the named pipe under Wine, whose pipe is much slower.
#[test]
fn upload_of_1_gib_is_streamed_not_held() {
    const SIZE: usize = if cfg!(windows) { 50 << 20 } else { 1 << 30 };
    let (mut gw, _d) = start("conformance:validated_app");
    let pid = gw.child.id();
    let mut head = Vec::new();
    let c = gw.client.codec();
    c.begin_request(&mut head, 1, Role::Responder, true);
    c.params(
        &mut head,
        1,
        iis_params("POST", "", "/upload-size", "", SIZE)
            .iter()
            .map(|(a, b)| (a, b)),
        None,
    )
    .unwrap();
    let mut sock = Transport::try_clone(gw.client.socket()).unwrap();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        use std::io::Write;
        sock.write_all(&head)?;
        let block = vec![b'u'; 64 * 1024];
        let mut records = Vec::new();
        let mut sent = 0;
        while sent < SIZE {
            records.clear();
            proto::write_stream(&mut records, RecordType::Stdin, 1, &block);
            sock.write_all(&records)?;
            sent += block.len();
        }
        records.clear();
        proto::write_stream_end(&mut records, RecordType::Stdin, 1);
        sock.write_all(&records)
    });
    let r = gw.client.read_response(1).unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(json(&r.body)["size"].as_f64(), Some(SIZE as f64));
    #[cfg(unix)]
    {
        let peak = iiswsgi_harness::bench::peak_rss_kib(pid);
        assert!(
            peak > 0 && peak < 64 * 1024,
            "peak RSS {peak} KiB while receiving 1 GiB"
        );
    }
    #[cfg(windows)]
    let _ = pid;
    ok_exit(gw);
}

// Unix only: a Unix listening socket and SIGTERM. IIS's protocol="Tcp" on
// Windows is checked by ci/windows.sh (expected to fail under Wine 8).
#[cfg(unix)]
#[test]
fn listening_socket_on_stdin_is_accepted_on() {
    let dir = tmp();
    let sock = dir.path().join("spawner.sock");
    let mut child =
        GatewayCommand::serve(&["conformance:validated_app"], &dir.path().join("l.log"))
            .spawn_listening(&sock)
            .unwrap();
    // Two connections at once, each with two requests.
    let mut a = iiswsgi_harness::Client::connect(&sock).unwrap();
    let mut b = iiswsgi_harness::Client::connect(&sock).unwrap();
    for i in 0..4 {
        let c = if i % 2 == 0 { &mut a } else { &mut b };
        let r = c
            .request(&RequestSpec::new(
                iis_params("GET", "", "/environ", "", 0),
                vec![],
            ))
            .unwrap();
        let env = json(&r.body);
        assert_eq!(env["wsgi.multithread"].as_bool(), Some(true));
        assert_eq!(env["wsgi.multiprocess"].as_bool(), Some(true));
    }
    // Open connections are capped at 10,000; --max-conns limits requests served at once.
    let mut w = Vec::new();
    a.codec().get_values(&mut w, ["FCGI_MAX_CONNS"]).unwrap();
    a.send_raw(&w).unwrap();
    assert_eq!(
        a.read_events(1).unwrap(),
        vec![
            r"GetValuesResult([([70, 67, 71, 73, 95, 77, 65, 88, 95, 67, 79, 78, 78, 83], [49, 48, 48, 48, 48])])"
        ]
    );
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let (status, _, err) =
        iiswsgi_harness::wait_output(&mut child, Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{status}: {err}");
}

#[test]
fn default_log_location_under_iis_user_home() {
    let home = tmp();
    let mut gw = GatewayCommand::serve(&["conformance:app"], &home.path().join("unused.log"))
        .without_env("WSGI_LOG")
        .env("IIS_USER_HOME", &home.path().display().to_string())
        .env("IISEXPRESS_SITENAME", "MySite")
        .env("WSGI_RESTART_FILE_REGEX", "")
        .spawn_pipe()
        .unwrap();
    assert_eq!(gw.get("/hello", "").unwrap().status, 200);
    gw.log = home.path().join("Logs/MySite/iiswsgi.log");
    let log = ok_exit(gw);
    assert!(log.contains("starting"), "{log}");
}

#[test]
fn app_module_found_from_appl_physical_path() {
    // IIS starts the process in a directory of its own: the module named on the
    // command line is found once the first request gives APPL_PHYSICAL_PATH.
    let dir = tmp();
    let mut gw = GatewayCommand::serve(&["conformance:app"], &dir.path().join("d.log"))
        .without_env("PYTHONPATH")
        .env("WSGI_RESTART_FILE_REGEX", "")
        .cwd(dir.path())
        .spawn_pipe()
        .unwrap();
    let r = gw.get("/hello", "").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello, World!"[..]));
    let log = ok_exit(gw);
    assert!(
        log.contains("retrying from the application directory"),
        "{log}"
    );
}

#[test]
fn abort_before_the_params_end_still_gets_end_request() {
    let (mut gw, _d) = start("conformance:app");
    let mut w = Vec::new();
    let c = gw.client.codec();
    c.begin_request(&mut w, 1, Role::Responder, true);
    proto::write_record(&mut w, RecordType::Params, 1, b"\x0e\x03REQUEST_METHODGET");
    c.abort(&mut w, 1);
    gw.client.send_raw(&w).unwrap();
    let r = gw.client.read_response(1).unwrap();
    assert_eq!(r.protocol_status, Some(ProtocolStatus::RequestComplete));
    assert!(r.raw.is_empty(), "the application never ran: {:?}", r.raw);
    // Id 1 can be used again right away.
    let mut spec = RequestSpec::new(iis_params("GET", "", "/hello", "", 0), vec![]);
    spec.keep_conn = true;
    let (id, wire) = gw.client.encode(&spec).unwrap();
    assert_eq!(id, 1);
    gw.client.send_raw(&wire).unwrap();
    assert_eq!(gw.client.read_response(id).unwrap().status, 200);
    ok_exit(gw);
}

#[test]
fn an_error_in_a_buffered_list_response_still_gives_500() {
    let (mut gw, _d) = start("conformance:app");
    let r = gw.get("/list-error", "").unwrap();
    assert_eq!(r.status, 500, "{:?}", r.text());
    assert_eq!(r.text(), "Internal Server Error\n");
    check_stdout_framing(&r);
    assert_eq!(gw.get("/hello", "").unwrap().status, 200);
    ok_exit(gw);
}

// Unix only: --bind unix:PATH, worker processes, SIGKILL and SIGTERM.
#[cfg(unix)]
#[test]
fn bind_with_workers_shares_the_socket_and_replaces_dead_workers() {
    let dir = tmp();
    let sock = dir.path().join("workers.sock");
    let mut parent = GatewayCommand::serve(
        &["conformance:app", "--workers", "2"],
        &dir.path().join("w.log"),
    )
    .spawn_bind(&sock)
    .unwrap();
    let ppid = parent.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while iiswsgi_harness::bench::children_of(ppid).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "two workers should start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let workers = iiswsgi_harness::bench::children_of(ppid);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let mut c = iiswsgi_harness::Client::connect(&sock).unwrap();
        let r = c
            .request(&RequestSpec::new(
                iis_params("GET", "", "/pid", "", 0),
                vec![],
            ))
            .unwrap();
        seen.insert(json(&r.body)["pid"].as_u64().unwrap() as u32);
    }
    assert!(
        seen.iter().all(|p| workers.contains(p)),
        "served by {seen:?}, workers {workers:?}"
    );

    // A worker that dies is replaced.
    let victim = workers[0].to_string();
    assert!(std::process::Command::new("kill")
        .args(["-KILL", &victim])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = iiswsgi_harness::bench::children_of(ppid);
        if now.len() == 2 && !now.contains(&workers[0]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the dead worker should be replaced: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = iiswsgi_harness::Client::connect(&sock).unwrap();
    let r = c
        .request(&RequestSpec::new(
            iis_params("GET", "", "/hello", "", 0),
            vec![],
        ))
        .unwrap();
    assert_eq!(r.status, 200);
    drop(c);

    assert!(std::process::Command::new("kill")
        .args(["-TERM", &ppid.to_string()])
        .status()
        .unwrap()
        .success());
    let (status, _, err) =
        iiswsgi_harness::wait_output(&mut parent, Duration::from_secs(40)).unwrap();
    assert!(status.success(), "{status}: {err}");
    assert!(iiswsgi_harness::bench::children_of(ppid).is_empty());
}

#[test]
fn x_original_url_can_be_ignored() {
    let dir = tmp();
    let mut gw = GatewayCommand::serve(&["conformance:app"], &dir.path().join("x.log"))
        .env("WSGI_RESTART_FILE_REGEX", "")
        .env("WSGI_X_ORIGINAL_URL", "ignore")
        .spawn_pipe()
        .unwrap();
    let mut params = iis_params("GET", "", "/environ/public", "", 0);
    params.push((b"HTTP_X_ORIGINAL_URL".to_vec(), b"/environ/admin".to_vec()));
    let env = json(&gw.request(&RequestSpec::new(params, vec![])).unwrap().body);
    assert_eq!(env["PATH_INFO"].as_str(), Some("/environ/public"));
    ok_exit(gw);
}
