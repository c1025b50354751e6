//! msdeploy on packages of other shapes (WordPress-like, `XmlFile`, aliases),
//! and each failure with its message: runCommand failing with and without
//! successReturnCodes, over its wait budget; validation; a missing value;
//! hostile packages; archive packages; database providers.

use std::path::{Path, PathBuf};

use iiswsgi_deploy::provider_options::ProviderOptions;

use iiswsgi_sim::machine::SimMachine;

use crate::msdeploy_support::{self as support, msdeploy, read, script, zip};

const WORDPRESS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../core/deploy/tests/it/fixtures/wordpress"
);

fn run_command_manifest(cmd: &str, settings: &[(&str, &str)]) -> String {
    let blob = ProviderOptions::new("runCommand", cmd, settings).to_attribute();
    format!(
        "<msDeploy.iisApp>\n  <iisApp path=\"app\" />\n  <runCommand path=\"{cmd}\" MSDeploy.MSDeployKeyAttributeName=\"path\" MSDeploy.MSDeployProviderOptions=\"{blob}\" />\n</msDeploy.iisApp>\n"
    )
}

const APP_PARAMS: &str = r#"<parameters>
  <parameter name="Application Path" defaultValue="Default Web Site/app" tags="iisApp">
    <parameterEntry kind="ProviderPath" scope="iisApp" match="^app$" />
  </parameter>
</parameters>"#;

/// A package with a manifest, parameters and files under `app/`.
fn package(dir: &Path, manifest: &str, params: &str, files: &[(&str, &str)]) -> PathBuf {
    let p = dir.join("pkg.zip");
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        ("manifest.xml".into(), manifest.as_bytes().to_vec()),
        ("parameters.xml".into(), params.as_bytes().to_vec()),
    ];
    entries.extend(
        files
            .iter()
            .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec())),
    );
    let refs: Vec<(&str, Option<&[u8]>)> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), Some(d.as_slice())))
        .collect();
    zip(&p, &refs);
    p
}

fn sync(dir: &Path, pkg: &Path, extra: &[&str]) -> (i32, String, SimMachine) {
    let m = support::machine_with(dir, Path::new("/bin/true"), false);
    let (code, out) = sync_on(&m, dir, pkg, extra);
    (code, out, m)
}

fn sync_on(m: &SimMachine, dir: &Path, pkg: &Path, extra: &[&str]) -> (i32, String) {
    let src = format!("-source:package={}", pkg.display());
    let mut args = vec!["-verb:sync", src.as_str(), "-dest:auto"];
    args.extend_from_slice(extra);
    msdeploy(m, dir, &args)
}

/// A machine with `C:\tools\tool.exe` running `body`.
fn tool_machine(dir: &Path, body: &str) -> SimMachine {
    let m = support::machine_with(dir, Path::new("/bin/true"), false);
    let tools = m.host_path("C:\\tools").unwrap();
    std::fs::create_dir_all(&tools).unwrap();
    script(&tools, "tool.exe", body);
    m
}

fn with_program(dir: &Path, body: &str, settings: &[(&str, &str)]) -> (i32, String) {
    let m = tool_machine(dir, body);
    let manifest = run_command_manifest("C:\\tools\\tool.exe --flag &quot;a b&quot;", settings);
    let pkg = package(dir, &manifest, APP_PARAMS, &[("app/index.html", "hi")]);
    sync_on(&m, dir, &pkg, &[])
}

#[test]
fn run_command_failing_with_success_return_codes_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let (code, out) = with_program(
        d.path(),
        "echo failing; exit 3",
        &[("successReturnCodes", "0x0;0x2")],
    );
    insta::assert_snapshot!(out);
    assert_eq!(code, -1);
}

#[test]
fn run_command_failing_without_success_return_codes_is_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let (code, out) = with_program(d.path(), "exit 3", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Warning: The process 'C:\\Windows\\system32\\cmd.exe' (command line '/c \"C:\\Users\\Administrator\\AppData\\Local\\Temp\\[TMP].cmd\"') exited with code '0x3'."),
        "{out}"
    );
    // An accepted code in decimal.
    let (code, out) = with_program(
        &d.path().join("2"),
        "exit 2",
        &[("successReturnCodes", "0;2")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("Warning: The process"), "{out}");
}

