//! IIS's request routing, pure: a binding (`IP:port:host`) picks the site,
//! the longest application path that prefixes the URL (case-insensitive, at
//! a segment boundary) picks the application, its longest virtual directory
//! gives the physical path, and the first handler whose `path` and `verb`
//! match serves the request.

use iiswsgi_iisconfig::{Application, Handler, Site};

/// A parsed `bindingInformation`: `IP:port:host` (`*` or empty IP = all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingInfo {
    pub ip: String,
    pub port: u16,
    pub host: String,
}

/// Parses `*:80:`, `127.0.0.1:8080:www.example.com`, `[::1]:80:`.
pub fn parse_binding_information(s: &str) -> Option<BindingInfo> {
    let (rest, host) = s.rsplit_once(':')?;
    let (ip, port) = rest.rsplit_once(':')?;
    Some(BindingInfo {
        ip: ip.to_owned(),
        port: port.trim().parse().ok()?,
        host: host.to_owned(),
    })
}

/// A site binding the front serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteBinding {
    pub site_id: u32,
    pub site_name: String,
    pub protocol: String,
    pub info: BindingInfo,
}

impl SiteBinding {
    /// The bindings of `sites` that IIS's HTTP listener serves (http, https).
    pub fn all(sites: &[Site]) -> Vec<SiteBinding> {
        let mut out = Vec::new();
        for site in sites {
            for b in &site.bindings {
                let proto = b.protocol.to_ascii_lowercase();
                if proto != "http" && proto != "https" {
                    continue;
                }
                if let Some(info) = parse_binding_information(&b.binding_information) {
                    out.push(SiteBinding {
                        site_id: site.id,
                        site_name: site.name.clone(),
                        protocol: proto,
                        info,
                    });
                }
            }
        }
        out
    }

    /// `http/*:80:` as IIS Manager shows a binding.
    pub fn label(&self) -> String {
        format!(
            "{}/{}:{}:{}",
            self.protocol, self.info.ip, self.info.port, self.info.host
        )
    }
}

/// The binding for a request that arrived on the port `port` (the binding's
/// own port) with `Host: host_header`: a binding naming that host first,
/// then one with no host, as HTTP.sys picks.
pub fn select_binding<'a>(
    bindings: &'a [SiteBinding],
    protocol: &str,
    port: u16,
    host_header: &str,
) -> Option<&'a SiteBinding> {
    let host = strip_port(host_header);
    let candidates = || {
        bindings
            .iter()
            .filter(move |b| b.info.port == port && b.protocol.eq_ignore_ascii_case(protocol))
    };
    candidates()
        .find(|b| !b.info.host.is_empty() && b.info.host.eq_ignore_ascii_case(host))
        .or_else(|| candidates().find(|b| b.info.host.is_empty()))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..=h.len()]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// Whether the URL path `path` is `prefix` or lies under it (case-insensitive).
pub fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    path.len() >= prefix.len()
        && path.is_char_boundary(prefix.len())
        && path[..prefix.len()].eq_ignore_ascii_case(prefix)
        && (path.len() == prefix.len() || path.as_bytes()[prefix.len()] == b'/')
}

/// The application of `site` that serves `path`: the longest application
/// path that prefixes it.
pub fn select_application<'a>(site: &'a Site, path: &str) -> Option<&'a Application> {
    site.applications
        .iter()
        .filter(|a| under(path, &a.path))
        .max_by_key(|a| a.path.trim_end_matches('/').len())
}

/// The Windows physical path of `path` inside `app`, through the longest
/// virtual directory that prefixes it (relative to the application).
pub fn physical_path<'a>(app: &'a Application, path: &str) -> Option<std::borrow::Cow<'a, str>> {
    let app_path = app.path.trim_end_matches('/');
    let rel = &path[app_path.len().min(path.len())..];
    let rel = if rel.is_empty() { "/" } else { rel };
    let vdir = app
        .virtual_directories
        .iter()
        .filter(|v| under(rel, &v.path))
        .max_by_key(|v| v.path.trim_end_matches('/').len())?;
    let rest = &rel[vdir.path.trim_end_matches('/').len()..];
    let base = vdir.physical_path.trim_end_matches('\\');
    if rest.is_empty() {
        return Some(base.into());
    }
    let mut out = String::with_capacity(base.len() + rest.len());
    out.push_str(base);
    out.extend(rest.chars().map(|c| if c == '/' { '\\' } else { c }));
    Some(out.into())
}

/// The application's root physical path (its `/` virtual directory).
pub fn application_root(app: &Application) -> Option<std::borrow::Cow<'_, str>> {
    physical_path(app, &app.path)
}

