//! The log file (issue 8, point 4): fall-through of the default location,
//! permissions, size-based rotation.

use std::time::Duration;

use iiswsgi_harness::GatewayCommand;

use crate::tmp;

#[test]
fn an_unusable_default_log_falls_through_to_the_next_candidate() {
    let tmpdir = tmp();
    // Another user's file (here: a directory, unusable even for root).
    std::fs::create_dir(tmpdir.path().join("iiswsgi.log")).unwrap();
    let mut gw = GatewayCommand::serve(&["conformance:app"], &tmpdir.path().join("unused"))
        .without_env("WSGI_LOG")
        .env("TMPDIR", &tmpdir.path().display().to_string())
        .env("WSGI_RESTART_FILE_REGEX", "")
        .spawn_pipe()
        .unwrap();
    let r = gw.get("/hello", "");
    let (status, _, _) = gw.close_and_wait(Duration::from_secs(20)).unwrap();
    assert_eq!(r.map(|r| r.status).ok(), Some(200));
    assert!(status.success(), "{status}");
    let logs: Vec<_> = std::fs::read_dir(tmpdir.path())
        .unwrap()
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "log"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let text = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(text.contains("starting"), "{text}");
    assert!(
        text.contains(&tmpdir.path().join("iiswsgi.log").display().to_string()),
        "the log says why the first choice was skipped:\n{text}"
    );
}

#[test]
fn log_files_are_private_and_rotate_by_size() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp();
    let log = dir.path().join("rot.log");
    let max = 50_000u64;
    let mut gw = GatewayCommand::serve(&["conformance:app"], &log)
        .env("WSGI_RESTART_FILE_REGEX", "")
        .env("WSGI_LOG_MAX_BYTES", &max.to_string())
        .spawn_pipe()
        .unwrap();
    assert_eq!(gw.get("/hello", "").unwrap().status, 200);
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the log is created 0600, got {mode:o}");
    // About 100 bytes per line: 1 MB of log for a 50 kB cap.
    assert_eq!(gw.get("/print-many", "n=10000").unwrap().status, 200);
    let (status, _, _) = gw.close_and_wait(Duration::from_secs(30)).unwrap();
    assert!(status.success());
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    assert!(size(&log) <= max, "{} bytes", size(&log));
    let mut backups = 0;
    for n in 1..=9 {
        let b = dir.path().join(format!("rot.log.{n}"));
        if b.exists() {
            backups += 1;
            assert!(size(&b) <= max, "{}: {} bytes", b.display(), size(&b));
            let mode = std::fs::metadata(&b).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
    assert!((1..=5).contains(&backups), "{backups} backups");
}
