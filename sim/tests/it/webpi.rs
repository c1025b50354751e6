//! `iiswsgi sim webpi`: the Pyramid package and feed built by the packager
//! installed on full IIS and IIS Express, `WebPI`'s cache and logs,
//! `clean-webpi` on that cache; Microsoft's feed shape; failures.

use std::path::{Path, PathBuf};

use iiswsgi_sim::machine::SimMachine;

use crate::msdeploy_support::{self as support, filter, read, script, RECORD};

const MS_FEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../core/deploy/tests/it/fixtures/webapplicationlist.xml"
);

/// The Pyramid package and its feed (installerURL a file:// URL); the feed.
fn pyramid_feed(dir: &Path) -> PathBuf {
    support::pyramid_package(dir);
    let proj = support::pyramid_project(dir);
    iiswsgi_deploy::feed::feed(
        &proj,
        &[],
        None,
        Some("{msdeploy_package_url}"),
        &mut |_| {},
    )
    .unwrap()
    .path
}

/// The Pyramid feed and a machine whose python.exe records its calls.
fn pyramid_machine(dir: &Path, iis_express: bool) -> (PathBuf, SimMachine) {
    let feed = pyramid_feed(dir);
    let py = script(dir, "python", RECORD);
    (feed, support::machine_with(dir, &py, iis_express))
}

fn webpi(m: &SimMachine, dir: &Path, args: &[&str]) -> (i32, String) {
    let args: Vec<String> = args.iter().map(std::string::ToString::to_string).collect();
    let mut out = String::new();
    let code = iiswsgi_sim::webpi::run(m, &args, &mut |l| {
        out.push_str(l);
        out.push('\n');
    });
    (code, filter(&out, dir))
}

fn cache(m: &SimMachine) -> PathBuf {
    iiswsgi_sim::webpi::cache_root(m).unwrap()
}

/// `install --products PyramidIISApp --feeds FEED EXTRA…`.
fn install(m: &SimMachine, dir: &Path, feed: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["install", "--products", "PyramidIISApp", "--feeds", feed];
    args.extend_from_slice(extra);
    webpi(m, dir, &args)
}

/// The only install log, filtered.
fn install_log(m: &SimMachine, dir: &Path) -> String {
    let logs = cache(m).join("logs/install");
    let stamps: Vec<_> = std::fs::read_dir(&logs).unwrap().flatten().collect();
    assert_eq!(stamps.len(), 1);
    let files: Vec<_> = std::fs::read_dir(stamps[0].path())
        .unwrap()
        .flatten()
        .collect();
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    filter(&text.replace("\r\n", "\n"), dir)
}

#[test]
fn installs_the_pyramid_feed_on_full_iis_and_clean_webpi_clears_the_cache() {
    let d = tempfile::tempdir().unwrap();
    let (feed, m) = pyramid_machine(d.path(), false);
    let f = feed.display().to_string();
    let (code, out) = install(&m, d.path(), &f, &["--accept-eula"]);
    insta::assert_snapshot!(out.replace(&stamp_of(&m), "[STAMP]"));
    assert_eq!(code, 0);
    insta::assert_snapshot!("webpi_pyramid_install_log", install_log(&m, d.path()));
    insta::assert_snapshot!(
        "webpi_pyramid_apphost",
        support::sites_section(&read(&m, &m.config.machine.apphost))
    );
    assert!(m
        .host_path("C:\\inetpub\\wwwroot\\PyramidIISApp\\iis_install.stamp")
        .unwrap()
        .is_file());
    let webpi_log = std::fs::read_to_string(cache(&m).join("logs/webpi/webpi0.txt")).unwrap();
    assert!(webpi_log.contains("Loaded 1 products from"), "{webpi_log}");
    let inventory = SimMachine::open(m.root()).unwrap().config.machine.inventory;
    assert!(
        inventory.contains(&"PyramidIISApp".to_owned()),
        "{inventory:?}"
    );
    // The cache, as `iiswsgi clean-webpi --cache` sees it on Windows.
    let proj = support::pyramid_project(d.path());
    let cleaned =
        iiswsgi_deploy::clean::clean_webpi(&proj, &[], Some(&cache(&m)), None, &mut |_| {})
            .unwrap();
    let removed: Vec<String> = cleaned
        .removed
        .iter()
        .map(|p| p.strip_prefix(cache(&m)).unwrap().display().to_string())
        .collect();
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert_eq!(removed[0], "installers/PyramidIISApp");
    assert!(
        removed[1].starts_with("PyramidIISApp-0.1.webpi-")
            && std::path::Path::new(&removed[1])
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("xml")),
        "{removed:?}"
    );
}

