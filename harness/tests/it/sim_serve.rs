//! The installed gateway (and wfastcgi 3.0.0) behind `iiswsgi sim serve`,
//! configured as on Windows: `sim appcmd` registers the `FastCGI` application
//! in applicationHost.config, a web.config maps `path="*"` to it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iiswsgi_harness::bench::peak_rss_kib;
use iiswsgi_harness::http::{http, HttpConn};
use iiswsgi_harness::simserve::{
    appcmd, descendants, host, new_machine, read, register_fastcgi, write_web_config, SimServe,
};
use iiswsgi_harness::{fixtures_apps, repo_root};

use crate::{json, tmp};

const PY: &str = "C:\\Python311\\python.exe";
const GATEWAY_ARGS: &str = "-m iiswsgi serve conformance:app";

fn add_https_binding(root: &Path) {
    let path = host(
        root,
        "C:\\Windows\\System32\\inetsrv\\config\\applicationHost.config",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let http = "<binding protocol=\"http\" bindingInformation=\"*:80:\" />";
    let both = format!(
        "{http}\n                    <binding protocol=\"https\" bindingInformation=\"*:443:\" />"
    );
    std::fs::write(&path, text.replacen(http, &both, 1)).unwrap();
}

/// A machine with the gateway at the site root and at `/app`.
fn gateway_machine(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    new_machine(&root).unwrap();
    register_fastcgi(&root, PY, GATEWAY_ARGS, ",maxInstances='2'").unwrap();
    let fixtures = fixtures_apps().display().to_string();
    let settings = [
        ("PYTHONPATH", fixtures.as_str()),
        ("WSGI_RESTART_FILE_REGEX", ""),
    ];
    let sp = format!("{PY}|{GATEWAY_ARGS}");
    write_web_config(
        &host(&root, "C:\\inetpub\\wwwroot"),
        &sp,
        "responseBufferLimit=\"0\"",
        &settings,
    )
    .unwrap();
    appcmd(
        &root,
        &[
            "add",
            "app",
            "/site.name:Default Web Site",
            "/path:/app",
            "/physicalPath:C:\\sites\\app",
        ],
    )
    .unwrap();
    write_web_config(&host(&root, "C:\\sites\\app"), &sp, "", &settings).unwrap();
    add_https_binding(&root);
    root
}

#[test]
fn the_gateway_behind_the_simulated_iis() {
    let dir = tmp();
    let root = gateway_machine(dir.path());
    let sim = SimServe::start(&root, &[], 2).unwrap();
    let base = sim.url("http/").to_owned();

    let r = http(&base, "GET", "/hello", b"").unwrap();
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Hello, World!"),
        "{}",
        sim.log()
    );
    assert_eq!(r.header("Server"), Some("Microsoft-IIS/10.0"));

    // 1 MiB streamed (responseBufferLimit="0"), chunked by the front.
    let r = http(&base, "GET", "/stream?size=1048576&chunk=65536", b"").unwrap();
    assert_eq!((r.status, r.body.len()), (200, 1 << 20));

    // The app at /app: SCRIPT_NAME and PATH_INFO right through IIS's quirk.
    let r = http(&base, "GET", "/app/environ/x?y=1", b"").unwrap();
    let env = json(&r.body);
    assert_eq!(env["APPL_MD_PATH"], "/LM/W3SVC/1/ROOT/app");
    assert_eq!(env["SCRIPT_NAME"], "/app");
    assert_eq!(env["PATH_INFO"], "/environ/x");
    assert_eq!(env["wsgi.url_scheme"], "http");
    assert_eq!(env["SERVER_SOFTWARE"], "Microsoft-IIS/10.0");

    // The https binding: HTTPS=on reaches the app as wsgi.url_scheme.
    let r = http(sim.url("https/"), "GET", "/environ", b"").unwrap();
    let env = json(&r.body);
    assert_eq!(
        (env["HTTPS"].as_str(), env["wsgi.url_scheme"].as_str()),
        (Some("on"), Some("https"))
    );
    assert_eq!(env["SERVER_PORT"], "443");
}

#[test]
fn a_16_mib_upload_keeps_memory_bounded() {
    let dir = tmp();
    let root = gateway_machine(dir.path());
    let sim = SimServe::start(&root, &[], 2).unwrap();
    let base = sim.url("http/").to_owned();
    let body = vec![b'u'; 16 << 20];
    let r = http(&base, "POST", "/upload-size", &body).unwrap();
    assert_eq!(r.status, 200, "{}\n{}", r.text(), sim.log());
    assert!(
        r.text().contains(&(16u64 << 20).to_string()),
        "{}",
        r.text()
    );
    let sim_peak = peak_rss_kib(sim.pid());
    let gateways: Vec<u32> = descendants(sim.pid());
    assert!(!gateways.is_empty());
    for pid in &gateways {
        let peak = peak_rss_kib(*pid);
        assert!(
            peak < 48 * 1024,
            "gateway {pid} peaked at {peak} KiB for a 16 MiB body"
        );
    }
    assert!(
        sim_peak < 64 * 1024,
        "sim serve peaked at {sim_peak} KiB for a 16 MiB body"
    );
}

