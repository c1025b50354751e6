use std::path::Path;

use iiswsgi_deploy::{clean, feed, init, package, DeployError};

use crate::Fixture;

fn quiet() -> impl FnMut(&str) {
    |_: &str| {}
}

fn build(f: &Fixture) -> package::Packaged {
    package::package(&f.dir(), None, &mut quiet()).unwrap()
}

fn zip_names(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    let mut z = zip::ZipArchive::new(file).unwrap();
    (0..z.len())
        .map(|i| z.by_index(i).unwrap().name().unwrap().to_string())
        .collect()
}

fn err(f: &Fixture) -> String {
    let e = package::package(&f.dir(), None, &mut quiet()).unwrap_err();
    assert!(
        !f.dir().join("dist").exists()
            || std::fs::read_dir(f.dir().join("dist"))
                .unwrap()
                .next()
                .is_none(),
        "something was left in dist after: {e}"
    );
    e.to_string()
        .replace(&f.dir().display().to_string(), "[DIR]")
}

#[test]
fn manifest_snapshot() {
    let f = Fixture::pyramid();
    let p = build(&f);
    let manifest = std::fs::read_to_string(&p.manifest).unwrap();
    insta::assert_snapshot!(manifest);
    assert_eq!(p.iis_app_path, "PyramidIISApp");
}

/// The package does not depend on the machine that builds it: references to
/// the target's environment (`%SystemDrive%` above; `%PATH%` and `$PATH`,
/// defined on every build machine) stay for the target to expand.
#[test]
fn build_machine_environment_is_not_expanded() {
    let f = Fixture::pyramid();
    f.edit(
        "Manifest.xml.in",
        "%SystemDrive%\\Python311",
        "%SystemDrive%\\%PATH%\\${PATH}\\$path",
    );
    let p = build(&f);
    let manifest = std::fs::read_to_string(&p.manifest).unwrap();
    assert!(
        manifest.contains("path=\"%SystemDrive%\\%PATH%\\${PATH}\\$path\\python.exe -m iiswsgi install --app-name PyramidIISApp\""),
        "{manifest}"
    );
}

#[test]
fn zip_listing_snapshot_and_layout() {
    let f = Fixture::pyramid();
    let p = build(&f);
    assert_eq!(p.zip, f.dir().join("dist/PyramidIISApp-0.1.msdeploy.zip"));
    let names = zip_names(&p.zip);
    assert_eq!(names, p.entries);
    insta::assert_snapshot!(names.join("\n"));
    // The stamp is compiled from its template, not packaged as the template.
    assert!(names.contains(&"PyramidIISApp/iis_install.stamp".to_string()));
    assert!(!names.iter().any(|n| std::path::Path::new(n)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("in"))
        && !n.ends_with("web.config.in")));
}

#[test]
fn reproducible_whatever_the_mtimes() {
    let f = Fixture::pyramid();
    let first = std::fs::read(build(&f).zip).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_hours(1);
    for rel in ["README.txt", "pyramidiisapp/__init__.py", "production.ini"] {
        std::fs::File::options()
            .write(true)
            .open(f.dir().join(rel))
            .unwrap()
            .set_modified(later)
            .unwrap();
    }
    let second = std::fs::read(build(&f).zip).unwrap();
    assert!(first == second, "the same inputs gave different zips");
}

