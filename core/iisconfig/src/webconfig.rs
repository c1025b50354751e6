//! `web.config`: `<appSettings>` (wfastcgi's settings), `<handlers>`, and the
//! `<fastCgi>` applications a template declares for registration; read and
//! written through the preserving [`Document`].

use std::path::{Path, PathBuf};

use crate::dom::{Document, Element, Wording};
use crate::error::{ConfigError, ErrorKind};
use crate::fastcgi::{merge_collection, FastCgiApplication, Handler};

const APP_SETTINGS: &str = "appSettings";
const HANDLERS: &str = "system.webServer/handlers";
const FASTCGI: &str = "system.webServer/fastCgi";

/// One `<add key value>` of `<appSettings>` in effect, with its line
/// (1-based; 0 when the document was not parsed from a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSetting {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A parsed `web.config`.
#[derive(Debug, Clone)]
pub struct WebConfig {
    file: PathBuf,
    doc: Document,
}

/// Finds `web.config` in `dir` (any letter case, as on Windows).
pub fn find_web_config(dir: &Path) -> Option<PathBuf> {
    let exact = dir.join("web.config");
    if exact.is_file() {
        return Some(exact);
    }
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.eq_ignore_ascii_case("web.config"))
                && p.is_file()
        })
}

impl WebConfig {
    /// Parses and checks the text of `file`.
    pub fn parse(file: &Path, text: &str) -> Result<WebConfig, ConfigError> {
        Self::parse_with(file, text, Wording::default())
    }

    /// As [`WebConfig::parse`], with errors worded for the caller.
    pub fn parse_with(file: &Path, text: &str, wording: Wording) -> Result<WebConfig, ConfigError> {
        let doc = Document::parse_configuration(file, text, wording, "a web.config")?;
        Ok(WebConfig {
            file: file.to_path_buf(),
            doc,
        })
    }

    /// Reads `path`.
    pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
        Self::parse(path, &crate::io::read_text(path)?)
    }

    /// An empty `<configuration>`, to be saved as `file`.
    pub fn new(file: &Path) -> WebConfig {
        WebConfig {
            file: file.to_path_buf(),
            doc: Document::new("configuration"),
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// `<appSettings>` in order, with `<remove>` and `<clear>` applied (keys
    /// compared case-insensitively, as .NET does).
    pub fn app_settings(&self) -> Result<Vec<(String, String)>, ConfigError> {
        Ok(self
            .app_setting_entries()?
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect())
    }

    /// [`WebConfig::app_settings`] with the line of each `<add>`, so that a
    /// value can be traced to where it was written.
    pub fn app_setting_entries(&self) -> Result<Vec<AppSetting>, ConfigError> {
        let Some(coll) = self.doc.root().descendant(APP_SETTINGS) else {
            return Ok(Vec::new());
        };
        for e in coll.elements() {
            if e.name() == "add" && e.attr("key").is_none() {
                return Err(ConfigError::at(
                    ErrorKind::Invalid,
                    &self.file,
                    e.line(),
                    "<add> in <appSettings> needs a key attribute",
                    "write <add key=\"NAME\" value=\"VALUE\" />",
                ));
            }
        }
        let mut merged = Vec::new();
        merge_collection(coll, "key", &mut merged);
        Ok(merged
            .into_iter()
            .map(|e| AppSetting {
                key: e.attr("key").unwrap_or_default().to_owned(),
                value: e.attr("value").unwrap_or_default().to_owned(),
                line: e.line(),
            })
            .collect())
    }

    /// Sets an `<appSettings>` entry (its `<add>` changed in place, or appended).
    pub fn set_app_setting(&mut self, key: &str, value: &str) {
        let coll = self.doc.root_mut().ensure_path(APP_SETTINGS);
        let existing = coll.elements_mut().find(|e| {
            e.name() == "add" && e.attr("key").is_some_and(|k| k.eq_ignore_ascii_case(key))
        });
        match existing {
            Some(e) => e.set_attr("value", value),
            None => {
                coll.append(
                    Element::new("add")
                        .with_attr("key", key)
                        .with_attr("value", value),
                );
            }
        }
    }

    /// The handlers in effect in this file (`<add>`, `<remove>`, `<clear>` applied).
    pub fn handlers(&self) -> Vec<Handler> {
        Handler::merged(self.doc.root().descendant(HANDLERS))
    }

    /// Appends a handler `<add>`.
    pub fn add_handler(&mut self, h: &Handler) {
        let mut e = Element::new("add")
            .with_attr("name", &h.name)
            .with_attr("path", &h.path)
            .with_attr("verb", &h.verb)
            .with_attr("modules", &h.modules);
        if !h.script_processor.is_empty() {
            e.set_attr("scriptProcessor", &h.script_processor);
        }
        e.set_attr("resourceType", &h.resource_type);
        e.set_attr("requireAccess", &h.require_access);
        if h.response_buffer_limit != 4_194_304 {
            e.set_attr("responseBufferLimit", &h.response_buffer_limit.to_string());
        }
        self.doc.root_mut().ensure_path(HANDLERS).append(e);
    }

    /// The `<fastCgi><application>` entries (IIS ignores them in a web.config:
    /// the section is `AppHostOnly`; iiswsgi registers them with appcmd).
    pub fn fastcgi_applications(&self) -> Result<Vec<FastCgiApplication>, ConfigError> {
        self.fastcgi_elements()
            .map(|e| FastCgiApplication::from_element(&self.file, e))
            .collect()
    }

    fn fastcgi_elements(&self) -> impl Iterator<Item = &Element> {
        self.doc
            .root()
            .descendant(FASTCGI)
            .into_iter()
            .flat_map(Element::elements)
            .filter(|e| e.name() == "application")
    }

    /// Appends a `<fastCgi><application>`.
    pub fn add_fastcgi_application(&mut self, app: &FastCgiApplication) {
        self.doc
            .root_mut()
            .ensure_path(FASTCGI)
            .append(app.to_element());
    }

    /// Checks that every `FastCgiModule` handler's `scriptProcessor` equals
    /// `fullPath|arguments` of a `<fastCgi><application>` of this file, as IIS
    /// selects the process pool; returns the applications.
    pub fn validate_handlers(&self) -> Result<Vec<FastCgiApplication>, ConfigError> {
        let apps = self.fastcgi_applications()?;
        for h in self.handlers().iter().filter(|h| h.is_fastcgi()) {
            let sp = &h.script_processor;
            let ok = apps.iter().any(|a| {
                a.script_processor() == *sp
                    || (a.arguments.is_empty() && *sp == format!("{}|", a.full_path))
            });
            if !ok {
                let known: Vec<String> = apps
                    .iter()
                    .map(FastCgiApplication::script_processor)
                    .collect();
                return Err(ConfigError::at(
                    ErrorKind::Invalid,
                    &self.file,
                    h.line,
                    format!("the FastCgiModule handler's scriptProcessor {sp:?} matches no <fastCgi><application> in this file (known: {known:?})"),
                    "IIS selects the process pool by fullPath|arguments exactly, quotes included: make the handler's scriptProcessor equal fullPath|arguments of the <application>",
                ));
            }
        }
        Ok(apps)
    }

    /// The file's text: unchanged parts exactly as read.
    pub fn write(&self) -> String {
        self.doc.write()
    }

    /// Writes the file atomically.
    pub fn save(&self) -> Result<(), ConfigError> {
        crate::io::write_atomic(&self.file, &self.write())
    }
}
