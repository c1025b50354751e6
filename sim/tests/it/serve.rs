//! `sim serve` in process with a `FastCGI` app written for the tests
//! (`fake_fcgi.py`): routing, the wire as IIS speaks it, server variables,
//! the environment a process receives, static files, the W3C log, shutdown.

use std::io::{Read, Write};

use crate::support::{alive, http, log_lines, machine_with_app, serve, w3c_log, write_web_config};

#[test]
fn hello_wire_and_server_variables() {
    let (dir, m, _) = machine_with_app("", "");
    let sim = serve(dir, m, 1000);
    let r = http(&sim.base, "GET", "/hello", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().starts_with("hello from pid"), "{}", r.text());
    assert_eq!(r.header("Server"), Some("Microsoft-IIS/10.0"));

    let r = http(
        &sim.base,
        "GET",
        "/a%20b/vars?x=1",
        &[("X-Dup", "1"), ("X-Dup", "2")],
        b"",
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let p = &v["params"];
    assert_eq!(
        p["SCRIPT_NAME"], "/a b/vars",
        "the full path in SCRIPT_NAME"
    );
    assert_eq!(p["PATH_INFO"], "/a b/vars", "and in PATH_INFO");
    assert_eq!(p["APPL_MD_PATH"], "/LM/W3SVC/1/ROOT");
    assert_eq!(p["INSTANCE_ID"], "1");
    assert_eq!(p["HTTPS"], "off");
    assert_eq!(p["SERVER_SOFTWARE"], "Microsoft-IIS/10.0");
    assert_eq!(p["SERVER_PORT"], "80");
    assert_eq!(p["QUERY_STRING"], "x=1");
    assert_eq!(p["HTTP_X_DUP"], "1,2", "repeated headers joined");
    assert_eq!(p["CONTENT_LENGTH"], "0");
    let root = sim.machine.root().display().to_string();
    assert_eq!(
        p["APPL_PHYSICAL_PATH"],
        format!("{root}/C/inetpub/wwwroot/")
    );
    // Second request on the same process: id 2; records as IIS sends them.
    assert_eq!(v["id"], 2);
    assert_eq!(
        v["records"].to_string(),
        format!(
            "[[\"BEGIN\",8,1,1],[\"PARAMS\",{}],[\"PARAMS\",0],[\"STDIN\",0]]",
            v["records"][1][1]
        )
    );
    // A body streamed in STDIN records, then the empty one.
    let body = vec![7u8; 300_000];
    let r = http(&sim.base, "POST", "/size", &[], &body);
    assert_eq!(r.text(), "300000");
    // 1 MiB in 16 STDOUT records of 64 KiB, streamed or buffered the same.
    let r = http(&sim.base, "GET", "/big", &[], b"");
    assert_eq!(r.body.len(), 1 << 20);
    // Header names on the wire in IIS's Title-Case.
    let mut s = std::net::TcpStream::connect(sim.base.trim_start_matches("http://")).unwrap();
    s.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
    for name in ["Content-Type: ", "Server: Microsoft-IIS/10.0", "Date: "] {
        assert!(head.contains(name), "{name:?} in {head}");
    }
}

#[test]
fn routing_apps_handlers_and_static_files() {
    let (dir, m, sp) = machine_with_app("", "");
    // /app: its own application whose web.config names no registered pool.
    let out = iiswsgi_sim::appcmd::run(
        &m,
        &[
            "add",
            "app",
            "/site.name:Default Web Site",
            "/path:/App",
            "/physicalPath:C:\\sites\\app",
        ]
        .map(String::from),
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    write_web_config(
        &m,
        "C:\\sites\\app",
        "C:\\Python311\\python.exe|nothing.py",
        "",
    );
    // /static: a folder whose web.config removes the FastCGI handler.
    let st = m.host_path("C:\\inetpub\\wwwroot\\static").unwrap();
    std::fs::create_dir_all(&st).unwrap();
    std::fs::write(st.join("index.htm"), "<p>static</p>").unwrap();
    std::fs::write(
        st.join("web.config"),
        "<configuration><system.webServer><handlers><remove name=\"Fake FastCGI\"/></handlers><fastCgi><application fullPath=\"x.exe\"/></fastCgi></system.webServer></configuration>",
    )
    .unwrap();
    let sim = serve(dir, m, 1000);
    let _ = sp;

    let r = http(&sim.base, "GET", "/app/x", &[], b"");
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains(
            "scriptProcessor could not be found in &lt;fastCGI&gt; application configuration"
        ),
        "{}",
        r.text()
    );
    assert!(r.text().contains("0x80070585"));
    assert!(!log_lines("0x80070585").is_empty());

    let r = http(&sim.base, "GET", "/static", &[], b"");
    assert_eq!((r.status, r.header("Location")), (301, Some("/static/")));
    let r = http(&sim.base, "GET", "/Static/", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "<p>static</p>"));
    assert!(!log_lines("<fastCgi> is ignored in a web.config").is_empty());
    let r = http(&sim.base, "GET", "/static/missing.txt", &[], b"");
    assert_eq!(r.status, 404);
}

