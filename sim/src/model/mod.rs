//! The simulator's pure model: no I/O here.

pub mod appcmd;
pub mod cgi;
pub mod cmd;
pub mod cmdline;
pub mod config;
pub mod errors;
pub mod msdeploy_args;
pub mod routing;
pub mod vars;
pub mod w3c;
pub mod webpi_args;

/// `n` in decimal, in `buf` (no formatter on the per-request path).
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}
