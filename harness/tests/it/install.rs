//! `iiswsgi install` on a simulated machine, with the application's files
//! laid out as Web Deploy lays them out (the package built by `iiswsgi
//! package`, its application folder extracted into the site): real
//! virtualenvs, real pip installs (iiswsgi from the wheel `ci/setup.sh`
//! keeps in target/wheels), the registration through the appcmd emulator,
//! and the smoke test through the gateway started as IIS starts it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use iiswsgi_harness::context::TestContext;
use iiswsgi_harness::{copy_fixture, python, repo_root};

struct Machine {
    ctx: TestContext,
    root: PathBuf,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run_ok(mut c: Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

impl Machine {
    fn new(express: bool) -> Machine {
        let mut ctx = TestContext::new();
        let root = ctx.path("root");
        let r = root.display().to_string();
        let mut args = vec!["sim", "new", r.as_str()];
        if express {
            args.push("--iis-express");
        }
        run_ok(ctx.iiswsgi(&args));
        ctx.add_path_filter(&root, "[ROOT]");
        Machine { ctx, root }
    }

    fn appcmd(&self, args: &[&str]) -> Output {
        let r = self.root.display().to_string();
        let mut all = vec!["sim", "appcmd", "--root", r.as_str()];
        all.extend_from_slice(args);
        self.ctx.iiswsgi(&all).output().unwrap()
    }

    /// Packages `fixture` (after `edit`), extracts its application folder to
    /// `folder` under the site's root (`wwwroot` or `My Web Sites\WebSite1`)
    /// and adds it as application `/name`; returns the host folder.
    fn deploy(&self, fixture: &str, site: &str, folder: &str, edit: &dyn Fn(&Path)) -> PathBuf {
        let src = self.ctx.path(&format!("src-{folder}"));
        copy_fixture(fixture, &src);
        edit(&src);
        let out = run_ok(self.ctx.iiswsgi(&["package", &src.display().to_string()]));
        let zip = text(&out.stdout).lines().last().unwrap().to_owned();
        let (win_base, host_base) = if site == "Default Web Site" {
            (
                "C:\\inetpub\\wwwroot".to_owned(),
                self.root.join("C/inetpub/wwwroot"),
            )
        } else {
            (
                "C:\\Users\\Administrator\\Documents\\My Web Sites\\WebSite1".to_owned(),
                self.root
                    .join("C/Users/Administrator/Documents/My Web Sites/WebSite1"),
            )
        };
        let dest = host_base.join(folder);
        let script = "import sys, zipfile, os\nz = zipfile.ZipFile(sys.argv[1])\nroot = [n for n in z.namelist() if '/' in n][0].split('/')[0]\nfor n in z.namelist():\n    if n.startswith(root + '/') and not n.endswith('/'):\n        t = os.path.join(sys.argv[2], n[len(root) + 1:])\n        os.makedirs(os.path.dirname(t), exist_ok=True)\n        open(t, 'wb').write(z.read(n))\n";
        run_ok({
            let mut c = Command::new(python());
            c.args(["-c", script]).arg(&zip).arg(&dest);
            c
        });
        let out = self.appcmd(&[
            "add",
            "app",
            &format!("/site.name:{site}"),
            &format!("/path:/{folder}"),
            &format!("/physicalPath:{win_base}\\{folder}"),
        ]);
        assert!(out.status.success(), "{}", text(&out.stdout));
        dest
    }

    fn install(&self, args: &[&str]) -> Output {
        let mut all = vec!["install"];
        all.extend_from_slice(args);
        let mut c = self.ctx.iiswsgi(&all);
        c.env("IISWSGI_SIM_ROOT", &self.root)
            .env("PIP_FIND_LINKS", repo_root().join("target/wheels"))
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
        c.output().unwrap()
    }

    fn fastcgi(&self) -> String {
        text(
            &self
                .appcmd(&["list", "config", "-section:system.webServer/fastCgi"])
                .stdout,
        )
    }

    fn filtered(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for (re, rep) in self.ctx.filters() {
            out = regex::Regex::new(re)
                .unwrap()
                .replace_all(&out, rep)
                .into_owned();
        }
        out
    }
}

fn stderr_of(o: &Output) -> String {
    text(&o.stderr)
}

#[test]
fn hello_installs_end_to_end_then_uninstalls() {
    let m = Machine::new(false);
    let app = m.deploy("hello_app", "Default Web Site", "hello-app", &|_| {});
    assert!(
        app.join("iis_install.stamp").is_file(),
        "Web Deploy's layout carries the stamp"
    );
    let out = m.install(&["--app-name", "hello-app", "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["smoke_status"], 200, "{v}");
    assert_eq!(v["backend"], "sim");
    assert_eq!(v["site"], "Default Web Site");
    assert_eq!(v["app_path"], "/hello-app");
    assert!(
        !app.join("iis_install.stamp").exists(),
        "the stamp is consumed on success"
    );
    let log = std::fs::read_to_string(app.join("iiswsgi-install.log")).unwrap();
    assert!(
        log.contains("smoke test: /hello-app/ answered 200"),
        "{log}"
    );
    let web = std::fs::read_to_string(app.join("web.config")).unwrap();
    insta::assert_snapshot!("hello_web_config", m.filtered(&web));
    insta::assert_snapshot!("hello_fastcgi_after_install", m.filtered(&m.fastcgi()));

    // Installed already: without --ignore-stamp there is nothing to do.
    let again = m.install(&["--app-name", "hello-app"]);
    assert_eq!(again.status.code(), Some(1));
    let e = stderr_of(&again);
    assert!(
        e.contains("no application to install was found") && e.contains("no iis_install.stamp"),
        "{e}"
    );
    // A re-install reuses the virtualenv and replaces the registration.
    let re = m.install(&["--app-name", "hello-app", "--ignore-stamp"]);
    assert!(re.status.success(), "{}", stderr_of(&re));
    assert!(stderr_of(&re).contains("reusing the virtualenv"));
    assert_eq!(m.fastcgi().matches("<application ").count(), 1);

    let un = m
        .ctx
        .iiswsgi(&["uninstall", &app.display().to_string()])
        .env("IISWSGI_SIM_ROOT", &m.root)
        .output()
        .unwrap();
    assert!(un.status.success(), "{}", stderr_of(&un));
    insta::assert_snapshot!("hello_fastcgi_after_uninstall", m.filtered(&m.fastcgi()));
}

#[test]
fn iis_express_install_and_a_registration_in_another_letter_case() {
    let m = Machine::new(true);
    let app = m.deploy("hello_app", "WebSite1", "hello-app", &|_| {});
    // The same key registered earlier in another letter case is replaced, not duplicated.
    let venv_win = "C:\\USERS\\Administrator\\Documents\\My Web Sites\\WebSite1\\hello-app\\.venv\\Scripts\\PYTHON.EXE";
    let pre = m.appcmd(&[
        "set",
        "config",
        "-section:system.webServer/fastCgi",
        &format!("/+[fullPath='{venv_win}',arguments='-m iiswsgi serve hello_app:app']"),
        "/commit:apphost",
    ]);
    assert!(pre.status.success(), "{}", text(&pre.stdout));
    let out = m.install(&["--app-name", "hello-app"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let e = stderr_of(&out);
    assert!(e.contains("replacing the registration"), "{e}");
    assert_eq!(
        m.fastcgi().matches("<application ").count(),
        1,
        "{}",
        m.fastcgi()
    );
    assert!(app.join("web.config").is_file());
}

#[test]
fn two_stamped_candidates_install_the_newest_and_name_the_others() {
    let m = Machine::new(false);
    m.deploy("hello_app", "Default Web Site", "first", &|_| {});
    m.deploy("hello_app", "Default Web Site", "second", &|_| {});
    let out = m.install(&["--no-smoke-test"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let e = stderr_of(&out);
    assert!(
        e.contains(
            "installing the newest, Default Web Site/second; the others: Default Web Site/first"
        ),
        "{e}"
    );
    // --app-name narrows to the project's name (PEP 503 comparison).
    let named = m.install(&["--app-name", "HELLO_APP", "--no-smoke-test"]);
    assert!(named.status.success(), "{}", stderr_of(&named));
    assert!(
        stderr_of(&named).contains("wwwroot/first"),
        "{}",
        stderr_of(&named)
    );
}

#[test]
fn failures_say_what_to_fix_and_a_fixed_rerun_succeeds() {
    let m = Machine::new(false);
    // An application that fails to import: the smoke test shows the traceback.
    let app = m.deploy("hello_app", "Default Web Site", "broken", &|src: &Path| {
        let p = src.join("web.config.in");
        let t = std::fs::read_to_string(&p)
            .unwrap()
            .replace("hello_app:app", "hello_app.nope:app");
        std::fs::write(p, t).unwrap();
    });
    let out = m.install(&["--app-name", "hello-app"]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr_of(&out);
    assert!(
        e.contains("the smoke test of /broken/ got status 500"),
        "{e}"
    );
    assert!(e.contains("no module named \"hello_app.nope\""), "{e}");
    assert!(
        app.join("iis_install.stamp").is_file(),
        "a failed install leaves the stamp"
    );
    // Fixed on the server, the same command succeeds.
    let p = app.join("web.config.in");
    let t = std::fs::read_to_string(&p)
        .unwrap()
        .replace("hello_app.nope:app", "hello_app:app");
    std::fs::write(p, t).unwrap();
    let out = m.install(&["--app-name", "hello-app"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        app.join("web.config.bak").is_file(),
        "the previous web.config is kept"
    );
}

#[test]
fn a_missing_dependency_fails_the_install_naming_the_step() {
    let m = Machine::new(false);
    let app = m.deploy("hello_app", "Default Web Site", "deps", &|src: &Path| {
        let p = src.join("pyproject.toml");
        let t = std::fs::read_to_string(&p).unwrap().replace(
            "dependencies = [\"iiswsgi\"]",
            "dependencies = [\"iiswsgi\", \"iiswsgi-test-no-such-distribution\"]",
        );
        std::fs::write(p, t).unwrap();
    });
    let out = m.install(&["--app-name", "hello-app"]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr_of(&out);
    assert!(
        e.contains("installing the dependencies failed") && e.contains("iiswsgi-install.log"),
        "{e}"
    );
    let log = std::fs::read_to_string(app.join("iiswsgi-install.log")).unwrap();
    assert!(log.contains("iiswsgi-test-no-such-distribution"), "{log}");
}

#[test]
fn an_ampersand_in_the_path_keeps_web_config_well_formed() {
    let m = Machine::new(false);
    let app = m.deploy("hello_app", "Default Web Site", "a&b", &|_| {});
    let out = m.install(&["--app-name", "hello-app", "--no-smoke-test"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let web = std::fs::read_to_string(app.join("web.config")).unwrap();
    assert!(web.contains("a&amp;b\\.venv\\Scripts\\python.exe"), "{web}");
    iiswsgi_iisconfig::WebConfig::parse(&app.join("web.config"), &web).unwrap();
}

#[test]
fn without_iis_the_steps_that_need_none_run_and_the_exit_status_says_so() {
    let ctx = TestContext::new();
    let dir = ctx.path("app");
    copy_fixture("hello_app", &dir);
    let mut c = ctx.iiswsgi(&[
        "install",
        "--backend",
        "none",
        "--app-dir",
        &dir.display().to_string(),
        "--no-smoke-test",
    ]);
    c.env("PIP_FIND_LINKS", repo_root().join("target/wheels"));
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("no IIS on this machine: the FastCGI registration is skipped"));
    assert!(dir.join("web.config").is_file());
}

#[test]
fn hooks_run_in_the_virtualenv_and_a_failing_hook_fails_the_install() {
    let m = Machine::new(false);
    let app = m.deploy("hello_app", "Default Web Site", "hooks", &|src: &Path| {
        let p = src.join("pyproject.toml");
        let t = std::fs::read_to_string(&p).unwrap()
            + "\n[tool.iiswsgi.install]\nbefore = [\"python -c \\\"import sys, os; open('before.txt', 'w').write(sys.prefix + '|' + os.environ['APPL_PHYSICAL_PATH'])\\\"\"]\nafter = [\"echo migrating && exit 3\"]\n";
        std::fs::write(p, t).unwrap();
    });
    let out = m.install(&["--app-name", "hello-app", "--no-smoke-test"]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr_of(&out);
    assert!(
        e.contains("the [tool.iiswsgi.install] after hook \"echo migrating && exit 3\" failed"),
        "{e}"
    );
    let before = std::fs::read_to_string(app.join("before.txt")).unwrap();
    let (prefix, appl) = before.split_once('|').unwrap();
    assert!(
        std::path::Path::new(prefix).file_name() == Some(std::ffi::OsStr::new(".venv")),
        "the hook ran with the virtualenv's python: {prefix}"
    );
    assert_eq!(Path::new(appl), app.as_path());
    assert!(
        app.join("iis_install.stamp").is_file(),
        "a failed install leaves the stamp"
    );
}

/// `iiswsgi package --wheels` downloads the dependencies as Windows wheels
/// into `wheels/`; with that folder in the package, `iiswsgi install` uses it
/// alone (`--no-index`). On the simulated (Linux) machine the folder also
/// gets iiswsgi's wheel for this host, as a Windows package carries
/// iiswsgi's `win_amd64` wheel.
#[test]
fn a_package_with_wheels_installs_offline() {
    let m = Machine::new(false);
    let app = m.deploy("hello_app", "Default Web Site", "offline", &|src: &Path| {
        let p = src.join("pyproject.toml");
        let t = std::fs::read_to_string(&p)
            .unwrap()
            .replace("dependencies = [\"iiswsgi\"]", "dependencies = [\"webob\"]");
        std::fs::write(p, t).unwrap();
        let out = Command::new(python())
            .args(["-m", "iiswsgi", "package", "--wheels"])
            .arg(src)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("downloading Windows wheels for CPython 3.11"),
            "{}",
            text(&out.stderr)
        );
        let names: Vec<String> = std::fs::read_dir(src.join("wheels"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_lowercase())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with("webob-"))
                && names.iter().any(|n| n.starts_with("setuptools-")),
            "{names:?}"
        );
        for w in std::fs::read_dir(repo_root().join("target/wheels")).unwrap() {
            let w = w.unwrap().path();
            std::fs::copy(&w, src.join("wheels").join(w.file_name().unwrap())).unwrap();
        }
    });
    assert!(app.join("wheels").is_dir(), "the package carries wheels/");
    let mut c = m.ctx.iiswsgi(&["install", "--app-name", "hello-app", "-v"]);
    c.env("IISWSGI_SIM_ROOT", &m.root)
        .env_remove("PIP_FIND_LINKS")
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/nowhere");
    let out = c.output().unwrap();
    let e = stderr_of(&out);
    assert!(out.status.success(), "{e}");
    assert!(
        e.contains("installing the dependencies offline from"),
        "{e}"
    );
    assert!(e.contains("--no-index"), "{e}");
}

#[test]
fn wheels_that_the_index_lacks_are_a_clear_error() {
    let ctx = TestContext::new();
    let dir = ctx.path("app");
    copy_fixture("hello_app", &dir);
    let out = ctx
        .iiswsgi(&["package", "--wheels", &dir.display().to_string()])
        .env_remove("PIP_FIND_LINKS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = stderr_of(&out);
    assert!(
        e.contains("pip could not download Windows wheels of the dependencies")
            && e.contains("PIP_FIND_LINKS"),
        "{e}"
    );
}
