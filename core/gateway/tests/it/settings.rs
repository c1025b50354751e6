//! Settings precedence: command line > environment > web.config > default,
//! for every setting, with the source of each value.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iiswsgi_gateway::settings::{Settings, Source, WebSettings};
use iiswsgi_gateway::ServeOptions;
use iiswsgi_iisconfig::AppSetting;

const WEB: &str = "/site/web.config";
const LINE: usize = 7;

/// One setting: how each level sets it (None: the level has no say) and how
/// to read it back as text.
struct Row {
    name: &'static str,
    cli: Option<fn(&mut ServeOptions, &str)>,
    env: Option<&'static str>,
    web: Option<&'static str>,
    /// The value and source when nothing sets it (None: the setting is absent).
    default: Option<&'static str>,
    get: fn(&Settings) -> Option<(String, Source)>,
}

/// A value as the table writes it.
trait Shown {
    fn shown(&self) -> String;
}

impl Shown for String {
    fn shown(&self) -> String {
        self.clone()
    }
}

impl Shown for PathBuf {
    fn shown(&self) -> String {
        self.display().to_string()
    }
}

impl Shown for bool {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for usize {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for Duration {
    fn shown(&self) -> String {
        format!("{self:?}")
    }
}

fn text<T: Shown>(r: &iiswsgi_gateway::settings::Resolved<T>) -> (String, Source) {
    (r.value.shown(), r.source.clone())
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "application",
            cli: Some(|o, v| o.app = Some(v.into())),
            env: Some("WSGI_HANDLER"),
            web: Some("WSGI_HANDLER"),
            default: None,
            get: |s| s.app.as_ref().map(text),
        },
        Row {
            name: "log file",
            cli: Some(|o, v| o.log = Some(v.into())),
            env: Some("WSGI_LOG"),
            web: Some("WSGI_LOG"),
            default: None,
            get: |s| s.log.as_ref().map(text),
        },
        Row {
            name: "log level",
            cli: Some(|o, v| o.log_level = Some(v.into())),
            env: Some("IISWSGI_LOG_LEVEL"),
            web: None,
            default: Some("info"),
            get: |s| Some(text(&s.log_level)),
        },
        Row {
            name: "SCRIPT_NAME",
            cli: Some(|o, v| o.script_name = Some(v.into())),
            env: Some("SCRIPT_NAME"),
            web: Some("SCRIPT_NAME"),
            default: None,
            get: |s| s.script_name.as_ref().map(text),
        },
        Row {
            name: "restart regex",
            cli: Some(|o, v| o.restart_regex = Some(v.into())),
            env: Some("WSGI_RESTART_FILE_REGEX"),
            web: Some("WSGI_RESTART_FILE_REGEX"),
            default: Some(iiswsgi_gateway::watch::DEFAULT_RESTART_REGEX),
            get: |s| Some(text(&s.restart_regex)),
        },
        Row {
            name: "X-Original-URL",
            cli: None,
            env: Some("WSGI_X_ORIGINAL_URL"),
            web: Some("WSGI_X_ORIGINAL_URL"),
            default: Some("true"),
            // "ignore" at a level reads as false: the value names the level.
            get: |s| Some(text(&s.use_x_original_url)),
        },
        Row {
            name: "PYTHONPATH",
            cli: None,
            env: None,
            web: Some("PYTHONPATH"),
            default: None,
            get: |s| {
                s.python_path
                    .as_ref()
                    .map(|p| (p.value.join(";"), p.source.clone()))
            },
        },
        Row {
            name: "max conns",
            cli: Some(|o, v| o.max_conns = Some(v.parse().unwrap())),
            env: None,
            web: None,
            default: Some("64"),
            get: |s| Some(text(&s.max_conns)),
        },
        Row {
            name: "graceful timeout",
            cli: Some(|o, v| o.graceful_timeout = Some(Duration::from_secs(v.parse().unwrap()))),
            env: None,
            web: None,
            default: Some("30s"),
            get: |s| Some(text(&s.graceful_timeout)),
        },
    ]
}

/// The value each level gives a row (X-Original-URL reads back as a bool).
fn value(row: &Row, level: &str) -> String {
    match (row.name, level) {
        ("X-Original-URL", "env") => "ignore".into(),
        ("X-Original-URL", "web") => "IGNORE".into(),
        ("max conns", _) => "12".into(),
        ("graceful timeout", _) => "9".into(),
        _ => format!("{level}-value"),
    }
}

fn shown(row: &Row, level: &str) -> String {
    match (row.name, level) {
        ("X-Original-URL", _) => "false".into(),
        ("graceful timeout", _) => "9s".into(),
        _ => value(row, level),
    }
}

fn web_settings(entries: &[(&str, String)]) -> WebSettings {
    WebSettings {
        path: PathBuf::from(WEB),
        entries: entries
            .iter()
            .map(|(k, v)| AppSetting {
                key: (*k).into(),
                value: v.clone(),
                line: LINE,
            })
            .collect(),
    }
}