#[test]
fn dont_use_command_exe_runs_the_program_directly() {
    let d = tempfile::tempdir().unwrap();
    let (code, out) = with_program(
        d.path(),
        "echo \"[$1] [$2]\"; exit 4",
        &[("dontUseCommandExe", "true")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("system32>"), "{out}");
    assert!(out.contains("Info: [--flag] [a b]"), "{out}");
    assert!(
        out.contains("Warning: The process 'C:\\tools\\tool.exe' (command line '--flag \"a b\"') exited with code '0x4'."),
        "{out}"
    );
}

/// `py -3 -m …` (what `iiswsgi init` writes): the launcher consumes its
/// version option, as the Windows `py` launcher does, and runs the Python the
/// program map names with the rest.
#[test]
fn the_py_launcher_consumes_its_version_option() {
    let d = tempfile::tempdir().unwrap();
    let python = script(d.path(), "python", "echo \"ARGS: $*\"");
    let m = support::machine_with(d.path(), &python, false);
    for (cmd, seen) in [
        (
            "py -3 -m iiswsgi install --app-name app",
            "Info: ARGS: -m iiswsgi install --app-name app",
        ),
        ("py.exe -3.11-64 -c pass", "Info: ARGS: -c pass"),
        ("py -m pip -3", "Info: ARGS: -m pip -3"),
    ] {
        let manifest = run_command_manifest(cmd, &[("successReturnCodes", "0x0")]);
        let pkg = package(d.path(), &manifest, APP_PARAMS, &[("app/index.html", "hi")]);
        let (code, out) = sync_on(&m, d.path(), &pkg, &[]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains(seen), "{cmd}: {out}");
    }
}

#[test]
fn settings_written_as_plain_attributes_are_ignored() {
    let d = tempfile::tempdir().unwrap();
    let m = tool_machine(d.path(), "exit 5");
    let manifest = "<m><iisApp path=\"app\" /><runCommand path=\"C:\\tools\\tool.exe\" successReturnCodes=\"0x0\" /></m>";
    let pkg = package(d.path(), manifest, APP_PARAMS, &[("app/a.txt", "a")]);
    let (code, out) = sync_on(&m, d.path(), &pkg, &["-verbose"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("exited with code '0x5'"), "{out}");
    assert!(out.contains("Verbose: runCommand settings written as plain attributes are ignored (successReturnCodes)"), "{out}");
}

#[test]
fn run_command_over_its_wait_budget_is_killed() {
    let d = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let (code, out) = with_program(
        d.path(),
        "echo started; sleep 30; echo never",
        &[("waitAttempts", "2"), ("waitInterval", "250")],
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "{out}"
    );
    insta::assert_snapshot!(out);
    assert_eq!(code, -1);
}

#[test]
fn a_parameter_failing_validation_stops_before_anything_is_written() {
    let d = tempfile::tempdir().unwrap();
    let zip = support::pyramid_package(d.path());
    let (code, out, m) = sync(d.path(), &zip, &["-setParam:scaffold=flask"]);
    assert_eq!(code, -1);
    insta::assert_snapshot!(out, @r"
    Error: The value 'flask' of parameter 'scaffold' is not valid: it must be one of starter, zodb, alchemy.
    Error count: 1.
    ");
    assert!(!m
        .host_path("C:\\inetpub\\wwwroot\\PyramidIISApp")
        .unwrap()
        .exists());
    let (code, out, _) = sync(
        d.path().join("x").as_path(),
        &zip,
        &["-setParam:name=Nope,value=1"],
    );
    assert_eq!(
        (code, out.lines().next()),
        (
            -1,
            Some("Error: The declared parameter 'Nope' is not recognized.")
        )
    );
}

fn wordpress(dir: &Path) -> PathBuf {
    let manifest = std::fs::read_to_string(format!("{WORDPRESS}/manifest.xml")).unwrap();
    let params = std::fs::read_to_string(format!("{WORDPRESS}/parameters.xml")).unwrap();
    package(
        dir,
        &manifest,
        &params,
        &[
            ("install.sql", "CREATE DATABASE PlaceHolderForDb;"),
            ("wordpress/index.php", "<?php // WordPress"),
            ("wordpress/wp-config-sample.php", "define('DB_NAME', 'putyourdbnamehere');\ndefine('DB_PASSWORD', 'yourpasswordhere');\n"),
            ("wordpress/wp-content/index.php", "<?php // Silence is golden."),
        ],
    )
}

#[test]
fn a_wordpress_shaped_package_installs_with_its_database_skipped() {
    let d = tempfile::tempdir().unwrap();
    let pkg = wordpress(d.path());
    let (code, out, _) = sync(d.path(), &pkg, &[]);
    assert_eq!(code, -1);
    assert!(
        out.starts_with("Error: The parameter 'DatabaseUserPassword' has no value"),
        "{out}"
    );
    let (code, out, m) = sync(
        &d.path().join("2"),
        &pkg,
        &[
            "-setParam:DatabaseUserPassword=s3cret",
            "-setParam:DatabaseName=blog",
        ],
    );
    assert_eq!(code, -1);
    assert!(
        out.starts_with(
            "Error: The dbMySql provider (install.sql) is not supported by the simulator"
        ),
        "{out}"
    );
    assert!(!m
        .host_path("C:\\inetpub\\wwwroot\\wordpress")
        .unwrap()
        .exists());
    let (code, out, m) = sync(
        &d.path().join("3"),
        &pkg,
        &[
            "-setParam:DatabaseUserPassword=s3cret",
            "-setParam:DatabaseName=blog",
            "-skip:objectName=dbMySql",
            "-verbose",
        ],
    );
    insta::assert_snapshot!(out);
    assert_eq!(code, 0);
    let config = read(&m, "C:\\inetpub\\wwwroot\\wordpress\\wp-config.php");
    assert_eq!(
        config,
        "define('DB_NAME', 'blog');\ndefine('DB_PASSWORD', 's3cret');\n"
    );
}

#[test]
fn xml_file_entries_set_attributes_and_text() {
    let d = tempfile::tempdir().unwrap();
    let params = r#"<parameters>
  <parameter name="Application Path" defaultValue="Default Web Site/app" tags="iisApp">
    <parameterEntry kind="ProviderPath" scope="iisApp" match="^app$" />
  </parameter>
  <parameter name="Conn" defaultValue="Server=db;Database={Application Path}">
    <parameterEntry kind="XmlFile" scope="\\web\.config$" match="//*[local-name()='connectionStrings']/*[local-name()='add'][@name='Main']/@connectionString" />
  </parameter>
  <parameter name="Mode" defaultValue="Release">
    <parameterValidation kind="RegularExpression" validationString="^(Debug|Release)$" />
    <parameterEntry type="XmlFile" scope="\\web\.config$" match="/configuration/appSettings/add[@key='MODE']/@value" />
    <parameterEntry type="XmlFile" scope="\\web\.config$" match="/configuration/note" />
  </parameter>
</parameters>"#;
    let web_config = r#"<?xml version="1.0"?>
<configuration>
  <connectionStrings>
    <add name="Main" connectionString="x" />
    <add name="Other" connectionString="y" />
  </connectionStrings>
  <appSettings>
    <add key="MODE" value="Debug" />
  </appSettings>
  <note />
</configuration>
"#;
    let manifest = "<m><iisApp path=\"app\" /></m>";
    let pkg = package(
        d.path(),
        manifest,
        params,
        &[
            ("app/web.config", web_config),
            ("app/web.config.bak", web_config),
        ],
    );
    let (code, out, m) = sync(d.path(), &pkg, &["-setParam:Mode=Release"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("3 parameters changed") || out.contains("2 parameters changed"),
        "{out}"
    );
    insta::assert_snapshot!(read(&m, "C:\\inetpub\\wwwroot\\app\\web.config"));
    assert_eq!(
        read(&m, "C:\\inetpub\\wwwroot\\app\\web.config.bak"),
        web_config
    );
}

fn refused(entries: &[(&str, Option<&[u8]>)]) -> String {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("evil.zip");
    zip(&p, entries);
    let (code, out, m) = sync(d.path(), &p, &[]);
    assert_eq!(code, -1, "{out}");
    assert!(!m.host_path("C:\\inetpub\\wwwroot\\app").unwrap().exists());
    assert!(!d.path().join("evil.txt").exists() && !d.path().join("root/evil.txt").exists());
    out.replace(&d.path().display().to_string(), "[TEMP]")
}

const MANIFEST: &[u8] = b"<m><iisApp path=\"app\" /></m>";

#[test]
fn hostile_packages_are_refused_with_nothing_written() {
    let slip = refused(&[
        ("manifest.xml", Some(MANIFEST)),
        ("app/ok.txt", Some(b"ok")),
        ("app/../../../evil.txt", Some(b"x")),
    ]);
    let abs = refused(&[
        ("manifest.xml", Some(MANIFEST)),
        ("/tmp/evil.txt", Some(b"x")),
    ]);
    let drive = refused(&[
        ("manifest.xml", Some(MANIFEST)),
        ("C:/Windows/evil.txt", Some(b"x")),
    ]);
    let bomb = refused(&[(
        "manifest.xml",
        Some(b"<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>\n<m><iisApp path=\"&lol2;\" /></m>"),
    )]);
    let external = refused(&[
        ("manifest.xml", Some(MANIFEST)),
        ("parameters.xml", Some(b"<!DOCTYPE p [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><parameters><parameter name=\"a\" defaultValue=\"&x;\" /></parameters>")),
    ]);
    let archive = refused(&[
        ("archive.xml", Some(b"<sitemanifest />")),
        ("parameters.xml", Some(b"<parameters />")),
    ]);
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("evil.zip");
    support::zip_with_symlink(&p);
    let (_, symlink, _) = sync(d.path(), &p, &[]);
    let symlink = symlink.replace(&d.path().display().to_string(), "[TEMP]");
    insta::assert_snapshot!([slip, abs, drive, symlink, bomb, external, archive].join("\n"));
}

#[test]
fn whatif_writes_nothing_and_set_param_files_give_values() {
    let d = tempfile::tempdir().unwrap();
    let zip = support::pyramid_package(d.path());
    let set = d.path().join("SetParameters.xml");
    std::fs::write(
        &set,
        "<parameters>\n  <setParameter name=\"ApplicationPath\" value=\"Default Web Site/fromfile\" />\n  <setParameter name=\"scaffold\" value=\"alchemy\" />\n</parameters>\n",
    )
    .unwrap();
    let file_arg = format!("-setParamFile:{}", set.display());
    let (code, out, m) = sync(d.path(), &zip, &[&file_arg, "-whatif"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Info: Creating application (Default Web Site/fromfile)"),
        "{out}"
    );
    assert!(!out.contains("system32>"), "whatif ran the command: {out}");
    assert!(!m
        .host_path("C:\\inetpub\\wwwroot\\fromfile")
        .unwrap()
        .exists());
    let apps = iiswsgi_sim::appcmd::run(&m, &["list".into(), "apps".into()]);
    assert!(!apps.stdout.contains("fromfile"), "{}", apps.stdout);
}

#[test]
fn deployment_object_attribute_sets_the_created_applications_pool() {
    let d = tempfile::tempdir().unwrap();
    let params = r#"<parameters>
  <parameter name="Application Path" defaultValue="Default Web Site/app" tags="iisApp">
    <parameterEntry kind="ProviderPath" scope="iisApp" match="^app$" />
    <parameterEntry kind="ProviderPath" scope="createApp" match="^app$" />
  </parameter>
  <parameter name="Pool" defaultValue="PythonPool" tags="Hidden">
    <parameterEntry kind="DeploymentObjectAttribute" scope="createApp" match="createApp/@applicationPool" />
  </parameter>
</parameters>"#;
    let manifest = "<m><createApp path=\"app\" /><iisApp path=\"app\" /></m>";
    let pkg = package(d.path(), manifest, params, &[("app/a.txt", "a")]);
    let (code, out, m) = sync(d.path(), &pkg, &[]);
    assert_eq!(code, 0, "{out}");
    let apps = iiswsgi_sim::appcmd::run(&m, &["list".into(), "apps".into()]);
    assert!(
        apps.stdout
            .contains("APP \"Default Web Site/app\" (applicationPool:PythonPool)"),
        "{}",
        apps.stdout
    );
}

#[test]
fn skip_directives_skip_any_provider() {
    let d = tempfile::tempdir().unwrap();
    let m = tool_machine(d.path(), "echo ran");
    let manifest = run_command_manifest("C:\\tools\\tool.exe", &[]);
    let pkg = package(d.path(), &manifest, APP_PARAMS, &[("app/index.html", "hi")]);
    let (code, out) = sync_on(
        &m,
        d.path(),
        &pkg,
        &["-skip:objectName=runCommand", "-verbose"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("Info: ran"), "{out}");
    assert!(
        out.contains("Verbose: Skipping runCommand: -skip:objectName=runCommand"),
        "{out}"
    );
}
