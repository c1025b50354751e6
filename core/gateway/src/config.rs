//! wfastcgi-compatible settings: `<appSettings>` of the application's
//! `web.config`, and `%VAR%` expansion.

use std::path::{Path, PathBuf};

use quick_xml::events::Event;
use quick_xml::Reader;

/// An error reading `web.config`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}; fix the XML so that IIS and iiswsgi can read it")]
    Xml {
        path: PathBuf,
        line: usize,
        message: String,
    },
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

fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&c| c == b'\n')
        .count()
        + 1
}

/// The `<configuration><appSettings>` entries of a `web.config`, in order, with
/// `<remove>` and `<clear>` applied.
pub fn read_app_settings(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_app_settings(&text).map_err(|(pos, message)| ConfigError::Xml {
        path: path.to_path_buf(),
        line: line_of(&text, pos),
        message,
    })
}

/// Parses `<appSettings>` from the text of a `web.config`; errors carry the byte position.
pub fn parse_app_settings(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut out: Vec<(String, String)> = Vec::new();
    loop {
        let pos = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| (pos, e.to_string()))?;
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
        let in_settings =
            stack.len() == 2 && stack[0] == "configuration" && stack[1] == "appSettings";
        if in_settings {
            let mut key = None;
            let mut value = None;
            for a in e.attributes() {
                let a = a.map_err(|err| (pos, err.to_string()))?;
                let v = a
                    .unescape_value()
                    .map_err(|err| (pos, err.to_string()))?
                    .into_owned();
                match a.key.local_name().as_ref() {
                    b"key" => key = Some(v),
                    b"value" => value = Some(v),
                    _ => {}
                }
            }
            match name.as_str() {
                "add" => {
                    let Some(key) = key else {
                        return Err((pos, "<add> in <appSettings> needs a key attribute".into()));
                    };
                    out.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                    out.push((key, value.unwrap_or_default()));
                }
                "remove" => {
                    if let Some(key) = key {
                        out.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                    }
                }
                "clear" => out.clear(),
                _ => {}
            }
        }
        if !empty {
            stack.push(name);
        }
    }
    Ok(out)
}

/// Expands `%VAR%` from the environment as wfastcgi does for `PYTHONPATH`;
/// unknown variables are left as they are.
pub fn expand_percent_vars(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('%') {
            Some(end) if end > 0 => {
                let name = &after[..end];
                match std::env::var(name) {
                    Ok(v) => out.push_str(&v),
                    Err(_) => {
                        out.push('%');
                        out.push_str(name);
                        out.push('%');
                    }
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_settings() {
        let xml = r#"<?xml version="1.0"?>
<configuration>
  <appSettings>
    <add key="WSGI_HANDLER" value="app.application"/>
    <add key="PYTHONPATH" value="%X%;c:\b"/>
    <add key="GONE" value="1"/>
    <remove key="gone"/>
  </appSettings>
  <system.webServer><add key="NOT_A_SETTING" value="x"/></system.webServer>
</configuration>"#;
        let s = parse_app_settings(xml).unwrap();
        assert_eq!(
            s,
            vec![
                ("WSGI_HANDLER".into(), "app.application".into()),
                ("PYTHONPATH".into(), "%X%;c:\\b".into())
            ]
        );
    }

    #[test]
    fn bad_xml_names_the_line() {
        let xml = "<configuration>\n<appSettings>\n<add key=\"a\" value=\"b\">\n</configuration>";
        let (pos, msg) = parse_app_settings(xml).unwrap_err();
        assert!(line_of(xml, pos) >= 3, "{msg} at {pos}");
    }

    #[test]
    fn percent_vars() {
        std::env::set_var("IISWSGI_TEST_VAR", "v");
        assert_eq!(expand_percent_vars("a%IISWSGI_TEST_VAR%b"), "avb");
        assert_eq!(expand_percent_vars("%NOPE_NOT_SET%;%"), "%NOPE_NOT_SET%;%");
        assert_eq!(expand_percent_vars("100%"), "100%");
    }
}
