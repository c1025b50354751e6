//! Error messages never repeat their source's text; the chain shows both.

use std::io;
use std::path::PathBuf;

use iiswsgi_gateway::GatewayError;
use iiswsgi_iisconfig::{error_chain, ConfigError};

fn denied() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "denied by the test")
}

#[test]
fn messages_name_the_file_and_fix_and_leave_the_cause_to_the_chain() {
    let cases: Vec<(GatewayError, &str)> = vec![
        (
            GatewayError::Log {
                path: PathBuf::from("/x/iiswsgi.log"),
                source: denied(),
            },
            "cannot open the log file /x/iiswsgi.log (pass --log PATH or set WSGI_LOG to a \
             writable file): denied by the test",
        ),
        (
            GatewayError::Io {
                context: "cannot share the listening socket".into(),
                source: denied(),
            },
            "cannot share the listening socket: denied by the test",
        ),
        (
            GatewayError::Config(ConfigError::Read {
                path: PathBuf::from("/site/web.config"),
                source: denied(),
            }),
            "cannot read /site/web.config: denied by the test",
        ),
    ];
    for (e, shown) in cases {
        let source = std::error::Error::source(&e).expect("a cause").to_string();
        assert!(
            !e.to_string().contains(&source),
            "{e} repeats its source {source:?}"
        );
        assert_eq!(error_chain(&e), shown);
    }
}

#[test]
fn callers_branch_on_the_kind() {
    let e = GatewayError::Log {
        path: PathBuf::from("/x"),
        source: denied(),
    };
    assert!(matches!(e, GatewayError::Log { .. }));
    assert!(matches!(GatewayError::NoApp, GatewayError::NoApp));
}
