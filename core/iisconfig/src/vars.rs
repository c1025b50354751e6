//! `%VAR%` expansion as Windows and IIS do it (`ExpandEnvironmentStrings`,
//! the `expanded="true"` attributes of IIS's schema): a name between two `%`
//! is replaced by its value; an unknown name and a lone `%` are kept as they
//! are.

/// Expands `%VAR%` references in `s`, looking names up with `var`.
pub fn expand_percent(s: &str, var: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('%') {
            Some(end) if end > 0 => {
                let name = &after[..end];
                if let Some(v) = var(name) {
                    out.push_str(&v);
                } else {
                    out.push('%');
                    out.push_str(name);
                    out.push('%');
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

/// A process environment variable, its name compared case-insensitively as
/// on Windows.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().or_else(|| {
        std::env::vars()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}
