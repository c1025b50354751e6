#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The gateway's tests without Python: settings resolution and the
//! connection loop over an in-memory stream with a Rust handler.

#[cfg(unix)]
mod conn;
mod errors;
mod settings;
