//! appcmd's collection expressions: `[k='v',k2='v2']`, element names, and a
//! final `:value`, joined by dots: `[fullPath='C:\p.exe'].environmentVariables.[name='X',value='1']`,
//! `[name='StaticFile'].path:*`, `files.[value='index.py']`.
//!
//! A value is everything between `='` and a `'` that is followed by `,name=`
//! or by `]`: values may hold spaces, commas, brackets, `%VAR%` and quotes,
//! except the two sequences that end them (decided; appcmd documents no
//! escape for a quote inside a value).

use super::{code, AppcmdError};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A child element by name.
    Child(String),
    /// The collection entry whose attributes match.
    Select(Vec<(String, String)>),
}

/// A parsed expression: the path and an optional `:value` at the end (the
/// last [`Segment::Child`] then names an attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub path: Vec<Segment>,
    pub value: Option<String>,
}

fn bad(expr: &str, why: &str) -> AppcmdError {
    AppcmdError::new(
        code::INVALID_PARAMETER,
        format!("Malformed collection indexer \"{expr}\": {why}."),
    )
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Whether `rest` starts with `,name=` (the start of the next attribute).
fn next_attr_starts(rest: &str) -> bool {
    let Some(r) = rest.strip_prefix(',') else {
        return false;
    };
    let name_len = r
        .chars()
        .take_while(|&c| is_name_char(c) && c != '.')
        .count();
    name_len > 0 && r[name_len..].starts_with('=')
}

fn parse_select(expr: &str, s: &str) -> Result<(Vec<(String, String)>, usize), AppcmdError> {
    // s starts after '['.
    let mut attrs = Vec::new();
    let mut i = 0;
    loop {
        let name_len = s[i..].chars().take_while(|&c| is_name_char(c)).count();
        if name_len == 0 {
            return Err(bad(expr, "expected an attribute name"));
        }
        let name = s[i..i + name_len].to_owned();
        i += name_len;
        let rest = &s[i..];
        let Some(after) = rest.strip_prefix("='").or_else(|| rest.strip_prefix("=\"")) else {
            return Err(bad(expr, "expected ='value'"));
        };
        let quote = if rest.as_bytes()[1] == b'"' {
            '"'
        } else {
            '\''
        };
        i += 2;
        let mut end = None;
        for (j, c) in after.char_indices() {
            if c == quote {
                let tail = &after[j + 1..];
                if tail.starts_with(']') || next_attr_starts(tail) {
                    end = Some(j);
                    break;
                }
            }
        }
        let Some(end) = end else {
            return Err(bad(expr, "a value is not closed"));
        };
        attrs.push((name, after[..end].to_owned()));
        i += end + 1;
        match s[i..].chars().next() {
            Some(']') => return Ok((attrs, i + 1)),
            Some(',') => i += 1,
            _ => return Err(bad(expr, "expected , or ]")),
        }
    }
}

/// Parses an expression (without its leading `/+`, `/-` or `/`).
pub fn parse(expr: &str) -> Result<Expr, AppcmdError> {
    let mut path = Vec::new();
    let mut i = 0;
    let s = expr;
    while i < s.len() {
        if s[i..].starts_with('[') {
            let (attrs, used) = parse_select(expr, &s[i + 1..])?;
            path.push(Segment::Select(attrs));
            i += 1 + used;
        } else {
            let len = s[i..]
                .chars()
                .take_while(|&c| is_name_char(c) && c != '.')
                .count();
            if len == 0 {
                return Err(bad(expr, "expected a name or ["));
            }
            path.push(Segment::Child(s[i..i + len].to_owned()));
            i += len;
        }
        match s[i..].chars().next() {
            None => break,
            Some('.') => i += 1,
            Some(':') => {
                return Ok(Expr {
                    path,
                    value: Some(s[i + 1..].to_owned()),
                })
            }
            Some(c) => return Err(bad(expr, &format!("unexpected {c:?}"))),
        }
    }
    Ok(Expr { path, value: None })
}

/// Writes a selector as appcmd accepts it (for tests and callers that build
/// command lines).
pub fn select(attrs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}='{v}'")).collect();
    format!("[{}]", inner.join(","))
}
