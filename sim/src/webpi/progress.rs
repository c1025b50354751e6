//! The nested stages of one `WebPI` install, shown live with `--progress`
//! (what `sim deploy` passes): Web Deploy's sync of the package, the
//! runCommand it starts, and the steps of the installer that runCommand
//! runs (`iiswsgi install`: virtualenv, dependencies, web.config, `FastCGI`
//! registration, smoke test), each stage with its time. They are read from
//! Web Deploy's output lines as they come: the runCommand is announced by
//! `Info: Updating runCommand (…).` and `iiswsgi install` writes its steps
//! to stderr, which Web Deploy shows as `Warning: iiswsgi install: …`.

use std::path::Path;
use std::time::Instant;

pub(super) struct Stages {
    sync: Instant,
    run_command: Option<Instant>,
}

fn secs(t: Instant) -> String {
    format!("{:.1} s", t.elapsed().as_secs_f64())
}

impl Stages {
    pub(super) fn start(package: &Path, out: &mut dyn FnMut(&str)) -> Stages {
        let name = package
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        out(&format!("[msdeploy] -verb:sync -source:package={name} ..."));
        Stages {
            sync: Instant::now(),
            run_command: None,
        }
    }

    /// One line of Web Deploy's output.
    pub(super) fn line(&mut self, l: &str, out: &mut dyn FnMut(&str)) {
        if let Some(cmd) = l
            .strip_prefix("Info: Updating runCommand (")
            .and_then(|r| r.strip_suffix(")."))
        {
            out(&format!("[runCommand] {cmd}"));
            self.run_command = Some(Instant::now());
        } else if let Some(step) = l.strip_prefix("Warning: iiswsgi install: ") {
            // pip's own lines come indented; the installer's steps do not.
            if !step.starts_with(' ') {
                out(&format!("[iiswsgi install] {step}"));
            }
        }
    }

    pub(super) fn finish(self, ok: bool, out: &mut dyn FnMut(&str)) {
        let how = if ok { "done in" } else { "failed after" };
        if let Some(t) = self.run_command {
            out(&format!("[runCommand] {how} {}", secs(t)));
        }
        out(&format!("[msdeploy] {how} {}", secs(self.sync)));
    }
}
