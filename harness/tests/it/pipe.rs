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

pub(crate) fn ok_exit(gw: PipeGateway) -> String {
    let log = gw.log_text();
    let (status, out, err) = gw.close_and_wait(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "exit {status}; log:\n{log}");
    assert_eq!(out, "", "nothing on stdout in the IIS model");
    assert_eq!(err, "", "nothing on stderr in the IIS model");
    log
}

/// No empty STDOUT record before the end of the stream, and exactly one at the end.
pub(crate) fn check_stdout_framing(r: &Response) {
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
    // The app writes in text mode: "\r\n" on Windows.
    assert_eq!(
        std::fs::read_to_string(&marker)
            .unwrap()
            .replace("\r\n", "\n"),
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
            r"GetValuesResult([([70, 67, 71, 73, 95, 77, 65, 88, 95, 67, 79, 78, 78, 83], [49]), ([70, 67, 71, 73, 95, 77, 65, 88, 95, 82, 69, 81, 83], [49]), ([70, 67, 71, 73, 95, 77, 80, 88, 83, 95, 67, 79, 78, 78, 83], [48])])",
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
