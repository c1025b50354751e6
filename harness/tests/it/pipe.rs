//! Conformance through IIS's model: the gateway's STDIN is one end of a
//! socketpair, driven by the codec's web-server side.

use std::time::Duration;

use iiswsgi_fastcgi::proto::{self, ProtocolStatus, RecordType, Role};
use iiswsgi_harness::{
    fixtures_apps, iis_params, GatewayCommand, PipeGateway, RequestSpec, Response,
};

use tempfile::TempDir;

use crate::{json, tmp, Strings};

pub(crate) fn start(app: &str) -> (PipeGateway, TempDir) {
    let dir = tmp();
    let gw = GatewayCommand::serve(&[app], &dir.path().join("iiswsgi.log"))
        .env("WSGI_RESTART_FILE_REGEX", "")
        .spawn_pipe()
        .expect("gateway starts");
    (gw, dir)
}

fn ok_exit(gw: PipeGateway) -> String {
    let log = gw.log_text();
    let (status, out, err) = gw.close_and_wait(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "exit {status}; log:\n{log}");
    assert_eq!(out, "", "nothing on stdout in the IIS model");
    assert_eq!(err, "", "nothing on stderr in the IIS model");
    log
}

/// No empty STDOUT record before the end of the stream, and exactly one at the end.
fn check_stdout_framing(r: &Response) {
    let (last, rest) = r
        .stdout_records
        .split_last()
        .expect("at least the end record");
    assert_eq!(*last, 0, "the stream ends with an empty STDOUT record");
    assert!(
        rest.iter().all(|&n| n > 0),
        "empty STDOUT before the end: {:?}",
        r.stdout_records
    );
    assert_eq!(r.protocol_status, Some(ProtocolStatus::RequestComplete));
}

#[test]
fn three_requests_on_one_kept_connection_then_eof_exits_0() {
    let (mut gw, _d) = start("conformance:validated_app");
    for _ in 0..3 {
        let r = gw.get("/hello", "").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"Hello, World!");
        assert_eq!(r.header("Content-Length"), Some("13"));
        check_stdout_framing(&r);
        // Head and body travel in one record.
        assert_eq!(r.stdout_records.len(), 2, "{:?}", r.stdout_records);
    }
    let pid1 = json(&gw.get("/pid", "").unwrap().body);
    let pid2 = json(&gw.get("/pid", "").unwrap().body);
    assert_eq!(pid1, pid2, "the same process serves every request");
    let log = ok_exit(gw);
    assert!(
        log.contains("loaded WSGI application conformance:validated_app"),
        "{log}"
    );
}

#[test]
fn request_ids_cycle_past_255() {
    let (mut gw, _d) = start("conformance:app");
    for i in 0..300 {
        let r = gw.get("/hello", "").unwrap();
        assert_eq!(r.status, 200, "request {i}");
    }
    ok_exit(gw);
}

#[test]
fn params_split_across_records_and_raw_bytes() {
    let (mut gw, _d) = start("conformance:validated_app");
    let mut params = iis_params("GET", "", "/environ", "q=%C3%A9", 0);
    params.push((b"HTTP_X_LATIN".to_vec(), vec![b'a', 0xE9, 0xFF]));
    params.push((b"HTTP_X_LONG".to_vec(), vec![b'z'; 300]));
    let mut spec = RequestSpec::new(params, Vec::new());
    spec.params_split = Some(3);
    let r = gw.request(&spec).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let env = json(&r.body);
    assert_eq!(env["QUERY_STRING"].as_str(), Some("q=%C3%A9"));
    assert_eq!(
        env["HTTP_X_LATIN"].as_str(),
        Some("a\u{e9}\u{ff}"),
        "bytes decoded as latin-1"
    );
    assert_eq!(env["HTTP_X_LONG"].as_str().map(str::len), Some(300));
    ok_exit(gw);
}

