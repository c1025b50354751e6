//! `deploy::format`: every model reads back what it writes (property tests on
//! generated values with quotes, ampersands, angle brackets and non-ASCII
//! text), the Pyramid fixture's files and the built manifest and feed are
//! stable through the models, and third-party shapes (Microsoft's Web App
//! Gallery feed, a WordPress-style package) parse.

use std::path::Path;

mod strategies;

use iiswsgi_deploy::format::feed::{Dependency, DiscoveryHint, Feed};
use iiswsgi_deploy::format::manifest::{Manifest, Provider};
use iiswsgi_deploy::format::parameters::{EntryKind, Parameters, ValidationKind};
use iiswsgi_deploy::format::ErrorKind;
use proptest::prelude::*;

use crate::Fixture;
use strategies::{feed, manifest, parameters};

// ---- round trips ---------------------------------------------------------

fn file() -> &'static Path {
    Path::new("generated.xml")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn manifest_reads_back_what_it_writes(m in manifest()) {
        let xml = m.to_xml();
        let back = Manifest::from_xml(file(), &xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        prop_assert_eq!(back, m, "{}", xml);
    }

    #[test]
    fn parameters_read_back_what_they_write(p in parameters()) {
        let xml = p.to_xml();
        let back = Parameters::from_xml(file(), &xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        prop_assert_eq!(back, p, "{}", xml);
    }

    #[test]
    fn feed_reads_back_what_it_writes(f in feed()) {
        let xml = f.to_xml();
        let back = Feed::from_xml(file(), &xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        prop_assert_eq!(back, f, "{}", xml);
    }
}

// ---- the Pyramid fixture and what the packager builds ----------------------

fn pyramid_text(rel: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pyramid_app");
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

/// `to_xml(from_xml(text))` is a fixed point, and keeps the content.
fn assert_stable<T: PartialEq + std::fmt::Debug>(
    text: &str,
    read: impl Fn(&str) -> T,
    write: impl Fn(&T) -> String,
) -> String {
    let first = read(text);
    let once = write(&first);
    let second = read(&once);
    assert_eq!(
        second, first,
        "the content changed through the model:\n{once}"
    );
    assert_eq!(write(&second), once, "writing is not stable");
    once
}

fn read_manifest(t: &str) -> Manifest {
    Manifest::from_xml(file(), t).unwrap()
}

fn read_parameters(t: &str) -> Parameters {
    Parameters::from_xml(file(), t).unwrap()
}

fn read_feed(t: &str) -> Feed {
    Feed::from_xml(file(), t).unwrap()
}

#[test]
fn pyramid_templates_are_stable_through_the_models() {
    let params = assert_stable(
        &pyramid_text("Parameters.xml"),
        read_parameters,
        Parameters::to_xml,
    );
    let p = read_parameters(&params);
    let names: Vec<&str> = p.parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ApplicationPath", "scaffold", "project"]);
    assert_eq!(
        p.parameters[1].validation.as_ref().unwrap().kinds,
        [ValidationKind::Enumeration]
    );
    assert_eq!(p.parameters[2].entries.len(), 2);

    let manifest = assert_stable(
        &pyramid_text("Manifest.xml.in"),
        read_manifest,
        Manifest::to_xml,
    );
    let m = read_manifest(&manifest);
    assert_eq!(m.root, "msDeploy.iisApp");
    assert_eq!(m.iis_app_path(), Some("%DIST_NAME%"));
    let rc = m.run_commands().next().unwrap();
    assert_eq!(rc.key_attribute.as_deref(), Some("path"));
    assert_eq!(rc.settings[0], ("waitAttempts".into(), "10".into()));
    assert!(rc.options.is_none());
}

#[test]
fn what_the_packager_writes_reads_back_through_the_models() {
    let f = Fixture::pyramid();
    let p = iiswsgi_deploy::package::package(&f.dir(), None, &mut |_: &str| {}).unwrap();
    let built = std::fs::read_to_string(&p.manifest).unwrap();
    let m = read_manifest(&built);
    assert_eq!(m.iis_app_path(), Some("PyramidIISApp"));
    let rc = m.run_commands().next().unwrap();
    assert!(rc.settings.is_empty(), "settings live in the blob only");
    let plan = iiswsgi_deploy::package::plan(&f.dir(), None).unwrap();
    assert_eq!(rc.options.as_ref(), Some(&plan.manifest.run_commands[0]));
    assert_eq!(m.compiled(), m, "a built manifest is already compiled");
    assert_stable(&built, read_manifest, Manifest::to_xml);

    let fd = iiswsgi_deploy::feed::feed(&f.dir(), &[], None, None, &mut |_: &str| {}).unwrap();
    let xml = std::fs::read_to_string(&fd.path).unwrap();
    // The packager writes with the model's writer: reading and writing
    // again gives the same bytes.
    assert_eq!(read_feed(&xml).to_xml(), xml);
    let feed = read_feed(&xml);
    let e = &feed.entries[0];
    assert_eq!(e.product_id, "PyramidIISApp");
    let file = e.installers[0].file.as_ref().unwrap();
    assert_eq!(file.sha1.as_deref(), Some(p.sha1.as_str()));
    assert_eq!(file.file_size, Some(fd.entries[0].size_kib));
    assert_eq!(
        e.dependency,
        Some(Dependency::And(vec![
            Dependency::Product("WDeploy".into()),
            Dependency::Product("Python311".into()),
        ]))
    );
}

// ---- third-party shapes ----------------------------------------------------

fn fixture(rel: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

#[test]
fn a_wordpress_style_manifest_parses() {
    let text = fixture("wordpress/manifest.xml");
    let m = read_manifest(&text);
    assert_eq!(m.root, "msdeploy.iisapp");
    assert_eq!(m.iis_app_path(), Some("wordpress"));
    assert!(matches!(&m.providers[1], Provider::DbMySql(k) if k.path == "install.sql"));
    assert!(matches!(&m.providers[2], Provider::Alias { from, to, .. }
        if from == "wordpress/wp-config-sample.php" && to == "wordpress/wp-config.php"));
    let Provider::SetAcl(acl) = &m.providers[3] else {
        panic!("{:?}", m.providers[3]);
    };
    assert_eq!(acl.path, "wordpress/wp-content");
    assert_eq!(acl.access.as_deref(), Some("Modify"));
    assert_eq!(acl.user.as_deref(), Some("anonymousAuthenticationUser"));
    assert_eq!(acl.resource_type, None);
    // Provider names are written in their documented case.
    let out = assert_stable(&text, read_manifest, Manifest::to_xml);
    assert!(out.contains("<dbMySql path=\"install.sql\" />"), "{out}");
}

#[test]
fn wordpress_style_parameters_parse_with_type_for_kind() {
    let text = fixture("wordpress/parameters.xml");
    let p = read_parameters(&text);
    assert_eq!(p.parameters.len(), 6);
    let app = &p.parameters[0];
    assert!(app.has_tag("iisApp"));
    assert_eq!(app.entries[0].kind, EntryKind::ProviderPath);
    assert_eq!(app.entries[0].scope, "iisapp");
    let acl = &p.parameters[1];
    assert_eq!(acl.default_value.as_deref(), Some("{AppPath}/wp-content"));
    assert_eq!(acl.tags, ["Hidden"]);
    let db = &p.parameters[3];
    let v = db.validation.as_ref().unwrap();
    assert_eq!(v.kinds, [ValidationKind::RegularExpression]);
    assert_eq!(v.expression.as_deref(), Some("^\\w{1,64}$"));
    assert_eq!(db.entries[1].kind, EntryKind::TextFile);
    let pw = &p.parameters[4];
    assert_eq!(
        pw.description.as_deref(),
        Some("Password for the database user. & <quoted> \"text\" é")
    );
    assert_eq!(
        pw.validation.as_ref().unwrap().kinds,
        [
            ValidationKind::RegularExpression,
            ValidationKind::AllowEmpty
        ]
    );
    assert_eq!(pw.tags, ["New", "Password", "MySQL", "dbUserPassword"]);
    let out = assert_stable(&text, read_parameters, Parameters::to_xml);
    assert!(
        out.contains("kind=\"RegularExpression,AllowEmpty\""),
        "{out}"
    );
    // What the packager checks holds for this shape too.
    let params = iiswsgi_deploy::parameters::parse(file(), &text).unwrap();
    iiswsgi_deploy::parameters::validate(file(), &params, "wordpress").unwrap();
}

#[test]
fn microsofts_web_application_list_shape_parses() {
    let text = fixture("webapplicationlist.xml");
    let f = read_feed(&text);
    assert_eq!(f.webpi_version.as_deref(), Some("5.0.0.0"));
    assert_eq!(f.links[0].rel.as_deref(), Some("self"));
    assert_eq!(f.languages.len(), 2);
    assert!(f.languages[0].default && !f.languages[1].default);
    let wp = &f.entries[0];
    assert_eq!(wp.entry_type.as_deref(), Some("application"));
    assert_eq!(wp.product_id, "WordPress");
    assert_eq!(
        wp.title.as_ref().unwrap().resource_name.as_deref(),
        Some("Entry_WordPress_Title")
    );
    assert_eq!(wp.keywords, ["Blogs", "ContentMgmt", "MySQL"]);
    assert_eq!(
        wp.dependency,
        Some(Dependency::And(vec![
            Dependency::Ref("PHP56App".into()),
            Dependency::Ref("MySQLApp".into()),
        ]))
    );
    let inst = &wp.installers[0];
    let file = inst.file.as_ref().unwrap();
    assert_eq!(file.file_size, Some(10156));
    assert!(file
        .tracking_url
        .as_deref()
        .unwrap()
        .contains("incrementappdownloadcount&appid=WordPress"));
    assert_eq!(
        inst.msdeploy.as_ref().unwrap().start_page.as_deref(),
        Some("/wp-admin/install.php")
    );
    assert_eq!(inst.other[0].name, "osList");
    assert_eq!(wp.add_to_feed_date.as_deref(), Some("02-25-2013"));
    let php = &f.entries[1];
    let Some(DiscoveryHint::Or(hints)) = &php.discovery_hint else {
        panic!("{:?}", php.discovery_hint);
    };
    assert!(
        matches!(&hints[1], DiscoveryHint::File { minimum_version: Some(v), .. } if v == "5.3.0")
    );
    assert_eq!(php.other[0].name, "searchExclude");
    assert_eq!(f.keywords[1].text, "Content Management");
    assert_eq!(f.dependencies[1].id, "MySQLApp");
    assert_eq!(
        f.dependencies[1].dependency,
        Dependency::Product("MySQLConnector".into())
    );
    assert!(matches!(&f.dependencies[0].dependency, Dependency::And(d) if d.len() == 2));
    assert_eq!(f.featured, ["WordPress"]);
    let kept: Vec<&str> = f.other.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(kept, ["resourcesList", "tabs", "osLists"]);
    assert_stable(&text, read_feed, Feed::to_xml);
}

// ---- errors --------------------------------------------------------------

#[test]
fn errors_name_the_file_line_and_fix() {
    let doctype = "<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY a \"b\">]>\n<feed />";
    let e = Feed::from_xml(file(), doctype).unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::Doctype));
    assert!(Manifest::from_xml(file(), doctype).is_err());
    assert!(Parameters::from_xml(file(), doctype).is_err());

    type Read = fn(&str) -> String;
    let cases: [(&str, Read, &str); 6] = [
        (
            "<feed>\n<entry>\n<title>x</title>\n</entry>\n</feed>",
            |t| Feed::from_xml(file(), t).unwrap_err().to_string(),
            "generated.xml:2: an <entry> has no <productId>; ",
        ),
        (
            "<feed>\n<entry><productId>a</productId><installers><installer>\n<installerFile><fileSize>12 KB</fileSize></installerFile></installer></installers></entry></feed>",
            |t| Feed::from_xml(file(), t).unwrap_err().to_string(),
            "generated.xml:3: <fileSize>12 KB</fileSize> is not a whole number; write the size",
        ),
        (
            "<feed><entry><productId>a</productId>\n<dependency><productId>b</productId><productId>c</productId></dependency></entry></feed>",
            |t| Feed::from_xml(file(), t).unwrap_err().to_string(),
            "generated.xml:2: <dependency> holds 2 elements where one is expected; ",
        ),
        (
            "<m>\n<iisApp path=\"a\" />\n<runCommand path=\"x\" MSDeploy.MSDeployProviderOptions=\"not a blob\" />\n</m>",
            |t| Manifest::from_xml(file(), t).unwrap_err().to_string(),
            "generated.xml:3: <runCommand>: MSDeployProviderOptions is not valid base64",
        ),
        (
            "<m>\n<iisApp path=\"a\" />\n<alias from=\"x\" />\n</m>",
            |t| Manifest::from_xml(file(), t).unwrap_err().to_string(),
            "generated.xml:3: <alias> needs both from and to; ",
        ),
        (
            "<parameters>\n<parameter name=\"a\" />\n<parameter name=\"a\" />\n</parameters>",
            |t| Parameters::from_xml(file(), t).unwrap_err().to_string(),
            "generated.xml:3: parameter \"a\" is declared twice; ",
        ),
    ];
    for (text, read, want) in cases {
        let got = read(text);
        assert!(got.contains(want), "got: {got}\nwant: {want}");
    }
}

#[test]
fn compiling_keeps_the_template_around_the_run_commands() {
    let text = "\u{feff}<m>\n  <!-- kept -->\n  <iisApp path=\"app\" />\n  <runCommand path=\"a &amp; b\" waitAttempts=\"3\">\n  </runCommand>\n  <RUNCOMMAND path=\"c\" />\n</m>\n";
    let m = iiswsgi_deploy::manifest::compile(file(), text).unwrap();
    let (head, rest) = m.xml.split_once("<runCommand path=\"a &amp; b\" MSDeploy.MSDeployKeyAttributeName=\"path\" MSDeploy.MSDeployProviderOptions=\"").unwrap();
    assert_eq!(
        head,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<m>\n  <!-- kept -->\n  <iisApp path=\"app\" />\n  "
    );
    assert!(rest.contains("\">\n  </runCommand>\n  <RUNCOMMAND path=\"c\" MSDeploy.MSDeployKeyAttributeName=\"path\" MSDeploy.MSDeployProviderOptions=\""), "{rest}");
    assert!(rest.ends_with("\"/>\n</m>\n"), "{rest}");
    let settings: Vec<_> = m.run_commands.iter().map(|o| o.settings.clone()).collect();
    assert_eq!(
        settings,
        [vec![("waitAttempts".into(), "3".into())], vec![]]
    );
    assert_eq!(m.run_commands[0].path, "a & b");
    // Compiling a compiled manifest changes nothing.
    let again = iiswsgi_deploy::manifest::compile(file(), &m.xml).unwrap();
    assert_eq!(again.xml, m.xml);
}
