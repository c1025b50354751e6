//! The environ the gateway builds for a canonical IIS request, as a snapshot.

use std::time::Duration;

use iiswsgi_harness::{fixtures_apps, iis_params, GatewayCommand, RequestSpec};

use crate::{json, tmp};

#[test]
fn environ_of_a_canonical_iis_request() {
    let dir = tmp();
    let mut gw = GatewayCommand::serve(&["conformance:validated_app"], &dir.path().join("s.log"))
        .env("WSGI_RESTART_FILE_REGEX", "")
        .spawn_pipe()
        .unwrap();
    let body = b"name=value".to_vec();
    let mut params = iis_params("POST", "/app", "/app/environ/item", "a=1&b=%20", body.len());
    params.push((b"HTTP_COOKIE".to_vec(), b"session=abc".to_vec()));
    params.push((
        b"HTTP_ACCEPT_LANGUAGE".to_vec(),
        b"fr-CH, fr;q=0.9".to_vec(),
    ));
    let r = gw.request(&RequestSpec::new(params, body)).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let env = json(&r.body);
    let pretty = serde_json::to_string_pretty(&env).unwrap();
    // The folder as written, and as JSON writes it (Windows' backslashes doubled).
    let fixtures = fixtures_apps().display().to_string();
    let in_json = serde_json::to_string(&fixtures).unwrap();
    insta::with_settings!({filters => vec![
        (regex_escape(in_json.trim_matches('"')), "[FIXTURES]"),
        (regex_escape(&fixtures), "[FIXTURES]"),
    ]}, {
        insta::assert_snapshot!(pretty);
    });
    let (status, _, _) = gw.close_and_wait(Duration::from_secs(20)).unwrap();
    assert!(status.success());
}

fn regex_escape(s: &str) -> &'static str {
    let escaped: String = s
        .chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect();
    escaped.leak()
}
