//! The Platform seam: backend resolution and the real Windows backend's parts,
//! run on this OS (appcmd replaced by a stub script where it cannot run).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use iiswsgi_deploy::install::windows::{HostMachine, IisHttpSmoke};
use iiswsgi_deploy::install::{Backend, Machine, SmokeClient, SmokeTarget, Source};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

/// A folder with `system32/inetsrv/appcmd.exe` (a stub), to serve as %windir%.
fn fake_windir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let inetsrv = dir.path().join("system32/inetsrv");
    std::fs::create_dir_all(&inetsrv).unwrap();
    std::fs::write(inetsrv.join("appcmd.exe"), "").unwrap();
    dir
}

#[test]
fn backend_precedence_command_line_then_environment_then_auto() {
    let windir = fake_windir();
    let w = windir.path().to_str().unwrap();
    let appcmd = windir.path().join("system32/inetsrv/appcmd.exe");
    let sim = Backend::Sim {
        root: PathBuf::from("/sim"),
    };
    type Row<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>, Backend, Source);
    let table: Vec<Row> = vec![
        (
            None,
            vec![],
            Backend::None {
                reason: String::new(),
            },
            Source::Auto,
        ),
        (
            None,
            vec![("IISWSGI_SIM_ROOT", "/sim")],
            sim.clone(),
            Source::Auto,
        ),
        (
            None,
            vec![("windir", w), ("IISWSGI_SIM_ROOT", "/sim")],
            Backend::Windows {
                appcmd: appcmd.clone(),
            },
            Source::Auto,
        ),
        (
            None,
            vec![
                ("windir", w),
                ("IISWSGI_SIM_ROOT", "/sim"),
                ("IISWSGI_BACKEND", "sim"),
            ],
            sim.clone(),
            Source::Environment,
        ),
        (
            Some("windows"),
            vec![
                ("windir", w),
                ("IISWSGI_SIM_ROOT", "/sim"),
                ("IISWSGI_BACKEND", "sim"),
            ],
            Backend::Windows {
                appcmd: appcmd.clone(),
            },
            Source::CommandLine,
        ),
        (
            Some("none"),
            vec![("windir", w)],
            Backend::None {
                reason: String::new(),
            },
            Source::CommandLine,
        ),
        (
            Some("auto"),
            vec![("IISWSGI_BACKEND", "windows"), ("IISWSGI_SIM_ROOT", "/sim")],
            sim.clone(),
            Source::CommandLine,
        ),
    ];
    for (cli, vars, want, source) in table {
        let got = Backend::resolve(cli, &env(&vars)).unwrap();
        assert_eq!(got.source, source, "{cli:?} {vars:?}");
        match (&got.backend, &want) {
            (Backend::None { .. }, Backend::None { .. }) => {}
            (g, w) => assert_eq!(g, w, "{cli:?} {vars:?}"),
        }
    }
}

#[test]
fn backend_errors_name_the_setting_and_the_fix() {
    let e = Backend::resolve(Some("windows"), &env(&[("windir", "/nowhere")]))
        .unwrap_err()
        .to_string();
    // The path is joined with this OS's separator.
    let looked = std::path::Path::new("/nowhere")
        .join("system32")
        .join("inetsrv")
        .join("appcmd.exe");
    assert_eq!(e, format!("--backend asks for the windows IIS backend, but no appcmd.exe was found (looked at: {}); install IIS's management tools", looked.display()));
    let e = Backend::resolve(None, &env(&[("IISWSGI_BACKEND", "sim")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "IISWSGI_BACKEND asks for the sim IIS backend, but IISWSGI_SIM_ROOT is not set"
        ),
        "{e}"
    );
    let e = Backend::resolve(Some("iis-express"), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown IIS backend \"iis-express\": use auto, windows, sim or none"),
        "{e}"
    );
    let none = Backend::resolve(None, &env(&[("windir", "/nowhere")])).unwrap();
    let Backend::None { reason } = none.backend else {
        panic!("{none:?}")
    };
    assert!(
        reason.contains(&looked.display().to_string()) && reason.contains("IISWSGI_SIM_ROOT"),
        "{reason}"
    );
}