#[test]
fn provider_options_in_the_built_manifest_decode() {
    let f = Fixture::pyramid();
    let p = build(&f);
    let text = std::fs::read_to_string(p.manifest).unwrap();
    let attr = text
        .split("MSDeploy.MSDeployProviderOptions=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let opts = iiswsgi_deploy::provider_options::ProviderOptions::from_attribute(attr).unwrap();
    assert_eq!(opts.provider, "runCommand");
    assert!(
        opts.path
            .ends_with("-m iiswsgi install --app-name PyramidIISApp"),
        "{}",
        opts.path
    );
    assert_eq!(
        opts.settings,
        vec![
            ("waitAttempts".into(), "10".into()),
            ("waitInterval".into(), "60000".into()),
            ("successReturnCodes".into(), "0x0".into())
        ]
    );
    assert!(
        !text.contains("waitAttempts=\""),
        "settings are removed from the element"
    );
}

#[test]
fn quote_trap_is_reported() {
    let f = Fixture::pyramid();
    let p = build(&f);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("web.config.in:") && w.contains("unclosed single quote")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn validation_errors_name_file_and_line() {
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        ("Manifest.xml.in", "<iisApp path=\"%DIST_NAME%\" />", "<iisApp path=\"%DIST_NAME%\" /><iisApp path=\"other\" />", "Manifest.xml.in:3: 2 <iisApp> providers"),
        ("Manifest.xml.in", "<iisApp path=\"%DIST_NAME%\" />", "", "Manifest.xml.in: has no <iisApp path"),
        ("Manifest.xml.in", "path=\"%SystemDrive%", "command=\"%SystemDrive%", "Manifest.xml.in:4: <runCommand> has no path"),
        ("Manifest.xml.in", "</msDeploy.iisApp>", "</msDeploy.iisapp>", "Manifest.xml.in:8: not well-formed XML"),
        ("Parameters.xml", "tags=\"iisApp\"", "tags=\"Other\"", "Parameters.xml: no parameter is tagged iisApp"),
        ("Parameters.xml", "match=\"PyramidIISApp\"", "match=\"SomethingElse\"", "Parameters.xml:3: parameter \"ApplicationPath\" (tagged iisApp) has no ProviderPath entry"),
        ("Parameters.xml", "match=\"PyramidIISApp\"", "match=\"Pyramid(IISApp\"", "Parameters.xml:8: match \"Pyramid(IISApp\" is not a valid regular expression"),
        ("Parameters.xml", "scope=\"\\\\production\\.ini$\" match=\"__msdeploy_scaffold__\"", "scope=\"[production\" match=\"__msdeploy_scaffold__\"", "Parameters.xml:17: scope \"[production\" is not a valid regular expression"),
        ("Parameters.xml", "defaultValue=\"starter\"", "defaultValue=\"Starter\"", "Parameters.xml:16: the defaultValue \"Starter\" of parameter \"scaffold\" is not one of the Enumeration values"),
        ("Parameters.xml", "<parameters>", "<parameters><parameter name=\"Flag\" defaultValue=\"yes\"><parameterValidation type=\"Boolean\" /></parameter>", "Parameters.xml:1: the defaultValue \"yes\" of parameter \"Flag\" is not True or False"),
        ("Parameters.xml", "<parameters>", "<parameters><parameter name=\"Port\" defaultValue=\"80a\"><parameterValidation type=\"RegularExpression\" validationString=\"^[0-9]+$\" /></parameter>", "Parameters.xml:1: the defaultValue \"80a\" of parameter \"Port\" does not match the RegularExpression"),
        ("Parameters.xml", "<parameters>", "<parameters><parameter name=\"Secret\" tags=\"Hidden\" />", "Parameters.xml:1: hidden parameter \"Secret\" has no defaultValue"),
        ("Parameters.xml", "</parameters>", "</parameter>", "Parameters.xml:29: not well-formed XML"),
        ("web.config.in", "|-m iiswsgi serve", "|-m iiswsgi  serve", "web.config.in:14: the FastCgiModule handler's scriptProcessor"),
        ("web.config.in", "</handlers>", "</handler>", "web.config.in:17: not well-formed XML after expansion"),
        ("pyproject.toml", "version = \"0.1\"", "", "pyproject.toml: [project] has no version"),
        ("pyproject.toml", "title = \"Pyramid Application\"", "titel = \"Pyramid Application\"", "pyproject.toml:22: unknown field `titel`"),
    ];
    for (file, from, to, want) in cases {
        let f = Fixture::pyramid();
        f.edit(file, from, to);
        let got = err(&f);
        assert!(
            got.contains(want),
            "{file}: {from:?} → {to:?}\n got: {got}\nwant: {want}"
        );
        assert!(got.contains("; "), "every error says what to do: {got}");
    }
    let f = Fixture::pyramid();
    std::fs::remove_file(f.dir().join("Manifest.xml.in")).unwrap();
    assert!(err(&f).contains("Manifest.xml.in: not found; run `iiswsgi init`"));
}

#[test]
fn feed_snapshot() {
    let f = Fixture::pyramid();
    let p = build(&f);
    let fd = feed::feed(&f.dir(), &[], None, None, &mut quiet()).unwrap();
    assert_eq!(fd.path, f.dir().join("dist/PyramidIISApp-0.1.webpi.xml"));
    assert!(
        fd.url.starts_with("file:///") && fd.url.ends_with("/dist/PyramidIISApp-0.1.webpi.xml"),
        "{}",
        fd.url
    );
    let size = std::fs::metadata(&p.zip).unwrap().len();
    assert_eq!(
        fd.entries[0].size_kib,
        (size as f64 / 1024.0).round() as u64
    );
    assert_eq!(fd.entries[0].sha1, p.sha1);
    assert_eq!(
        fd.entries[0].installer_url,
        "https://downloads.example.org/P/PyramidIISApp/PyramidIISApp-0.1.msdeploy.zip"
    );
    let xml = std::fs::read_to_string(&fd.path).unwrap();
    insta::with_settings!({filters => vec![
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[DATE]"),
        (r"<sha1>[0-9a-f]{40}</sha1>", "<sha1>[SHA1]</sha1>"),
        (r"<fileSize>\d+</fileSize>", "<fileSize>[KIB]</fileSize>"),
        (r#"file://[^"<]*/dist/"#, "[DIST_URL]/"),
    ]}, {
        insta::assert_snapshot!(xml);
    });
}

#[test]
fn feed_with_another_package_and_url_template() {
    let a = Fixture::pyramid();
    build(&a);
    let b = Fixture::pyramid();
    b.edit(
        "pyproject.toml",
        "name = \"PyramidIISApp\"",
        "name = \"SecondApp\"",
    );
    b.edit(
        "Parameters.xml",
        "match=\"PyramidIISApp\"",
        "match=\"^SecondApp$\"",
    );
    build(&b);
    let fd = feed::feed(
        &a.dir(),
        &[b.dir()],
        None,
        Some("{msdeploy_package_url}"),
        &mut quiet(),
    )
    .unwrap();
    assert_eq!(fd.entries.len(), 2);
    assert!(
        fd.entries[1].installer_url.starts_with("file:///")
            && fd.entries[1]
                .installer_url
                .ends_with("SecondApp-0.1.msdeploy.zip")
    );
    let xml = std::fs::read_to_string(&fd.path).unwrap();
    assert!(xml.contains("<productId>SecondApp</productId>"));

    let e = feed::feed(&a.dir(), &[], None, Some("https://x/{nope}"), &mut quiet())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--url-template \"https://x/{nope}\": unknown field {nope}"),
        "{e}"
    );
    let c = Fixture::pyramid();
    c.edit(
        "pyproject.toml",
        "name = \"PyramidIISApp\"",
        "name = \"ThirdApp\"",
    );
    let e = feed::feed(&a.dir(), &[c.dir()], None, None, &mut quiet())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ThirdApp-0.1.msdeploy.zip: not found; package it first"),
        "{e}"
    );
}

