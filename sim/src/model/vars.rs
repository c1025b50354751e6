//! The server variables IIS's `FastCgiModule` sends as `FastCGI` parameters, with
//! its quirks (reference `iis-fastcgi.md` §2.4): for a `path="*"` handler the
//! full URL path in both `SCRIPT_NAME` and `PATH_INFO`, `APPL_MD_PATH` as
//! `/LM/W3SVC/<site id>/ROOT[/app]`, `APPL_PHYSICAL_PATH` with a trailing
//! separator, `HTTPS` as `on`/`off`, one `HTTP_*` per request header
//! (repeated headers joined with `,`).
//!
//! Paths the process opens (`APPL_PHYSICAL_PATH`, `PATH_TRANSLATED`) are
//! given as host paths: a host process cannot open `C:\…`. That is the one
//! deliberate deviation from the values IIS sends on Windows.

/// One request as IIS sees it when it calls the `FastCGI` handler.
#[derive(Debug, Clone, Default)]
pub struct RequestVars<'a> {
    pub site_id: u32,
    /// The application's path (`""` for the site root, else `/app`).
    pub app_path: &'a str,
    /// The application's physical root (host path, without trailing separator).
    pub app_physical: &'a str,
    /// The physical path of the URL (host path).
    pub path_translated: &'a str,
    pub method: &'a str,
    /// The URL path, decoded, as IIS passes it.
    pub path: &'a str,
    pub query: &'a str,
    pub https: bool,
    pub local_addr: &'a str,
    pub server_port: u16,
    pub server_name: &'a str,
    pub remote_addr: &'a str,
    pub remote_port: u16,
    pub protocol: &'a str,
    /// The request headers in arrival order: name (any case), raw value.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// `Content-Length` of the body (`None` for a chunked body).
    pub content_length: Option<u64>,
    /// Whether the handler's `allowPathInfo` is set (`SCRIPT_NAME` is then the
    /// handler's file part; with `path="*"` IIS sends the full path in both).
    pub allow_path_info: bool,
}

use super::decimal;

fn header<'a>(headers: &[(&str, &'a [u8])], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// `HTTP_*` variables: one per header name, repeated headers joined by `,`,
/// in the order the names first appear.
fn http_vars<F: FnMut(&[u8], &[u8])>(headers: &[(&str, &[u8])], emit: &mut F) {
    let mut name = Vec::with_capacity(64);
    let mut joined = Vec::new();
    for (i, (k, v)) in headers.iter().enumerate() {
        if headers[..i].iter().any(|(e, _)| e.eq_ignore_ascii_case(k)) {
            continue;
        }
        name.clear();
        name.extend_from_slice(b"HTTP_");
        name.extend(k.bytes().map(|b| match b {
            b'-' => b'_',
            b => b.to_ascii_uppercase(),
        }));
        let mut repeats = headers[i + 1..]
            .iter()
            .filter(|(e, _)| e.eq_ignore_ascii_case(k))
            .peekable();
        if repeats.peek().is_none() {
            emit(&name, v);
            continue;
        }
        joined.clear();
        joined.extend_from_slice(v);
        for (_, more) in repeats {
            joined.push(b',');
            joined.extend_from_slice(more);
        }
        emit(&name, &joined);
    }
}