// Unix only: the stand-in appcmd.exe is a /bin/sh script (Windows runs an
// .exe by that name only); on Windows, ci/windows.sh drives the real calls.
#[cfg(unix)]
#[test]
fn the_windows_backend_drives_appcmd_with_the_argument_list_verbatim() {
    use iiswsgi_deploy::install::windows;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("appcmd.exe");
    std::fs::write(
        &stub,
        "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\ncase \"$1\" in add) echo 'ERROR ( message:Cannot add duplicate collection entry )'; exit 183;; esac\n",
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = windows::platform(Some(stub.clone()));
    assert_eq!(p.name, "windows");
    let args: Vec<String> = [
        "set",
        "config",
        "-section:system.webServer/fastCgi",
        "/+[fullPath='C:\\a b\\python.exe',arguments='-m iiswsgi serve \"x\"']",
        "/commit:apphost",
    ]
    .map(String::from)
    .to_vec();
    let out = p.appcmd(&args).unwrap();
    assert!(out.success());
    assert_eq!(out.stdout, "[set]\n[config]\n[-section:system.webServer/fastCgi]\n[/+[fullPath='C:\\a b\\python.exe',arguments='-m iiswsgi serve \"x\"']]\n[/commit:apphost]\n");
    let out = p.appcmd(&["add".to_owned(), "site".to_owned()]).unwrap();
    assert_eq!(out.code, 183);
    assert!(out
        .stdout
        .ends_with("ERROR ( message:Cannot add duplicate collection entry )\n"));
    let none = windows::platform(None);
    assert_eq!(none.name, "none");
    let e = none.appcmd(&args).unwrap_err().to_string();
    assert!(e.starts_with("no IIS on this machine"), "{e}");
}

// Unix only: the child is /bin/sh with a shell script.
#[cfg(unix)]
#[test]
fn the_process_runner_streams_lines_and_returns_the_exit_code() {
    use iiswsgi_deploy::install::windows::ProcessRunner;
    use iiswsgi_deploy::install::{CommandRunner, CommandSpec};
    let mut cmd = CommandSpec::new("/bin/sh")
        .arg("-c")
        .arg("echo one; echo two >&2; echo \"$X\"; exit 3");
    cmd.env.push(("X".into(), "three".into()));
    let mut lines = Vec::new();
    let code = ProcessRunner
        .run(&cmd, &mut |l| lines.push(l.to_owned()))
        .unwrap();
    assert_eq!(code, 3);
    lines.sort();
    assert_eq!(lines, ["one", "three", "two"]);
    let e = ProcessRunner
        .run(&CommandSpec::new("/no/such/program"), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cannot run /no/such/program"), "{e}");
}

#[test]
fn the_iis_smoke_test_requests_the_site_binding() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            req.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 302 Found\r\nLocation: /app/login\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").unwrap();
        String::from_utf8(req).unwrap()
    });
    let target = SmokeTarget {
        site: "Default Web Site".into(),
        binding: ("http".into(), format!("*:{port}:")),
        app_path: "/app".into(),
        url_path: "/app/".into(),
        physical_path: "C:\\inetpub\\wwwroot\\app".into(),
        full_path: "C:\\py.exe".into(),
        arguments: String::new(),
        environment: vec![],
    };
    let resp = IisHttpSmoke {
        timeout: std::time::Duration::from_secs(10),
    }
    .request(&target)
    .unwrap();
    assert_eq!(resp.status, 302);
    assert_eq!(resp.body, b"hello world");
    let req = server.join().unwrap();
    assert!(
        req.starts_with("GET /app/ HTTP/1.1\r\nHost: localhost\r\n"),
        "{req}"
    );
    let https = SmokeTarget {
        binding: ("https".into(), "*:443:".into()),
        ..target
    };
    let e = IisHttpSmoke {
        timeout: std::time::Duration::from_secs(1),
    }
    .request(&https)
    .unwrap_err()
    .to_string();
    assert!(e.contains("the smoke test needs an http binding"), "{e}");
}

#[test]
fn the_host_machine_expands_percent_variables() {
    std::env::set_var("IISWSGI_PLATFORM_TEST", "C:\\x");
    assert_eq!(
        HostMachine.expand("%iiswsgi_platform_test%\\a;%NOPE_UNSET%;100%"),
        "C:\\x\\a;%NOPE_UNSET%;100%"
    );
    assert_eq!(
        HostMachine.host_path("%IISWSGI_PLATFORM_TEST%"),
        PathBuf::from("C:\\x")
    );
}
