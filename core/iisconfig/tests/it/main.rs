#![allow(clippy::unwrap_used)]
//! Tests of the IIS XML model: the checked reader, the preserving writer,
//! web.config and applicationHost.config.

mod apphost;
mod dom;
mod webconfig;

use std::path::Path;

pub const APPHOST: &str = include_str!("fixtures/applicationHost.config");

pub fn file() -> &'static Path {
    Path::new("C:/Windows/System32/inetsrv/config/applicationHost.config")
}
