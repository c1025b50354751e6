#![allow(clippy::unwrap_used)]
//! Tests of the simulated IIS machine: `sim new`, path translation, the
//! program map, and the appcmd emulator.

mod appcmd;
mod machine;

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
