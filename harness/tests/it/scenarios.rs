//! The declarative scenarios of `harness/scenarios/*.toml`, every one run
//! through `iiswsgi sim replay FILE` on a machine of its own, as many at a
//! time as the machine has cores; `replay` exits 0 only when everything the
//! scenario expects was seen (a fault scenario passes when its failure is
//! seen as expected). Every failing scenario is reported with its unmet
//! expectations and the end of its transcript; one does not hide another.
//!
//! And `sim replay` of `WebPI`'s install log folder: a failed install (the
//! missing dependency) copied as a customer would send it, replayed on a
//! fresh machine, fails the same way.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use iiswsgi_harness::context::TestContext;
use iiswsgi_harness::repo_root;

fn scenarios() -> Vec<PathBuf> {
    let dir = repo_root().join("harness/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

struct Ran {
    name: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    secs: f64,
}

fn replay(ctx: &TestContext, file: &Path, root: &Path) -> Ran {
    let t = Instant::now();
    let out = ctx
        .iiswsgi(&[
            "sim",
            "replay",
            &file.display().to_string(),
            "--root",
            &root.display().to_string(),
        ])
        .output()
        .unwrap();
    Ran {
        name: stem(file),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        secs: t.elapsed().as_secs_f64(),
    }
}

/// What the user is shown and told, out of a transcript: the errors, the
/// logs named, the answers, the verdict.
fn user_lines(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("Error:")
                || t.starts_with("Log:")
                || t.starts_with("error:")
                || t.starts_with("IIS Express already")
                || t.contains("iiswsgi install: error:")
                || t.contains("iiswsgi install: every step")
                || (t.starts_with("[serve] ") && !t.contains("IIS's log"))
                || t.starts_with("[scenario] ") && t.contains("expected result")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_scenario_gives_its_expected_result() {
    let files = scenarios();
    assert!(
        files.len() >= 9,
        "the happy path and the eight faults: {files:?}"
    );
    let mut ctx = TestContext::new()
        .with_filter(r"[a-z0-9]{8}\.[a-z0-9]{3}\.cmd", "[TMP].cmd")
        .with_filter(r"[0-9a-fA-F]{40}", "[SHA1]")
        .with_filter(r"\(\d+\.\d s\)|in \d+\.\d s", "[TIME]")
        .with_filter(r"localhost:\d+", "localhost:[PORT]");
    ctx.add_path_filter(&repo_root().join(".venv"), "[VENV]");
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let queue = Mutex::new(files.clone());
    let done = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cores.min(files.len()) {
            s.spawn(|| loop {
                let Some(f) = queue.lock().unwrap().pop() else {
                    break;
                };
                let root = ctx.path(&stem(&f));
                let ran = replay(&ctx, &f, &root);
                done.lock().unwrap().push(ran);
            });
        }
    });
    let mut done = done.into_inner().unwrap();
    done.sort_by(|a, b| a.name.cmp(&b.name));
    eprintln!(
        "{} scenarios in {:.1} s, {} at a time:",
        done.len(),
        started.elapsed().as_secs_f64(),
        cores.min(files.len())
    );
    for r in &done {
        eprintln!("  {:<28} exit {:?} in {:.1} s", r.name, r.code, r.secs);
    }
    let failed: Vec<String> = done
        .iter()
        .filter(|r| r.code != Some(0))
        .map(|r| {
            let lines: Vec<&str> = r.stdout.lines().collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            format!(
                "=== {} (exit {:?}) ===\n{tail}\n--- stderr ---\n{}",
                r.name, r.code, r.stderr
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} scenarios did not give their expected result:\n{}",
        failed.len(),
        done.len(),
        failed.join("\n\n")
    );
    for r in &done {
        insta::with_settings!({ filters => ctx.filters(), snapshot_suffix => r.name.clone() }, {
            insta::assert_snapshot!("scenario_user_lines", user_lines(&r.stdout));
        });
    }
}

fn install_log_dir(root: &Path) -> PathBuf {
    let dir = root
        .join("C/Users/Administrator/AppData/Local/Microsoft/Web Platform Installer/logs/install");
    std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
}

#[test]
fn a_failed_install_replayed_from_its_log_folder_fails_the_same_way() {
    let ctx = TestContext::new().with_filter(r"[0-9a-fA-F]{40}", "[SHA1]");
    let scenario = repo_root().join("harness/scenarios/missing_dependency.toml");
    let customer = ctx.path("customer");
    let first = replay(&ctx, &scenario, &customer);
    assert_eq!(first.code, Some(0), "{}\n{}", first.stdout, first.stderr);
    // The customer sends the log folder, the feed and the package, as the
    // README says; their paths do not exist on the laptop.
    let logs = install_log_dir(&customer);
    let ticket = ctx.path("ticket");
    std::fs::create_dir_all(&ticket).unwrap();
    for f in std::fs::read_dir(&logs).unwrap().flatten() {
        std::fs::copy(f.path(), ticket.join(f.file_name())).unwrap();
    }
    let dist = customer.join("C/src/hello_app/dist");
    for f in std::fs::read_dir(&dist).unwrap().flatten() {
        std::fs::copy(f.path(), ticket.join(f.file_name())).unwrap();
    }
    std::fs::remove_dir_all(&dist).unwrap();
    let laptop = ctx.path("laptop");
    let again = replay(&ctx, &ticket, &laptop);
    assert_eq!(again.code, Some(1), "{}\n{}", again.stdout, again.stderr);
    for want in [
        "No matching distribution found for iiswsgi-scenario-no-such-dist",
        "Install completed (Failure): 'Hello, IIS'",
        "[replay] same package as recorded: hello_app-1.0.msdeploy.zip",
    ] {
        assert!(
            again.stdout.contains(want),
            "{want:?} in:\n{}",
            again.stdout
        );
    }
    let replayed: Vec<&str> = again
        .stdout
        .lines()
        .filter(|l| l.starts_with("[replay]") || l.starts_with("[webpi install]"))
        .collect();
    insta::with_settings!({ filters => ctx.filters() }, {
        insta::assert_snapshot!("replay_of_a_log_folder", replayed.join("\n"));
    });
    // The laptop's own log folder replays too (the logged paths exist here).
    let fresh = replay(&ctx, &install_log_dir(&laptop), &ctx.path("laptop2"));
    assert_eq!(fresh.code, Some(1), "{}", fresh.stdout);
    assert!(fresh
        .stdout
        .contains("No matching distribution found for iiswsgi-scenario-no-such-dist"));
}
