//! Property tests: `-setParam` quoting and cmd.exe quoting round-trip;
//! `TextFile` and `XmlFile` replacement.

use iiswsgi_sim::model::cmd::{command_line, expand, split_chain, split_command, Join};
use iiswsgi_sim::model::cmdline::split_windows;
use iiswsgi_sim::model::msdeploy_args::{self, format_set_param, quote_setting, SetParam};
use iiswsgi_sim::msdeploy::replace::{text_file, xml_file};
use proptest::prelude::*;

fn parse_set_param(arg: &str) -> SetParam {
    let args: Vec<String> = ["-verb:sync", "-source:package=a.zip", "-dest:auto", arg]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    let mut a = msdeploy_args::parse(&args).unwrap();
    a.set_params.remove(0)
}

#[test]
fn set_param_forms_from_the_documentation() {
    let named = |n: &str, v: &str| SetParam::Named {
        name: n.into(),
        value: v.into(),
    };
    assert_eq!(
        parse_set_param("-setParam:name=\"Application Path\",value=\"Default Web Site/app\""),
        named("Application Path", "Default Web Site/app")
    );
    assert_eq!(
        parse_set_param("-setParam:dbAdminUsername=\"root\""),
        named("dbAdminUsername", "root")
    );
    assert_eq!(
        parse_set_param("-setParam:name=ApplicationPath,value='Default Web Site/IISWSGISampleApp'"),
        named("ApplicationPath", "Default Web Site/IISWSGISampleApp")
    );
    assert_eq!(
        parse_set_param("-setParam:kind=TextFile,scope=\\\\web\\.config$,match=x,value=y"),
        SetParam::Entry {
            kind: "TextFile".into(),
            scope: "\\\\web\\.config$".into(),
            matches: "x".into(),
            value: "y".into()
        }
    );
}

#[test]
fn cmd_lines_as_cmd_reads_them() {
    let env = |n: &str| (n.eq_ignore_ascii_case("SystemDrive")).then(|| "C:".to_owned());
    let line = expand(
        "%SystemDrive%\\Python311\\python.exe -m x %UNSET%&& echo 100%% ^& done || exit /b 2",
        &env,
    );
    assert_eq!(
        line,
        "C:\\Python311\\python.exe -m x && echo 100% ^& done || exit /b 2"
    );
    let chain = split_chain(&line).unwrap();
    assert_eq!(
        chain,
        [
            (Join::Always, "C:\\Python311\\python.exe -m x ".to_owned()),
            (Join::IfOk, " echo 100% & done ".to_owned()),
            (Join::IfFailed, " exit /b 2".to_owned())
        ]
    );
    assert!(split_chain("a | b").is_err() && split_chain("a > log.txt").is_err());
    assert_eq!(split_chain("echo \"a && b\"").unwrap().len(), 1);
}

