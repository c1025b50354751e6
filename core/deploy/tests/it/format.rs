//! `deploy::format`: every model reads back what it writes (property tests on
//! generated values with quotes, ampersands, angle brackets and non-ASCII
//! text), the Pyramid fixture's files and the built manifest and feed are
//! stable through the models, and third-party shapes (Microsoft's Web App
//! Gallery feed, a WordPress-style package) parse.

use std::path::Path;

use iiswsgi_deploy::format::feed::{
    Author, Dependency, DiscoveryHint, Entry, Feed, Images, Installer, InstallerFile, Keyword,
    Language, Link, MsDeploy, NamedDependency, Text,
};
use iiswsgi_deploy::format::manifest::{Keyed, Manifest, Provider, RunCommand, SetAcl};
use iiswsgi_deploy::format::parameters::{
    EntryKind, Parameter, ParameterEntry, Parameters, Validation, ValidationKind,
};
use iiswsgi_deploy::format::{ErrorKind, Generic, Line};
use iiswsgi_deploy::provider_options::ProviderOptions;
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;

use crate::Fixture;

// ---- strategies ----------------------------------------------------------

/// Text with everything XML must escape, white space and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 &<>\"'=;/\\\\{}éü日本€😀\t\n]{0,12}"
}

fn nonblank() -> impl Strategy<Value = String> {
    "[a-zA-Z&<>\"'é日😀][a-zA-Z0-9 &<>\"'é日😀]{0,10}"
}

/// Attributes with distinct names, each starting with `prefix`.
fn attrs(prefix: &'static str) -> impl Strategy<Value = Vec<(String, String)>> {
    btree_map("[a-z]{1,6}", text(), 0..3).prop_map(move |m| {
        m.into_iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v))
            .collect()
    })
}

/// An element no model knows (named `ext…`), with attributes, text or children.
fn generic() -> impl Strategy<Value = Generic> {
    let leaf = ("[a-z]{1,6}", attrs("a"), text()).prop_map(|(n, a, t)| Generic {
        name: format!("ext{n}"),
        attrs: a,
        text: t,
        ..Generic::default()
    });
    leaf.prop_recursive(2, 8, 3, |inner| {
        ("[a-z]{1,6}", attrs("a"), vec(inner, 1..3)).prop_map(|(n, a, c)| Generic {
            name: format!("ext{n}"),
            attrs: a,
            children: c,
            ..Generic::default()
        })
    })
}

fn keyed() -> impl Strategy<Value = Keyed> {
    (text(), attrs("a")).prop_map(|(path, attrs)| Keyed {
        path,
        attrs,
        line: Line(0),
    })
}

fn options() -> impl Strategy<Value = ProviderOptions> {
    (text(), text(), vec((text(), text()), 0..3)).prop_map(|(provider, path, settings)| {
        ProviderOptions {
            provider,
            path,
            settings,
        }
    })
}

fn run_command() -> impl Strategy<Value = RunCommand> {
    (
        text(),
        attrs("s"),
        of(text()),
        of(options()),
        attrs("MSDeploy.x"),
    )
        .prop_map(
            |(path, settings, key_attribute, options, msdeploy)| RunCommand {
                path,
                settings,
                key_attribute,
                options,
                msdeploy,
                line: Line(0),
            },
        )
}

fn provider() -> impl Strategy<Value = Provider> {
    prop_oneof![
        run_command().prop_map(Provider::RunCommand),
        (text(), of(text()), of(text()), of(text()), attrs("a")).prop_map(
            |(path, access, user, resource_type, attrs)| Provider::SetAcl(SetAcl {
                path,
                access,
                user,
                resource_type,
                attrs,
                line: Line(0),
            })
        ),
        (text(), text()).prop_map(|(from, to)| Provider::Alias {
            from,
            to,
            line: Line(0)
        }),
        keyed().prop_map(Provider::CreateApp),
        keyed().prop_map(Provider::DbFullSql),
        keyed().prop_map(Provider::DbMySql),
        generic().prop_map(Provider::Other),
    ]
}

fn manifest() -> impl Strategy<Value = Manifest> {
    (
        "[a-zA-Z][a-zA-Z0-9.]{0,12}",
        nonblank(),
        attrs("a"),
        vec(provider(), 0..5),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(root, path, attrs, mut providers, at)| {
            let app = Provider::IisApp(Keyed {
                path,
                attrs,
                line: Line(0),
            });
            providers.insert(at.index(providers.len() + 1), app);
            Manifest { root, providers }
        })
}

/// An unknown kind: never one of the known names, in any case.
fn other_kind() -> impl Strategy<Value = String> {
    "[A-Z][a-z]{2,8}x"
}

fn parameter() -> impl Strategy<Value = Parameter> {
    let validation = (
        vec(
            prop_oneof![
                Just(ValidationKind::AllowEmpty),
                Just(ValidationKind::Boolean),
                Just(ValidationKind::Enumeration),
                Just(ValidationKind::RegularExpression),
                other_kind().prop_map(ValidationKind::Other),
            ],
            0..3,
        ),
        of(text()),
    )
        .prop_map(|(kinds, expression)| Validation {
            kinds,
            expression,
            line: Line(0),
        });
    let entry = (
        prop_oneof![
            Just(EntryKind::ProviderPath),
            Just(EntryKind::TextFile),
            Just(EntryKind::XmlFile),
            Just(EntryKind::TextFilePosition),
            other_kind().prop_map(EntryKind::Other),
        ],
        text(),
        text(),
        vec("[A-Za-z]{1,8}", 0..3),
    )
        .prop_map(|(kind, scope, matches, tags)| ParameterEntry {
            kind,
            scope,
            matches,
            tags,
            line: Line(0),
        });
    (
        (nonblank(), of(text()), of(text()), of(text())),
        vec("[A-Za-z]{1,8}", 0..3),
        of(validation),
        vec(entry, 0..3),
        vec(generic(), 0..2),
    )
        .prop_map(
            |(
                (name, friendly_name, description, default_value),
                tags,
                validation,
                entries,
                other,
            )| {
                Parameter {
                    name,
                    friendly_name,
                    description,
                    default_value,
                    tags,
                    validation,
                    entries,
                    other,
                    line: Line(0),
                }
            },
        )
}

