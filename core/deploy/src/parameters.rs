//! `Parameters.xml` validation: what WebPI and Web Deploy would reject or
//! silently get wrong, found before anything is built.

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{line_of, DeployError};

/// One `<parameterEntry>`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: String,
    pub scope: String,
    pub matches: String,
    pub line: usize,
}

/// One `<parameter>`.
#[derive(Debug, Clone, Default)]
pub struct Parameter {
    pub name: String,
    pub default: Option<String>,
    pub tags: Vec<String>,
    /// `parameterValidation` kinds (e.g. `RegularExpression`, `AllowEmpty`) and string.
    pub validation: Option<(Vec<String>, String, usize)>,
    pub entries: Vec<Entry>,
    pub line: usize,
}

impl Parameter {
    fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }
}

fn get(attrs: &[(String, String)], names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    })
}

/// Parses `Parameters.xml`.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Parameter>, DeployError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut params: Vec<Parameter> = Vec::new();
    let mut checker = crate::xmlcheck::Checker::default();
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
        let line = line_of(text, pos);
        match (stack.len(), name.as_str()) {
            (0, n) if !n.eq_ignore_ascii_case("parameters") => {
                return Err(DeployError::at(
                    file,
                    line,
                    format!("the root element is <{n}>"),
                    "the root element of Parameters.xml is <parameters>",
                ));
            }
            (1, n) if n.eq_ignore_ascii_case("parameter") => {
                let a = crate::xmlcheck::attributes(file, text, pos, &e)?;
                let pname = get(&a, &["name"])
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| {
                        DeployError::at(
                            file,
                            line,
                            "<parameter> without a name",
                            "give every parameter a unique name=\"...\"",
                        )
                    })?;
                if params.iter().any(|p| p.name == pname) {
                    return Err(DeployError::at(
                        file,
                        line,
                        format!("parameter {pname:?} is declared twice"),
                        "parameter names must be unique",
                    ));
                }
                params.push(Parameter {
                    name: pname,
                    default: get(&a, &["defaultValue"]),
                    tags: get(&a, &["tags"])
                        .map(|t| {
                            t.split(',')
                                .map(|s| s.trim().to_string())
                                .filter(|s| !s.is_empty())
                                .collect()
                        })
                        .unwrap_or_default(),
                    validation: None,
                    entries: Vec::new(),
                    line,
                });
            }
            (2, n) if n.eq_ignore_ascii_case("parameterEntry") => {
                let a = crate::xmlcheck::attributes(file, text, pos, &e)?;
                let entry = Entry {
                    kind: get(&a, &["kind", "type"]).unwrap_or_default(),
                    scope: get(&a, &["scope"]).unwrap_or_default(),
                    matches: get(&a, &["match"]).unwrap_or_default(),
                    line,
                };
                if let Some(p) = params.last_mut() {
                    p.entries.push(entry);
                }
            }
            (2, n) if n.eq_ignore_ascii_case("parameterValidation") => {
                let a = crate::xmlcheck::attributes(file, text, pos, &e)?;
                let kinds = get(&a, &["kind", "type"])
                    .unwrap_or_default()
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if let Some(p) = params.last_mut() {
                    p.validation = Some((
                        kinds,
                        get(&a, &["validationString"]).unwrap_or_default(),
                        line,
                    ));
                }
            }
            _ => {}
        }
        if !empty {
            stack.push(name);
        }
    }
    Ok(params)
}

fn compile_regex(
    file: &Path,
    line: usize,
    what: &str,
    pattern: &str,
) -> Result<fancy_regex::Regex, DeployError> {
    fancy_regex::Regex::new(pattern).map_err(|e| {
        DeployError::at(
            file,
            line,
            format!("{what} {pattern:?} is not a valid regular expression: {e}"),
            "fix the pattern (Web Deploy reads it as a .NET regex)",
        )
    })
}

/// Checks the parameters against each other and against the manifest's `<iisApp path>`.
pub fn validate(file: &Path, params: &[Parameter], iis_app_path: &str) -> Result<(), DeployError> {
    for p in params {
        for e in &p.entries {
            let kind = e.kind.to_ascii_lowercase();
            compile_regex(file, e.line, "scope", &e.scope)?;
            if kind == "providerpath" || kind == "textfile" {
                compile_regex(file, e.line, "match", &e.matches)?;
            }
        }
        if p.has_tag("Hidden") && p.default.is_none() {
            return Err(DeployError::at(
                file,
                p.line,
                format!("hidden parameter {:?} has no defaultValue", p.name),
                "a Hidden parameter is never asked for: give it a defaultValue",
            ));
        }
        check_default(file, p)?;
    }
    let app_params: Vec<&Parameter> = params.iter().filter(|p| p.has_tag("iisApp")).collect();
    if app_params.is_empty() {
        return Err(DeployError::file(
            file,
            "no parameter is tagged iisApp",
            format!("add one, e.g. <parameter name=\"Application Path\" defaultValue=\"Default Web Site/{iis_app_path}\" tags=\"iisApp\"><parameterEntry kind=\"ProviderPath\" scope=\"iisApp\" match=\"^{}$\" /></parameter>", fancy_regex::escape(iis_app_path)),
        ));
    }
    let found = app_params.iter().any(|p| {
        p.entries.iter().any(|e| {
            e.kind.eq_ignore_ascii_case("ProviderPath")
                && fancy_regex::Regex::new(&format!("(?i){}", e.scope))
                    .ok()
                    .and_then(|r| r.is_match("iisApp").ok())
                    .unwrap_or(false)
                && fancy_regex::Regex::new(&e.matches)
                    .ok()
                    .and_then(|r| r.is_match(iis_app_path).ok())
                    .unwrap_or(false)
        })
    });
    if !found {
        let p = app_params[0];
        return Err(DeployError::at(
            file,
            p.line,
            format!("parameter {:?} (tagged iisApp) has no ProviderPath entry with scope iisApp whose match matches the manifest's <iisApp path=\"{iis_app_path}\">", p.name),
            format!("add <parameterEntry kind=\"ProviderPath\" scope=\"iisApp\" match=\"^{}$\" />", fancy_regex::escape(iis_app_path)),
        ));
    }
    Ok(())
}

fn check_default(file: &Path, p: &Parameter) -> Result<(), DeployError> {
    let (Some((kinds, validation, line)), Some(default)) = (&p.validation, &p.default) else {
        return Ok(());
    };
    // A default computed from other parameters is checked when it is resolved.
    if default.contains('{') {
        return Ok(());
    }
    let allow_empty = kinds.iter().any(|k| k.eq_ignore_ascii_case("AllowEmpty"));
    if default.is_empty() && allow_empty {
        return Ok(());
    }
    let fail = |why: String| {
        Err(DeployError::at(
            file,
            *line,
            format!(
                "the defaultValue {default:?} of parameter {:?} {why}",
                p.name
            ),
            "make the default one of the values the validation accepts",
        ))
    };
    for kind in kinds {
        match kind.to_ascii_lowercase().as_str() {
            "enumeration" if !validation.split(',').any(|v| v == default) => {
                return fail(format!(
                    "is not one of the Enumeration values {validation:?} (whitespace counts)"
                ));
            }
            "boolean"
                if !default.eq_ignore_ascii_case("true")
                    && !default.eq_ignore_ascii_case("false") =>
            {
                return fail("is not True or False (Boolean)".into());
            }
            "regularexpression" => {
                let re = compile_regex(file, *line, "validationString", validation)?;
                if !re.is_match(default).unwrap_or(false) {
                    return fail(format!(
                        "does not match the RegularExpression {validation:?}"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
