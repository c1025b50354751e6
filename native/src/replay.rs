//! `iiswsgi sim replay LOG_OR_DIR`: a scenario file or `WebPI`'s install log
//! folder, rebuilt on a fresh simulated machine with every stage shown.

use iiswsgi_cli::SimReplayArgs;
use iiswsgi_sim::scenario::{self, replay, ScenarioError};
use pyo3::prelude::*;

fn say(l: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{l}");
    let _ = o.flush();
}

fn iiswsgi(py: Python<'_>) -> Vec<String> {
    vec![
        crate::python(py).display().to_string(),
        "-m".into(),
        "iiswsgi".into(),
    ]
}

pub(crate) fn run(py: Python<'_>, a: SimReplayArgs) -> i32 {
    let Some(root) = crate::sim::root_or_temp(a.root, "replay") else {
        return 2;
    };
    let root = std::path::absolute(&root).unwrap_or(root);
    let result = if a.source.is_dir() {
        let opts = replay::LogReplay {
            root,
            feeds: a.feeds,
            python: crate::python(py),
            iiswsgi: iiswsgi(py),
        };
        py.detach(|| replay::replay_dir(&a.source, &opts, &mut say))
    } else if !a.feeds.is_empty() {
        eprintln!(
            "iiswsgi sim replay: error: --feed applies to a log folder; a scenario builds its own feed from its project ({})",
            a.source.display()
        );
        return 2;
    } else {
        let opts = scenario::RunOptions {
            root,
            python: crate::python(py),
            iiswsgi: iiswsgi(py),
            listen: a.listen,
        };
        py.detach(|| run_scenario(&a.source, &opts))
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("iiswsgi sim replay: error: {}", crate::report(e));
            2
        }
    }
}

/// Runs a scenario and checks it: 0 when it gave its expected result.
fn run_scenario(file: &std::path::Path, opts: &scenario::RunOptions) -> Result<i32, ScenarioError> {
    let started = std::time::Instant::now();
    let loaded = scenario::load(file)?;
    let outcome = scenario::run(&loaded, opts, &mut say)?;
    let diffs = scenario::check::check(&loaded, &outcome);
    let secs = started.elapsed().as_secs_f64();
    if diffs.is_empty() {
        say(&format!(
            "[scenario] {}: the expected result was seen in {secs:.1} s (exit {}{})",
            loaded.scenario.name,
            outcome.exit_code,
            outcome
                .failure
                .as_ref()
                .map(|f| format!(", stage {} failed as expected", f.stage))
                .unwrap_or_default()
        ));
        return Ok(0);
    }
    say(&format!(
        "[scenario] {}: {} expectation(s) not met in {secs:.1} s:",
        loaded.scenario.name,
        diffs.len()
    ));
    for d in diffs {
        say(&format!("  - {d}"));
    }
    Ok(1)
}
