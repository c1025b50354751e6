//! `web.config.in` checks: well-formed after expansion, and every FastCGI
//! handler's `scriptProcessor` names a `<fastCgi><application>` of the same
//! file exactly (`fullPath|arguments`, as IIS keys its process pools).

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{line_of, DeployError};

/// A `<fastCgi><application>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastCgiApp {
    pub full_path: String,
    pub arguments: String,
}

impl FastCgiApp {
    /// The `scriptProcessor` that selects this application.
    pub fn script_processor(&self) -> String {
        if self.arguments.is_empty() {
            self.full_path.clone()
        } else {
            format!("{}|{}", self.full_path, self.arguments)
        }
    }
}

/// Validates the expanded text; returns the FastCGI applications it declares.
pub fn validate(file: &Path, text: &str) -> Result<Vec<FastCgiApp>, DeployError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut apps = Vec::new();
    let mut handlers: Vec<(String, usize)> = Vec::new();
    let mut checker = crate::xmlcheck::Checker::after_expansion();
    loop {
        let (pos, ev) = checker.next(&mut reader, file, text)?;
        let (e, empty) = match ev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let parent = stack.last().map(String::as_str).unwrap_or("");
        let attr = |key: &str| -> Option<String> {
            e.attributes()
                .flatten()
                .find(|a| a.key.as_ref() == key.as_bytes())
                .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
        };
        if name == "application" && parent.eq_ignore_ascii_case("fastCgi") {
            apps.push(FastCgiApp {
                full_path: attr("fullPath").unwrap_or_default(),
                arguments: attr("arguments").unwrap_or_default(),
            });
        }
        if name == "add" && parent == "handlers" {
            let is_fastcgi = attr("modules").is_some_and(|m| {
                m.split(',')
                    .any(|x| x.trim().eq_ignore_ascii_case("FastCgiModule"))
            });
            if is_fastcgi {
                handlers.push((
                    attr("scriptProcessor").unwrap_or_default(),
                    line_of(text, pos),
                ));
            }
        }
        if !empty {
            stack.push(name);
        }
    }
    if !stack.is_empty() {
        return Err(DeployError::at(
            file,
            line_of(text, text.len()),
            "not well-formed XML after expansion: unclosed elements",
            "close every element",
        ));
    }
    for (sp, line) in handlers {
        let ok = apps.iter().any(|a| {
            a.script_processor() == sp
                || (a.arguments.is_empty() && sp == format!("{}|", a.full_path))
        });
        if !ok {
            let known: Vec<String> = apps.iter().map(FastCgiApp::script_processor).collect();
            return Err(DeployError::at(
                file,
                line,
                format!("the FastCgiModule handler's scriptProcessor {sp:?} matches no <fastCgi><application> in this file (known: {known:?})"),
                "IIS selects the process pool by fullPath|arguments exactly, quotes included: make the handler's scriptProcessor equal fullPath|arguments of the <application>",
            ));
        }
    }
    Ok(apps)
}
