//! Scenario files: every one in `harness/scenarios` loads; a misspelt key,
//! a missing expectation or a bad value is an error naming the file and the
//! key. `WebPI`'s replay lines read back as written (proptest).

use std::path::{Path, PathBuf};

use iiswsgi_sim::scenario::{self, model, ScenarioError};
use iiswsgi_sim::webpi::logs::{read_replay_lines, replay_lines, Recorded};
use proptest::prelude::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenario_file() -> PathBuf {
    repo().join("harness/scenarios/x.toml")
}

const BASE: &str = r#"
name = "x"
project = "../../fixtures/hello_app"
[expect]
output = ["a"]
where_to_look = ["b"]
"#;

fn err(text: &str) -> String {
    match model::parse(&scenario_file(), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_scenario_of_the_harness_loads() {
    let dir = repo().join("harness/scenarios");
    let mut n = 0;
    for f in std::fs::read_dir(&dir).unwrap().flatten() {
        let loaded = scenario::load(&f.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(loaded.project.join("pyproject.toml").is_file());
        n += 1;
    }
    assert!(n >= 9, "{n} scenarios");
}

#[test]
fn a_misspelt_key_names_the_file_and_the_key() {
    let e = err(&format!("{BASE}\n[fault]\nmissing_dependancy = \"x\"\n"));
    assert!(e.contains("harness/scenarios/x.toml"), "{e}");
    assert!(e.contains("missing_dependancy"), "{e}");
    let e = err(&BASE.replace("name = \"x\"", "name = \"x\"\nprojekt = 1"));
    assert!(e.contains("projekt"), "{e}");
}

#[test]
fn bad_values_are_refused_with_what_to_do() {
    for (text, key) in [
        (
            BASE.replace("output = [\"a\"]", "output = []"),
            "expect: say what the user sees",
        ),
        (
            format!("parameters = [\"no-equals\"]\n{BASE}"),
            "parameters: \"no-equals\" is not NAME=VALUE",
        ),
        (
            format!("{BASE}\n[[request]]\npath = \"x\"\n"),
            "request[0].path",
        ),
        (
            format!("{BASE}\n[[request]]\ncount = 0\n"),
            "request[0]: count",
        ),
        (
            format!("{BASE}\n[fault]\nactivity_timeout = 5\n"),
            "fault.activity_timeout: IIS's schema",
        ),
        (
            BASE.replace("[expect]", "[expect]\nexit_code = 1"),
            "expect.stage",
        ),
        (BASE.replace("hello_app", "nowhere"), "project: "),
    ] {
        let e = err(&text);
        assert!(e.contains(key), "{key:?} in {e}");
    }
    let e = scenario::load(Path::new("/nonexistent/s.toml")).unwrap_err();
    assert!(matches!(e, ScenarioError::Read { .. }), "{e}");
}

proptest! {
    #[test]
    fn replay_lines_read_back_as_written(
        feeds in prop::collection::vec("[A-Za-z0-9:/._ -]{1,30}", 1..3),
        products in prop::collection::vec(("[A-Za-z0-9 ,.'()-]{1,20}", "[A-Za-z0-9._-]{1,12}"), 1..3),
        params in prop::collection::vec(("[A-Za-z0-9 _]{1,12}", "[A-Za-z0-9 /=',._-]{0,20}"), 0..3),
        express in any::<bool>(),
        n in 1usize..5,
    ) {
        let mut feeds = feeds;
        feeds.sort();
        feeds.dedup();
        let mut r = Recorded { feeds, products, iis_express: express, params, sequence: (n, n + 1) };
        let mut seen = Vec::new();
        r.products.retain(|(_, id)| if seen.contains(id) { false } else { seen.push(id.clone()); true });
        let mut seen = Vec::new();
        r.params.retain(|(k, _)| if seen.contains(k) { false } else { seen.push(k.clone()); true });
        let text = replay_lines(&r).join("\r\n");
        let mut back = Recorded::default();
        read_replay_lines(&format!("Installing X\r\n{text}\r\nInstall completed (Success): 'X'"), &mut back);
        prop_assert_eq!(back, r);
    }
}

/// The checker reports each unmet expectation, and nothing when all are met.
#[test]
fn every_unmet_expectation_is_reported() {
    use iiswsgi_sim::deploy::StageError;
    use iiswsgi_sim::scenario::client::Answer;
    use iiswsgi_sim::scenario::{check::check, Outcome};
    let text = format!(
        "{}\n[[request]]\npath = \"/\"\nstatus = 200\ntext = [\"Hello\"]\n\n[[expect.files]]\nglob = \"logs/*.txt\"\ncontains = [\"ok\"]\nonce = [\"one\"]\nabsent = [\"bad\"]\n",
        BASE.replace("where_to_look = [\"b\"]", "where_to_look = [\"b.log\"]")
    );
    let loaded = model::parse(&scenario_file(), &text).unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("logs")).unwrap();
    std::fs::write(root.path().join("logs/x.txt"), "ok one").unwrap();
    let good = Outcome {
        transcript: vec!["a".into(), "  Log: C:\\b.log".into()],
        exit_code: 0,
        failure: None,
        answers: vec![vec![Ok(Answer {
            status: 200,
            body: "Hello".into(),
        })]],
        root: root.path().to_path_buf(),
    };
    assert_eq!(check(&loaded, &good), Vec::<String>::new());
    std::fs::write(root.path().join("logs/y.txt"), "one bad").unwrap();
    let bad = Outcome {
        transcript: vec!["Log: elsewhere".into()],
        exit_code: 1,
        failure: Some(StageError {
            stage: "webpi install",
            reason: "x".into(),
            log: Some(root.path().join("missing.txt")),
        }),
        answers: vec![vec![Ok(Answer {
            status: 500,
            body: "oops".into(),
        })]],
        root: root.path().to_path_buf(),
    };
    let diffs = check(&loaded, &bad).join("\n");
    for want in [
        "exit code: expected 0, got 1",
        "failing stage: expected None, got Some(\"webpi install\")",
        "missing.txt to read, which does not exist",
        "output: expected a line containing \"a\"",
        "where to look: no line names \"b.log\"",
        "status expected Some(200), got 500",
        "body lacks \"Hello\": oops",
        "\"one\" expected once, found 2 times",
        "contains \"bad\"",
    ] {
        assert!(diffs.contains(want), "{want:?} in:\n{diffs}");
    }
}
