use std::path::Path;

use iiswsgi_iisconfig::{FastCgiApplication, Handler, WebConfig, Wording};

const WEB: &str = r#"<?xml version="1.0"?>
<configuration>
  <appSettings>
    <add key="WSGI_HANDLER" value="app.application"/>
    <add key="PYTHONPATH" value="%X%;c:\b"/>
    <add key="GONE" value="1"/>
    <remove key="gone"/>
  </appSettings>
  <system.webServer>
    <handlers>
      <add name="py" path="*" verb="*" modules="FastCgiModule" scriptProcessor="C:\py.exe|-m iiswsgi serve" />
    </handlers>
    <fastCgi>
      <application fullPath="C:\py.exe" arguments="-m iiswsgi serve" />
    </fastCgi>
    <add key="NOT_A_SETTING" value="x"/>
  </system.webServer>
</configuration>
"#;

fn path() -> &'static Path {
    Path::new("site/web.config")
}

#[test]
fn app_settings_handlers_and_fastcgi() {
    let w = WebConfig::parse(path(), WEB).unwrap();
    assert_eq!(
        w.app_settings().unwrap(),
        vec![
            ("WSGI_HANDLER".into(), "app.application".into()),
            ("PYTHONPATH".into(), "%X%;c:\\b".into())
        ]
    );
    assert_eq!(w.handlers().len(), 1);
    assert_eq!(w.validate_handlers().unwrap().len(), 1);
}

#[test]
fn a_handler_without_its_application_is_named_with_its_line() {
    let broken = WEB.replace(
        "arguments=\"-m iiswsgi serve\"",
        "arguments=\"-m iiswsgi  serve\"",
    );
    let w = WebConfig::parse_with(path(), &broken, Wording::AFTER_EXPANSION).unwrap();
    let e = w.validate_handlers().unwrap_err().to_string();
    assert!(
        e.starts_with("site/web.config:11: the FastCgiModule handler's scriptProcessor"),
        "{e}"
    );
}

#[test]
fn add_key_without_key_is_an_error() {
    let broken = WEB.replace("<add key=\"GONE\" value=\"1\"/>", "<add value=\"1\"/>");
    let e = WebConfig::parse(path(), &broken)
        .unwrap()
        .app_settings()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("web.config:6: <add> in <appSettings> needs a key attribute"),
        "{e}"
    );
}

#[test]
fn built_from_scratch_and_edited_in_place() {
    let mut w = WebConfig::new(path());
    let app = FastCgiApplication::new(
        "%IISWSGI_VENV%\\Scripts\\python.exe",
        "-m iiswsgi serve app:app",
    );
    w.add_handler(&Handler {
        name: "iiswsgi".into(),
        path: "*".into(),
        verb: "*".into(),
        modules: "FastCgiModule".into(),
        script_processor: app.script_processor(),
        resource_type: "Unspecified".into(),
        require_access: "Script".into(),
        response_buffer_limit: 0,
        ..Handler::default()
    });
    w.add_fastcgi_application(&app);
    w.set_app_setting("WSGI_LOG", "C:\\logs\\app.log");
    insta::assert_snapshot!(w.write(), @r#"
    <?xml version="1.0" encoding="UTF-8"?>
    <configuration>
      <system.webServer>
        <handlers>
          <add name="iiswsgi" path="*" verb="*" modules="FastCgiModule" scriptProcessor="%IISWSGI_VENV%\Scripts\python.exe|-m iiswsgi serve app:app" resourceType="Unspecified" requireAccess="Script" responseBufferLimit="0" />
        </handlers>
        <fastCgi>
          <application fullPath="%IISWSGI_VENV%\Scripts\python.exe" arguments="-m iiswsgi serve app:app" />
        </fastCgi>
      </system.webServer>
      <appSettings>
        <add key="WSGI_LOG" value="C:\logs\app.log" />
      </appSettings>
    </configuration>
    "#);
    let again = WebConfig::parse(path(), &w.write()).unwrap();
    assert_eq!(again.validate_handlers().unwrap(), vec![app]);
    let mut edited = WebConfig::parse(path(), WEB).unwrap();
    edited.set_app_setting("wsgi_handler", "other:app");
    let out = edited.write();
    assert_eq!(
        out.replace(
            "<add key=\"WSGI_HANDLER\" value=\"other:app\" />",
            "<add key=\"WSGI_HANDLER\" value=\"app.application\"/>"
        ),
        WEB
    );
}
