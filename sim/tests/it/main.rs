#![allow(clippy::unwrap_used)]
//! Tests of the simulated IIS machine: `sim new`, path translation, the
//! program map, and the appcmd emulator.

mod appcmd;
mod machine;
// Unix by nature: the runCommand programs these tests run are shell scripts,
// and their transcripts hold Unix host paths.
#[cfg(unix)]
mod msdeploy;
#[cfg(unix)]
mod msdeploy_cases;
#[cfg(unix)]
mod msdeploy_support;
mod props;
#[cfg(unix)]
mod scenario;
#[cfg(unix)]
mod serve;
#[cfg(unix)]
mod serve_faults;
#[cfg(unix)]
mod support;
#[cfg(unix)]
mod webpi;

use std::path::PathBuf;

use iiswsgi_sim::create::{create, NewMachine};
use iiswsgi_sim::machine::SimMachine;

/// A fresh machine in a temporary folder.
pub fn machine(iis_express: bool) -> (tempfile::TempDir, SimMachine) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let m = create(
        &root,
        &NewMachine {
            iis_express,
            python: PathBuf::from("/usr/bin/python3"),
            iiswsgi: vec!["/usr/bin/python3".into(), "-m".into(), "iiswsgi".into()],
        },
    )
    .unwrap();
    (dir, m)
}

/// Runs appcmd (arguments split on spaces, `|` for a literal space) and
/// returns a transcript line block.
pub fn appcmd(m: &SimMachine, line: &str) -> String {
    let args: Vec<String> = split(line);
    let out = iiswsgi_sim::appcmd::run(m, &args);
    format!("> appcmd {line}\n{}[exit {}]\n", out.stdout, out.code)
}

/// Splits like a shell would: spaces separate, double quotes group.
pub fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

mod cmdline {
    use iiswsgi_sim::model::cmdline::{quote_windows, split_windows};
    use proptest::prelude::*;

    #[test]
    fn msvcrt_rules() {
        assert_eq!(
            split_windows(r#"-m iiswsgi serve "C:\My App\x.ini""#),
            ["-m", "iiswsgi", "serve", r"C:\My App\x.ini"]
        );
        assert_eq!(split_windows(r#"a\\\"b "c\\" d"#), [r#"a\"b"#, r"c\", "d"]);
        assert_eq!(split_windows(r#""""#), [""]);
        assert!(split_windows("   ").is_empty());
    }

    proptest! {
        #[test]
        fn quote_then_split_round_trips(args in prop::collection::vec("[ a-zA-Z0-9\\\\\"'%:._-]{0,12}", 0..5)) {
            let line = args.iter().map(|a| quote_windows(a)).collect::<Vec<_>>().join(" ");
            prop_assert_eq!(split_windows(&line), args);
        }
    }
}

mod platform {

    #[test]
    fn the_simulated_backend_administers_iis_through_the_emulator() {
        let (_d, m) = crate::machine(false);
        let p = iiswsgi_sim::platform::platform(m.root()).unwrap();
        assert_eq!(p.name, "sim");
        let args: Vec<String> = ["set", "config", "-section:system.webServer/fastCgi", "/+[fullPath='C:\\app\\.venv\\Scripts\\python.exe',arguments='-m iiswsgi serve app:app']", "/commit:apphost"]
            .map(String::from)
            .to_vec();
        let out = p.appcmd(&args).unwrap();
        assert_eq!(out.code, 0, "{}", out.stdout);
        let list = p
            .appcmd(&[
                "list".into(),
                "config".into(),
                "-section:fastCgi".into(),
                "/xml".into(),
            ])
            .unwrap();
        assert!(
            list.stdout
                .contains("arguments=\"-m iiswsgi serve app:app\""),
            "{}",
            list.stdout
        );
        assert_eq!(p.machine.var("SYSTEMROOT").as_deref(), Some("C:\\Windows"));
        assert_eq!(
            p.machine.host_path("%SystemDrive%\\inetpub"),
            m.root().join("C/inetpub")
        );
        let mut lines = Vec::new();
        let code = p
            .runner
            .run(
                &iiswsgi_deploy::install::CommandSpec::new(
                    "%windir%\\system32\\inetsrv\\appcmd.exe",
                )
                .arg("list")
                .arg("sites"),
                &mut |l| lines.push(l.to_owned()),
            )
            .unwrap();
        assert_eq!(
            (code, lines),
            (
                0,
                vec![
                    "SITE \"Default Web Site\" (id:1,bindings:http/*:80:,state:Started)".to_owned()
                ]
            )
        );
        let e = p
            .runner
            .run(
                &iiswsgi_deploy::install::CommandSpec::new("C:\\nope.exe"),
                &mut |_| {},
            )
            .unwrap_err();
        // The message says what failed; its source, why (shown as a chain).
        let e = iiswsgi_iisconfig::error_chain(&e);
        assert!(
            e.contains("not in the simulated machine's program map"),
            "{e}"
        );
    }
}
