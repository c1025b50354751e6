use iiswsgi_deploy::expand::{expand, Expansion};
use proptest::prelude::*;

fn vars(name: &str) -> Option<String> {
    match name.to_ascii_uppercase().as_str() {
        "DIST_NAME" => Some("PyramidIISApp".into()),
        "SYSTEMDRIVE" => Some("C:".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn x(s: &str) -> String {
    expand(s, &vars).text
}

#[test]
fn windows_expandvars_forms() {
    assert_eq!(
        x("<iisApp path=\"%DIST_NAME%\" />"),
        "<iisApp path=\"PyramidIISApp\" />"
    );
    assert_eq!(
        x("%SystemDrive%\\Python27"),
        "C:\\Python27",
        "names match case-insensitively"
    );
    assert_eq!(x("$DIST_NAME/${DIST_NAME}"), "PyramidIISApp/PyramidIISApp");
    assert_eq!(x("100%% sure, $$5"), "100% sure, $5");
    assert_eq!(
        x("%UNKNOWN% ${UNKNOWN} $UNKNOWN"),
        "%UNKNOWN% ${UNKNOWN} $UNKNOWN"
    );
    assert_eq!(x("50% off"), "50% off");
    assert_eq!(x("a $ b ${unclosed"), "a $ b ${unclosed");
    assert_eq!(x("[%EMPTY%]"), "[]");
}

#[test]
fn single_quotes_do_not_stop_expansion_but_are_reported() {
    // The apostrophe opens a region that never closes: iiswsgi 0.3 left the
    // rest of the template unexpanded.
    let e = expand("<!-- don't -->\n<iisApp path=\"%DIST_NAME%\" />\n", &vars);
    assert_eq!(
        e,
        Expansion {
            text: "<!-- don't -->\n<iisApp path=\"PyramidIISApp\" />\n".into(),
            quote_warnings: vec![2],
            unexpanded: Vec::new(),
        }
    );
    // Between two quotes the reference falls outside the quoted regions: no warning.
    let e = expand("<!-- don't -->\n<iisApp path='%DIST_NAME%' />\n", &vars);
    assert_eq!(e.text, "<!-- don't -->\n<iisApp path='PyramidIISApp' />\n");
    assert!(e.quote_warnings.is_empty());
    assert!(expand("path=\"%DIST_NAME%\"", &vars)
        .quote_warnings
        .is_empty());
}

proptest! {
    #[test]
    fn text_without_markers_is_unchanged(s in "[^%$]{0,200}") {
        prop_assert_eq!(x(&s), s);
    }

    #[test]
    fn known_variables_are_replaced_anywhere(pre in "[^%$]{0,40}", post in "[^%$]{0,40}") {
        let got = x(&format!("{pre}%dist_name%{post}${{DIST_NAME}}"));
        prop_assert_eq!(got, format!("{pre}PyramidIISApp{post}PyramidIISApp"));
    }

    #[test]
    fn unknown_variables_survive(name in "[A-Z][A-Z0-9_]{0,20}") {
        prop_assume!(vars(&name).is_none());
        let t = format!("%{name}% ${{{name}}} ${name}");
        prop_assert_eq!(x(&t), t);
    }

    #[test]
    fn never_panics(s in "\\PC{0,200}") {
        let _ = x(&s);
    }
}

#[test]
fn references_left_as_they_are_are_listed_with_their_line() {
    let e = expand(
        "%DIST_NAME% %Secret%\n${TOKEN} $HOME, 50% off, 20% more ${}",
        &vars,
    );
    assert_eq!(
        e.unexpanded,
        vec![
            (1, "%Secret%".to_string()),
            (2, "${TOKEN}".to_string()),
            (2, "$HOME".to_string())
        ]
    );
    assert_eq!(
        e.text,
        "PyramidIISApp %Secret%\n${TOKEN} $HOME, 50% off, 20% more ${}"
    );
}
