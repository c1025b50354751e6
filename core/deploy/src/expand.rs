//! Template expansion with Windows `expandvars` semantics, as iiswsgi 0.3 ran
//! its `.in` templates through `ntpath.expandvars`: `%VAR%`, `%%` → `%`,
//! `$VAR`, `${VAR}`, `$$` → `$`; variable names match case-insensitively (as
//! Windows environment variables do) and unknown variables are left as they
//! are, each listed in [`Expansion::unexpanded`].
//!
//! Which names are known is the caller's choice: the packager passes
//! [`product_lookup`] (the variables iiswsgi defines plus those the project
//! lists in `[tool.iiswsgi] expand-env`), never the whole build environment.
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
    /// References left as they are, with their 1-based line, as written
    /// (`%NAME%`, `${NAME}`, `$NAME`); names with white space are not
    /// counted (`50% off, 20% more` names no variable).
    pub unexpanded: Vec<(usize, String)>,
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
    let mut unexpanded: Vec<(usize, String)> = Vec::new();
    let mut left = |line: usize, name: &str, reference: String| {
        if !name.is_empty() && !name.contains(char::is_whitespace) {
            unexpanded.push((line, reference));
        }
    };
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
                                let reference = format!("%{name}%");
                                out.push_str(&reference);
                                left(line, &name, reference);
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
                                let reference = format!("${{{name}}}");
                                out.push_str(&reference);
                                left(line, &name, reference);
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
                            let reference = format!("${name}");
                            out.push_str(&reference);
                            left(line, &name, reference);
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
        unexpanded,
    }
}

/// A lookup over `defined` (the variables iiswsgi defines) and the build
/// machine's environment variables named in `from_env`, matching names
/// case-insensitively; every other name is unknown.
pub fn product_lookup(
    defined: Vec<(String, String)>,
    from_env: &[String],
) -> impl Fn(&str) -> Option<String> {
    let allowed: Vec<String> = from_env.to_vec();
    move |name: &str| {
        defined
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .or_else(|| {
                allowed
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(name))
                    .then(|| env_var(name))
                    .flatten()
            })
    }
}

/// The process environment variable `name`, matched case-insensitively.
fn env_var(name: &str) -> Option<String> {
    std::env::vars()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A lookup over the whole process environment, matching names
/// case-insensitively: for paths given on the command line, never for
/// templates.
pub fn env_lookup() -> impl Fn(&str) -> Option<String> {
    env_var
}
