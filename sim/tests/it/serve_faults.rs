//! Fault injection through `sim serve`: each fault gives IIS's status and
//! text, and a log line from the simulator. Timeouts use the test-only
//! scale (one configured second = 50 ms), since IIS's schema forbids
//! timeouts under 10 s.

use std::time::Duration;

use crate::support::{http, log_lines, machine_with_app, serve};

const SECOND_MS: u64 = 50;

#[test]
fn a_process_that_exits_mid_request() {
    let (dir, m, _) = machine_with_app("", "");
    let sim = serve(dir, m, SECOND_MS);
    let r = http(&sim.base, "GET", "/fault/exit", &[], b"");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().contains("The FastCGI process exited unexpectedly"),
        "{}",
        r.text()
    );
    assert!(
        r.text().contains("0x00000003"),
        "the exit code as the error code"
    );
    assert!(!log_lines("/fault/exit: 500.0 FastCgiModule").is_empty());
    // The pool starts a new process for the next request.
    assert_eq!(http(&sim.base, "GET", "/hello", &[], b"").status, 200);
}

#[test]
fn a_process_that_never_answers_hits_activity_timeout() {
    let (dir, m, _) = machine_with_app(",activityTimeout='10'", "");
    let sim = serve(dir, m, SECOND_MS);
    let t = std::time::Instant::now();
    let r = http(&sim.base, "GET", "/fault/hang", &[], b"");
    assert_eq!(r.status, 500);
    assert!(
        r.text()
            .contains("The FastCGI process exceeded configured activity timeout"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("0x80070102"));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(!log_lines("/fault/hang: 500.0 FastCgiModule").is_empty());
}

#[test]
fn request_timeout() {
    let (dir, m, _) = machine_with_app(",activityTimeout='100',requestTimeout='10'", "");
    let sim = serve(dir, m, SECOND_MS);
    let r = http(&sim.base, "GET", "/rt/hang", &[], b"");
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("exceeded configured request timeout"),
        "{}",
        r.text()
    );
}

#[test]
fn stderr_in_each_mode() {
    for (mode, status, text) in [
        ("ReturnStdErrIn500", 500, "boom on stderr"),
        ("ReturnGeneric500", 500, "internal server error"),
        ("IgnoreAndReturn200", 200, "stdout body"),
        ("TerminateProcess", 500, "internal server error"),
    ] {
        let (dir, m, _) = machine_with_app(&format!(",stderrMode='{mode}'"), "");
        let sim = serve(dir, m, SECOND_MS);
        let url = format!("/{mode}/stderr");
        let r = http(&sim.base, "GET", &url, &[], b"");
        assert_eq!(r.status, status, "{mode}: {}", r.text());
        assert!(r.text().contains(text), "{mode}: {}", r.text());
        if status == 500 {
            assert!(!log_lines(&format!("{url}: 500.0")).is_empty(), "{mode}");
        }
        if mode == "ReturnGeneric500" {
            assert!(!r.text().contains("boom"), "the generic page hides STDERR");
        }
    }
}

#[test]
fn a_record_type_iis_rejects() {
    let (dir, m, _) = machine_with_app("", "");
    let sim = serve(dir, m, SECOND_MS);
    let r = http(&sim.base, "GET", "/fault/badtype", &[], b"");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("returned invalid data"), "{}", r.text());
    assert!(r.text().contains("0x8007000d"));
    assert!(r.text().contains("type 11"));
    assert!(!log_lines("/fault/badtype: 500.0").is_empty());
}

#[test]
fn a_header_line_http_cannot_carry_is_left_out_and_logged() {
    let (dir, m, _) = machine_with_app("", "");
    let sim = serve(dir, m, SECOND_MS);
    let r = http(&sim.base, "GET", "/fault/badheader", &[], b"");
    assert_eq!(
        r.status,
        201,
        "the rest of the response stands: {}",
        r.text()
    );
    assert_eq!(r.header("X-Ok"), Some("1"));
    assert_eq!(r.text(), "body");
    assert_eq!(
        log_lines("a header line HTTP cannot carry was left out").len(),
        2
    );
}

#[test]
fn a_crash_loop_trips_rapid_fail_protection() {
    let (dir, m, _) = machine_with_app(",rapidFailsPerMinute='2'", "");
    let sim = serve(dir, m, SECOND_MS);
    for _ in 0..2 {
        let r = http(&sim.base, "GET", "/loop/crash", &[], b"");
        assert!(r.text().contains("exited unexpectedly"), "{}", r.text());
    }
    let r = http(&sim.base, "GET", "/loop/hello", &[], b"");
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains(
            "The FastCGI process has failed frequently recently. Try the request again in a while"
        ),
        "{}",
        r.text()
    );
    assert!(!log_lines("/loop/hello: 500.0").is_empty());
    // The failures age out of the (scaled) minute.
    std::thread::sleep(Duration::from_millis(60 * SECOND_MS + 200));
    assert_eq!(http(&sim.base, "GET", "/loop/hello", &[], b"").status, 200);
}

#[test]
fn a_body_above_max_allowed_content_length() {
    let (dir, m, _) = machine_with_app("", "");
    let sim = serve(dir, m, SECOND_MS);
    let r = http(
        &sim.base,
        "PUT",
        "/up/size",
        &[("Content-Length", "30000001")],
        b"",
    );
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("HTTP Error 404.13 - Not Found"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("exceeds the request content length"));
    let line = "/up/size - 80 - 127.0.0.1 - - 404 13 0";
    let log = crate::support::w3c_log(&sim.machine, |t| t.contains(line));
    assert!(log.contains(line), "{log}");
}

#[test]
fn a_queue_overflow_gives_503() {
    let (dir, m, _) = machine_with_app(",maxInstances='1',queueLength='1'", "");
    let sim = serve(dir, m, SECOND_MS);
    let base = sim.base.clone();
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let base = base.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(150 * i));
                http(&base, "GET", "/q/slow", &[], b"")
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        2,
        "{statuses:?}"
    );
    let full = results.iter().find(|r| r.status == 503).unwrap();
    assert!(
        full.text().contains("The FastCGI queue has been exceeded"),
        "{}",
        full.text()
    );
    assert!(!log_lines("/q/slow: 503.0").is_empty());
}
