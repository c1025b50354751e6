#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    clippy::items_after_statements,
    reason = "test data: small numbers cast to wire types, helpers next to their use"
)]
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The gateway's tests without Python: settings resolution and the
//! connection loop over an in-memory stream with a Rust handler.

#[cfg(unix)]
mod conn;
mod errors;
mod settings;