fn parameters() -> impl Strategy<Value = Parameters> {
    vec(parameter(), 0..5).prop_map(|mut ps| {
        let mut seen = std::collections::HashSet::new();
        ps.retain(|p| seen.insert(p.name.clone()));
        Parameters { parameters: ps }
    })
}

fn ftext() -> impl Strategy<Value = Text> {
    (text(), of(text())).prop_map(|(text, resource_name)| Text {
        text,
        resource_name,
    })
}

fn link() -> impl Strategy<Value = Link> {
    (of(text()), text()).prop_map(|(rel, href)| Link { rel, href })
}

fn author() -> impl Strategy<Value = Author> {
    (of(text()), of(text())).prop_map(|(name, uri)| Author { name, uri })
}

fn dependency() -> impl Strategy<Value = Dependency> {
    let leaf = prop_oneof![
        text().prop_map(Dependency::Ref),
        text().prop_map(Dependency::Product),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(Dependency::And),
            vec(inner, 0..3).prop_map(Dependency::Or),
        ]
    })
}

fn discovery_hint() -> impl Strategy<Value = DiscoveryHint> {
    let leaf = prop_oneof![
        (text(), of(text())).prop_map(|(path, minimum_version)| DiscoveryHint::File {
            path,
            minimum_version
        }),
        (text(), of(text()), of(text())).prop_map(|(key_path, value_name, value_value)| {
            DiscoveryHint::Registry {
                key_path,
                value_name,
                value_value,
            }
        }),
        text().prop_map(DiscoveryHint::MsiProductCode),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(DiscoveryHint::And),
            vec(inner, 0..3).prop_map(DiscoveryHint::Or),
        ]
    })
}

fn installer() -> impl Strategy<Value = Installer> {
    let file = (
        of(any::<u64>()),
        of(text()),
        of(text()),
        of(text()),
        of(text()),
    )
        .prop_map(
            |(file_size, tracking_url, installer_url, display_url, sha1)| InstallerFile {
                file_size,
                tracking_url,
                installer_url,
                display_url,
                sha1,
            },
        );
    (
        (of(text()), vec(text(), 0..2), of(text())),
        of(file),
        of(of(text()).prop_map(|start_page| MsDeploy { start_page })),
        of(text()),
        vec(generic(), 0..2),
    )
        .prop_map(
            |((id, language_ids, eula_url), file, msdeploy, help_link, other)| Installer {
                id,
                language_ids,
                eula_url,
                file,
                msdeploy,
                help_link,
                other,
            },
        )
}

fn entry() -> impl Strategy<Value = Entry> {
    let head = (
        of(text()),
        text(),
        of(ftext()),
        of(text()),
        of(text()),
        of(ftext()),
        of(ftext()),
        of(text()),
        of(text()),
        vec(link(), 0..2),
        of(author()),
    );
    let images = (of(text()), vec(text(), 0..2))
        .prop_map(|(icon, screenshots)| Images { icon, screenshots });
    let body = (
        of(images),
        vec(text(), 0..3),
        of(discovery_hint()),
        of(dependency()),
        vec(text(), 0..2),
        vec(installer(), 0..2),
        of(ftext()),
        (of(text()), of(text()), of(text())),
        vec(generic(), 0..2),
    );
    (head, body).prop_map(|(h, b)| Entry {
        entry_type: h.0,
        product_id: h.1,
        title: h.2,
        id: h.3,
        version: h.4,
        summary: h.5,
        long_summary: h.6,
        published: h.7,
        updated: h.8,
        links: h.9,
        author: h.10,
        images: b.0,
        keywords: b.1,
        discovery_hint: b.2,
        dependency: b.3,
        related: b.4,
        installers: b.5,
        product_family: b.6,
        framework_family: b.7 .0,
        add_to_feed_date: b.7 .1,
        page_name: b.7 .2,
        other: b.8,
    })
}

fn feed() -> impl Strategy<Value = Feed> {
    let language = (text(), of(text()), any::<bool>()).prop_map(|(id, name, default)| Language {
        id,
        name,
        default,
    });
    let keyword = (text(), of(text()), text()).prop_map(|(id, resource_name, text)| Keyword {
        id,
        resource_name,
        text,
    });
    let named =
        (text(), dependency()).prop_map(|(id, dependency)| NamedDependency { id, dependency });
    let head = (
        of(text()),
        of(ftext()),
        vec(link(), 0..2),
        of(text()),
        of(author()),
        of(text()),
        of(text()),
        vec(language, 0..2),
    );
    let body = (
        vec(entry(), 0..3),
        vec(keyword, 0..3),
        vec(named, 0..2),
        vec(text(), 0..2),
        vec(generic(), 0..2),
    );
    (head, body).prop_map(|(h, b)| Feed {
        webpi_version: h.0,
        title: h.1,
        links: h.2,
        updated: h.3,
        author: h.4,
        id: h.5,
        version: h.6,
        languages: h.7,
        entries: b.0,
        keywords: b.1,
        dependencies: b.2,
        featured: b.3,
        other: b.4,
    })
}

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