#[test]
fn feed_rejects_an_email_where_a_uri_belongs() {
    let f = Fixture::pyramid();
    f.edit(
        "pyproject.toml",
        "author_url = \"http://rpatterson.net\"",
        "author_url = \"me@rpatterson.net\"",
    );
    build(&f);
    let e = feed::feed(&f.dir(), &[], None, None, &mut quiet())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("[tool.iiswsgi] author_url = \"me@rpatterson.net\" is not a valid URI"),
        "{e}"
    );
}

#[test]
fn clean_webpi_removes_cached_installers_and_feeds() {
    let f = Fixture::pyramid();
    build(&f);
    let cache = f.tmp.path().join("Web Platform Installer");
    std::fs::create_dir_all(cache.join("installers/PyramidIISApp/abc")).unwrap();
    std::fs::create_dir_all(cache.join("installers/Other")).unwrap();
    let ours = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title><id>http://www.pylonsproject.org/projects/pyramid/about</id></feed>";
    std::fs::write(cache.join("feed1.xml"), ours).unwrap();
    std::fs::write(
        cache.join("feed2.xml"),
        ours.replace("pyramid/about", "other"),
    )
    .unwrap();
    let done = clean::clean_webpi(&f.dir(), &[], Some(&cache), None, &mut quiet()).unwrap();
    assert!(done.cache_found);
    assert_eq!(
        done.removed,
        vec![
            cache.join("installers/PyramidIISApp"),
            cache.join("feed1.xml")
        ]
    );
    assert!(cache.join("installers/Other").is_dir() && cache.join("feed2.xml").is_file());

    let missing = clean::clean_webpi(
        &f.dir(),
        &[],
        Some(&f.tmp.path().join("nope")),
        None,
        &mut quiet(),
    )
    .unwrap();
    assert!(
        !missing.cache_found && missing.removed.is_empty(),
        "a missing cache is reported, not an error"
    );
    if !cfg!(windows) {
        assert!(matches!(
            clean::clean_webpi(&f.dir(), &[], None, None, &mut quiet()),
            Err(DeployError::Usage(_))
        ));
    }
}