#[test]
fn environ_iis_fixups() {
    let (mut gw, _d) = start("conformance:validated_app");
    // Application mounted at /app: IIS sends the full path in PATH_INFO and SCRIPT_NAME.
    let r = gw
        .request(&RequestSpec::new(
            iis_params("GET", "/app", "/App/environ/sub", "x=1", 0),
            vec![],
        ))
        .unwrap();
    let env = json(&r.body);
    assert_eq!(env["SCRIPT_NAME"].as_str(), Some("/App"));
    assert_eq!(env["PATH_INFO"].as_str(), Some("/environ/sub"));
    assert_eq!(env["wsgi.url_scheme"].as_str(), Some("http"));
    assert_eq!(env["wsgi.multithread"].as_bool(), Some(false));
    assert_eq!(env["wsgi.multiprocess"].as_bool(), Some(true));
    assert_eq!(env["wsgi.run_once"].as_bool(), Some(false));
    assert_eq!(env["wsgi.input_terminated"].as_bool(), Some(true));
    assert!(env["HTTP_CONTENT_LENGTH"].is_null());

    // URL Rewrite's X-Original-URL, HTTPS=on, and a ?query left in PATH_INFO.
    let mut params = iis_params("GET", "", "/handler.fcgi/x?y=1", "y=1", 0);
    params.push((
        b"HTTP_X_ORIGINAL_URL".to_vec(),
        b"/environ/caf%C3%A9?y=1".to_vec(),
    ));
    params.retain(|(k, _)| k != b"HTTPS");
    params.push((b"HTTPS".to_vec(), b"on".to_vec()));
    let r = gw.request(&RequestSpec::new(params, vec![])).unwrap();
    let env = json(&r.body);
    assert_eq!(env["SCRIPT_NAME"].as_str(), Some(""));
    assert_eq!(
        env["PATH_INFO"].as_str(),
        Some("/environ/caf\u{c3}\u{a9}"),
        "decoded, then latin-1"
    );
    assert_eq!(env["wsgi.url_scheme"].as_str(), Some("https"));
    ok_exit(gw);
}

#[test]
fn explicit_script_name_setting_overrides() {
    let dir = tmp();
    let mut gw = GatewayCommand::serve(&["conformance:app"], &dir.path().join("l.log"))
        .env("SCRIPT_NAME", "/mount")
        .env("WSGI_RESTART_FILE_REGEX", "")
        .spawn_pipe()
        .unwrap();
    let env = json(&gw.get("/MOUNT/environ", "").unwrap().body);
    assert_eq!(env["SCRIPT_NAME"].as_str(), Some("/MOUNT"));
    assert_eq!(env["PATH_INFO"].as_str(), Some("/environ"));
    ok_exit(gw);
}

