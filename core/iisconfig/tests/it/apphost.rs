use iiswsgi_iisconfig::{
    ApplicationHost, Binding, ErrorKind, FastCgiApplication, Protocol, StderrMode,
};

use crate::{file, APPHOST};

fn host() -> ApplicationHost {
    ApplicationHost::parse(file(), APPHOST).unwrap()
}

#[test]
fn reads_sites_pools_fastcgi_handlers_locations_and_sections() {
    let h = host();
    let sites = h.sites().unwrap();
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0].name, "Default Web Site");
    assert_eq!(sites[0].id, 1);
    assert_eq!(sites[0].bindings[0].binding_information, "*:80:");
    assert_eq!(sites[0].applications[0].application_pool, "DefaultAppPool");
    assert_eq!(
        sites[0].applications[0].virtual_directories[0].physical_path,
        "%SystemDrive%\\inetpub\\wwwroot"
    );
    assert_eq!(h.app_pools()[0].name, "DefaultAppPool");
    let apps = h.fastcgi_applications().unwrap();
    assert_eq!(apps.len(), 1);
    let php = &apps[0];
    assert_eq!(php.max_instances, 4);
    assert_eq!(php.activity_timeout, 30);
    assert_eq!(php.idle_timeout, 300, "IIS's default");
    assert_eq!(php.request_timeout, 90);
    assert_eq!(php.instance_max_requests, 200);
    assert_eq!(php.queue_length, 1000);
    assert_eq!(php.rapid_fails_per_minute, 10);
    assert_eq!(php.stderr_mode, StderrMode::ReturnStdErrIn500);
    assert_eq!(php.protocol, Protocol::NamedPipe);
    assert_eq!(
        php.environment_variables,
        vec![("PHP_FCGI_MAX_REQUESTS".to_string(), "10000".to_string())]
    );
    let handlers = h.handlers();
    assert_eq!(handlers.len(), 2);
    assert!(handlers[0].is_fastcgi());
    assert_eq!(handlers[0].response_buffer_limit, 4_194_304);
    assert_eq!(h.locations().count(), 1);
    let fcgi = h.section_declaration("system.webServer/fastCgi").unwrap();
    assert_eq!(fcgi.allow_definition, "AppHostOnly");
    assert_eq!(h.section_declarations().len(), 6);
}

#[test]
fn adding_a_fastcgi_application_changes_only_its_section() {
    let mut h = host();
    let mut app = FastCgiApplication::new(
        "C:\\sites\\app\\.venv\\Scripts\\python.exe",
        "-m iiswsgi serve app:app",
    );
    app.signal_before_terminate_seconds = 30;
    app.environment_variables
        .push(("A".into(), "x & 'y' \"z\"".into()));
    h.add_fastcgi_application(&app, false).unwrap();
    let written = h.write();
    let again = ApplicationHost::parse(file(), &written).unwrap();
    assert_eq!(again.fastcgi_applications().unwrap()[1], app);
    // Everything before </fastCgi> but the new element is unchanged, and so is all after it.
    let cut = APPHOST.find("        </fastCgi>").unwrap();
    assert_eq!(&written[..cut], &APPHOST[..cut]);
    assert!(written.ends_with(&APPHOST[cut..]));
    let added = &written[cut..written.len() - (APPHOST.len() - cut)];
    assert_eq!(
        added,
        r#"            <application fullPath="C:\sites\app\.venv\Scripts\python.exe" arguments="-m iiswsgi serve app:app" signalBeforeTerminateSeconds="30">
                <environmentVariables>
                    <environmentVariable name="A" value="x &amp; 'y' &quot;z&quot;" />
                </environmentVariables>
            </application>
"#
    );
}

