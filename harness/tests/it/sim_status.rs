//! `iiswsgi sim status` on a machine that `sim serve` serves: the sites,
//! the registered `FastCGI` application with its live process and requests,
//! the last requests of the W3C log, where each log is; then, once serve
//! has stopped, that nothing runs.

use std::time::{Duration, Instant};

use iiswsgi_harness::context::TestContext;
use iiswsgi_harness::http::http;
use iiswsgi_harness::simserve::{
    descendants, host, new_machine, register_fastcgi, write_web_config, SimServe,
};
use iiswsgi_harness::{fixtures_apps, iiswsgi_snapshot};

const PY: &str = "C:\\Python311\\python.exe";
const ARGS: &str = "-m iiswsgi serve conformance:app";

fn status_json(ctx: &TestContext, root: &std::path::Path) -> serde_json::Value {
    let out = ctx
        .iiswsgi(&[
            "sim",
            "status",
            "--json",
            "--root",
            &root.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn status_shows_pools_processes_requests_and_logs() {
    let mut ctx = TestContext::new();
    let root = ctx.path("root");
    ctx.add_path_filter(&root, "[ROOT]");
    let ctx = ctx
        .with_filter(r"pid \d+", "pid [PID]")
        .with_filter(r"for \d+( min \d+)? s", "for [AGE]")
        .with_filter(r"age \d+( min \d+)? s", "age [AGE]")
        .with_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]")
        .with_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[DATETIME]")
        .with_filter(r"u_ex\d{6}\.log", "u_ex[YYMMDD].log")
        .with_filter(r" \d+ ms", " [N] ms");
    new_machine(&root).unwrap();
    register_fastcgi(&root, PY, ARGS, ",maxInstances='1'").unwrap();
    let fixtures = fixtures_apps().display().to_string();
    write_web_config(
        &host(&root, "C:\\inetpub\\wwwroot"),
        &format!("{PY}|{ARGS}"),
        "",
        &[
            ("PYTHONPATH", fixtures.as_str()),
            ("WSGI_RESTART_FILE_REGEX", ""),
        ],
    )
    .unwrap();

    // Before anything served: the configuration, nothing running.
    let st = status_json(&ctx, &root);
    assert_eq!(st["serving"]["state"], "stopped");
    assert_eq!(st["fastcgi"][0]["full_path"], PY);
    assert_eq!(st["fastcgi"][0]["processes"].as_array().unwrap().len(), 0);

    let mut sim = SimServe::start(&root, &[], 1).unwrap();
    let base = sim.url("http/").to_owned();
    for _ in 0..3 {
        let r = http(&base, "GET", "/hello?n=1", b"").unwrap();
        assert_eq!(r.status, 200, "{}", sim.log());
    }
    // The run file is rewritten within half a second of a change.
    let deadline = Instant::now() + Duration::from_secs(10);
    let st = loop {
        let st = status_json(&ctx, &root);
        // The W3C log is written in batches (every 250 ms), as IIS's is.
        let logged = st["last_requests"].as_array().map_or(0, Vec::len);
        if (st["fastcgi"][0]["processes"][0]["requests"] == 3 && logged == 3)
            || Instant::now() > deadline
        {
            break st;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(st["serving"]["state"], "running", "{st:#}");
    assert_eq!(st["serving"]["pid"], sim.pid());
    let procs = st["fastcgi"][0]["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{st:#}");
    assert_eq!(procs[0]["requests"], 3, "{st:#}");
    let pid = u32::try_from(procs[0]["pid"].as_u64().unwrap()).unwrap();
    assert!(
        descendants(sim.pid()).contains(&pid),
        "pid {pid} is not sim serve's child"
    );
    let last = &st["last_requests"];
    assert_eq!(last.as_array().unwrap().len(), 3);
    assert_eq!(last[2]["uri"], "/hello?n=1");
    assert_eq!(last[2]["status"], "200");
    let w3c = st["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["what"].as_str().unwrap().starts_with("W3C log of site 1"))
        .unwrap();
    assert!(std::path::Path::new(w3c["host"].as_str().unwrap()).is_file());
    assert!(w3c["windows"]
        .as_str()
        .unwrap()
        .starts_with("C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex"));

    let root_s = root.display().to_string();
    iiswsgi_snapshot!(
        ctx.filters(),
        ctx.iiswsgi(&["sim", "status", "--root", &root_s])
    );

    sim.stop(Duration::from_secs(10));
    let st = status_json(&ctx, &root);
    assert_eq!(st["serving"]["state"], "stopped", "{st:#}");
    assert_eq!(st["fastcgi"][0]["processes"].as_array().unwrap().len(), 0);
}

#[test]
fn status_of_a_killed_serve_says_so_and_a_bad_root_names_the_file() {
    let ctx = TestContext::new();
    let root = ctx.path("root");
    new_machine(&root).unwrap();
    // A run file left by a sim serve that was killed (pid 0x7fff_fff0 does not exist).
    std::fs::write(
        root.join("sim-serve.json"),
        r#"{"pid":2147483632,"started":0,"bindings":[],"processes":[]}"#,
    )
    .unwrap();
    let st = status_json(&ctx, &root);
    assert_eq!(st["serving"]["state"], "stale");
    let out = ctx
        .iiswsgi(&["sim", "status", "--root", &root.display().to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("not running (pid 2147483632 stopped without cleaning up"),
        "{text}"
    );

    let missing = ctx.path("nothing");
    let out = ctx
        .iiswsgi(&["sim", "status", "--root", &missing.display().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sim.toml"), "{err}");
}