#[test]
fn every_setting_takes_the_highest_level_that_sets_it() {
    let mut checked = 0;
    for row in rows() {
        // Each combination of levels setting the value.
        for mask in 0..8u8 {
            let (use_cli, use_env, use_web) = (mask & 4 != 0, mask & 2 != 0, mask & 1 != 0);
            let mut options = ServeOptions::default();
            let mut env = HashMap::new();
            let mut web = Vec::new();
            let mut expect: Option<(String, Source)> = None;
            if let (true, Some(web_key)) = (use_web, row.web) {
                web.push((web_key, value(&row, "web")));
                expect = Some((
                    shown(&row, "web"),
                    Source::WebConfig(WEB.into(), Some(LINE)),
                ));
            }
            if let (true, Some(var)) = (use_env, row.env) {
                env.insert(var.to_owned(), value(&row, "env"));
                expect = Some((shown(&row, "env"), Source::Environment(var)));
            }
            if let (true, Some(set)) = (use_cli, row.cli) {
                set(&mut options, &value(&row, "cli"));
                expect = Some((shown(&row, "cli"), Source::CommandLine));
            }
            let expect = expect.or(row.default.map(|d| (d.to_owned(), Source::Default)));
            let web = web_settings(&web);
            let got = Settings::resolve(&options, &|k| env.get(k).cloned(), Some(&web));
            assert_eq!(
                (row.get)(&got),
                expect,
                "{}: command line {use_cli}, environment {use_env}, web.config {use_web}",
                row.name
            );
            // Before the web.config is known, only the other levels count.
            let early = Settings::resolve(&options, &|k| env.get(k).cloned(), None);
            assert!(
                !(row.get)(&early).is_some_and(|(_, s)| matches!(s, Source::WebConfig(..))),
                "{}: a web.config source without a web.config",
                row.name
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 9 * 8);
}

#[test]
fn empty_application_and_log_are_unset_but_an_empty_restart_regex_disables() {
    let options = ServeOptions {
        app: Some(String::new()),
        ..ServeOptions::default()
    };
    let env: HashMap<&str, &str> = [("WSGI_LOG", ""), ("WSGI_RESTART_FILE_REGEX", "")].into();
    let web = web_settings(&[
        ("wsgi_handler", "site:app".into()),
        ("WSGI_LOG", "%LOGS%\\app.log".into()),
        ("WSGI_RESTART_FILE_REGEX", ".*".into()),
    ]);
    let env_fn = |k: &str| match k {
        "LOGS" => Some("C:\\logs".to_owned()),
        _ => env.get(k).map(|v| (*v).to_owned()),
    };
    let s = Settings::resolve(&options, &env_fn, Some(&web));
    let app = s
        .app
        .expect("web.config's handler (keys match in any case)");
    assert_eq!(app.value, "site:app");
    assert!(app.from_web_config());
    let log = s.log.expect("web.config's log, %VAR% expanded");
    assert_eq!(log.value, Path::new("C:\\logs\\app.log"));
    assert_eq!(s.restart_regex.value, "");
    assert_eq!(
        s.restart_regex.source,
        Source::Environment("WSGI_RESTART_FILE_REGEX")
    );
}

#[test]
fn a_zero_read_timeout_waits_for_ever() {
    let options = ServeOptions {
        read_timeout: Some(Duration::ZERO),
        ..ServeOptions::default()
    };
    let s = Settings::resolve(&options, &|_| None, None);
    assert_eq!(s.read_timeout.value, None);
    assert_eq!(s.read_timeout.source, Source::CommandLine);
    let s = Settings::resolve(&ServeOptions::default(), &|_| None, None);
    assert_eq!(s.read_timeout.value, Some(Duration::from_secs(30)));
    assert_eq!(s.read_timeout.source, Source::Default);
}

#[test]
fn web_config_values_name_their_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.config");
    std::fs::write(
        &path,
        "<?xml version=\"1.0\"?>\n<configuration>\n  <appSettings>\n    <add key=\"WSGI_HANDLER\" value=\"a:b\" />\n    <add key=\"PYTHONPATH\" value=\"x;;y\" />\n  </appSettings>\n</configuration>\n",
    )
    .unwrap();
    let web = WebSettings::load(&path).unwrap();
    let s = Settings::resolve(&ServeOptions::default(), &|_| None, Some(&web));
    let app = s.app.unwrap();
    assert_eq!(app.source, Source::WebConfig(path.clone(), Some(4)));
    assert_eq!(app.source.to_string(), format!("{}:4", path.display()));
    let pp = s.python_path.unwrap();
    assert_eq!(pp.value, ["x", "y"]);
    assert_eq!(pp.source, Source::WebConfig(path, Some(5)));
    let lines = s_describe_names(&Settings::resolve(
        &ServeOptions::default(),
        &|_| None,
        Some(&web),
    ));
    assert!(lines.contains(&"application".to_owned()), "{lines:?}");
}

fn s_describe_names(s: &Settings) -> Vec<String> {
    s.describe()
        .iter()
        .map(|l| l.split(" = ").next().unwrap_or_default().to_owned())
        .collect()
}
