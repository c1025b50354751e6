//! The configuration in effect for a URL, pure: the `system.webServer`
//! elements of applicationHost.config, of its `<location>` elements that
//! apply, then of each `web.config` down the URL, merged as IIS merges them.
//!
//! Collections (`handlers`, `defaultDocument/files`) merge with a lower
//! level's `<add>` entries placed *before* the inherited ones (IIS's
//! "ordered list": a handler added in a web.config wins over the server's
//! `StaticFile path="*"`), `<remove>` and `<clear>` applied; single
//! attributes (`maxAllowedContentLength`, `errorMode`) are overridden by the
//! lowest level that sets them.

use iiswsgi_iisconfig::{Element, Handler};

/// How `<httpErrors errorMode>` shows errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorMode {
    #[default]
    DetailedLocalOnly,
    Detailed,
    Custom,
}

impl ErrorMode {
    /// Whether the detailed page is shown to a client at `remote_ip`.
    pub fn detailed_for(self, remote_is_local: bool) -> bool {
        match self {
            ErrorMode::Detailed => true,
            ErrorMode::Custom => false,
            ErrorMode::DetailedLocalOnly => remote_is_local,
        }
    }
}

/// The settings in effect for one URL.
#[derive(Debug, Clone)]
pub struct Effective {
    pub handlers: Vec<Handler>,
    pub max_allowed_content_length: u64,
    pub error_mode: ErrorMode,
    pub default_document_enabled: bool,
    pub default_documents: Vec<String>,
    /// What the simulator noticed and IIS would silently do (ignore a
    /// `<fastCgi>` in a web.config).
    pub warnings: Vec<String>,
}

