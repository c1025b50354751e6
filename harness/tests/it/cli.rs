//! The packaging commands through the installed `iiswsgi` command line:
//! `--help`, progress on stderr, the last line of stdout, `--json`, exit status.

use std::path::Path;
use std::process::{Command, Output};

use iiswsgi_harness::{python, repo_root};

use crate::tmp;

fn iiswsgi(args: &[&str], cwd: &Path) -> Output {
    Command::new(python())
        .args(["-m", "iiswsgi"])
        .args(args)
        .current_dir(cwd)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("python runs")
}

fn copy_fixture(dst: &Path) {
    let src = repo_root().join("fixtures/pyramid_app");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(dst)
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(dst.join("dist"));
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_has_examples() {
    let d = tmp();
    for cmd in ["init", "package", "feed", "clean-webpi"] {
        let out = iiswsgi(&[cmd, "--help"], d.path());
        assert!(out.status.success(), "{cmd} --help");
        let help = text(&out.stdout);
        assert!(
            help.contains("Example:") && help.contains("--json"),
            "{cmd}:\n{help}"
        );
    }
}

#[test]
fn package_feed_and_clean_from_the_command_line() {
    let d = tmp();
    let app = d.path().join("app");
    copy_fixture(&app);
    let dir = app.display().to_string();

    let out = iiswsgi(&["package", &dir], d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap();
    assert_eq!(
        Path::new(last),
        app.join("dist/PyramidIISApp-0.1.msdeploy.zip")
    );
    assert!(Path::new(last).is_file());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("iiswsgi package: writing")
            && stderr.contains("iiswsgi package: packaging"),
        "progress on stderr: {stderr}"
    );

    let out = iiswsgi(&["package", &dir, "--json"], d.path());
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pretty = serde_json::to_string_pretty(&v)
        .unwrap()
        .replace(&dir, "[DIR]");
    insta::with_settings!({filters => vec![
        (r#""sha1": "[0-9a-f]{40}""#, r#""sha1": "[SHA1]""#),
        (r#""size": \d+"#, r#""size": "[SIZE]""#),
    ]}, {
        insta::assert_snapshot!("package_json", pretty);
    });

    let out = iiswsgi(&["feed", &dir], d.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = text(&out.stdout).lines().last().unwrap().to_string();
    assert!(
        url.starts_with("file:///") && url.ends_with("/dist/PyramidIISApp-0.1.webpi.xml"),
        "{url}"
    );

    let out = iiswsgi(
        &[
            "feed",
            &dir,
            "--json",
            "--url-template",
            "https://example.org/{msdeploy_file}",
        ],
        d.path(),
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["entries"][0]["installer_url"],
        "https://example.org/PyramidIISApp-0.1.msdeploy.zip"
    );
    assert_eq!(v["entries"][0]["sha1"].as_str().map(str::len), Some(40));

    let cache = d.path().join("cache");
    std::fs::create_dir_all(cache.join("installers/PyramidIISApp")).unwrap();
    let out = iiswsgi(
        &[
            "clean-webpi",
            &dir,
            "--cache",
            &cache.display().to_string(),
            "--json",
        ],
        d.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["removed"].as_array().map(Vec::len), Some(1));
    assert!(!cache.join("installers/PyramidIISApp").exists());
}

#[test]
fn errors_exit_non_zero_and_leave_nothing() {
    let d = tmp();
    let app = d.path().join("app");
    copy_fixture(&app);
    let params = app.join("Parameters.xml");
    let t = std::fs::read_to_string(&params)
        .unwrap()
        .replace("tags=\"iisApp\"", "tags=\"\"");
    std::fs::write(&params, t).unwrap();
    let out = iiswsgi(&["package", &app.display().to_string(), "--json"], d.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Parameters.xml: no parameter is tagged iisApp"),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("no parameter is tagged iisApp"));
    assert!(!app.join("dist").exists(), "nothing written");

    let out = iiswsgi(&["init", &app.display().to_string()], d.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already exist"));
}

#[test]
fn transcripts_of_a_packaging_error_and_of_a_bad_backend() {
    let ctx = iiswsgi_harness::context::TestContext::new();
    std::fs::write(ctx.path("pyproject.toml"), "[project]\nname = \"demo\"\n").unwrap();
    iiswsgi_harness::iiswsgi_snapshot!(ctx.filters(), ctx.iiswsgi(&["package", "."]));
    iiswsgi_harness::iiswsgi_snapshot!(ctx.filters(), ctx.iiswsgi(&["serve", "--bogus"]));
}
