//! The simulated IIS machine through the installed command line: `sim new`,
//! `sim appcmd` in several processes at once, and the real (Windows)
//! backend's code driving the machine's appcmd shim, compared with the
//! simulated backend's in-process emulator.

use std::path::{Path, PathBuf};
use std::process::Command;

use iiswsgi_harness::context::TestContext;
use iiswsgi_harness::{iiswsgi_snapshot, python};

fn new_machine(ctx: &TestContext, extra: &[&str]) -> PathBuf {
    let root = ctx.path("root");
    let mut args = vec!["sim", "new"];
    let r = root.display().to_string();
    args.push(&r);
    args.extend_from_slice(extra);
    let out = ctx.iiswsgi(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    root
}

#[test]
fn sim_new_and_appcmd_transcripts() {
    let ctx = TestContext::new();
    let root = ctx.path("root");
    let r = root.display().to_string();
    iiswsgi_snapshot!(ctx.filters(), ctx.iiswsgi(&["sim", "new", &r]));
    iiswsgi_snapshot!(
        ctx.filters(),
        ctx.iiswsgi(&["sim", "appcmd", "--root", &r, "list", "sites"])
    );
    let mut env_root = ctx.iiswsgi(&[
        "sim",
        "appcmd",
        "add",
        "app",
        "/site.name:Default Web Site",
        "/path:/app",
        "/physicalPath:C:\\inetpub\\wwwroot\\app",
    ]);
    env_root.env("IISWSGI_SIM_ROOT", &root);
    iiswsgi_snapshot!(ctx.filters(), env_root);
    iiswsgi_snapshot!(
        ctx.filters(),
        ctx.iiswsgi(&[
            "sim",
            "appcmd",
            "--root",
            &r,
            "add",
            "app",
            "/site.name:Nope",
            "/path:/x"
        ])
    );
    iiswsgi_snapshot!(
        ctx.filters(),
        ctx.iiswsgi(&[
            "sim",
            "appcmd",
            "--root",
            "/nonexistent/root",
            "list",
            "sites"
        ])
    );
    iiswsgi_snapshot!(ctx.filters(), ctx.iiswsgi(&["sim", "new", &r]));
}

#[test]
fn eight_appcmd_processes_at_once_lose_nothing() {
    let ctx = TestContext::new();
    let root = new_machine(&ctx, &[]);
    let children: Vec<_> = (0..8)
        .map(|i| {
            Command::new(python())
                .args(["-m", "iiswsgi", "sim", "appcmd", "--root"])
                .arg(&root)
                .args(["set", "config", "-section:system.webServer/fastCgi"])
                .arg(format!(
                    "/+[fullPath='C:\\p{i}\\python.exe',arguments='-m iiswsgi serve app:app']"
                ))
                .arg("/commit:apphost")
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let host = iiswsgi_iisconfig::ApplicationHost::load(
        &root.join("C/Windows/System32/inetsrv/config/applicationHost.config"),
    )
    .unwrap();
    assert_eq!(host.fastcgi_applications().unwrap().len(), 8);
}

/// appcmd's exit code and output. A Unix process exit status holds 8 bits,
/// so through the shim (a process) 1168 arrives as 144: codes are compared
/// modulo 256 (on Windows appcmd.exe's 32-bit code arrives whole).
fn run(p: &iiswsgi_deploy::install::Platform, args: &[&str]) -> (i32, String) {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let out = p.appcmd(&args).unwrap();
    (out.code & 0xFF, out.stdout)
}

#[test]
fn the_windows_backend_through_the_shim_matches_the_simulated_backend() {
    for express in [false, true] {
        let ctx = TestContext::new();
        let root = new_machine(&ctx, if express { &["--iis-express"] } else { &[] });
        let shim = if express {
            "C/Program Files/IIS Express/appcmd.exe"
        } else {
            "C/Windows/System32/inetsrv/appcmd.exe"
        };
        let windows = iiswsgi_deploy::install::windows::platform(Some(root.join(shim)));
        let sim = iiswsgi_sim::platform::platform(Path::new(&root)).unwrap();
        let sites = [
            "list",
            "config",
            "/section:system.applicationHost/sites",
            "/xml",
        ];
        assert_eq!(run(&windows, &sites), run(&sim, &sites));
        let add = [
            "set",
            "config",
            "-section:system.webServer/fastCgi",
            "/+[fullPath='C:\\sites\\app\\.venv\\Scripts\\python.exe',arguments='-m iiswsgi serve app:app',signalBeforeTerminateSeconds='30']",
            "/commit:apphost",
        ];
        let list = ["list", "config", "/section:fastCgi", "/xml"];
        let (code, text) = run(&windows, &add);
        assert_eq!(code, 0, "{text}");
        let through_windows = run(&windows, &list);
        assert_eq!(through_windows, run(&sim, &list));
        assert!(through_windows
            .1
            .contains("signalBeforeTerminateSeconds=\"30\""));
        assert_eq!(
            run(&sim, &add).0,
            183,
            "a duplicate is refused the same way"
        );
        assert_eq!(run(&windows, &add).0, 183);
        let remove = ["set", "config", "-section:system.webServer/fastCgi", "/-[fullPath='C:\\sites\\app\\.venv\\Scripts\\python.exe',arguments='-m iiswsgi serve app:app']", "/commit:apphost"];
        assert_eq!(run(&sim, &remove).0, 0);
        assert_eq!(run(&windows, &list), run(&sim, &list));
        assert_eq!(run(&windows, &remove), run(&sim, &remove));
    }
}