#[test]
fn fastcgi_keys_compare_case_insensitively() {
    let mut h = host();
    let dup = FastCgiApplication::new("c:\\php\\PHP-CGI.EXE", "");
    let e = h.add_fastcgi_application(&dup, false).unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::Duplicate));
    assert!(e.to_string().contains("already registered"), "{e}");
    h.add_fastcgi_application(&dup, true).unwrap();
    let apps = h.fastcgi_applications().unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].full_path, "c:\\php\\PHP-CGI.EXE");
    h.remove_fastcgi_application("C:\\PHP\\php-cgi.exe", "")
        .unwrap();
    assert!(h.fastcgi_applications().unwrap().is_empty());
    let e = h
        .remove_fastcgi_application("C:\\PHP\\php-cgi.exe", "")
        .unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::NotFound));
}

#[test]
fn sites_and_applications_are_added_in_schema_order() {
    let mut h = host();
    h.add_site(
        "Second",
        2,
        &Binding {
            protocol: "http".into(),
            binding_information: "*:8080:".into(),
        },
        "C:\\inetpub\\second",
    )
    .unwrap();
    h.add_application(
        "Default Web Site",
        "/app",
        "C:\\inetpub\\wwwroot\\app",
        None,
    )
    .unwrap();
    let e = h
        .add_application("default web site", "/APP", "x", None)
        .unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::Duplicate));
    let written = h.write();
    let again = ApplicationHost::parse(file(), &written).unwrap();
    let sites = again.sites().unwrap();
    assert_eq!(sites.len(), 2);
    assert_eq!(sites[0].applications[1].path, "/app");
    assert_eq!(sites[1].name, "Second");
    assert!(written.find("name=\"Second\"").unwrap() < written.find("<siteDefaults>").unwrap());
    assert!(written.find("path=\"/app\"").unwrap() < written.find("<bindings>").unwrap());
}

#[test]
fn invalid_content_names_file_line_and_value() {
    let bad_range = APPHOST.replace("maxInstances=\"4\"", "maxInstances=\"20000\"");
    let e = ApplicationHost::parse(file(), &bad_range)
        .unwrap_err()
        .to_string();
    assert!(e.contains("applicationHost.config:47: <fastCgi><application> maxInstances=\"20000\": out of IIS's range 0..10000"), "{e}");

    let dup_site = APPHOST.replace(
        "<siteDefaults>",
        "<site name=\"default web site\" id=\"7\"><application path=\"/\"/></site>\n<siteDefaults>",
    );
    let e = ApplicationHost::parse(file(), &dup_site).unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::Duplicate));

    let undeclared = APPHOST
        .replace("<unknownSection ", "<notDeclared ")
        .replace("</unknownSection>", "</notDeclared>");
    let e = ApplicationHost::parse(file(), &undeclared)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(":58: Unrecognized configuration section system.webServer/notDeclared"),
        "{e}"
    );

    let bad_id = APPHOST.replace("id=\"1\"", "id=\"one\"");
    let e = ApplicationHost::parse(file(), &bad_id)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(":29: site \"Default Web Site\" has id=\"one\""),
        "{e}"
    );
}

#[test]
fn edits_are_atomic_locked_and_lose_nothing_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("applicationHost.config");
    std::fs::write(&path, APPHOST).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let path = &path;
            s.spawn(move || {
                for i in 0..5 {
                    ApplicationHost::edit(path, |h| {
                        h.add_fastcgi_application(
                            &FastCgiApplication::new(&format!("C:\\p{t}.exe"), &i.to_string()),
                            false,
                        )
                    })
                    .unwrap();
                }
            });
        }
    });
    let h = ApplicationHost::load(&path).unwrap();
    assert_eq!(h.fastcgi_applications().unwrap().len(), 1 + 8 * 5);
    // A failed edit writes nothing.
    let before = std::fs::read_to_string(&path).unwrap();
    let e = ApplicationHost::edit(&path, |h| {
        h.remove_fastcgi_application("C:\\PHP\\php-cgi.exe", "")?;
        h.remove_fastcgi_application("C:\\nope.exe", "")
    });
    assert!(e.is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}