#[test]
fn nginx_style_params_are_left_as_sent() {
    let (mut gw, _d) = start("conformance:validated_app");
    let params: Vec<(Vec<u8>, Vec<u8>)> = [
        ("REQUEST_METHOD", "GET"),
        ("SCRIPT_NAME", "/mnt"),
        ("PATH_INFO", "/environ"),
        ("QUERY_STRING", ""),
        ("SERVER_NAME", "example"),
        ("SERVER_PORT", "8080"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("HTTPS", "on"),
    ]
    .iter()
    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    let env = json(&gw.request(&RequestSpec::new(params, vec![])).unwrap().body);
    assert_eq!(env["SCRIPT_NAME"].as_str(), Some("/mnt"));
    assert_eq!(env["PATH_INFO"].as_str(), Some("/environ"));
    assert_eq!(env["wsgi.url_scheme"].as_str(), Some("https"));
    ok_exit(gw);
}

#[test]
fn input_semantics() {
    let (mut gw, _d) = start("conformance:app");
    let body = b"a\nbb\nccc\ndddd".to_vec();
    let lines = json(&gw.post("/readline", "", body.clone()).unwrap().body);
    assert_eq!(lines.strings(), vec!["a\n", "bb\n", "ccc\n", "dddd"]);
    let lines = json(&gw.post("/readline", "size=2", body.clone()).unwrap().body);
    assert_eq!(
        lines.strings(),
        vec!["a\n", "bb", "\n", "cc", "c\n", "dd", "dd"]
    );
    let lines = json(&gw.post("/iter", "", body.clone()).unwrap().body);
    assert_eq!(lines.strings(), vec!["a\n", "bb\n", "ccc\n", "dddd"]);
    let r = json(&gw.post("/readlines", "hint=4", body.clone()).unwrap().body);
    assert_eq!(r["first"].strings(), vec!["a\n", "bb\n"]);
    assert_eq!(r["rest"].as_str(), Some("ccc\ndddd"));
    let r = json(&gw.post("/readlines", "", body.clone()).unwrap().body);
    assert_eq!(r["first"].strings(), vec!["a\n", "bb\n", "ccc\n", "dddd"]);
    // read(10) then read() returns the rest, then b"".
    let r = json(
        &gw.post("/read10", "", b"abcdefghijklmno".to_vec())
            .unwrap()
            .body,
    );
    assert_eq!(r["first"].as_str(), Some("abcdefghij"));
    assert_eq!(r["rest"].as_str(), Some("klmno"));
    assert_eq!(r["again"].as_str(), Some(""));
    // The same across many small STDIN records (IIS sends ~10 KB pieces).
    let big: Vec<u8> = (0..70_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut spec = RequestSpec::new(
        iis_params("POST", "", "/read10", "", big.len()),
        big.clone(),
    );
    spec.stdin_chunk = Some(7);
    let r = json(&gw.request(&spec).unwrap().body);
    assert_eq!(
        r["first"].as_str().map(str::to_owned),
        Some(String::from_utf8_lossy(&big[..10]).into_owned())
    );
    assert_eq!(r["rest"].as_str().map(str::len), Some(70_000 - 10));
    ok_exit(gw);
}

#[test]
fn upload_of_8_mib_streams() {
    let (mut gw, _d) = start("conformance:validated_app");
    let body: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let mut spec = RequestSpec::new(
        iis_params("POST", "", "/upload-size", "", body.len()),
        body.clone(),
    );
    spec.stdin_chunk = Some(10_000);
    let r = json(&gw.request(&spec).unwrap().body);
    assert_eq!(r["size"].as_f64(), Some(body.len() as f64));
    assert_eq!(
        r["sha256"].as_str().map(str::to_owned),
        Some(crate::sha256_hex(&body))
    );
    // And echoed back while it is still arriving.
    let r = gw.post("/echo", "", body.clone()).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == body, "echo differs ({} bytes back)", r.body.len());
    check_stdout_framing(&r);
    ok_exit(gw);
}

#[test]
fn write_callable_and_deferred_start_response() {
    let (mut gw, _d) = start("conformance:app");
    let r = gw.get("/write", "").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "one,two,three"));
    check_stdout_framing(&r);
    let r = gw.get("/deferred", "").unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.header("X-Deferred"), Some("yes"));
    assert_eq!(r.text(), "made late");
    check_stdout_framing(&r);
    let r = gw.get("/empty", "").unwrap();
    assert_eq!((r.status, r.body.len()), (204, 0));
    check_stdout_framing(&r);
    let r = gw.get("/file-wrapper", "").unwrap();
    assert_eq!(
        r.body,
        std::fs::read(fixtures_apps().join("conformance.py")).unwrap()
    );
    ok_exit(gw);
}

