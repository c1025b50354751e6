//! A real nginx (Debian's package) in front of `iiswsgi serve --bind unix:…`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iiswsgi_harness::{wait_output, ChildGuard, GatewayCommand};
use tempfile::TempDir;

use crate::tmp;

struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("nginx is not installed: ci/test.sh installs it (apt-get install nginx-light)");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Nginx {
    fn start(dir: &Path, sock: &Path) -> Nginx {
        let port = free_port();
        let conf = format!(
            r#"{user}
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    fastcgi_temp_path {dir}/fastcgi;
    proxy_temp_path {dir}/proxy;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size 0;
    upstream gateway {{
        server unix:{sock};
        keepalive 4;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_NAME "";
            fastcgi_param PATH_INFO $uri;
            fastcgi_keep_conn on;
            fastcgi_request_buffering off;
            fastcgi_buffering off;
            fastcgi_pass gateway;
        }}
    }}
}}
"#,
            user = if is_root() { "user root;" } else { "" },
            dir = dir.display(),
            sock = sock.display(),
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "nginx did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    fn http(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        http(self.port, method, path, body)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

/// An HTTP/1.0 exchange (the body ends with the connection).
fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_mins(1))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            w.write_all(head.as_bytes())?;
            w.write_all(&body)
        });
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        writer.join().unwrap().unwrap();
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        (status, headers, raw[end + 4..].to_vec())
    }
}

fn setup() -> (TempDir, ChildGuard, Nginx) {
    let dir = tmp();
    let sock = dir.path().join("gw.sock");
    let gw = GatewayCommand::serve(&["conformance:validated_app"], &dir.path().join("gw.log"))
        .spawn_bind(&sock)
        .expect("gateway listens");
    let nginx = Nginx::start(dir.path(), &sock);
    (dir, gw, nginx)
}

#[test]
fn nginx_small_streamed_and_upload() {
    let (dir, mut gw, nginx) = setup();

    let (status, headers, body) = nginx.http("GET", "/hello", vec![]);
    assert_eq!((status, body.as_slice()), (200, &b"Hello, World!"[..]));
    assert!(headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v == "text/plain"));

    let (status, _, body) = nginx.http("GET", "/stream?size=1048576&chunk=65536", vec![]);
    assert_eq!(status, 200);
    assert_eq!(body.len(), 1 << 20);
    assert!(body.iter().all(|&b| b == b'x'));

    let upload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let (status, _, body) = nginx.http("POST", "/echo-all", upload.clone());
    assert_eq!(status, 200);
    assert!(
        body == upload,
        "echo of 3 MB differs: {} bytes back\nnginx:\n{}\ngateway:\n{}",
        body.len(),
        nginx.error_log(),
        std::fs::read_to_string(dir.path().join("gw.log")).unwrap_or_default()
    );

    // Several clients at once over the kept-alive upstream connections.
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let port = nginx.port;
            std::thread::spawn(move || http(port, "GET", "/hello", vec![]))
        })
        .collect();
    for h in handles {
        let (status, _, body) = h.join().unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"Hello, World!"[..]));
    }

    let errors = nginx.error_log();
    assert!(
        !errors.contains("upstream sent") && !errors.contains("[error]"),
        "nginx complained:\n{errors}"
    );

    // SIGTERM: exits 0.
    let pid = gw.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let (status, _, stderr) = wait_output(&mut gw, Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    drop(dir);
}