proptest! {
    #[test]
    fn set_param_round_trips(
        name in "[A-Za-z0-9_][ A-Za-z0-9_,='\"./-]{0,10}[A-Za-z0-9_]",
        value in "[ A-Za-z0-9_,='\"./\\\\:{}-]{0,16}",
    ) {
        prop_assert_eq!(
            parse_set_param(&format_set_param(&name, &value)),
            SetParam::Named { name: name.clone(), value: value.clone() }
        );
        // The short form, NAME=VALUE, for names that are not setting keys.
        prop_assume!(!["name", "value", "kind", "type", "scope", "match"].iter().any(|k| name.eq_ignore_ascii_case(k)));
        let short = format!("-setParam:{}={}", quote_setting(&name), quote_setting(&value));
        prop_assert_eq!(parse_set_param(&short), SetParam::Named { name, value });
    }

    #[test]
    fn cmd_quoting_round_trips(
        program in "[A-Za-z]:\\\\[A-Za-z0-9 ._\\\\-]{0,12}[a-z]\\.exe",
        args in prop::collection::vec("[ a-zA-Z0-9&|<>^()%!\"'\\\\:._=-]{0,12}", 0..5),
    ) {
        let line = command_line(&program, &args);
        let expanded = expand(&line, &|_| Some("SHOULD NOT EXPAND".into()));
        let chain = split_chain(&expanded).unwrap();
        prop_assert_eq!(chain.len(), 1, "{}", line);
        let (prog, rest) = split_command(&chain[0].1);
        prop_assert_eq!(prog, program);
        prop_assert_eq!(split_windows(&rest), args);
    }

    #[test]
    fn text_file_replaces_every_literal_match(
        parts in prop::collection::vec("[a-z \\n.]{0,8}", 1..5),
        token in "[A-Z_.$()*+?]{1,6}",
        value in "[a-z$0-9\\\\ ]{0,8}",
    ) {
        let text = parts.join(&token);
        let (out, n) = text_file(&text, &fancy_regex::escape(&token), &value).unwrap();
        prop_assert_eq!(n, text.matches(token.as_str()).count());
        prop_assert_eq!(out, text.replace(token.as_str(), &value));
    }

    #[test]
    fn xml_file_sets_any_value(value in "[ a-zA-Z0-9<>&\"'=/;:{}\\\\-]{0,20}") {
        let src = "<?xml version=\"1.0\"?>\n<configuration>\n  <appSettings>\n    <add key=\"K\" value=\"old\" />\n    <add key=\"L\" value=\"keep\" />\n  </appSettings>\n  <note />\n</configuration>\n";
        let file = std::path::Path::new("web.config");
        let (out, n) = xml_file(file, src, "/configuration/appSettings/add[@key='K']/@value", &value).unwrap();
        prop_assert_eq!(n, 1);
        let (out, m) = xml_file(file, &out, "//note", &value).unwrap();
        prop_assert_eq!(m, 1);
        let doc = iiswsgi_iisconfig::Document::parse(file, &out).unwrap();
        let settings = doc.root().child("appSettings").unwrap();
        let adds: Vec<_> = settings.elements().collect();
        prop_assert_eq!(adds[0].attr("value"), Some(value.as_str()));
        prop_assert_eq!(adds[1].attr("value"), Some("keep"));
        let note = iiswsgi_deploy::format::Generic::parse(file, &out).unwrap();
        prop_assert_eq!(note.find("note").unwrap().text.as_str(), value.as_str());
    }
}

#[test]
fn webpi_command_lines_in_both_spellings() {
    use iiswsgi_sim::model::webpi_args::{parse, Action, WebpiArgError};
    let v = |s: &[&str]| {
        s.iter()
            .map(std::string::ToString::to_string)
            .collect::<Vec<_>>()
    };
    let a = parse(&v(&[
        "install",
        "--products",
        "A,B",
        "--feeds",
        "/tmp/one.xml",
        "http://h/two.xml",
        "--param",
        "X=1=2",
        "--iis-express",
    ]))
    .unwrap();
    assert_eq!(a.action, Action::Install);
    assert_eq!(a.products, ["A", "B"]);
    assert_eq!(a.feeds, ["/tmp/one.xml", "http://h/two.xml"]);
    assert_eq!(a.params, [("X".to_owned(), "1=2".to_owned())]);
    assert!(a.iis_express);
    let b = parse(&v(&[
        "/Install",
        "/Products:A",
        "/Feeds:file:///c/f.xml,/tmp/g.xml",
        "/IISExpress",
        "/AcceptEULA",
        "/SuppressReboot",
    ]))
    .unwrap();
    assert_eq!(
        (
            b.products.len(),
            b.feeds.len(),
            b.iis_express,
            b.accept_eula
        ),
        (1, 2, true, true)
    );
    assert_eq!(
        parse(&v(&["install", "--feeds", "f"])),
        Err(WebpiArgError::NoProducts)
    );
    assert_eq!(parse(&v(&["list"])), Err(WebpiArgError::NoFeeds));
    assert_eq!(
        parse(&v(&["list", "--feeds", "f", "--bogus"])),
        Err(WebpiArgError::Unknown("--bogus".into()))
    );
}