#[test]
fn exceptions_before_and_during_the_body() {
    let (mut gw, _d) = start("conformance:app");
    let r = gw.get("/error-before", "").unwrap();
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "Internal Server Error\n");
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.contains("Traceback") && stderr.contains("boom before the response"),
        "{stderr}"
    );
    check_stdout_framing(&r);

    let r = gw.get("/error-during", "").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "first part;",
        "the body is cut short, the request ends cleanly"
    );
    check_stdout_framing(&r);

    for path in ["/not-bytes", "/start-twice"] {
        let r = gw.get(path, "").unwrap();
        assert_eq!(r.status, 500, "{path}");
    }
    let r = gw.get("/exc-info", "").unwrap();
    assert_eq!((r.status, r.text().as_str()), (503, "replaced"));
    let r = gw.get("/exc-info-late", "").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "headers are out;"));
    // The process keeps serving.
    assert_eq!(gw.get("/hello", "").unwrap().status, 200);
    let log = ok_exit(gw);
    assert!(
        log.contains("boom before the response"),
        "traceback logged:\n{log}"
    );
    assert!(log.contains("boom in the middle of the body"), "{log}");
}

#[test]
fn close_is_always_called() {
    let (mut gw, d) = start("conformance:app");
    let marker = d.path().join("closed.txt");
    let q = format!("marker={}", marker.display());
    assert_eq!(gw.get("/close", &q).unwrap().text(), "closing body");
    let r = gw.get("/close", &format!("{q}&fail=1")).unwrap();
    assert_eq!(r.status, 200);
    ok_exit(gw);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "closed\nclosed\n"
    );
}

#[test]
fn cr_lf_in_headers_is_refused() {
    let (mut gw, _d) = start("conformance:app");
    for path in ["/crlf-header", "/crlf-status"] {
        let r = gw.get(path, "").unwrap();
        assert_eq!(r.status, 500, "{path}");
        let raw = String::from_utf8_lossy(&r.raw);
        assert!(
            !raw.contains("Injected"),
            "{path}: injected header passed through: {raw:?}"
        );
        assert!(!raw.contains("should never be sent"));
    }
    let log = ok_exit(gw);
    assert!(
        log.contains("refused a response header containing CR or LF"),
        "{log}"
    );
    assert!(
        log.contains("refused a response status containing CR or LF"),
        "{log}"
    );
}

#[test]
fn get_values_and_unknown_management_record() {
    let (mut gw, _d) = start("conformance:app");
    let mut w = Vec::new();
    gw.client
        .codec()
        .get_values(
            &mut w,
            [
                "FCGI_MAX_CONNS",
                "FCGI_MAX_REQS",
                "FCGI_MPXS_CONNS",
                "OTHER",
            ],
        )
        .unwrap();
    proto::write_record(&mut w, RecordType::Other(99), 0, b"");
    gw.client.send_raw(&w).unwrap();
    let events = gw.client.read_events(2).unwrap();
    assert_eq!(
        events,
        vec![
            r#"GetValuesResult([([70, 67, 71, 73, 95, 77, 65, 88, 95, 67, 79, 78, 78, 83], [49]), ([70, 67, 71, 73, 95, 77, 65, 88, 95, 82, 69, 81, 83], [49]), ([70, 67, 71, 73, 95, 77, 80, 88, 83, 95, 67, 79, 78, 78, 83], [48])])"#,
            "UnknownType { record_type: 99 }"
        ]
    );
    assert_eq!(gw.get("/hello", "").unwrap().status, 200);
    ok_exit(gw);
}

#[test]
fn unknown_role_and_keep_conn_clear() {
    let (mut gw, _d) = start("conformance:app");
    let mut w = Vec::new();
    gw.client
        .codec()
        .begin_request(&mut w, 7, Role::Filter, true);
    gw.client.send_raw(&w).unwrap();
    let ev = gw.client.read_events(1).unwrap();
    assert_eq!(
        ev,
        vec!["EndRequest { request_id: 7, app_status: 0, protocol_status: UnknownRole }"]
    );
    // Without FCGI_KEEP_CONN the gateway closes after the response; in the
    // pipe model that ends the process with status 0.
    let mut spec = RequestSpec::new(iis_params("GET", "", "/hello", "", 0), vec![]);
    spec.keep_conn = false;
    assert_eq!(gw.request(&spec).unwrap().status, 200);
    let (status, _, _) = gw.wait(Duration::from_secs(20)).unwrap();
    assert!(status.success());
}

