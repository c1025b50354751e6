//! `iiswsgi sim msdeploy`: the Pyramid package built by the packager synced
//! with parameters and its runCommand; getParameters; the WordPress-shaped
//! package; each failure with its message.

use std::path::Path;

use crate::msdeploy_support::{self as support, msdeploy, msdeploy_opts, read, script, RECORD};

fn pkg_arg(zip: &Path) -> String {
    format!("-source:package={}", zip.display())
}

#[test]
fn syncs_the_pyramid_package_with_parameters_and_runs_its_command() {
    let d = tempfile::tempdir().unwrap();
    let zip = support::pyramid_package(d.path());
    let py = script(d.path(), "python", RECORD);
    let m = support::machine_with(d.path(), &py, false);
    let (code, out) = msdeploy(
        &m,
        d.path(),
        &[
            "-verb:sync",
            &pkg_arg(&zip),
            "-dest:auto",
            "-setParam:name=\"ApplicationPath\",value=\"Default Web Site/pyramid\"",
            "-setParam:scaffold=zodb",
        ],
    );
    insta::assert_snapshot!(out);
    assert_eq!(code, 0);
    let ini = read(&m, "C:\\inetpub\\wwwroot\\pyramid\\production.ini");
    assert!(ini.contains("[app:main]"), "{ini}");
    let apps = iiswsgi_sim::appcmd::run(&m, &["list".into(), "apps".into()]);
    insta::assert_snapshot!("pyramid_apps", apps.stdout);
    insta::assert_snapshot!(
        "pyramid_apphost",
        support::sites_section(&read(&m, &m.config.machine.apphost))
    );
}

#[test]
fn run_command_environment_has_no_appl_physical_path_unless_asked() {
    let d = tempfile::tempdir().unwrap();
    let zip = support::pyramid_package(d.path());
    let py = script(d.path(), "python", RECORD);
    let m = support::machine_with(d.path(), &py, false);
    let args = ["-verb:sync", &pkg_arg(&zip), "-dest:auto"];
    let (code, out) = msdeploy(&m, d.path(), &args);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("APPL_PHYSICAL_PATH"), "{out}");
    assert!(out.contains("Info: IISWSGI_BACKEND=sim"), "{out}");
    let (code, out) = msdeploy_opts(&m, d.path(), &args, true);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Info: APPL_PHYSICAL_PATH=C:\\inetpub\\wwwroot\\PyramidIISApp"),
        "{out}"
    );
}

#[test]
fn get_parameters_lists_the_declared_parameters() {
    let d = tempfile::tempdir().unwrap();
    let zip = support::pyramid_package(d.path());
    let m = support::machine_with(d.path(), Path::new("/bin/true"), false);
    let (code, out) = msdeploy(&m, d.path(), &["-verb:getParameters", &pkg_arg(&zip)]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(out);
}
