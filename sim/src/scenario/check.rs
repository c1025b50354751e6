//! A scenario's expectations against what it did: one line per expectation
//! not met, saying what was expected and what was seen.

use super::model::{FileExpect, Loaded};
use super::run::{logs_under, Outcome};

/// Lines that name a place to look.
fn pointers(t: &[String]) -> Vec<&str> {
    t.iter()
        .map(String::as_str)
        .filter(|l| {
            l.contains("Log: ")
                || l.contains("; read ")
                || l.contains("every step and its output: ")
                || l.contains("IIS's log of these requests: ")
        })
        .collect()
}

/// Every expectation not met (empty: the scenario gave its expected result).
pub fn check(loaded: &Loaded, o: &Outcome) -> Vec<String> {
    let e = &loaded.scenario.expect;
    let mut diffs = Vec::new();
    if o.exit_code != e.exit_code {
        diffs.push(format!(
            "exit code: expected {}, got {}{}",
            e.exit_code,
            o.exit_code,
            o.failure
                .as_ref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default()
        ));
    }
    let stage = o.failure.as_ref().map(|f| f.stage);
    if e.stage.as_deref() != stage {
        diffs.push(format!(
            "failing stage: expected {:?}, got {stage:?}",
            e.stage
        ));
    }
    if let Some(log) = o.failure.as_ref().and_then(|f| f.log.as_ref()) {
        if !log.exists() {
            diffs.push(format!(
                "the failure names {} to read, which does not exist",
                log.display()
            ));
        }
    }
    let text = o.transcript.join("\n");
    for want in &e.output {
        if !text.contains(want.as_str()) {
            diffs.push(format!("output: expected a line containing {want:?}"));
        }
    }
    for bad in &e.not_output {
        if let Some(l) = o.transcript.iter().find(|l| l.contains(bad.as_str())) {
            diffs.push(format!("output: {bad:?} must not be shown, but: {l}"));
        }
    }
    let look = pointers(&o.transcript);
    for want in &e.where_to_look {
        if !look.iter().any(|l| l.contains(want.as_str())) {
            diffs.push(format!(
                "where to look: no line names {want:?}; the lines that name a place: {look:?}"
            ));
        }
    }
    check_requests(loaded, o, &mut diffs);
    for f in &e.files {
        check_files(o, f, &mut diffs);
    }
    diffs
}

fn check_requests(loaded: &Loaded, o: &Outcome, diffs: &mut Vec<String>) {
    let reqs = &loaded.scenario.requests;
    if o.exit_code == 0 && o.answers.len() != reqs.len() {
        diffs.push(format!(
            "requests: {} declared, {} sent",
            reqs.len(),
            o.answers.len()
        ));
    }
    for (i, (r, got)) in reqs.iter().zip(&o.answers).enumerate() {
        for (n, a) in got.iter().enumerate() {
            let which = format!("request[{i}] {} {} #{}", r.method, r.path, n + 1);
            match a {
                Err(e) => diffs.push(format!("{which}: no answer: {e}")),
                Ok(a) => {
                    if r.status.is_some_and(|s| s != a.status) {
                        diffs.push(format!(
                            "{which}: status expected {:?}, got {}",
                            r.status, a.status
                        ));
                    }
                    for t in &r.text {
                        if !a.body.contains(t.as_str()) {
                            let head: String = a.body.chars().take(400).collect();
                            diffs.push(format!("{which}: body lacks {t:?}: {head}"));
                        }
                    }
                }
            }
        }
    }
}

fn check_files(o: &Outcome, f: &FileExpect, diffs: &mut Vec<String>) {
    let glob = match globset::Glob::new(&f.glob) {
        Ok(g) => g.compile_matcher(),
        Err(e) => {
            diffs.push(format!("files {:?}: bad glob: {e}", f.glob));
            return;
        }
    };
    let texts: Vec<(String, String)> = logs_under(&o.root)
        .into_iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(&o.root).ok()?.to_string_lossy().into_owned();
            glob.is_match(&rel)
                .then(|| (rel, std::fs::read_to_string(&p).unwrap_or_default()))
        })
        .collect();
    if texts.is_empty() {
        diffs.push(format!(
            "files {:?}: no file of the machine matches",
            f.glob
        ));
        return;
    }
    let names: Vec<&str> = texts.iter().map(|(n, _)| n.as_str()).collect();
    for want in &f.contains {
        if !texts.iter().any(|(_, t)| t.contains(want.as_str())) {
            diffs.push(format!(
                "files {:?}: none contains {want:?} ({names:?})",
                f.glob
            ));
        }
    }
    for want in &f.once {
        let n: usize = texts
            .iter()
            .map(|(_, t)| t.matches(want.as_str()).count())
            .sum();
        if n != 1 {
            diffs.push(format!(
                "files {:?}: {want:?} expected once, found {n} times ({names:?})",
                f.glob
            ));
        }
    }
    for bad in &f.absent {
        if let Some((n, _)) = texts.iter().find(|(_, t)| t.contains(bad.as_str())) {
            diffs.push(format!("files {:?}: {n} contains {bad:?}", f.glob));
        }
    }
}