#[test]
fn environment_and_w3c_log_snapshots() {
    let (dir, m, _) = machine_with_app(",signalBeforeTerminateSeconds='1'", "");
    let out = iiswsgi_sim::appcmd::run(
        &m,
        &[
            "set",
            "config",
            "-section:system.webServer/fastCgi",
            &format!("/+[fullPath='C:\\Python311\\python.exe',arguments='{}'].environmentVariables.[name='PHP_FCGI_MAX_REQUESTS',value='10000']", crate::support::fake_app().display()),
            "/commit:apphost",
        ]
        .map(String::from),
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    let sim = serve(dir, m, 1000);
    let r = http(
        &sim.base,
        "GET",
        "/environ",
        &[("User-Agent", "test agent/1.0")],
        b"",
    );
    assert_eq!(r.status, 200);
    let root = sim.machine.root().display().to_string();
    let path = std::env::var("PATH").unwrap_or_default();
    let root_re = regex_escape(&root);
    let path_re = format!("(?m)^PATH={}$", regex_escape(&path));
    insta::with_settings!({filters => vec![
        (root_re.as_str(), "[ROOT]"),
        (path_re.as_str(), "PATH=[HOST PATH]"),
        (r"IISFCGI-[0-9a-f-]+", "IISFCGI-[UUID]"),
        (r"_FCGI_SHUTDOWN_EVENT_=\d+", "_FCGI_SHUTDOWN_EVENT_=[HANDLE]"),
    ]}, {
        insta::assert_snapshot!("environment_of_a_fastcgi_process", r.text());
    });
    let _ = http(
        &sim.base,
        "GET",
        "/missing-route?q=1",
        &[("Referer", "http://x/")],
        b"",
    );
    let _ = http(&sim.base, "POST", "/size", &[], b"abc");
    // The header (4 lines) and the three requests.
    let text = w3c_log(&sim.machine, |t| t.lines().count() >= 7).replace("\r\n", "\n");
    insta::with_settings!({filters => vec![
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[DATE TIME]"),
        (r"(?m) \d+$", " [TIME-TAKEN]"),
    ]}, {
        insta::assert_snapshot!("w3c_log", text.lines().map(std::borrow::ToOwned::to_owned).collect::<Vec<_>>().join("\n"));
    });
}

#[test]
fn expect_100_continue_chunked_bodies_and_keep_alive() {
    use std::io::{Read, Write};
    let (dir, m, _) = machine_with_app("", "");
    let sim = serve(dir, m, 1000);
    let mut s = std::net::TcpStream::connect(sim.base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    s.write_all(b"POST /size HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 25];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    // The same connection again, with a chunked body, then Connection: close.
    s.write_all(b"POST /size HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    // Bodies of unknown length go out chunked: "5" then "7".
    assert!(text.contains("\r\n\r\n1\r\n5\r\n0\r\n\r\n"), "{text}");
    assert!(text.contains("\r\n\r\n1\r\n7\r\n0\r\n\r\n"), "{text}");
}

#[test]
fn stopping_leaves_no_process_behind() {
    let (dir, m, _) = machine_with_app(",maxInstances='2',signalBeforeTerminateSeconds='1'", "");
    let sim = serve(dir, m, 200);
    let pid: u32 = http(&sim.base, "GET", "/pid", &[], b"")
        .text()
        .parse()
        .unwrap();
    assert!(alive(pid));
    drop(sim);
    assert!(!alive(pid), "process {pid} survived the simulator");
}

#[test]
fn instance_max_requests_and_config_change_recycle() {
    let (dir, m, _) = machine_with_app(",instanceMaxRequests='2'", "");
    let sim = serve(dir, m, 1000);
    let a = http(&sim.base, "GET", "/pid", &[], b"").text();
    let b = http(&sim.base, "GET", "/pid", &[], b"").text();
    let c = http(&sim.base, "GET", "/pid", &[], b"").text();
    assert_eq!(a, b);
    assert_ne!(b, c, "recycled after instanceMaxRequests=2");
    let out = iiswsgi_sim::appcmd::run(
        &sim.machine,
        &[
            "set",
            "config",
            "-section:system.webServer/fastCgi",
            &format!(
                "/[fullPath='C:\\Python311\\python.exe',arguments='{}'].instanceMaxRequests:100",
                crate::support::fake_app().display()
            ),
            "/commit:apphost",
        ]
        .map(String::from),
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let d = http(&sim.base, "GET", "/pid", &[], b"").text();
    assert_ne!(c, d, "a changed <fastCgi> entry recycles the pool");
    assert!(!log_lines("its <fastCgi> entry changed").is_empty());
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A web.config's `<location path="static">` (Django's `STATIC_ROOT` handed to
/// IIS) applies at that folder: its handlers replace the inherited `FastCGI`
/// handler there, and `StaticFileModule` answers with its validators.
#[test]
fn a_web_config_location_hands_a_folder_to_static_file() {
    let (dir, m, sp) = machine_with_app("", "");
    let wwwroot = m.host_path("C:\\inetpub\\wwwroot").unwrap();
    let text = std::fs::read_to_string(wwwroot.join("web.config")).unwrap();
    let location = r#"  <location path="static">
    <system.webServer>
      <handlers>
        <clear />
        <add name="StaticFile" path="*" verb="*" modules="StaticFileModule" resourceType="Either" requireAccess="Read" />
      </handlers>
    </system.webServer>
  </location>
  <location path="media"><system.webServer><handlers><clear /></handlers></system.webServer></location>
</configuration>"#;
    std::fs::write(
        wwwroot.join("web.config"),
        text.replace("</configuration>", location),
    )
    .unwrap();
    std::fs::create_dir_all(wwwroot.join("static/css")).unwrap();
    std::fs::write(wwwroot.join("static/css/base.css"), "body { margin: 0 }").unwrap();
    std::fs::create_dir_all(wwwroot.join("staticx/css")).unwrap();
    std::fs::write(wwwroot.join("staticx/css/base.css"), "body { margin: 0 }").unwrap();
    let sim = serve(dir, m, 1000);
    let _ = sp;

    let r = http(&sim.base, "GET", "/Static/css/base.css", &[], b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "body { margin: 0 }"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("Content-Type"), Some("text/css"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    let etag = r.header("ETag").unwrap_or_default().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with(":0\""), "{etag}");
    assert!(r
        .header("Last-Modified")
        .is_some_and(|d| d.ends_with(" GMT")));
    // Outside the location the application still answers.
    let r = http(&sim.base, "GET", "/hello", &[], b"");
    assert!(r.text().starts_with("hello from pid"), "{}", r.text());
    // A folder whose name merely starts with the location's is not under it.
    let r = http(&sim.base, "GET", "/staticx/css/base.css", &[], b"");
    assert!(r.header("ETag").is_none(), "{}", r.text());
    // A location whose handlers are cleared: no handler, 404.4.
    let r = http(&sim.base, "GET", "/media/x.png", &[], b"");
    assert_eq!(r.status, 404, "{}", r.text());
    // The application's own 404 is not StaticFile's.
    let r = http(&sim.base, "GET", "/static/missing.css", &[], b"");
    assert_eq!(r.status, 404);
    assert!(r.header("ETag").is_none());
}