#[test]
fn abort_request_ends_the_request() {
    let (mut gw, _d) = start("conformance:app");
    let params = iis_params("POST", "", "/upload-size", "", 100_000);
    let mut w = Vec::new();
    let c = gw.client.codec();
    c.begin_request(&mut w, 1, Role::Responder, true);
    c.params(&mut w, 1, params.iter().map(|(a, b)| (a, b)), None)
        .unwrap();
    c.stdin(&mut w, 1, &[b'x'; 1000]);
    c.abort(&mut w, 1);
    gw.client.send_raw(&w).unwrap();
    let r = gw.client.read_response(1).unwrap();
    assert_eq!(r.protocol_status, Some(ProtocolStatus::RequestComplete));
    // The connection stays usable.
    let mut spec = RequestSpec::new(iis_params("GET", "", "/hello", "", 0), vec![]);
    spec.keep_conn = true;
    let (id, wire) = gw.client.encode(&spec).unwrap();
    assert_eq!(id, 1, "ids are the client's own counter");
    gw.client.send_raw(&wire).unwrap();
    assert_eq!(gw.client.read_response(id).unwrap().body, b"Hello, World!");
    ok_exit(gw);
}

#[test]
fn prints_and_wsgi_errors_go_to_the_log() {
    let (mut gw, _d) = start("conformance:app");
    assert_eq!(gw.get("/print", "").unwrap().status, 200);
    let log = ok_exit(gw);
    for line in [
        "printed to stdout by the app",
        "printed to stderr by the app",
        "written to wsgi.errors",
    ] {
        assert!(log.contains(line), "{line} missing from log:\n{log}");
    }
}

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
        .without_env("PYTHONPATH")
        .env("SITE_ROOT", &site.path().display().to_string())
        .cwd(&std::env::temp_dir())
        .spawn_pipe()
        .unwrap();
    let mut params = iis_params("GET", "", "/", "", 0);
    for (k, v) in params.iter_mut() {
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
    for (k, v) in params.iter_mut() {
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
    for (k, v) in params.iter_mut() {
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

#[test]
fn sigterm_finishes_the_request_in_flight() {
    let (mut gw, _d) = start("conformance:app");
    // A 2 MiB body sent slowly keeps the request in flight when SIGTERM arrives.
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
    let pid = gw.child.id() as i32;
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(200));
    gw.client.send_raw(&wire[half..]).unwrap();
    let r = gw.client.read_response(id).unwrap();
    assert_eq!(json(&r.body)["size"].as_f64(), Some(body.len() as f64));
    let (status, _, _) = gw.wait(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{status}");
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
    assert!(
        err.contains("stdin is not a socket") && err.contains("--bind"),
        "{err}"
    );
}

#[test]
fn upload_of_1_gib_is_streamed_not_held() {
    const SIZE: usize = 1 << 30;
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
    let mut sock = gw.client.socket().try_clone().unwrap();
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
    let peak = iiswsgi_harness::bench::peak_rss_kib(pid);
    assert!(
        peak > 0 && peak < 64 * 1024,
        "peak RSS {peak} KiB while receiving 1 GiB"
    );
    ok_exit(gw);
}

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
    let mut w = Vec::new();
    a.codec()
        .get_values(&mut w, ["FCGI_MAX_CONNS", "FCGI_MAX_REQS"])
        .unwrap();
    a.send_raw(&w).unwrap();
    // --max-conns (64) bounds the requests served at once; parked connections
    // are not counted against it, up to 10,000 open.
    let name = |s: &str| format!("{:?}", s.as_bytes());
    assert_eq!(
        a.read_events(1).unwrap(),
        vec![format!(
            "GetValuesResult([({}, {}), ({}, {})])",
            name("FCGI_MAX_CONNS"),
            name("10000"),
            name("FCGI_MAX_REQS"),
            name("64")
        )]
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
    let workers = iiswsgi_harness::wait_for_children(ppid, 2, Duration::from_secs(20))
        .expect("two workers start");
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
