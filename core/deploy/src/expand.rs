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

/// The state of one expansion.
struct Expander<'a> {
    chars: Vec<char>,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    out: String,
    line: usize,
    in_quote: bool,
    quote_warnings: Vec<usize>,
    unexpanded: Vec<(usize, String)>,
}

impl Expander<'_> {
    /// Records that the current line has a reference or escape in a quoted region.
    fn note(&mut self) {
        if self.in_quote && self.quote_warnings.last() != Some(&self.line) {
            self.quote_warnings.push(self.line);
        }
    }

    /// Writes the value of `name`, or `reference` as written when it has none.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "callers build the reference text for this call"
    )]
    fn substitute(&mut self, name: &str, reference: String) {
        self.note();
        if let Some(v) = Some(name)
            .filter(|n| !n.is_empty())
            .and_then(|n| (self.lookup)(n))
        {
            self.out.push_str(&v);
        } else {
            if !name.is_empty() && !name.contains(char::is_whitespace) {
                self.unexpanded.push((self.line, reference.clone()));
            }
            self.out.push_str(&reference);
        }
        self.line += name.matches('\n').count();
    }

    /// The text from `from` up to the next `end`, if there is one.
    fn until(&self, from: usize, end: char) -> Option<String> {
        let len = self.chars.get(from..)?.iter().position(|&d| d == end)?;
        Some(self.chars[from..from + len].iter().collect())
    }

    /// Handles the `%` at `i`; returns where to go on.
    fn percent(&mut self, i: usize) -> usize {
        if self.chars.get(i + 1) == Some(&'%') {
            self.out.push('%');
            self.note();
            return i + 2;
        }
        self.closed(i, i + 1, '%', |name| format!("%{name}%"))
    }

    /// Handles a reference opened at `i` whose name starts at `from` and
    /// ends before `end`; without an `end`, the marker at `i` is text.
    fn closed(&mut self, i: usize, from: usize, end: char, written: fn(&str) -> String) -> usize {
        if let Some(name) = self.until(from, end) {
            let next = from + name.chars().count() + 1;
            self.substitute(&name, written(&name));
            next
        } else {
            self.out.push(self.chars[i]);
            i + 1
        }
    }

    /// Handles the `$` at `i`; returns where to go on.
    fn dollar(&mut self, i: usize) -> usize {
        match self.chars.get(i + 1) {
            Some('$') => {
                self.out.push('$');
                self.note();
                i + 2
            }
            Some('{') => self.closed(i, i + 2, '}', |name| format!("${{{name}}}")),
            _ => {
                let name: String = self.chars[i + 1..]
                    .iter()
                    .take_while(|&&d| is_var_char(d))
                    .collect();
                if name.is_empty() {
                    self.out.push('$');
                } else {
                    self.substitute(&name, format!("${name}"));
                }
                i + 1 + name.chars().count()
            }
        }
    }
}

/// Expands `template`, looking names up with `lookup`.
pub fn expand(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Expansion {
    let mut x = Expander {
        chars: template.chars().collect(),
        lookup,
        out: String::with_capacity(template.len()),
        line: 1,
        in_quote: false,
        quote_warnings: Vec::new(),
        unexpanded: Vec::new(),
    };
    let mut i = 0;
    while let Some(&c) = x.chars.get(i) {
        i = match c {
            '%' => x.percent(i),
            '$' => x.dollar(i),
            _ => {
                if c == '\n' {
                    x.line += 1;
                } else if c == '\'' {
                    x.in_quote = !x.in_quote;
                }
                x.out.push(c);
                i + 1
            }
        };
    }
    Expansion {
        text: x.out,
        quote_warnings: x.quote_warnings,
        unexpanded: x.unexpanded,
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