/// The URL folders whose configuration applies to `path`, outermost first:
/// `/a/b/c` gives `/`, `/a`, `/a/b` (and `/a/b/c` itself when it is a folder).
pub fn url_folders(path: &str, last_is_folder: bool) -> Vec<String> {
    let mut out = vec!["/".to_owned()];
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let n = if last_is_folder {
        segments.len()
    } else {
        segments.len().saturating_sub(1)
    };
    let mut cur = String::new();
    for s in &segments[..n] {
        cur.push('/');
        cur.push_str(s);
        out.push(cur.clone());
    }
    out
}

/// Whether `<location path="…">` of applicationHost.config applies to `path`
/// of site `site_name` (`""` and `.` apply everywhere).
pub fn location_applies(location: &str, site_name: &str, path: &str) -> bool {
    let loc = location.trim().trim_matches('/');
    if loc.is_empty() || loc == "." {
        return true;
    }
    let (loc_site, loc_path) = loc.split_once('/').unwrap_or((loc, ""));
    loc_site.eq_ignore_ascii_case(site_name) && under(path, &format!("/{loc_path}"))
}

/// Whether a handler's `path` attribute matches the URL `path`: `*`, `*.ext`,
/// a file name, or a pattern with a folder (matched against the whole path).
pub fn handler_path_matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim();
    if pattern == "*" {
        return true;
    }
    let target = if pattern.contains('/') {
        path
    } else {
        path.rsplit('/').next().unwrap_or(path)
    };
    wildcard(pattern, target)
}

fn wildcard(pattern: &str, s: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let s = s.to_ascii_lowercase();
    match p.split_once('*') {
        None => p == s,
        Some((head, tail)) => {
            s.len() >= head.len() + tail.len() && s.starts_with(head) && {
                let rest = &s[head.len()..];
                (0..=rest.len())
                    .filter(|&i| rest.is_char_boundary(i))
                    .any(|i| wildcard(tail, &rest[i..]))
            }
        }
    }
}

/// Whether a handler's `verb` list (`*`, or `GET,HEAD,POST`) names `verb`.
pub fn handler_verb_matches(verbs: &str, verb: &str) -> bool {
    let verbs = verbs.trim();
    verbs.is_empty() || verbs == "*" || verbs.split(',').any(|v| v.trim() == verb)
}

/// The first handler of `handlers` (the ordered list in effect) for `path`, `verb`.
pub fn select_handler<'a>(handlers: &'a [Handler], path: &str, verb: &str) -> Option<&'a Handler> {
    handlers
        .iter()
        .find(|h| handler_path_matches(&h.path, path) && handler_verb_matches(&h.verb, verb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_and_prefixes() {
        let b = parse_binding_information("*:80:").unwrap();
        assert_eq!((b.ip.as_str(), b.port, b.host.as_str()), ("*", 80, ""));
        let b = parse_binding_information("[::1]:8080:www.x.org").unwrap();
        assert_eq!(
            (b.ip.as_str(), b.port, b.host.as_str()),
            ("[::1]", 8080, "www.x.org")
        );
        assert!(under("/App/x", "/app"));
        assert!(under("/app", "/app/"));
        assert!(!under("/apple", "/app"));
        assert!(handler_path_matches("*.py", "/a/B.PY"));
        assert!(!handler_path_matches("*.py", "/a/b.pyc"));
        assert!(handler_path_matches("handler.fcgi", "/x/handler.fcgi"));
        assert!(handler_verb_matches("GET,HEAD", "HEAD"));
        assert!(location_applies(
            "Default Web Site/app",
            "default web site",
            "/APP/x"
        ));
        assert!(!location_applies("Other/app", "Default Web Site", "/app"));
        assert_eq!(url_folders("/a/b/c", false), ["/", "/a", "/a/b"]);
    }

    #[test]
    fn a_host_header_binding_wins_over_the_catch_all() {
        let b = |id: u32, info: &str| SiteBinding {
            site_id: id,
            site_name: format!("s{id}"),
            protocol: "http".into(),
            info: parse_binding_information(info).unwrap(),
        };
        let all = [b(1, "*:80:"), b(2, "*:80:www.example.org"), b(3, "*:8080:")];
        let pick =
            |host: &str, port: u16| select_binding(&all, "http", port, host).map(|b| b.site_id);
        assert_eq!(pick("WWW.example.org:80", 80), Some(2));
        assert_eq!(pick("other", 80), Some(1));
        assert_eq!(pick("www.example.org", 8080), Some(3));
        assert_eq!(pick("x", 443), None);
    }
}
