//! The apps people deploy on IIS, each from `fixtures/` through the main
//! job's command (`iiswsgi sim deploy PROJECT --root R --once`: init,
//! package, feed, `WebPI`, Web Deploy, runCommand, `iiswsgi install` with a
//! real virtualenv and pip, `FastCGI` registration, smoke test, `sim serve`),
//! then served again by `sim serve` on the same machine and asked for its
//! own pages. Each test snapshots the web.config the installer wrote and
//! what the install changed in applicationHost.config (a diff against a
//! fresh `sim new` machine's).
//!
//! The Pyramid fixture's deployment is `deploy_sim::sim_deploy_takes_the_pyramid_fixture_to_its_page`,
//! which takes the same snapshots through [`snapshot_configs`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use iiswsgi_harness::context::TestContext;
use iiswsgi_harness::http::{HttpConn, HttpResponse};
use iiswsgi_harness::simserve::SimServe;

/// A fixture deployed on a fresh simulated machine.
pub(crate) struct Deployed {
    pub ctx: TestContext,
    pub root: PathBuf,
    /// The application's folder on the machine.
    pub app_dir: PathBuf,
}

/// Deploys `fixtures/FIXTURE` (copied to a folder of the same name) with
/// `sim deploy --once`; `product` is its project name, which is also its
/// application path (`Default Web Site/PRODUCT`). The time it took goes to
/// the test's output.
pub(crate) fn deploy(fixture: &str, product: &str) -> Deployed {
    let mut ctx = TestContext::new();
    let project = ctx.path(fixture);
    iiswsgi_harness::copy_fixture(fixture, &project);
    let root = ctx.path("root");
    ctx.add_path_filter(&root, "[ROOT]");
    let (p, r) = (project.display().to_string(), root.display().to_string());
    let started = Instant::now();
    let out = ctx
        .iiswsgi(&["sim", "deploy", &p, "--root", &r, "--once"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "fixtures/{fixture}: sim deploy --once took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(out.status.success(), "sim deploy {fixture}:\n{log}");
    assert!(
        log.contains("[serve] the page answered 200"),
        "{fixture}:\n{log}"
    );
    let app_dir = root.join("C/inetpub/wwwroot").join(product);
    Deployed { ctx, root, app_dir }
}

/// Snapshots the web.config the installer wrote for `name` and the diff of
/// applicationHost.config against a fresh machine's.
pub(crate) fn snapshot_configs(ctx: &TestContext, root: &Path, app_dir: &Path, name: &str) {
    let web_config = std::fs::read_to_string(app_dir.join("web.config")).unwrap();
    let fresh = ctx.path("fresh-machine");
    let out = ctx
        .iiswsgi(&["sim", "new", &fresh.display().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let apphost = |r: &Path| {
        std::fs::read_to_string(r.join("C/Windows/System32/inetsrv/config/applicationHost.config"))
            .unwrap()
            .replace("\r\n", "\n")
    };
    let (before, after) = (apphost(&fresh), apphost(root));
    let diff = similar::TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(2)
        .header("fresh sim new", "after the install")
        .to_string();
    insta::with_settings!({ filters => ctx.filters() }, {
        insta::assert_snapshot!(format!("{name}_web_config"), web_config);
        insta::assert_snapshot!(format!("{name}_apphost_diff"), diff);
    });
}

/// `sim serve` on the deployed machine; the URL of the application.
fn serve(d: &Deployed, product: &str) -> (SimServe, String) {
    let sim = SimServe::start(&d.root, &[], 1).unwrap();
    let base = sim.url("http/").to_owned();
    assert!(!base.is_empty(), "{:?}", sim.urls);
    (sim, format!("/{product}"))
}

fn get(sim: &SimServe, path: &str) -> HttpResponse {
    request(sim, "GET", path, &[], b"")
}

fn request(
    sim: &SimServe,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let r = HttpConn::connect(sim.url("http/"))
        .and_then(|mut c| c.request(method, path, headers, body))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", sim.log()));
    assert!(
        r.status < 500,
        "{method} {path}: {} {}\n{}",
        r.status,
        r.text(),
        sim.log()
    );
    r
}

#[test]
fn hello_app_a_plain_wsgi_hello() {
    let d = deploy("hello_app", "hello-app");
    snapshot_configs(&d.ctx, &d.root, &d.app_dir, "hello_app");
    let (sim, app) = serve(&d, "hello-app");
    let r = get(&sim, &format!("{app}/"));
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<h1>Hello from IIS</h1>"), "{}", r.text());
    let r = get(&sim, &format!("{app}/environ"));
    let environ = crate::json(&r.body);
    assert_eq!(environ["SCRIPT_NAME"], "/hello-app");
    assert_eq!(environ["PATH_INFO"], "/environ");
}

#[test]
fn flask_app_page_form_and_json() {
    let d = deploy("flask_app", "FlaskIISApp");
    snapshot_configs(&d.ctx, &d.root, &d.app_dir, "flask_app");
    let (sim, app) = serve(&d, "FlaskIISApp");
    let r = get(&sim, &format!("{app}/"));
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(page.contains("<h1>Hello from Flask on IIS</h1>"), "{page}");
    // url_for under the application's mount point.
    assert!(
        page.contains(r#"<form method="post" action="/FlaskIISApp/greet">"#),
        "{page}"
    );
    let r = request(
        &sim,
        "POST",
        &format!("{app}/greet"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"name=IIS+user",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.text()
            .contains(r#"<p id="greeting">Hello, IIS user!</p>"#),
        "{}",
        r.text()
    );
    let r = get(&sim, &format!("{app}/api/greeting?name=IIS"));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let v = crate::json(&r.body);
    assert_eq!(v["greeting"], "Hello, IIS!");
    assert_eq!(v["script_name"], "/FlaskIISApp");
    let url = v["url"].as_str().unwrap_or_default();
    assert!(url.ends_with("/FlaskIISApp/api/greeting?name=IIS"), "{url}");
    let r = get(&sim, &format!("{app}/nowhere"));
    assert_eq!(r.status, 404, "Flask's own 404");
}

/// The cookie `name` set by a response.
fn cookie(r: &HttpResponse, name: &str) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Set-Cookie"))
        .find_map(|(_, v)| {
            let pair = v.split(';').next()?;
            let (k, val) = pair.split_once('=')?;
            (k.trim() == name).then(|| val.trim().to_owned())
        })
}

/// The `value` of the hidden input `name` of an HTML form.
fn hidden_input(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\""))?;
    let tag_start = page[..at].rfind('<')?;
    let tag_end = at + page[at..].find('>')?;
    let tag = &page[tag_start..tag_end];
    let v = tag.split("value=\"").nth(1)?;
    Some(v.split('"').next()?.to_owned())
}

#[test]
fn django_app_admin_login_and_static_files_through_iis() {
    let d = deploy("django_app", "DjangoIISApp");
    // The install's hooks ran manage.py on the target.
    let install_log = std::fs::read_to_string(d.app_dir.join("iiswsgi-install.log")).unwrap();
    for hook in [
        "running the before hook 1: python manage.py migrate --noinput",
        "running the before hook 2: python manage.py collectstatic --noinput",
    ] {
        assert!(install_log.contains(hook), "{install_log}");
    }
    assert!(d.app_dir.join("App_Data/db.sqlite3").is_file());
    let collected = d.app_dir.join("static/admin/css/base.css");
    assert!(collected.is_file(), "collectstatic filled static/");
    snapshot_configs(&d.ctx, &d.root, &d.app_dir, "django_app");
    let (sim, app) = serve(&d, "DjangoIISApp");

    let r = get(&sim, &format!("{app}/"));
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(page.contains("<h1>Hello from Django on IIS</h1>"), "{page}");
    assert!(
        page.contains(r#"href="/DjangoIISApp/static/admin/css/base.css""#),
        "static URLs under the mount point: {page}"
    );

    let r = get(&sim, &format!("{app}/admin/"));
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("Location"),
        Some("/DjangoIISApp/admin/login/?next=/DjangoIISApp/admin/")
    );
    let r = get(&sim, &format!("{app}/admin/login/"));
    assert_eq!(r.status, 200);
    let login = r.text();
    assert!(login.contains("Django administration"), "{login}");
    assert!(
        login.contains(
            r#"<form action="/DjangoIISApp/admin/login/" method="post" id="login-form">"#
        ),
        "{login}"
    );
    let token = hidden_input(&login, "csrfmiddlewaretoken").expect("a CSRF token in the form");
    let csrf = cookie(&r, "csrftoken").expect("the CSRF cookie");
    // The form round-trips: the CSRF check passes, the session table exists
    // (migrate ran), and wrong credentials are refused on the page.
    let body = format!("csrfmiddlewaretoken={token}&username=nobody&password=wrong&next=%2FDjangoIISApp%2Fadmin%2F");
    let r = request(
        &sim,
        "POST",
        &format!("{app}/admin/login/"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &format!("csrftoken={csrf}")),
            (
                "Referer",
                &format!("{}{app}/admin/login/", sim.url("http/")),
            ),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text()
            .contains("Please enter the correct username and password"),
        "{}",
        r.text()
    );

    // Static files: IIS's StaticFile handler (the <location path="static">
    // of web.config), with StaticFileModule's validators; Django (DEBUG off)
    // serves no static file at all.
    let r = get(&sim, &format!("{app}/static/admin/css/base.css"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, std::fs::read(&collected).unwrap());
    assert_eq!(r.header("Content-Type"), Some("text/css"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert!(
        r.header("ETag").is_some_and(|e| e.ends_with(":0\"")),
        "{:?}",
        r.headers
    );
    assert!(r.header("Last-Modified").is_some());
    let r = get(&sim, &format!("{app}/static/admin/missing.css"));
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("StaticFile"),
        "IIS's 404 page names the handler: {}",
        r.text()
    );
}

#[test]
fn wfastcgi_app_configured_by_app_settings_alone() {
    let d = deploy("wfastcgi_app", "wfastcgi-site");
    snapshot_configs(&d.ctx, &d.root, &d.app_dir, "wfastcgi_app");
    let (sim, app) = serve(&d, "wfastcgi-site");
    let r = get(&sim, &format!("{app}/"));
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(
        page.contains("<h1>Hello from a wfastcgi-style site on IIS</h1>"),
        "{page}"
    );
    // An <appSettings> entry reached os.environ, as wfastcgi exports them.
    assert!(
        page.contains(r#"<p id="greeting">Configured through web.config appSettings.</p>"#),
        "{page}"
    );
    assert!(page.contains("<p>mounted at /wfastcgi-site</p>"), "{page}");
}
