//! The server variables IIS's FastCgiModule sends as FastCGI parameters, with
//! its quirks (reference `iis-fastcgi.md` §2.4): for a `path="*"` handler the
//! full URL path in both `SCRIPT_NAME` and `PATH_INFO`, `APPL_MD_PATH` as
//! `/LM/W3SVC/<site id>/ROOT[/app]`, `APPL_PHYSICAL_PATH` with a trailing
//! separator, `HTTPS` as `on`/`off`, one `HTTP_*` per request header
//! (repeated headers joined with `,`).
//!
//! Paths the process opens (`APPL_PHYSICAL_PATH`, `PATH_TRANSLATED`) are
//! given as host paths: a host process cannot open `C:\…`. That is the one
//! deliberate deviation from the values IIS sends on Windows.

/// One request as IIS sees it when it calls the FastCGI handler.
#[derive(Debug, Clone, Default)]
pub struct RequestVars {
    pub site_id: u32,
    /// The application's path (`""` for the site root, else `/app`).
    pub app_path: String,
    /// The application's physical root (host path, without trailing separator).
    pub app_physical: String,
    /// The physical path of the URL (host path).
    pub path_translated: String,
    pub method: String,
    /// The URL path, decoded, as IIS passes it.
    pub path: String,
    pub query: String,
    pub https: bool,
    pub local_addr: String,
    pub server_port: u16,
    pub server_name: String,
    pub remote_addr: String,
    pub remote_port: u16,
    pub protocol: String,
    /// The request headers in arrival order.
    pub headers: Vec<(String, String)>,
    /// `Content-Length` of the body (`None` for a chunked body).
    pub content_length: Option<u64>,
    /// Whether the handler's `allowPathInfo` is set (SCRIPT_NAME is then the
    /// handler's file part; with `path="*"` IIS sends the full path in both).
    pub allow_path_info: bool,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `HTTP_*` variables: one per header name, repeated headers joined by `,`,
/// in the order the names first appear.
fn http_vars(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in headers {
        let name = format!("HTTP_{}", k.to_ascii_uppercase().replace('-', "_"));
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(v);
            }
            None => out.push((name, v.clone())),
        }
    }
    out
}

/// The parameters IIS sends for `r`, in IIS's order.
pub fn server_variables(r: &RequestVars) -> Vec<(Vec<u8>, Vec<u8>)> {
    let md = format!("/LM/W3SVC/{}/ROOT{}", r.site_id, r.app_path);
    let ct = header(&r.headers, "Content-Type").unwrap_or_default();
    let len = r.content_length.map(|n| n.to_string()).unwrap_or_default();
    let p: Vec<(String, String)> = [
        ("APPL_MD_PATH", md),
        (
            "APPL_PHYSICAL_PATH",
            format!("{}/", r.app_physical.trim_end_matches('/')),
        ),
        ("AUTH_TYPE", String::new()),
        ("AUTH_PASSWORD", String::new()),
        ("AUTH_USER", String::new()),
        ("CERT_COOKIE", String::new()),
        ("CERT_FLAGS", String::new()),
        ("CERT_ISSUER", String::new()),
        ("CERT_SERIALNUMBER", String::new()),
        ("CERT_SUBJECT", String::new()),
        ("CONTENT_LENGTH", len),
        ("CONTENT_TYPE", ct.to_owned()),
        ("GATEWAY_INTERFACE", "CGI/1.1".into()),
        ("HTTPS", if r.https { "on" } else { "off" }.into()),
        ("HTTPS_KEYSIZE", String::new()),
        ("HTTPS_SECRETKEYSIZE", String::new()),
        ("HTTPS_SERVER_ISSUER", String::new()),
        ("HTTPS_SERVER_SUBJECT", String::new()),
        ("INSTANCE_ID", r.site_id.to_string()),
        ("INSTANCE_META_PATH", format!("/LM/W3SVC/{}", r.site_id)),
        ("LOCAL_ADDR", r.local_addr.clone()),
        ("LOGON_USER", String::new()),
        ("PATH_INFO", r.path.clone()),
        ("PATH_TRANSLATED", r.path_translated.clone()),
        ("QUERY_STRING", r.query.clone()),
        ("REMOTE_ADDR", r.remote_addr.clone()),
        ("REMOTE_HOST", r.remote_addr.clone()),
        ("REMOTE_PORT", r.remote_port.to_string()),
        ("REMOTE_USER", String::new()),
        ("REQUEST_METHOD", r.method.clone()),
        ("SCRIPT_NAME", r.path.clone()),
        ("SERVER_NAME", r.server_name.clone()),
        ("SERVER_PORT", r.server_port.to_string()),
        ("SERVER_PORT_SECURE", if r.https { "1" } else { "0" }.into()),
        ("SERVER_PROTOCOL", r.protocol.clone()),
        ("SERVER_SOFTWARE", "Microsoft-IIS/10.0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(http_vars(&r.headers))
    .collect();
    p.into_iter()
        .map(|(k, v)| (k.into_bytes(), v.into_bytes()))
        .collect()
}

/// Parameters of a request as IIS sends them for an application mounted at
/// `mount` (`""` for the site root) of site 1: the full URL path in both
/// PATH_INFO and SCRIPT_NAME, as with a `path="*"` handler.
pub fn iis_params(
    physical: &std::path::Path,
    method: &str,
    mount: &str,
    path: &str,
    query: &str,
    body_len: usize,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut headers = vec![
        ("Host".to_owned(), "localhost".to_owned()),
        ("User-Agent".to_owned(), "iiswsgi-harness".to_owned()),
    ];
    if body_len > 0 {
        headers.push(("Content-Length".into(), body_len.to_string()));
        headers.push(("Content-Type".into(), "application/octet-stream".into()));
    }
    let phys = physical.display().to_string();
    server_variables(&RequestVars {
        site_id: 1,
        app_path: mount.to_owned(),
        path_translated: format!("{}{}", phys.trim_end_matches('/'), path),
        app_physical: phys,
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        https: false,
        local_addr: "127.0.0.1".into(),
        server_port: 80,
        server_name: "localhost".into(),
        remote_addr: "127.0.0.1".into(),
        remote_port: 50123,
        protocol: "HTTP/1.1".into(),
        headers,
        content_length: Some(body_len as u64),
        allow_path_info: false,
    })
}