#[test]
fn init_writes_tailored_templates_and_never_overwrites() {
    let f = Fixture::pyramid();
    for t in [
        "Manifest.xml.in",
        "Parameters.xml",
        "web.config.in",
        "iis_install.stamp.in",
    ] {
        std::fs::remove_file(f.dir().join(t)).unwrap();
    }
    let done = init::init(&f.dir(), false, &mut quiet()).unwrap();
    assert_eq!(done.written.len(), 4);
    assert_eq!(done.app, "config:production.ini");
    assert!(done.app_found);
    let web = std::fs::read_to_string(f.dir().join("web.config.in")).unwrap();
    insta::assert_snapshot!("init_web_config_in", web);
    // What init wrote packages as it is.
    build(&f);
    let e = init::init(&f.dir(), false, &mut quiet())
        .unwrap_err()
        .to_string();
    assert!(e.contains("already exist") && e.contains("--force"), "{e}");
    assert!(init::init(&f.dir(), true, &mut quiet()).is_ok());

    // A Flask project: the app is found in its module.
    let g = Fixture::pyramid();
    for t in [
        "Manifest.xml.in",
        "Parameters.xml",
        "web.config.in",
        "iis_install.stamp.in",
        "production.ini",
    ] {
        std::fs::remove_file(g.dir().join(t)).unwrap();
    }
    g.write(
        "site.py",
        "from flask import Flask\n\nwebapp = Flask(__name__)\n",
    );
    assert_eq!(
        init::init(&g.dir(), false, &mut quiet()).unwrap().app,
        "site:webapp"
    );

    // No application found: said when web.config.in is written, not when
    // an existing one is kept (`sim deploy`'s init of a finished project).
    std::fs::remove_file(g.dir().join("site.py")).unwrap();
    let said = |mode: init::Existing| {
        let mut lines = Vec::new();
        init::init_with(&g.dir(), mode, &mut |l: &str| lines.push(l.to_owned())).unwrap();
        lines
            .iter()
            .any(|l| l.starts_with("no WSGI application found"))
    };
    assert!(!said(init::Existing::Keep));
    assert!(said(init::Existing::Overwrite));
    std::fs::remove_file(g.dir().join("web.config.in")).unwrap();
    assert!(said(init::Existing::Keep));
}

