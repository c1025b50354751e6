#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    clippy::items_after_statements,
    reason = "test data: small numbers cast to wire types, helpers next to their use"
)]
#![allow(clippy::unwrap_used)]
//! Packager tests: the provider-options blob against one msdeploy.exe wrote,
//! template expansion, and the commands on the Pyramid fixture project.

mod commands;
mod expand;
mod format;
mod hardening;
mod names;
mod platform;
mod provider_options;

use std::path::{Path, PathBuf};

/// A copy of `fixtures/pyramid_app` in a temporary folder.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
}

impl Fixture {
    pub fn pyramid() -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("iiswsgi-deploy-")
            .tempdir()
            .unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pyramid_app");
        copy_tree(&src, &tmp.path().join("PyramidIISApp"));
        Fixture { tmp }
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("PyramidIISApp")
    }

    pub fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.dir().join(rel), text).unwrap();
    }

    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let p = self.dir().join(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{from:?} not in {rel}");
        std::fs::write(p, text.replace(from, to)).unwrap();
    }
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "dist" || name == "__pycache__" {
            continue;
        }
        let to = dst.join(&name);
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}