/// Calls `emit` with each parameter IIS sends for `r`, in IIS's order,
/// without building a list (the simulator's per-request path; generic, so
/// that the encoder is inlined into it rather than called through a pointer
/// for each of the ~40 parameters).
pub fn each_server_variable<F: FnMut(&[u8], &[u8])>(r: &RequestVars<'_>, emit: &mut F) {
    let mut num = [0u8; 20];
    // "/LM/W3SVC/<id>/ROOT<app>": INSTANCE_META_PATH is its start.
    let mut md = Vec::with_capacity(32 + r.app_path.len());
    md.extend_from_slice(b"/LM/W3SVC/");
    md.extend_from_slice(decimal(r.site_id.into(), &mut num));
    let meta_len = md.len();
    md.extend_from_slice(b"/ROOT");
    md.extend_from_slice(r.app_path.as_bytes());
    emit(b"APPL_MD_PATH", &md);
    let physical = r.app_physical.trim_end_matches('/');
    let mut buf = Vec::with_capacity(physical.len() + 1);
    buf.extend_from_slice(physical.as_bytes());
    buf.push(b'/');
    emit(b"APPL_PHYSICAL_PATH", &buf);
    for name in [
        "AUTH_TYPE",
        "AUTH_PASSWORD",
        "AUTH_USER",
        "CERT_COOKIE",
        "CERT_FLAGS",
        "CERT_ISSUER",
        "CERT_SERIALNUMBER",
        "CERT_SUBJECT",
    ] {
        emit(name.as_bytes(), b"");
    }
    match r.content_length {
        Some(n) => emit(b"CONTENT_LENGTH", decimal(n, &mut num)),
        None => emit(b"CONTENT_LENGTH", b""),
    }
    emit(
        b"CONTENT_TYPE",
        header(r.headers, "Content-Type").unwrap_or_default(),
    );
    emit(b"GATEWAY_INTERFACE", b"CGI/1.1");
    emit(b"HTTPS", if r.https { b"on" } else { b"off" });
    for name in [
        "HTTPS_KEYSIZE",
        "HTTPS_SECRETKEYSIZE",
        "HTTPS_SERVER_ISSUER",
        "HTTPS_SERVER_SUBJECT",
    ] {
        emit(name.as_bytes(), b"");
    }
    emit(b"INSTANCE_ID", decimal(r.site_id.into(), &mut num));
    emit(b"INSTANCE_META_PATH", &md[..meta_len]);
    emit(b"LOCAL_ADDR", r.local_addr.as_bytes());
    emit(b"LOGON_USER", b"");
    emit(b"PATH_INFO", r.path.as_bytes());
    emit(b"PATH_TRANSLATED", r.path_translated.as_bytes());
    emit(b"QUERY_STRING", r.query.as_bytes());
    emit(b"REMOTE_ADDR", r.remote_addr.as_bytes());
    emit(b"REMOTE_HOST", r.remote_addr.as_bytes());
    emit(b"REMOTE_PORT", decimal(r.remote_port.into(), &mut num));
    emit(b"REMOTE_USER", b"");
    emit(b"REQUEST_METHOD", r.method.as_bytes());
    emit(b"SCRIPT_NAME", r.path.as_bytes());
    emit(b"SERVER_NAME", r.server_name.as_bytes());
    emit(b"SERVER_PORT", decimal(r.server_port.into(), &mut num));
    emit(b"SERVER_PORT_SECURE", if r.https { b"1" } else { b"0" });
    emit(b"SERVER_PROTOCOL", r.protocol.as_bytes());
    emit(b"SERVER_SOFTWARE", b"Microsoft-IIS/10.0");
    http_vars(r.headers, emit);
}

/// The parameters IIS sends for `r`, in IIS's order.
pub fn server_variables(r: &RequestVars<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::with_capacity(48);
    each_server_variable(r, &mut |k, v| out.push((k.to_vec(), v.to_vec())));
    out
}

/// The parameters IIS sends for `r`, encoded as the content of a PARAMS
/// stream (name-value pairs).
pub fn encoded_server_variables(r: &RequestVars<'_>) -> Result<Vec<u8>, iiswsgi_fastcgi::Error> {
    let mut out = Vec::with_capacity(1024);
    let mut result = Ok(());
    each_server_variable(r, &mut |k, v| {
        if result.is_ok() {
            result = iiswsgi_fastcgi::nv::encode_pair(&mut out, k, v);
        }
    });
    result.map(|()| out)
}

/// Parameters of a request as IIS sends them for an application mounted at
/// `mount` (`""` for the site root) of site 1: the full URL path in both
/// `PATH_INFO` and `SCRIPT_NAME`, as with a `path="*"` handler.
pub fn iis_params(
    physical: &std::path::Path,
    method: &str,
    mount: &str,
    path: &str,
    query: &str,
    body_len: usize,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let len = body_len.to_string();
    let mut headers: Vec<(&str, &[u8])> =
        vec![("Host", b"localhost"), ("User-Agent", b"iiswsgi-harness")];
    if body_len > 0 {
        headers.push(("Content-Length", len.as_bytes()));
        headers.push(("Content-Type", b"application/octet-stream"));
    }
    let phys = physical.display().to_string();
    let translated = format!("{}{}", phys.trim_end_matches('/'), path);
    server_variables(&RequestVars {
        site_id: 1,
        app_path: mount,
        path_translated: &translated,
        app_physical: &phys,
        method,
        path,
        query,
        https: false,
        local_addr: "127.0.0.1",
        server_port: 80,
        server_name: "localhost",
        remote_addr: "127.0.0.1",
        remote_port: 50123,
        protocol: "HTTP/1.1",
        headers: &headers,
        content_length: Some(body_len as u64),
        allow_path_info: false,
    })
}
