//! IIS's `StaticFile` handler (`StaticFileModule`, DefaultDocumentModule): a
//! file is sent with its MIME type, a folder gets its default document (a
//! folder URL without a trailing slash is redirected first), else 404.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::Response;
use iiswsgi_iisconfig::Handler;

use super::dispatch::{full_body, Outcome};
use crate::model::config::Effective;
use crate::model::errors::IisError;

fn mime(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "htm" | "html" => "text/html",
        "css" => "text/css",
        "js" => "application/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "txt" => "text/plain",
        "xml" => "text/xml",
        _ => "application/octet-stream",
    }
}

/// `Last-Modified`: the file's last write time as an HTTP date (IMF-fixdate).
fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, mo, d, h, mi, s) = crate::model::w3c::civil(t);
    let day = DAYS[(secs / 86_400 % 7) as usize];
    let month = MONTHS[(mo as usize).saturating_sub(1) % 12];
    format!("{day}, {d:02} {month} {y:04} {h:02}:{mi:02}:{s:02} GMT")
}

/// `StaticFileModule`'s `ETag`: the file's last write time as a Windows
/// FILETIME (100 ns since 1601) in hex, then `:` and the configuration change
/// number, always 0 since IIS 7 (Microsoft's "Configuring `ETag`" appendix).
/// The FILETIME's digits are written low 32 bits then high, as commonly
/// described; the order is not verified against a real IIS.
fn etag(t: SystemTime) -> String {
    const EPOCH_1601: u64 = 116_444_736_000_000_000;
    let ticks = t.duration_since(UNIX_EPOCH).map_or(0, |d| {
        d.as_secs() * 10_000_000 + u64::from(d.subsec_nanos() / 100)
    }) + EPOCH_1601;
    format!("\"{:x}{:x}:0\"", ticks & 0xffff_ffff, ticks >> 32)
}

fn find_ci(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(name))
        .map(|e| e.path())
}

/// Serves `path` (URL) from `host` (its host path).
pub async fn serve(
    method: &str,
    url: &str,
    host: &Path,
    effective: &Effective,
    handler: &Handler,
) -> Result<Outcome, IisError> {
    if method != "GET" && method != "HEAD" {
        return Err(IisError::method_not_allowed(&handler.name));
    }
    let mut file = host.to_path_buf();
    if host.is_dir() {
        if !url.ends_with('/') {
            let response = Response::builder()
                .status(301)
                .header("Location", format!("{url}/"))
                .header("Server", "Microsoft-IIS/10.0")
                .body(full_body(""))
                .map_err(|_| IisError::generic_500(&handler.name))?;
            return Ok(Outcome::new(response));
        }
        let doc = effective
            .default_document_enabled
            .then(|| {
                effective
                    .default_documents
                    .iter()
                    .find_map(|d| find_ci(host, d).filter(|p| p.is_file()))
            })
            .flatten();
        if let Some(d) = doc {
            file = d;
        } else {
            let mut e = IisError::not_found(&handler.name);
            e.substatus = 0;
            return Err(e);
        }
    }
    let Ok(bytes) = tokio::fs::read(&file).await else {
        return Err(IisError::not_found(&handler.name));
    };
    let modified = tokio::fs::metadata(&file)
        .await
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH);
    let response = Response::builder()
        .status(200)
        .header("Content-Type", mime(&file))
        .header("Last-Modified", http_date(modified))
        .header("Accept-Ranges", "bytes")
        .header("ETag", etag(modified))
        .header("Content-Length", bytes.len())
        .header("Server", "Microsoft-IIS/10.0")
        .body(full_body(bytes))
        .map_err(|_| IisError::generic_500(&handler.name))?;
    Ok(Outcome::new(response))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn validators_as_static_file_module_writes_them() {
        let t = UNIX_EPOCH + Duration::from_secs(1_159_241_729);
        assert_eq!(http_date(t), "Tue, 26 Sep 2006 03:35:29 GMT");
        assert_eq!(etag(t), "\"cfe716801c6e11c:0\"");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let leap = UNIX_EPOCH + Duration::from_hours(264_384);
        assert_eq!(http_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