impl Default for Effective {
    fn default() -> Self {
        Effective {
            handlers: Vec::new(),
            max_allowed_content_length: 30_000_000,
            error_mode: ErrorMode::default(),
            default_document_enabled: true,
            default_documents: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// Merges one level of a keyed collection into `inherited`: this level's
/// `<add>` entries first, then what is inherited and not removed.
fn merge_level(coll: &Element, key: &str, inherited: &mut Vec<Element>) {
    let mut local: Vec<Element> = Vec::new();
    let same = |a: &Element, k: &str| a.attr(key).unwrap_or_default().eq_ignore_ascii_case(k);
    for e in coll.elements() {
        let k = e.attr(key).unwrap_or_default();
        match e.name() {
            "add" => {
                local.retain(|x| !same(x, k));
                inherited.retain(|x| !same(x, k));
                local.push(e.clone());
            }
            "remove" => {
                local.retain(|x| !same(x, k));
                inherited.retain(|x| !same(x, k));
            }
            "clear" => {
                local.clear();
                inherited.clear();
            }
            _ => {}
        }
    }
    local.append(inherited);
    *inherited = local;
}

/// Builds the configuration in effect level by level.
#[derive(Debug, Default)]
pub struct Merger {
    handlers: Vec<Element>,
    documents: Vec<Element>,
    out: Effective,
}

impl Merger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one `system.webServer` element; `origin` names the file for
    /// warnings; `web_config` is true for a web.config (where `<fastCgi>` is
    /// not allowed: `AppHostOnly`).
    pub fn apply(&mut self, ws: &Element, origin: &str, web_config: bool) {
        if let Some(h) = ws.child("handlers") {
            merge_level(h, "name", &mut self.handlers);
        }
        if let Some(d) = ws.child("defaultDocument") {
            if let Some(v) = d.attr("enabled") {
                self.out.default_document_enabled = !v.trim().eq_ignore_ascii_case("false");
            }
            if let Some(files) = d.child("files") {
                merge_level(files, "value", &mut self.documents);
            }
        }
        if let Some(v) = ws
            .descendant("security/requestFiltering/requestLimits")
            .and_then(|e| e.attr("maxAllowedContentLength"))
            .and_then(|v| v.trim().parse().ok())
        {
            self.out.max_allowed_content_length = v;
        }
        if let Some(mode) = ws.child("httpErrors").and_then(|e| e.attr("errorMode")) {
            self.out.error_mode = match mode.trim().to_ascii_lowercase().as_str() {
                "detailed" => ErrorMode::Detailed,
                "custom" => ErrorMode::Custom,
                _ => ErrorMode::DetailedLocalOnly,
            };
        }
        if web_config && ws.child("fastCgi").is_some() {
            self.out.warnings.push(format!(
                "{origin}: <fastCgi> is ignored in a web.config (the section is AppHostOnly); register the application in applicationHost.config (appcmd set config -section:system.webServer/fastCgi ... /commit:apphost)"
            ));
        }
    }

    /// The configuration in effect.
    pub fn finish(mut self) -> Effective {
        self.out.handlers = self.handlers.iter().map(Handler::from_element).collect();
        self.out.default_documents = self
            .documents
            .iter()
            .filter_map(|e| e.attr("value").map(str::to_owned))
            .collect();
        self.out
    }
}

/// The level (an index into `folders`, the URL folders of the request from
/// [`url_folders`](crate::model::routing::url_folders), outermost first) at
/// which a `<location path="…">` of the web.config of `folders[at]` applies:
/// its path is relative to that web.config's folder (`static`, `static/css`,
/// a file name; `.` or empty: the folder itself). IIS merges it there, after
/// every file above and before that level's own web.config. `None` when it
/// does not apply to this request.
pub fn web_config_location_level(folders: &[String], at: usize, path: &str) -> Option<usize> {
    let rel = path.trim().trim_matches('/');
    if rel.is_empty() || rel == "." {
        return (at < folders.len()).then_some(at);
    }
    let base = folders.get(at)?.trim_end_matches('/');
    let target = format!("{base}/{rel}");
    folders
        .iter()
        .enumerate()
        .skip(at + 1)
        .find(|(_, f)| f.eq_ignore_ascii_case(&target))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iiswsgi_iisconfig::Document;
    use std::path::Path;

    fn ws(xml: &str) -> Element {
        let doc = Document::parse(Path::new("t.config"), xml).unwrap();
        doc.root().child("system.webServer").unwrap().clone()
    }

    #[test]
    fn a_lower_level_handler_comes_first() {
        let mut m = Merger::new();
        m.apply(&ws(r#"<configuration><system.webServer><handlers><add name="StaticFile" path="*" verb="*" modules="StaticFileModule"/></handlers><security><requestFiltering><requestLimits maxAllowedContentLength="30000000"/></requestFiltering></security></system.webServer></configuration>"#), "apphost", false);
        m.apply(&ws(r#"<configuration><system.webServer><handlers><add name="Py" path="*" verb="*" modules="FastCgiModule" scriptProcessor="c:\p.exe|x"/></handlers><httpErrors errorMode="Detailed"/><security><requestFiltering><requestLimits maxAllowedContentLength="10"/></requestFiltering></security><fastCgi/></system.webServer></configuration>"#), "web.config", true);
        let e = m.finish();
        let names: Vec<&str> = e.handlers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["Py", "StaticFile"]);
        assert_eq!(e.max_allowed_content_length, 10);
        assert_eq!(e.error_mode, ErrorMode::Detailed);
        assert_eq!(e.warnings.len(), 1);
    }

    #[test]
    fn a_web_config_location_applies_at_its_folder() {
        let folders: Vec<String> = ["/", "/App", "/App/static", "/App/static/admin"]
            .map(String::from)
            .to_vec();
        assert_eq!(web_config_location_level(&folders, 1, "static"), Some(2));
        assert_eq!(web_config_location_level(&folders, 1, "/Static/"), Some(2));
        assert_eq!(
            web_config_location_level(&folders, 1, "static/admin"),
            Some(3)
        );
        assert_eq!(web_config_location_level(&folders, 1, "."), Some(1));
        assert_eq!(web_config_location_level(&folders, 1, ""), Some(1));
        assert_eq!(
            web_config_location_level(&folders, 0, "App/static"),
            Some(2)
        );
        assert_eq!(web_config_location_level(&folders, 1, "media"), None);
        assert_eq!(web_config_location_level(&folders, 1, "stat"), None);
        assert_eq!(web_config_location_level(&folders, 2, "static"), None);
    }
}
