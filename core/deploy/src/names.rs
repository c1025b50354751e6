//! The project's name and version as Python packaging defines them: a name is
//! valid per PEP 508, a version per PEP 440, and the package and feed file
//! names are built from their normalised forms, so that nothing in
//! `pyproject.toml` can put a path separator (or `..`) into a file name.
//!
//! PEP 508's name grammar is one regular expression, checked here by hand
//! (no dependency for five lines); PEP 440 has a long grammar and a
//! normalisation, for which `pep440_rs` (uv's) is used.

use std::str::FromStr as _;

/// Whether `name` is a valid PEP 508 distribution name:
/// `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`, case-insensitively.
pub fn is_valid_name(name: &str) -> bool {
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    ends_ok(name.chars().next())
        && ends_ok(name.chars().last())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The name as it appears in file names: each run of `-`, `_` and `.`
/// becomes `_` (as in wheel and sdist names), so `<name>-<version>` splits
/// unambiguously. The case is kept: `WebPI` shows it, and Windows file names
/// ignore it anyway.
pub fn file_name_part(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The normalised form of a PEP 440 version (`v01.0-RC1` → `1.0rc1`), or
/// why it is not one.
pub fn normalize_version(version: &str) -> Result<String, String> {
    pep440_rs::Version::from_str(version)
        .map(|v| v.to_string())
        .map_err(|e| e.to_string())
}
