//! The whole deployment of the Pyramid fixture through the installed
//! command line: `iiswsgi package` + `iiswsgi feed` → `iiswsgi sim webpi
//! install` on a fresh `sim new` machine (full IIS and IIS Express), and
//! `iiswsgi sim msdeploy` with parameters: files in place, the application
//! created (as `sim appcmd list apps` shows), the package's runCommand run
//! through the simulated cmd.exe with the machine's python.exe (this
//! virtualenv's Python, so the real `python -m iiswsgi`).
//!
//! The runCommand runs `iiswsgi install --app-name PyramidIISApp` (the
//! on-target installer: virtualenv, pip from the index and iiswsgi's own
//! wheel, web.config, `FastCGI` registration, smoke test), so a `WebPI` install
//! ends in SUCCESS with the application registered; `sim deploy` runs every
//! stage and checks the page through `sim serve`.

use std::path::{Path, PathBuf};

use iiswsgi_harness::context::TestContext;
use iiswsgi_harness::iiswsgi_snapshot;

/// The context's filters, and one more: the line `iiswsgi install` prints on
/// its stdout (the application's folder) arrives through another pipe than
/// its progress on stderr, so where msdeploy shows it among them varies.
fn filters(ctx: &TestContext) -> Vec<(&str, &str)> {
    let mut f = ctx.filters();
    f.push((r"(?m)^Info: \[TEMP\]/root/C/[^\n]*\n", ""));
    f
}

fn copy_fixture(dst: &Path) {
    iiswsgi_harness::copy_fixture("pyramid_app", dst);
}

