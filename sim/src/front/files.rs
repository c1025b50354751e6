//! IIS's StaticFile handler (StaticFileModule, DefaultDocumentModule): a
//! file is sent with its MIME type, a folder gets its default document (a
//! folder URL without a trailing slash is redirected first), else 404.

use std::path::Path;

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
        match doc {
            Some(d) => file = d,
            None => {
                let mut e = IisError::not_found(&handler.name);
                e.substatus = 0;
                return Err(e);
            }
        }
    }
    let bytes = match tokio::fs::read(&file).await {
        Ok(b) => b,
        Err(_) => return Err(IisError::not_found(&handler.name)),
    };
    let response = Response::builder()
        .status(200)
        .header("Content-Type", mime(&file))
        .header("Content-Length", bytes.len())
        .header("Server", "Microsoft-IIS/10.0")
        .body(full_body(bytes))
        .map_err(|_| IisError::generic_500(&handler.name))?;
    Ok(Outcome::new(response))
}
