//! Getting a feed or an installer: a host path, a `file://` URL, or an
//! `http://` URL (plain HTTP/1.0, redirects followed). `https://` is refused
//! with a clear error: the simulator has no TLS (serve the files over
//! http:// or use file:// URLs; iiswsgi's `feed --url-template
//! '{msdeploy_package_url}'` writes file:// ones).

use std::io::{Read as _, Write as _};

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use super::WebpiError;

/// Where a location points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    Http(url::Url),
}

/// Reads a location (a path, `file://…` or `http://…`), relative ones
/// against `base` (the feed's own location).
pub fn locate(s: &str, base: Option<&Location>) -> Result<Location, WebpiError> {
    let bad = |why: String| WebpiError::Location {
        location: s.to_owned(),
        why,
    };
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("file:") || lower.starts_with("http:") || lower.starts_with("https:") {
        let u = url::Url::parse(s).map_err(|e| bad(e.to_string()))?;
        return of_url(u, s);
    }
    match base {
        Some(Location::Http(b)) => of_url(b.join(s).map_err(|e| bad(e.to_string()))?, s),
        Some(Location::File(f)) if !std::path::Path::new(s).is_absolute() => Ok(Location::File(
            f.parent().map_or_else(|| PathBuf::from(s), |d| d.join(s)),
        )),
        _ => Ok(Location::File(PathBuf::from(s))),
    }
}

fn of_url(u: url::Url, s: &str) -> Result<Location, WebpiError> {
    let bad = |why: &str| WebpiError::Location {
        location: s.to_owned(),
        why: why.to_owned(),
    };
    match u.scheme() {
        "file" => {
            // WebPI's own feeds write file://C:/… for local testing.
            if let Some(h) = u.host_str().filter(|h| h.len() == 1) {
                return Ok(Location::File(PathBuf::from(format!("{h}:{}", u.path()))));
            }
            u.to_file_path()
                .map(Location::File)
                .map_err(|()| bad("not a local file URL"))
        }
        "http" => Ok(Location::Http(u)),
        "https" => Err(bad("https:// is not supported by the simulator (no TLS): serve the files over http://, or use file:// URLs (`iiswsgi feed --url-template '{msdeploy_package_url}'`)")),
        other => Err(bad(&format!("the {other}: scheme is not supported"))),
    }
}

/// The bytes at a location; `machine_path` maps a Windows path (`C:/…`) to
/// the host.
pub fn get(
    loc: &Location,
    machine_path: &dyn Fn(&str) -> Option<PathBuf>,
) -> Result<Vec<u8>, WebpiError> {
    match loc {
        Location::File(p) => {
            let s = p.to_string_lossy();
            let b = s.as_bytes();
            let host = if b.len() > 1 && b[1] == b':' && !p.exists() {
                machine_path(&s).unwrap_or_else(|| p.clone())
            } else {
                p.clone()
            };
            std::fs::read(&host).map_err(|e| WebpiError::Download {
                location: host.display().to_string(),
                why: e.to_string(),
            })
        }
        Location::Http(u) => http_get(u, 5),
    }
}

fn http_get(u: &url::Url, redirects: u32) -> Result<Vec<u8>, WebpiError> {
    let fail = |why: String| WebpiError::Download {
        location: u.to_string(),
        why,
    };
    let host = u.host_str().ok_or_else(|| fail("no host".into()))?;
    let port = u.port_or_known_default().unwrap_or(80);
    let mut s = TcpStream::connect((host, port)).map_err(|e| fail(e.to_string()))?;
    let _ = s.set_read_timeout(Some(Duration::from_mins(1)));
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: iiswsgi-sim-webpi\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| fail(e.to_string()))?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| fail("no HTTP response head".into()))?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| fail(format!("bad status line {:?}", head.lines().next())))?;
    if (300..400).contains(&status) && redirects > 0 {
        let loc = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
            })
            .map(|(_, v)| v.trim().to_owned())
            .ok_or_else(|| fail(format!("HTTP {status} without Location")))?;
        let next = u.join(&loc).map_err(|e| fail(e.to_string()))?;
        return http_get(&next, redirects - 1);
    }
    if status != 200 {
        return Err(fail(format!("HTTP {status}")));
    }
    Ok(buf[split + 4..].to_vec())
}

/// How a location is written in logs and as a feed's label.
pub fn display(loc: &Location) -> String {
    match loc {
        Location::File(p) => p.display().to_string(),
        Location::Http(u) => u.to_string(),
    }
}
