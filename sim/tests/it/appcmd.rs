use crate::{appcmd, machine};

#[test]
fn transcript_of_objects_from_a_new_machine() {
    let (_d, m) = machine(false);
    let mut t = String::new();
    for line in [
        "list sites",
        "list site \"Default Web Site\" /xml",
        "list sites /text:*",
        "list apps",
        "list vdirs /text:physicalPath",
        "list apppools",
        "add site /name:MySite /id:2 /bindings:http/*:81: /physicalPath:C:\\inetpub\\mysite",
        "add app /site.name:MySite /path:/app1 /physicalPath:C:\\inetpub\\mysite\\app1",
        "add vdir /app.name:MySite/app1 /path:/vdir1 /physicalPath:C:\\inetpub\\mysite\\app1\\vdir1",
        "add apppool /name:MyAppPool",
        "set app MySite/ /applicationPool:MyAppPool",
        "set vdir MySite/app1/ /physicalPath:D:\\elsewhere",
        "list sites",
        "list apps /site.name:MySite",
        "list app /app.name:\"Default Web Site/NonExistentApp\"",
        "list vdirs /app.name:MySite/app1 /xml",
        "list apppools /xml",
        "delete vdir MySite/app1/vdir1",
        "delete site MySite",
        "list sites",
    ] {
        t.push_str(&appcmd(&m, line));
    }
    insta::assert_snapshot!(t);
}

#[test]
fn transcript_of_config_from_a_new_machine() {
    let (_d, m) = machine(false);
    let mut t = String::new();
    for line in [
        "list config -section:system.webServer/fastCgi",
        "set config -section:system.webServer/fastCgi /+[fullPath='C:\\Python34\\python.exe',arguments='C:\\Python34\\Scripts\\wfastcgi.py',signalBeforeTerminateSeconds='30'] /commit:apphost",
        "set config -section:system.webServer/fastCgi /+[fullPath='C:\\Python34\\python.exe',arguments='C:\\Python34\\Scripts\\wfastcgi.py'] /commit:apphost",
        "set config -section:system.webServer/fastCgi /+[fullPath='c:\\python34\\PYTHON.EXE',arguments='c:\\python34\\scripts\\WFASTCGI.py'] /commit:apphost",
        "set config -section:fastCgi /+[fullPath='C:\\Python34\\python.exe',arguments='C:\\Python34\\Scripts\\wfastcgi.py'].environmentVariables.[name='PYTHONPATH',value='C:\\a;%SystemDrive%\\b'] /commit:apphost",
        "set config -section:fastCgi /[fullPath='C:\\Python34\\python.exe'].maxInstances:4 /commit:apphost",
        "list config -section:fastCgi",
        "list config -section:system.webServer/fastCgi /xml",
        "list config -section:fastCgi /config:*",
        "set config -section:fastCgi /-[fullPath='C:\\Nope.exe'] /commit:apphost",
        "set config -section:fastCgi /-[fullPath='C:\\Python34\\python.exe',arguments='C:\\Python34\\Scripts\\wfastcgi.py',maxInstances='4'] /commit:apphost",
        "set config -section:fastCgi /+[fullPath='C:\\x.exe',bogus='1'] /commit:apphost",
        "set config -section:fastCgi /+[fullPath='C:\\x.exe',maxInstances='lots'] /commit:apphost",
        "set config \"Default Web Site\" -section:fastCgi /+[fullPath='C:\\x.exe']",
        "set config \"Default Web Site\" -section:system.webServer/handlers /+[name='py',path='*',verb='*',modules='FastCgiModule',scriptProcessor='C:\\x.exe']",
        "list config -section:nope",
        "list config -section:system.applicationHost/sites /xml",
        "add backup PreMsDeploy",
        "add backup PreMsDeploy",
        "add apppool /name:AfterBackup",
        "list backups",
        "restore backup PreMsDeploy",
        "list apppools",
        "restore backup Nope",
    ] {
        t.push_str(&appcmd(&m, line));
    }
    insta::assert_snapshot!(t);
    let wc = std::fs::read_to_string(m.root().join("C/inetpub/wwwroot/web.config")).unwrap();
    assert!(wc.contains("scriptProcessor=\"C:\\x.exe\""), "{wc}");
}