fn ok(ctx: &TestContext, args: &[&str]) -> String {
    let out = ctx.iiswsgi(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The package and the feed (installerURL a file:// URL) built by the CLI.
fn build(ctx: &TestContext) -> (PathBuf, PathBuf) {
    let app = ctx.path("PyramidIISApp");
    copy_fixture(&app);
    let a = app.display().to_string();
    ok(ctx, &["package", &a]);
    ok(
        ctx,
        &["feed", &a, "--url-template", "{msdeploy_package_url}"],
    );
    let dist = app.join("dist");
    (
        dist.join("PyramidIISApp-0.1.msdeploy.zip"),
        dist.join("PyramidIISApp-0.1.webpi.xml"),
    )
}

fn context() -> TestContext {
    TestContext::new()
        .with_filter(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}", "[STAMP]")
        .with_filter(r"[a-z0-9]{8}\.[a-z0-9]{3}\.cmd", "[TMP].cmd")
        .with_filter(r"[0-9a-fA-F]{40}", "[SHA1]")
        .with_filter(r"\d+ bytes copied", "[N] bytes copied")
}

/// A context, the package and feed built, and a fresh machine (`sim new
/// ROOT EXTRA…`): (context, zip, feed, root).
fn setup(extra: &[&str]) -> (TestContext, PathBuf, PathBuf, PathBuf) {
    let ctx = context();
    let (zip, feed) = build(&ctx);
    let root = ctx.path("root");
    let r = root.display().to_string();
    let mut args = vec!["sim", "new", r.as_str()];
    args.extend_from_slice(extra);
    ok(&ctx, &args);
    (ctx, zip, feed, root)
}

fn install_log(root: &Path) -> String {
    let dir = root
        .join("C/Users/Administrator/AppData/Local/Microsoft/Web Platform Installer/logs/install");
    let stamp = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    std::fs::read_to_string(stamp.join("Pyramid Application.txt"))
        .unwrap()
        .replace("\r\n", "\n")
}

#[test]
fn webpi_installs_the_pyramid_feed_on_a_fresh_machine() {
    let (ctx, _zip, feed, root) = setup(&[]);
    let r = root.display().to_string();
    let f = feed.display().to_string();
    iiswsgi_snapshot!(
        filters(&ctx),
        ctx.iiswsgi(&[
            "sim",
            "webpi",
            "--root",
            &r,
            "install",
            "--products",
            "PyramidIISApp",
            "--feeds",
            &f,
            "--accept-eula"
        ])
    );
    let log = install_log(&root);
    // The runCommand ran the installer through the program map, and it worked.
    assert!(log.contains("Info: C:\\Windows\\system32>C:\\Python311\\python.exe -m iiswsgi install --app-name PyramidIISApp"), "{log}");
    assert!(
        log.contains("smoke test: /PyramidIISApp/ answered 200"),
        "{log}"
    );
    let fastcgi = ok(
        &ctx,
        &[
            "sim",
            "appcmd",
            "--root",
            &r,
            "list",
            "config",
            "-section:fastCgi",
        ],
    );
    assert!(fastcgi.contains("production.ini"), "{fastcgi}");
    insta::with_settings!({ filters => filters(&ctx) }, {
        insta::assert_snapshot!("pyramid_webpi_install_log", log);
    });
    assert!(
        !root
            .join("C/inetpub/wwwroot/PyramidIISApp/iis_install.stamp")
            .exists(),
        "the installer consumed the stamp"
    );
    iiswsgi_snapshot!(filters(&ctx), ctx.iiswsgi(&["sim", "appcmd", "--root", &r, "list", "apps"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    APP "Default Web Site/" (applicationPool:DefaultAppPool)
    APP "Default Web Site/PyramidIISApp" (applicationPool:DefaultAppPool)
    ----- stderr -----
    "#);
}

#[test]
fn webpi_installs_on_iis_express_in_webpicmd_spelling() {
    let (ctx, _zip, feed, root) = setup(&["--iis-express"]);
    let r = root.display().to_string();
    let feeds = format!("/Feeds:{}", feed.display());
    let out = ctx
        .iiswsgi(&[
            "sim",
            "webpi",
            "--root",
            &r,
            "/Install",
            "/Products:PyramidIISApp",
            &feeds,
            "/IISExpress",
            "/AcceptEULA",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Started installing: 'Pyramid Application'"),
        "{stdout}"
    );
    let site = root.join("C/Users/Administrator/Documents/My Web Sites/PyramidIISApp");
    assert!(site.join("production.ini").is_file());
    let sites = ok(&ctx, &["sim", "appcmd", "--root", &r, "list", "sites"]);
    assert!(
        sites.contains("SITE \"PyramidIISApp\" (id:2,bindings:http/:8081:localhost,state:Started)"),
        "{sites}"
    );
    assert!(install_log(&root)
        .contains("C:\\Python311\\python.exe -m iiswsgi install --app-name PyramidIISApp"));
}

#[test]
fn msdeploy_syncs_the_package_with_parameters_from_the_command_line() {
    let (ctx, zip, _feed, root) = setup(&[]);
    let r = root.display().to_string();
    let src = format!("-source:package={}", zip.display());
    iiswsgi_snapshot!(
        filters(&ctx),
        ctx.iiswsgi(&[
            "sim",
            "msdeploy",
            "--root",
            &r,
            "-verb:sync",
            &src,
            "-dest:auto",
            "-setParam:name=\"ApplicationPath\",value=\"Default Web Site/pyr\"",
            "-setParam:scaffold=zodb"
        ])
    );
    assert!(root.join("C/inetpub/wwwroot/pyr/production.ini").is_file());
    iiswsgi_snapshot!(
        filters(&ctx),
        ctx.iiswsgi(&[
            "sim",
            "msdeploy",
            "--root",
            &r,
            "-verb:getParameters",
            &src,
            "-verbose",
            "-bogus"
        ])
    );
}

/// The README's main job: `iiswsgi sim deploy` on the Pyramid fixture, every
/// stage, ending with the page through the simulated IIS.
#[test]
fn sim_deploy_takes_the_pyramid_fixture_to_its_page() {
    let mut ctx = context();
    let project = ctx.path("PyramidIISApp");
    copy_fixture(&project);
    let root = ctx.path("root");
    ctx.add_path_filter(&root, "[ROOT]");
    let (p, r) = (project.display().to_string(), root.display().to_string());
    let out = ctx
        .iiswsgi(&["sim", "deploy", &p, "--root", &r, "--once"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("[serve] the page answered 200: Hello from Pyramid on IIS"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("the application answers at http://127.0.0.1:"),
        "{stdout}"
    );
    let stages: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("] done in "))
        .collect();
    insta::with_settings!({ filters => filters(&ctx) }, {
        insta::assert_snapshot!("sim_deploy_stages", stages.join("\n"));
        insta::assert_snapshot!("sim_deploy_stdout", stdout);
    });
    crate::fixtures::snapshot_configs(
        &ctx,
        &root,
        &root.join("C/inetpub/wwwroot/PyramidIISApp"),
        "pyramid_app",
    );
    // A stage that fails says which, why and where to look.
    let bad = ctx.path("bad");
    copy_fixture(&bad);
    std::fs::write(bad.join("pyproject.toml"), "[project]\nname = \"bad\"\n").unwrap();
    let out = ctx
        .iiswsgi(&[
            "sim",
            "deploy",
            &bad.display().to_string(),
            "--root",
            &ctx.path("root2").display().to_string(),
            "--once",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("error: stage package failed:") || e.contains("error: stage init failed:"),
        "{e}"
    );
}
