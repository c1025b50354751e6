//! The grammars behind issue 9's validators: zip entry names (what Windows can
//! hold), PEP 508 names and PEP 440 versions, and the file names built from
//! them.

use iiswsgi_deploy::names::{file_name_part, is_valid_name, normalize_version};
use iiswsgi_deploy::zipname::{component_problem, path_problem};
use proptest::prelude::*;

const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A name Windows can hold: no forbidden character, no trailing dot or space.
fn safe_component() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_ .,'()+=@#{}~-]{0,16}[A-Za-z0-9_)]".prop_filter(
        "not a reserved device name",
        |s| {
            let stem = s.split('.').next().unwrap_or(s).trim_end();
            !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem))
        },
    )
}

#[test]
fn zip_name_examples() {
    for ok in [
        "a",
        "web.config.in",
        "CONFIG",
        "console.py",
        "nul_",
        "COM10",
        "LPT0",
        "é.txt",
    ] {
        assert_eq!(component_problem(ok), None, "{ok:?}");
    }
    for bad in [
        "",
        ".",
        "..",
        "a\\b",
        "C:",
        "a:b",
        "a\0b",
        "a\tb",
        "trail.",
        "trail ",
        "CON",
        "con.txt",
        "Nul.tar.gz",
        "com1",
        "LPT9.log",
        "COM¹",
        "aux .txt",
        "a*b",
        "a?b",
        "a|b",
        "a\"b",
        "a<b",
        "a>b",
    ] {
        assert!(component_problem(bad).is_some(), "{bad:?}");
    }
    assert_eq!(path_problem("pkg/static/app.css"), None);
    assert_eq!(path_problem("pkg/../x").map(|p| p.0), Some(".."));
    assert_eq!(
        path_problem("/etc/passwd").map(|p| p.1),
        Some("an absolute path")
    );
    assert_eq!(path_problem("a//b").map(|p| p.0), Some(""));
}

proptest! {
    #[test]
    fn safe_paths_are_accepted(parts in prop::collection::vec(safe_component(), 1..5)) {
        let rel = parts.join("/");
        prop_assert_eq!(path_problem(&rel), None);
    }

    #[test]
    fn one_bad_component_spoils_the_path(
        parts in prop::collection::vec(safe_component(), 1..5),
        at in any::<prop::sample::Index>(),
        bad in prop_oneof![
            Just("..".to_string()),
            Just(".".to_string()),
            Just(String::new()),
            "[a-z]{0,3}[\\\\:*?\"<>|\u{0}-\u{1f}][a-z]{0,3}",
            "[a-z]{1,5}[. ]",
            (prop::sample::select(RESERVED.to_vec()), "(\\.[a-z]{1,3})?")
                .prop_map(|(r, ext)| format!("{}{ext}", r.to_lowercase())),
        ],
    ) {
        let mut parts = parts;
        let i = at.index(parts.len() + 1);
        parts.insert(i, bad.clone());
        let rel = parts.join("/");
        let found = path_problem(&rel).map(|p| p.0.to_string());
        if bad.is_empty() && i == 0 {
            // A leading empty component makes the path absolute.
            prop_assert_eq!(found, Some(rel));
        } else {
            prop_assert_eq!(found, Some(bad));
        }
    }

    #[test]
    fn zip_name_checker_never_panics(s in "\\PC{0,40}") {
        let _ = path_problem(&s);
    }

    /// The hand-written PEP 508 check agrees with the PEP's regular expression.
    #[test]
    fn names_follow_pep_508(s in "[A-Za-z0-9._/ -]{0,12}") {
        let re = fancy_regex::Regex::new("(?i)^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$").unwrap();
        prop_assert_eq!(is_valid_name(&s), re.is_match(&s).unwrap());
    }

    /// The file-name form of a valid name is a safe file name, with no `-`
    /// (which separates it from the version), and is stable.
    #[test]
    fn file_names_of_valid_names(s in "[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?") {
        prop_assume!(is_valid_name(&s));
        let f = file_name_part(&s);
        prop_assert!(!f.contains(['-', '.']) && !f.contains("__"), "{}", f);
        prop_assert_eq!(file_name_part(&f), f.clone());
        prop_assert_eq!(component_problem(&format!("{f}-1.0.msdeploy.zip")), None);
    }

    /// Versions from PEP 440's grammar normalise, stably, to safe file names.
    #[test]
    fn versions_follow_pep_440(
        v in "v?[0-9]{1,3}(\\.[0-9]{1,3}){0,3}([-_.]?(a|b|c|rc|alpha|beta|pre|preview)[0-9]{0,2})?([-_.]?(post|rev|r)[0-9]{0,2})?([-_.]?dev[0-9]{0,2})?(\\+[a-z0-9]{1,4}([-_.][a-z0-9]{1,4}){0,2})?",
    ) {
        let n = normalize_version(&v);
        prop_assert!(n.is_ok(), "{} → {:?}", v, n);
        let n = n.unwrap();
        prop_assert_eq!(normalize_version(&n), Ok(n.clone()));
        prop_assert_eq!(component_problem(&format!("x-{n}.msdeploy.zip")), None);
    }

    #[test]
    fn path_characters_are_never_versions(
        a in "[0-9]{1,3}",
        sep in "[/\\\\:]|\\.\\.",
        b in "[0-9a-z.]{0,6}",
    ) {
        let joined = format!("{a}{sep}{b}");
        let slashed = format!("{a}{sep}/{b}");
        prop_assert!(normalize_version(&joined).is_err() || sep == "..", "{}", joined);
        prop_assert!(normalize_version(&slashed).is_err(), "{}", slashed);
    }
}

#[test]
fn version_normalisation_examples() {
    for (v, n) in [
        ("0.1", "0.1"),
        ("v01.0-RC1", "1.0rc1"),
        ("1.0.post", "1.0.post0"),
        ("1.0-1", "1.0.post1"),
        ("1.0+Local.AB", "1.0+local.ab"),
        ("1!2.0.dev3", "1!2.0.dev3"),
    ] {
        assert_eq!(normalize_version(v).as_deref(), Ok(n), "{v}");
    }
    for bad in ["", "latest", "../1.0", "1.0/..", "1.0 beta", "C:1.0"] {
        assert!(normalize_version(bad).is_err(), "{bad:?}");
    }
}
