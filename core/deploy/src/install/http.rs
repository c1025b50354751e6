//! One HTTP/1.1 GET, for the smoke test through a real IIS site binding.
//!
//! In-house on purpose: a single `Connection: close` request to a binding
//! on this machine, with the status, headers and body (length-delimited,
//! chunked or to EOF) read back. A client crate (ureq, reqwest) would bring
//! a TLS stack and a connection pool the smoke test never uses.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::platform::{PlatformError, SmokeResponse};

/// The URL and connect address for a site binding (`protocol`,
/// `IP:port:host`) and a path.
pub fn binding_url(
    protocol: &str,
    info: &str,
    path: &str,
) -> Result<(String, String, String), String> {
    if !protocol.eq_ignore_ascii_case("http") {
        return Err(format!(
            "binding {protocol}/{info}: the smoke test needs an http binding"
        ));
    }
    let mut parts = info.rsplitn(3, ':');
    let host = parts.next().unwrap_or_default();
    let port = parts.next().unwrap_or_default();
    let ip = parts.next().unwrap_or_default();
    if port.parse::<u16>().is_err() {
        return Err(format!("binding {info:?} has no valid port"));
    }
    let ip = if ip.is_empty() || ip == "*" {
        "127.0.0.1"
    } else {
        ip
    };
    let host_header = if host.is_empty() { "localhost" } else { host };
    let addr = format!("{ip}:{port}");
    let url = format!("http://{host_header}:{port}{path}");
    Ok((url, addr, host_header.to_owned()))
}

/// GETs `path` from `addr` with `Host: host`; `url` names the request in errors.
pub fn get(
    url: &str,
    addr: &str,
    host: &str,
    path: &str,
    timeout: Duration,
) -> Result<SmokeResponse, PlatformError> {
    let err = |message: String| PlatformError::Smoke {
        url: url.to_owned(),
        message,
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| err(format!("bad address {addr}: {e}")))?
        .next()
        .ok_or_else(|| err(format!("no address for {addr}")))?;
    let mut stream = TcpStream::connect_timeout(&sock, timeout)
        .map_err(|e| err(format!("cannot connect to {addr}: {e}")))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| err(e.to_string()))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: iiswsgi-install\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| err(format!("cannot send the request: {e}")))?;
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)
        .map_err(|e| err(format!("no response: {e}")))?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| err(format!("not an HTTP status line: {:?}", line.trim_end())))?;
    let mut resp = SmokeResponse {
        status,
        ..SmokeResponse::default()
    };
    loop {
        line.clear();
        r.read_line(&mut line)
            .map_err(|e| err(format!("reading headers: {e}")))?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            resp.headers
                .push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        resp.body =
            read_chunked(&mut r).map_err(|e| err(format!("reading the chunked body: {e}")))?;
    } else if let Some(n) = header("Content-Length").and_then(|v| v.parse::<u64>().ok()) {
        r.take(n)
            .read_to_end(&mut resp.body)
            .map_err(|e| err(format!("reading the body: {e}")))?;
    } else {
        r.read_to_end(&mut resp.body)
            .map_err(|e| err(format!("reading the body: {e}")))?;
    }
    Ok(resp)
}

fn read_chunked(r: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
        if size == 0 {
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        line.clear();
        r.read_line(&mut line)?;
    }
}
