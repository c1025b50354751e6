//! Parameter values as Web Deploy settles them: `-setParam` (and
//! `-setParamFile`) values, else `defaultValue` with `{Other Name}`
//! references resolved; each checked by its `parameterValidation`; a
//! parameter without a value is an error naming it.

use iiswsgi_deploy::format::parameters::{
    EntryKind, Parameter, ParameterEntry, Parameters, ValidationKind,
};

use super::MsdeployError;
use crate::model::msdeploy_args::SetParam;

/// A parameter with its value.
#[derive(Debug, Clone)]
pub struct Value {
    pub name: String,
    pub value: String,
    pub entries: Vec<ParameterEntry>,
    /// Set by the caller (not a default).
    pub given: bool,
}

/// The settled values, in declaration order (undeclared `-setParam` entries last).
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub values: Vec<Value>,
}

/// Replaces `{Name}` by the value of `Name` (any case); unknown ones are kept.
fn substitute(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(j) = after.find('}') {
            if let Some(v) = lookup(&after[..j]) {
                out.push_str(&v);
                rest = &after[j + 1..];
            } else {
                out.push('{');
                rest = after;
            }
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The value of parameter `i` with references resolved (depth-limited, so a
/// cycle ends instead of looping).
fn resolve_one(
    params: &[Parameter],
    raw: &[Option<(String, bool)>],
    i: usize,
    depth: usize,
) -> Option<String> {
    let (text, given) = raw.get(i)?.clone()?;
    if given || depth > 16 {
        return Some(text);
    }
    Some(substitute(&text, &|name| {
        let j = params
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(name))?;
        resolve_one(params, raw, j, depth + 1)
    }))
}

/// Checks a value against the parameter's validation.
pub fn validate(p: &Parameter, value: &str) -> Result<(), MsdeployError> {
    let Some(v) = &p.validation else {
        return Ok(());
    };
    let bad = |why: String| MsdeployError::Validation {
        name: p.name.clone(),
        value: value.to_owned(),
        why,
    };
    let allow_empty = v.kinds.contains(&ValidationKind::AllowEmpty);
    if value.is_empty() {
        return if allow_empty || v.kinds.iter().all(|k| *k == ValidationKind::AllowEmpty) {
            Ok(())
        } else {
            Err(bad("an empty value is not allowed (no AllowEmpty)".into()))
        };
    }
    let expression = v.expression.as_deref().unwrap_or_default();
    for k in &v.kinds {
        match k {
            ValidationKind::Boolean => {
                if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                    return Err(bad("it must be True or False".into()));
                }
            }
            ValidationKind::Enumeration => {
                let allowed: Vec<&str> = expression.split(',').collect();
                if !allowed.contains(&value) {
                    return Err(bad(format!("it must be one of {}", allowed.join(", "))));
                }
            }
            ValidationKind::RegularExpression => {
                let re = fancy_regex::Regex::new(expression).map_err(|e| {
                    bad(format!(
                        "its validationString {expression:?} is not a regular expression: {e}"
                    ))
                })?;
                if !re.is_match(value).unwrap_or(false) {
                    return Err(bad(format!(
                        "it does not match the regular expression {expression:?}"
                    )));
                }
            }
            ValidationKind::AllowEmpty | ValidationKind::Other(_) => {}
        }
    }
    Ok(())
}

/// Settles every parameter's value.
pub fn settle(params: &Parameters, set: &[SetParam]) -> Result<Values, MsdeployError> {
    let decl = &params.parameters;
    for s in set {
        if let SetParam::Named { name, .. } = s {
            if !decl.iter().any(|p| p.name.eq_ignore_ascii_case(name)) {
                return Err(MsdeployError::UnknownParameter { name: name.clone() });
            }
        }
    }
    let given = |p: &Parameter| {
        set.iter().rev().find_map(|s| match s {
            SetParam::Named { name, value } if name.eq_ignore_ascii_case(&p.name) => {
                Some(value.clone())
            }
            _ => None,
        })
    };
    let raw: Vec<Option<(String, bool)>> = decl
        .iter()
        .map(|p| match given(p) {
            Some(v) => Some((v, true)),
            None => p.default_value.clone().map(|d| (d, false)),
        })
        .collect();
    let mut out = Values::default();
    for (i, p) in decl.iter().enumerate() {
        let value = resolve_one(decl, &raw, i, 0).ok_or_else(|| MsdeployError::MissingValue {
            name: p.name.clone(),
        })?;
        validate(p, &value)?;
        out.values.push(Value {
            name: p.name.clone(),
            value,
            entries: p.entries.clone(),
            given: raw[i].as_ref().is_some_and(|(_, g)| *g),
        });
    }
    for (n, s) in set.iter().enumerate() {
        if let SetParam::Entry {
            kind,
            scope,
            matches,
            value,
        } = s
        {
            out.values.push(Value {
                name: format!("setParam{}", n + 1),
                value: value.clone(),
                entries: vec![ParameterEntry {
                    kind: EntryKind::parse(kind),
                    scope: scope.clone(),
                    matches: matches.clone(),
                    tags: Vec::new(),
                    line: iiswsgi_deploy::format::Line::default(),
                }],
                given: true,
            });
        }
    }
    Ok(out)
}

impl Values {
    /// The value of a parameter (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
            .map(|v| v.value.as_str())
    }

    /// Entries of `kind` with their values.
    pub fn entries(&self, kind: &EntryKind) -> Vec<(&ParameterEntry, &str)> {
        self.values
            .iter()
            .flat_map(|v| {
                v.entries
                    .iter()
                    .filter(|e| e.kind == *kind)
                    .map(|e| (e, v.value.as_str()))
            })
            .collect()
    }

    /// The value a `ProviderPath` entry gives provider `provider` at `path`.
    pub fn provider_path(&self, provider: &str, path: &str) -> Option<String> {
        self.entries(&EntryKind::ProviderPath)
            .into_iter()
            .find(|(e, _)| {
                e.scope
                    .split('|')
                    .any(|s| s.trim().eq_ignore_ascii_case(provider))
                    && fancy_regex::Regex::new(&e.matches)
                        .ok()
                        .and_then(|re| re.is_match(path).ok())
                        .unwrap_or(false)
            })
            .map(|(_, v)| v.to_owned())
    }
}

/// `-setParamFile:`: `<parameters><setParameter name value /></parameters>`.
pub fn read_set_param_file(
    file: &std::path::Path,
    text: &str,
) -> Result<Vec<SetParam>, MsdeployError> {
    let root = iiswsgi_deploy::format::Generic::parse(file, text)
        .map_err(|e| MsdeployError::Xml(Box::new(e)))?;
    Ok(root
        .children
        .iter()
        .filter(|c| c.name.eq_ignore_ascii_case("setParameter"))
        .filter_map(|c| {
            Some(SetParam::Named {
                name: c.get_any(&["name"])?.to_owned(),
                value: c.get_any(&["value"]).unwrap_or_default().to_owned(),
            })
        })
        .collect())
}
