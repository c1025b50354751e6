//! The simulator's pure model: no I/O here.

pub mod cgi;
pub mod vars;
