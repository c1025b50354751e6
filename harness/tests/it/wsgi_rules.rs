//! PEP 3333 and RFC 9110 rules on what an application sends and what the web
//! server sends (issue 8, point 2).

use std::time::Duration;

use iiswsgi_harness::{iis_params, PipeGateway, RequestSpec};
use tempfile::TempDir;

use crate::json;

fn start() -> (PipeGateway, TempDir) {
    crate::pipe::start("conformance:app")
}

#[test]
fn no_more_than_content_length_is_sent_and_memory_stays_bounded() {
    let (mut gw, _d) = start();
    let pid = gw.child.id();
    let r = gw.get("/cl-overflow", "mib=96").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"o", "only the declared Content-Length goes out");
    let peak = iiswsgi_harness::bench::peak_rss_kib(pid);
    assert!(
        peak > 0 && peak < 64 * 1024,
        "peak RSS {peak} KiB for 96 MiB past Content-Length"
    );
    assert_eq!(gw.get("/hello", "").unwrap().status, 200);
    let log = gw.log_text();
    assert!(log.contains("Content-Length"), "{log}");
}

#[test]
fn a_non_numeric_content_length_is_a_500() {
    let (mut gw, _d) = start();
    let r = gw.get("/cl-bad", "").unwrap();
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(!r.text().contains("0123456789"));
}

#[test]
fn duplicate_request_headers_are_joined() {
    let (mut gw, _d) = start();
    let mut params = iis_params("GET", "", "/environ", "", 0);
    params.push((b"HTTP_X_DUP".to_vec(), b"one".to_vec()));
    params.push((b"HTTP_X_DUP".to_vec(), b"two".to_vec()));
    params.push((b"HTTP_COOKIE".to_vec(), b"a=1".to_vec()));
    params.push((b"HTTP_COOKIE".to_vec(), b"b=2".to_vec()));
    let env = json(&gw.request(&RequestSpec::new(params, vec![])).unwrap().body);
    assert_eq!(env["HTTP_X_DUP"].as_str(), Some("one, two"));
    assert_eq!(env["HTTP_COOKIE"].as_str(), Some("a=1; b=2"));
}

#[test]
fn control_characters_in_headers_and_status_are_refused() {
    let (mut gw, _d) = start();
    for c in ["00", "0b", "0c", "1b", "7f", "0d", "0a"] {
        for place in ["header", "status"] {
            let r = gw.get("/ctl", &format!("c={c}&where={place}")).unwrap();
            assert_eq!(r.status, 500, "0x{c} in the {place}: {:?}", r.raw);
            assert!(
                !r.raw.windows(4).any(|w| w == b"sent"),
                "0x{c} in the {place}"
            );
        }
    }
    // HTAB is allowed inside a field value.
    let r = gw.get("/ctl", "c=09").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Ctl"), Some("a\tb"));
}

#[test]
fn an_applications_own_status_header_is_refused() {
    let (mut gw, _d) = start();
    let r = gw.get("/status-header", "").unwrap();
    assert_eq!(r.status, 500);
    let head = String::from_utf8_lossy(&r.raw).to_ascii_lowercase();
    assert_eq!(head.matches("status:").count(), 1, "{head}");
}

#[test]
fn start_response_type_errors() {
    let (mut gw, _d) = start();
    // A non-tuple exc_info is a TypeError that is also a RuntimeError (mod_wsgi's).
    for (kind, raised) in [
        ("tuple", "TypeError"),
        ("exc_info", "TypeError,RuntimeError"),
    ] {
        let r = gw.get("/api-misuse", &format!("kind={kind}")).unwrap();
        assert_eq!(r.status, 200, "{kind}: {}", r.text());
        assert_eq!(json(&r.body)["raised"].as_str(), Some(raised), "{kind}");
    }
    let (status, _, _) = gw.close_and_wait(Duration::from_secs(20)).unwrap();
    assert!(status.success());
}