fn stamp_of(m: &SimMachine) -> String {
    let logs = cache(m).join("logs/install");
    std::fs::read_dir(logs)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn installs_on_iis_express_as_a_new_site_with_a_numeric_suffix_on_collision() {
    let d = tempfile::tempdir().unwrap();
    let (feed, m) = pyramid_machine(d.path(), true);
    let f = feed.display().to_string();
    for _ in 0..2 {
        let (code, out) = webpi(
            &m,
            d.path(),
            &[
                "/Install",
                "/Products:PyramidIISApp",
                &format!("/Feeds:{f}"),
                "/IISExpress",
                "/AcceptEULA",
            ],
        );
        assert_eq!(code, 0, "{out}");
    }
    let sites = iiswsgi_sim::appcmd::run(&m, &["list".into(), "sites".into()]);
    insta::assert_snapshot!(sites.stdout, @r#"
    SITE "WebSite1" (id:1,bindings:http/:8080:localhost,state:Started)
    SITE "PyramidIISApp" (id:2,bindings:http/:8081:localhost,state:Started)
    SITE "PyramidIISApp1" (id:3,bindings:http/:8082:localhost,state:Started)
    "#);
    let stamp =
        "C:\\Users\\Administrator\\Documents\\My Web Sites\\PyramidIISApp1\\iis_install.stamp";
    assert!(m.host_path(stamp).unwrap().is_file());
}

#[test]
fn lists_microsofts_feed_shape_and_names_a_missing_dependency() {
    let d = tempfile::tempdir().unwrap();
    let m = support::machine_with(d.path(), Path::new("/bin/true"), false);
    let (code, out) = webpi(
        &m,
        d.path(),
        &[
            "/List",
            "/ListOption:Available",
            &format!("/Feeds:{MS_FEED}"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    insta::assert_snapshot!(out);
    let (code, out) = webpi(
        &m,
        d.path(),
        &["install", "--products", "WordPress", "--feeds", MS_FEED],
    );
    assert_eq!(code, 1);
    insta::assert_snapshot!(out);
}

#[test]
fn a_sha1_mismatch_refuses_the_install_naming_both_hashes_and_the_file() {
    let d = tempfile::tempdir().unwrap();
    let feed = pyramid_feed(d.path());
    let text = std::fs::read_to_string(&feed).unwrap();
    let start = text.find("<sha1>").unwrap() + 6;
    let good = text[start..start + 40].to_owned();
    std::fs::write(
        &feed,
        text.replace(&good, "0123456789abcdef0123456789abcdef01234567"),
    )
    .unwrap();
    let m = support::machine_with(d.path(), Path::new("/bin/true"), false);
    let (code, out) = install(&m, d.path(), &feed.display().to_string(), &[]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(out.replace(&good, "[SHA1]"));
    assert!(!m
        .host_path("C:\\inetpub\\wwwroot\\PyramidIISApp")
        .unwrap()
        .exists());
}

#[test]
fn dependencies_from_the_feeds_install_first_and_a_malformed_feed_is_named() {
    let d = tempfile::tempdir().unwrap();
    let feed = pyramid_feed(d.path());
    let text = std::fs::read_to_string(&feed).unwrap();
    // Python312 instead of Python311: not in the inventory, offered by a second feed.
    std::fs::write(
        &feed,
        text.replace(
            "<productId>Python311</productId>",
            "<productId>Python312</productId>",
        ),
    )
    .unwrap();
    let runtime = d.path().join("python-3.12.0-amd64.exe");
    std::fs::write(&runtime, b"MZ not really").unwrap();
    let sha1 = sha1_hex(&std::fs::read(&runtime).unwrap());
    let second = d.path().join("runtimes.xml");
    std::fs::write(&second, format!(r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>http://example.org/runtimes.xml</id>
  <entry>
    <productId>Python312</productId>
    <title>Python 3.12</title>
    <installers><installer><id>1</id><languageId>en</languageId>
      <installerFile><fileSize>1</fileSize><installerURL>python-3.12.0-amd64.exe</installerURL><sha1>{sha1}</sha1></installerFile>
      <installCommands><cmdline><exe>%InstallerFile%</exe><commandLineArguments>/quiet</commandLineArguments></cmdline></installCommands>
    </installer></installers>
  </entry>
</feed>
"#)).unwrap();
    let m = support::machine_with(d.path(), &script(d.path(), "python", RECORD), false);
    let (f1, f2) = (feed.display().to_string(), second.display().to_string());
    // A discoveryHint file that exists: the product is there, nothing to install.
    let hinted = d.path().join("hinted.xml");
    std::fs::write(&hinted, std::fs::read_to_string(&second).unwrap().replace(
        "<title>Python 3.12</title>",
        "<title>Python 3.12</title><discoveryHint><file><filePath>%SystemDrive%\\Python312\\python.exe</filePath></file></discoveryHint>",
    )).unwrap();
    let py312 = m.host_path("C:\\Python312\\python.exe").unwrap();
    std::fs::create_dir_all(py312.parent().unwrap()).unwrap();
    std::fs::write(&py312, "").unwrap();
    let (code, out) = install(&m, d.path(), &f1, &[&hinted.display().to_string()]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("Python 3.12"), "{out}");
    std::fs::remove_file(&py312).unwrap();
    let (code, out) = install(&m, d.path(), &f1, &[]);
    assert_eq!(code, 1);
    assert!(out.starts_with("Error: PyramidIISApp needs Python312, which the machine does not have and no feed offers"), "{out}");
    let (code, out) = install(&m, d.path(), &f1, &[&f2]);
    assert_eq!(code, 0, "{out}");
    let started: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("Started installing"))
        .collect();
    assert_eq!(
        started,
        [
            "Started installing: 'Python 3.12'",
            "Started installing: 'Pyramid Application'"
        ]
    );
    let inventory = SimMachine::open(m.root()).unwrap().config.machine.inventory;
    assert!(inventory.contains(&"Python312".to_owned()), "{inventory:?}");
    std::fs::write(&second, "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n  <entry>\n    <title>no id</title>\n  </entry>\n</feed>\n").unwrap();
    let (code, out) = webpi(&m, d.path(), &["list", "--feeds", &f2]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(out);
}

fn sha1_hex(b: &[u8]) -> String {
    use sha1::Digest as _;
    iiswsgi_sim::webpi::hex(&sha1::Sha1::digest(b))
}

/// Serves `files` (URL path → bytes) over HTTP/1.0 for `n` requests.
fn serve(files: Vec<(String, Vec<u8>)>, n: usize) -> String {
    use std::io::{BufRead as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let mut s = stream.unwrap();
            let mut reader = std::io::BufReader::new(&s);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            // The rest of the head, so the client has written it all.
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap() > 2 {
                header.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    write!(
                        s,
                        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .unwrap();
                    s.write_all(body).unwrap();
                }
                None => write!(s, "HTTP/1.0 404 Not Found\r\n\r\n").unwrap(),
            }
        }
    });
    format!("http://{addr}")
}

#[test]
fn feeds_and_packages_over_http() {
    let d = tempfile::tempdir().unwrap();
    let (feed, m) = pyramid_machine(d.path(), false);
    let zip = support::pyramid_project(d.path()).join("dist/PyramidIISApp-0.1.msdeploy.zip");
    let text = std::fs::read_to_string(&feed).unwrap();
    let start = text.find("<installerURL>").unwrap() + "<installerURL>".len();
    let end = text.find("</installerURL>").unwrap();
    // A relative installerURL: resolved against the feed's URL.
    let text = format!(
        "{}{}{}",
        &text[..start],
        "pkgs/PyramidIISApp-0.1.msdeploy.zip",
        &text[end..]
    );
    let base = serve(
        vec![
            ("/feeds/feed.xml".into(), text.into_bytes()),
            (
                "/feeds/pkgs/PyramidIISApp-0.1.msdeploy.zip".into(),
                std::fs::read(zip).unwrap(),
            ),
        ],
        2,
    );
    let url = format!("{base}/feeds/feed.xml");
    let (code, out) = install(&m, d.path(), &url, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(m
        .host_path("C:\\inetpub\\wwwroot\\PyramidIISApp\\production.ini")
        .unwrap()
        .is_file());
    let (code, out) = webpi(
        &m,
        d.path(),
        &["list", "--feeds", "https://example.org/feed.xml"],
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("https:// is not supported by the simulator (no TLS)"),
        "{out}"
    );
}

#[test]
fn webpi_params_reach_the_package_and_are_validated() {
    let d = tempfile::tempdir().unwrap();
    let (feed, m) = pyramid_machine(d.path(), false);
    let f = feed.display().to_string();
    let (code, out) = install(&m, d.path(), &f, &["--param", "scaffold=flask"]);
    assert_eq!(code, 1);
    assert!(out.contains("Error: install of Pyramid Application failed: The value 'flask' of parameter 'scaffold' is not valid: it must be one of starter, zodb, alchemy."), "{out}");
    assert!(!m
        .host_path("C:\\inetpub\\wwwroot\\PyramidIISApp")
        .unwrap()
        .exists());
    let (code, out) = install(
        &m,
        d.path(),
        &f,
        &[
            "--param",
            "ApplicationPath=Default Web Site/chosen",
            "--param",
            "scaffold=zodb",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(m
        .host_path("C:\\inetpub\\wwwroot\\chosen\\production.ini")
        .unwrap()
        .is_file());
}

#[test]
fn a_feed_includes_its_enclosure_feeds() {
    let d = tempfile::tempdir().unwrap();
    let (_feed, m) = pyramid_machine(d.path(), false);
    let products = d.path().join("WebProductList.xml");
    std::fs::write(
        &products,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n  <webpiFile version=\"4.2.0.0\" />\n  <title>Products</title>\n  <link rel=\"enclosure\" href=\"PyramidIISApp/dist/PyramidIISApp-0.1.webpi.xml\" />\n  <link rel=\"enclosure\" href=\"WebProductList.xml\" />\n</feed>\n",
    )
    .unwrap();
    let (code, out) = webpi(
        &m,
        d.path(),
        &["list", "--feeds", &products.display().to_string()],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("PyramidIISApp                           Pyramid Application"),
        "{out}"
    );
    let log = std::fs::read_to_string(cache(&m).join("logs/webpi/webpi0.txt")).unwrap();
    assert_eq!(log.matches("Loading product xml from").count(), 2, "{log}");
}
