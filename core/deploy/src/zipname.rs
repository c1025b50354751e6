//! Which names can be entries of a Web Deploy zip.
//!
//! Web Deploy extracts the package on Windows, where a backslash separates
//! folders, a colon names a drive or an NTFS stream, a trailing dot or space is
//! dropped, and `CON`, `NUL`, `COM1`… (with any extension) are devices. A name
//! with any of these would land somewhere else than it says, or nowhere; one
//! with a `..` component would leave the application folder. Such a name is an
//! error rather than something to rewrite, so what is packed is what the
//! project holds.

/// Device names Windows reserves, with or without an extension (compared
/// case-insensitively; `COM¹`… and `LPT¹`… are reserved too).
const RESERVED: [&str; 28] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "COM¹", "COM²", "COM³", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8",
    "LPT9", "LPT¹", "LPT²", "LPT³",
];

/// Why one path component cannot be a folder or file name in the package, or
/// `None` when it can.
pub fn component_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("an empty name");
    }
    if name == "." || name == ".." {
        return Some("a `.` or `..` component, which would leave its folder");
    }
    if name.contains('\0') {
        return Some("a NUL character");
    }
    if name.contains('\\') {
        return Some("a backslash, which separates folders on Windows");
    }
    if name.contains('/') {
        return Some("a slash inside a name");
    }
    if name.contains(':') {
        return Some("a colon, which names a drive or an NTFS stream on Windows");
    }
    if name.chars().any(|c| c < ' ') {
        return Some("a control character");
    }
    if name.contains(['<', '>', '"', '|', '?', '*']) {
        return Some("a character Windows forbids in file names (< > \" | ? *)");
    }
    if name.ends_with(['.', ' ']) {
        return Some("a trailing dot or space, which Windows drops");
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        return Some("a name Windows reserves for a device (CON, PRN, AUX, NUL, COM1-9, LPT1-9)");
    }
    None
}

/// The first component of the `/`-separated relative path `rel` that cannot
/// be in the package, with why; `None` when every component can.
pub fn path_problem(rel: &str) -> Option<(&str, &'static str)> {
    if rel.starts_with('/') {
        return Some((rel, "an absolute path"));
    }
    rel.split('/')
        .find_map(|c| component_problem(c).map(|why| (c, why)))
}
