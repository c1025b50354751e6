//! Template expansion with Windows `expandvars` semantics, as iiswsgi 0.3 ran
//! its `.in` templates through `ntpath.expandvars`: `%VAR%`, `%%` → `%`,
//! `$VAR`, `${VAR}`, `$$` → `$`; variable names match case-insensitively (as
//! Windows environment variables do) and unknown variables are left as they
//! are.
//!
//! One difference, on purpose: `ntpath.expandvars` leaves everything between
//! two single quotes unexpanded, so one apostrophe in an XML comment or
//! attribute ("don't") silently stopped substitution for the rest of the
//! template. Here quotes have no meaning; [`Expansion::quote_warnings`] lists
//! the places where 0.3 would have produced different text, so that a template
//! written for 0.3's behaviour is noticed.

/// The result of expanding a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    pub text: String,
    /// 1-based line numbers where a reference sits in a single-quoted region
    /// (expanded here and by the install; left alone by iiswsgi 0.3).
    pub quote_warnings: Vec<usize>,
}

fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Expands `template`, looking names up with `lookup`.
pub fn expand(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Expansion {
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::with_capacity(template.len());
    let mut line = 1;
    let mut in_quote = false;
    let mut warnings: Vec<usize> = Vec::new();
    let note = |line: usize, quoted: bool, warnings: &mut Vec<usize>| {
        if quoted && warnings.last() != Some(&line) {
            warnings.push(line);
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                out.push(c);
                i += 1;
            }
            '\'' => {
                in_quote = !in_quote;
                out.push(c);
                i += 1;
            }
            '%' => {
                if chars.get(i + 1) == Some(&'%') {
                    out.push('%');
                    note(line, in_quote, &mut warnings);
                    i += 2;
                    continue;
                }
                match chars[i + 1..].iter().position(|&d| d == '%') {
                    Some(len) => {
                        let name: String = chars[i + 1..i + 1 + len].iter().collect();
                        // Known or not now, a reference in a quoted region reads
                        // differently under 0.3 (the install expands it later).
                        note(line, in_quote, &mut warnings);
                        match lookup(&name) {
                            Some(v) if !name.is_empty() => out.push_str(&v),
                            _ => {
                                out.push('%');
                                out.push_str(&name);
                                out.push('%');
                            }
                        }
                        line += name.matches('\n').count();
                        i += len + 2;
                    }
                    None => {
                        out.push('%');
                        i += 1;
                    }
                }
            }
            '$' => match chars.get(i + 1) {
                Some('$') => {
                    out.push('$');
                    note(line, in_quote, &mut warnings);
                    i += 2;
                }
                Some('{') => match chars[i + 2..].iter().position(|&d| d == '}') {
                    Some(len) => {
                        let name: String = chars[i + 2..i + 2 + len].iter().collect();
                        note(line, in_quote, &mut warnings);
                        match lookup(&name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str("${");
                                out.push_str(&name);
                                out.push('}');
                            }
                        }
                        line += name.matches('\n').count();
                        i += len + 3;
                    }
                    None => {
                        out.push('$');
                        i += 1;
                    }
                },
                _ => {
                    let len = chars[i + 1..]
                        .iter()
                        .take_while(|&&d| is_var_char(d))
                        .count();
                    let name: String = chars[i + 1..i + 1 + len].iter().collect();
                    if !name.is_empty() {
                        note(line, in_quote, &mut warnings);
                    }
                    match lookup(&name).filter(|_| !name.is_empty()) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push('$');
                            out.push_str(&name);
                        }
                    }
                    i += len + 1;
                }
            },
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Expansion {
        text: out,
        quote_warnings: warnings,
    }
}

/// A lookup over the process environment plus `extra` (which wins), matching
/// names case-insensitively.
pub fn env_lookup(extra: Vec<(String, String)>) -> impl Fn(&str) -> Option<String> {
    move |name: &str| {
        extra
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .or_else(|| {
                std::env::vars()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
    }
}