#[test]
fn errors_have_appcmds_words_and_exit_codes() {
    let (_d, m) = machine(false);
    let cases: &[(&str, i32, &str)] = &[
        ("add app /site.name:Nope /path:/a /physicalPath:C:\\a", 1168, "ERROR ( message:Cannot find SITE object with identifier \"Nope\". )\n"),
        ("add site /name:\"Default Web Site\" /bindings:http/*:82:", 183, "ERROR ( message:Cannot add duplicate collection entry of type 'site' with unique key attribute 'name' set to 'Default Web Site' )\n"),
        ("set vdir \"Default Web\" /physicalPath:C:\\x", 50, "ERROR ( message:Must use exact identifer for VDIR object with verb SET. )\n"),
        ("list site Nope", 1168, "ERROR ( message:Cannot find SITE object with identifier \"Nope\". )\n"),
        ("list sites /state:Stopped", 1, ""),
        ("list bogus", 87, "Object 'BOGUS' is not supported.  Run 'appcmd.exe /?' to display supported objects.\n"),
        ("set config -section:fastCgi /-[fullPath='C:\\none.exe'] /commit:apphost", 1168, "ERROR ( message:Cannot find requested collection element. )\n"),
    ];
    for (line, code, text) in cases {
        let args = crate::split(line);
        let out = iiswsgi_sim::appcmd::run(&m, &args);
        assert_eq!((out.code, out.stdout.as_str()), (*code, *text), "{line}");
    }
}

#[test]
fn a_broken_apphost_is_reported_with_file_and_line() {
    let (_d, m) = machine(false);
    let p = m.apphost_path().unwrap();
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "<sites>",
        "<sites>\n<site name=\"x\" id=\"1\"><oops></site>",
    );
    std::fs::write(&p, text).unwrap();
    let out = iiswsgi_sim::appcmd::run(&m, &crate::split("list sites"));
    assert_eq!(out.code, 13);
    assert!(out.stdout.starts_with("ERROR ( message:Configuration error \nFilename: \\\\?\\C:\\Windows\\System32\\inetsrv\\config\\applicationHost.config\nLine Number: "), "{}", out.stdout);
}

#[test]
fn eight_writers_at_once_lose_nothing() {
    let (_d, m) = machine(false);
    std::thread::scope(|s| {
        for t in 0..8 {
            let m = &m;
            s.spawn(move || {
                for i in 0..5 {
                    let args = vec![
                        "set".into(),
                        "config".into(),
                        "-section:system.webServer/fastCgi".into(),
                        format!("/+[fullPath='C:\\p{t}.exe',arguments='{i}']"),
                        "/commit:apphost".into(),
                    ];
                    let out = iiswsgi_sim::appcmd::run(m, &args);
                    assert_eq!(out.code, 0, "writer {t}, edit {i}: {}", out.stdout);
                }
            });
        }
    });
    let host = iiswsgi_iisconfig::ApplicationHost::load(&m.apphost_path().unwrap()).unwrap();
    assert_eq!(host.fastcgi_applications().unwrap().len(), 40);
}

mod props {
    use proptest::prelude::*;

    use crate::machine;

    fn value() -> impl Strategy<Value = String> {
        "[ a-zA-Z0-9%\\\\:._'\",\\[\\]&<>|=()-]{0,24}".prop_filter("a quote ending a value", |v| {
            // The two sequences that end a value (see model::appcmd::expr).
            !v.contains("']") && !regex_like_next_attr(v)
        })
    }

    fn regex_like_next_attr(v: &str) -> bool {
        v.match_indices("',").any(|(i, _)| {
            let rest = &v[i + 2..];
            let n = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                .count();
            n > 0 && rest[n..].starts_with('=')
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn values_survive_set_config_then_list_config_xml(args in value(), env in value()) {
            let (_d, m) = machine(false);
            let add = vec![
                "set".into(), "config".into(), "-section:system.webServer/fastCgi".into(),
                format!("/+[fullPath='C:\\p y.exe',arguments='{args}']"), "/commit:apphost".into(),
            ];
            let out = iiswsgi_sim::appcmd::run(&m, &add);
            prop_assert_eq!(out.code, 0, "{}", out.stdout);
            let env_add = vec![
                "set".into(), "config".into(), "-section:fastCgi".into(),
                format!("/+[fullPath='C:\\p y.exe',arguments='{args}'].environmentVariables.[name='V',value='{env}']"), "/commit:apphost".into(),
            ];
            let out = iiswsgi_sim::appcmd::run(&m, &env_add);
            prop_assert_eq!(out.code, 0, "{}", out.stdout);
            let list = iiswsgi_sim::appcmd::run(&m, &["list".into(), "config".into(), "-section:fastCgi".into(), "/xml".into()]);
            let doc = iiswsgi_iisconfig::Document::parse(std::path::Path::new("out.xml"), &list.stdout).unwrap();
            let app = doc.root().descendant("CONFIG/system.webServer-fastCgi/application").unwrap();
            prop_assert_eq!(app.attr("arguments"), Some(args.as_str()));
            let var = app.descendant("environmentVariables/environmentVariable").unwrap();
            prop_assert_eq!(var.attr("value"), Some(env.as_str()));
        }
    }
}
