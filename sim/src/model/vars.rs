//! The server variables IIS's FastCgiModule sends as FastCGI parameters, with
//! its quirks (reference `iis-fastcgi.md` §2.4): for a `path="*"` handler the
//! full URL path in both `SCRIPT_NAME` and `PATH_INFO`, `APPL_MD_PATH` as
//! `/LM/W3SVC/<site id>/ROOT[/app]`, `APPL_PHYSICAL_PATH` with a trailing
//! separator.

/// Parameters of a request as IIS sends them for an application mounted at
/// `mount` (`""` for the site root): the full URL path in both PATH_INFO and
/// SCRIPT_NAME, as with a `path="*"` handler.
pub fn iis_params(
    physical: &std::path::Path,
    method: &str,
    mount: &str,
    path: &str,
    query: &str,
    body_len: usize,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let md = if mount.is_empty() {
        "/LM/W3SVC/1/ROOT".to_string()
    } else {
        format!("/LM/W3SVC/1/ROOT{mount}")
    };
    let mut p: Vec<(&str, String)> = vec![
        ("APPL_MD_PATH", md),
        ("APPL_PHYSICAL_PATH", format!("{}/", physical.display())),
        ("AUTH_TYPE", String::new()),
        ("CONTENT_LENGTH", body_len.to_string()),
        (
            "CONTENT_TYPE",
            if body_len > 0 {
                "application/octet-stream".into()
            } else {
                String::new()
            },
        ),
        ("GATEWAY_INTERFACE", "CGI/1.1".into()),
        ("HTTPS", "off".into()),
        ("INSTANCE_ID", "1".into()),
        ("LOCAL_ADDR", "127.0.0.1".into()),
        ("PATH_INFO", path.into()),
        (
            "PATH_TRANSLATED",
            format!("C:\\inetpub\\wwwroot{}", path.replace('/', "\\")),
        ),
        ("QUERY_STRING", query.into()),
        ("REMOTE_ADDR", "127.0.0.1".into()),
        ("REMOTE_HOST", "127.0.0.1".into()),
        ("REMOTE_PORT", "50123".into()),
        ("REQUEST_METHOD", method.into()),
        ("SCRIPT_NAME", path.into()),
        ("SERVER_NAME", "localhost".into()),
        ("SERVER_PORT", "80".into()),
        ("SERVER_PORT_SECURE", "0".into()),
        ("SERVER_PROTOCOL", "HTTP/1.1".into()),
        ("SERVER_SOFTWARE", "Microsoft-IIS/10.0".into()),
        ("HTTP_HOST", "localhost".into()),
        ("HTTP_USER_AGENT", "iiswsgi-harness".into()),
    ];
    if body_len > 0 {
        p.push(("HTTP_CONTENT_LENGTH", body_len.to_string()));
    }
    p.into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
        .collect()
}