#[test]
fn two_concurrent_clients_on_max_instances_2() {
    let dir = tmp();
    let root = gateway_machine(dir.path());
    let mut sim = SimServe::start(&root, &[], 2).unwrap();
    let base = sim.url("http/").to_owned();
    // Two uploads held open: each occupies one process.
    let mut held: Vec<HttpConn> = (0..2)
        .map(|_| {
            let mut c = HttpConn::connect(&base).unwrap();
            c.send(
                "POST",
                "/upload-size",
                &[("Content-Length", "10")],
                b"12345",
            )
            .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let pids = descendants(sim.pid());
    assert_eq!(
        pids.len(),
        2,
        "two processes for two clients: {pids:?}\n{}",
        sim.log()
    );
    // A third request waits in the queue until a process is free.
    let mut third = HttpConn::connect(&base).unwrap();
    third.send("GET", "/hello", &[], b"").unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    assert!(
        third.read(true).is_err(),
        "maxInstances=2: the third request must wait"
    );
    for c in &mut held {
        c.write_body(b"67890").unwrap();
        assert_eq!(json(&c.read(true).unwrap().body)["size"], 10);
    }
    third
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // The third response may have been partly consumed by the failed read:
    // a fresh request on a fresh connection shows the pool serves again.
    assert_eq!(http(&base, "GET", "/hello", b"").unwrap().status, 200);
    // Stopping leaves no process behind.
    let status = sim.stop(Duration::from_secs(20));
    assert!(status.is_some(), "sim serve did not stop on SIGTERM");
    std::thread::sleep(Duration::from_millis(200));
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} left behind"
        );
    }
}

/// The pids of "started process pid N" lines in a `sim serve` log.
fn started_pids(log: &str) -> Vec<u32> {
    log.lines()
        .filter_map(|l| l.split_once("started process pid ").map(|(_, p)| p))
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

#[test]
fn once_answers_one_request_then_exits_and_shuts_its_processes_down() {
    let dir = tmp();
    let root = gateway_machine(dir.path());
    let mut sim = SimServe::start(&root, &["--once"], 2).unwrap();
    let base = sim.url("http/").to_owned();
    // A bare connection carries no request: it does not end the run.
    drop(std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap());
    std::thread::sleep(Duration::from_millis(300));
    assert!(sim.wait(Duration::ZERO).is_none(), "{}", sim.log());

    let r = http(&base, "GET", "/hello", b"").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
    assert_eq!(r.header("Connection"), Some("close"));
    let status = sim.wait(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "sim serve --once: {status:?}\n{}",
        sim.log()
    );
    // stderr is read by a thread: wait for its last line.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sim.log().contains("sim serve: stopped") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = sim.log();
    assert!(
        log.contains("--once: the first request was answered"),
        "{log}"
    );
    let pids = started_pids(&log);
    assert_eq!(pids.len(), 1, "one process for one request:\n{log}");
    for pid in pids {
        assert!(
            log.contains(&format!("process pid {pid} shut down")),
            "process {pid} not shut down as IIS does:\n{log}"
        );
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} left behind"
        );
    }
    // The W3C log holds the request (written at shutdown).
    let logs = host(&root, "C:\\inetpub\\logs\\LogFiles\\W3SVC1");
    let text: String = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|f| read(&f.path()))
        .collect();
    assert!(text.contains(" GET /hello - 80 "), "{text}");
}

#[test]
fn wfastcgi_behind_the_simulated_iis_shows_the_same_pages() {
    let dir = tmp();
    let root = dir.path().join("root");
    new_machine(&root).unwrap();
    let peers = repo_root().join("harness/peers").display().to_string();
    let fixtures = fixtures_apps().display().to_string();
    register_fastcgi(&root, PY, "-m wfastcgi", "").unwrap();
    appcmd(
        &root,
        &[
            "set",
            "config",
            "-section:system.webServer/fastCgi",
            &format!("/+[fullPath='{PY}',arguments='-m wfastcgi'].environmentVariables.[name='PYTHONPATH',value='{peers}:{fixtures}']"),
            "/commit:apphost",
        ],
    )
    .unwrap();
    let settings = [
        ("WSGI_HANDLER", "conformance.app"),
        ("WSGI_RESTART_FILE_REGEX", ""),
    ];
    let site = host(&root, "C:\\inetpub\\wwwroot");
    write_web_config(&site, &format!("{PY}|-m wfastcgi"), "", &settings).unwrap();
    // wfastcgi opens "Web.config" by that spelling: Windows would not care,
    // the host's file system does (IIS itself finds any spelling).
    std::fs::rename(site.join("web.config"), site.join("Web.config")).unwrap();
    let sim = SimServe::start(&root, &[], 1).unwrap();
    let base = sim.url("http/");
    let start = Instant::now();
    let r = http(base, "GET", "/hello", b"").unwrap();
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Hello, World!"),
        "{}",
        sim.log()
    );
    let r = http(base, "GET", "/stream?size=1048576&chunk=65536", b"").unwrap();
    assert_eq!((r.status, r.body.len()), (200, 1 << 20));
    let r = http(base, "POST", "/upload-size", &vec![b'w'; 1 << 20]).unwrap();
    assert!(r.text().contains("1048576"), "{}", r.text());
    assert!(start.elapsed() < Duration::from_mins(1));
}