#[test]
fn manifest_in_and_excludes_select_files() {
    let f = Fixture::pyramid();
    std::fs::create_dir_all(f.dir().join("venv")).unwrap();
    f.write("venv/pyvenv.cfg", "home = /usr\n");
    std::fs::create_dir_all(f.dir().join(".git")).unwrap();
    f.write(".git/HEAD", "ref");
    std::fs::create_dir_all(f.dir().join("pyramidiisapp/__pycache__")).unwrap();
    f.write("pyramidiisapp/__pycache__/x.pyc", "");
    f.write(
        "MANIFEST.in",
        "prune pyramidiisapp/static\nglobal-exclude *.txt\ninclude README.txt\n",
    );
    std::fs::create_dir_all(f.dir().join("pyramidiisapp/static")).unwrap();
    f.write("pyramidiisapp/static/a.css", "a");
    let p = build(&f);
    let names = p.entries.join("\n");
    assert!(
        !names.contains("venv/") && !names.contains(".git") && !names.contains("__pycache__"),
        "{names}"
    );
    assert!(
        !names.contains("static/a.css"),
        "pruned by MANIFEST.in: {names}"
    );
    assert!(names.contains("PyramidIISApp/README.txt"), "{names}");
    assert!(
        !names.contains("server.log"),
        "excluded by [tool.iiswsgi] exclude: {names}"
    );
}

#[test]
fn review_cases() {
    // Malformed attributes and undefined entities anywhere are errors.
    let f = Fixture::pyramid();
    f.edit(
        "web.config.in",
        "<handlers>",
        "<handlers><add key=\"k\" value=\"a<b\"/>",
    );
    assert!(
        err(&f).contains("web.config.in:13: not well-formed XML"),
        "{}",
        err(&f)
    );
    let f = Fixture::pyramid();
    f.edit(
        "Manifest.xml.in",
        "<iisApp",
        "<setAcl path=\"a&b\" /><iisApp",
    );
    assert!(
        err(&f).contains("Manifest.xml.in:3: not well-formed XML"),
        "{}",
        err(&f)
    );
    let f = Fixture::pyramid();
    f.edit("web.config.in", "<handlers>", "<handlers>&nbsp;");
    assert!(err(&f).contains("undefined entity &nbsp;"), "{}", err(&f));

    // A dist folder inside the project, given relatively, is never packaged.
    let f = Fixture::pyramid();
    let cwd = std::env::current_dir().unwrap();
    let rel_out = Path::new("out");
    std::env::set_current_dir(f.dir()).unwrap();
    let first = package::package(Path::new("."), Some(rel_out), &mut quiet());
    let second = package::package(Path::new("."), Some(rel_out), &mut quiet());
    std::env::set_current_dir(cwd).unwrap();
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(
        !second.entries.iter().any(|e| e.contains("out/")),
        "{:?}",
        second.entries
    );
    assert_eq!(first.sha1, second.sha1);

    // Written files are readable by others (the feed and zip are for sharing).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f.dir().join("out/PyramidIISApp-0.1.msdeploy.zip"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    // A ProviderPath scope is a regex too; a multi-line path reads as one line.
    let f = Fixture::pyramid();
    f.edit("Parameters.xml", "scope=\"iisApp\"", "scope=\"^IISAPP$\"");
    f.edit(
        "Manifest.xml.in",
        "-m iiswsgi install",
        "-m iiswsgi\n         install",
    );
    let p = build(&f);
    let text = std::fs::read_to_string(p.manifest).unwrap();
    let attr = text
        .split("MSDeploy.MSDeployProviderOptions=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let opts = iiswsgi_deploy::provider_options::ProviderOptions::from_attribute(attr).unwrap();
    assert!(
        opts.path.contains("-m iiswsgi          install"),
        "{:?}",
        opts.path
    );
    assert!(!opts.path.contains('\n'));
}
