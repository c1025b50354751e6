use iiswsgi_sim::machine::{Program, SimMachine};

use crate::machine;

#[test]
fn new_lays_out_a_windows_tree_and_sim_toml() {
    let (_d, m) = machine(false);
    let r = m.root();
    for p in [
        "sim.toml",
        "C/Windows/System32/inetsrv/config/applicationHost.config",
        "C/Windows/System32/inetsrv/appcmd.exe",
        "C/inetpub/wwwroot/iisstart.htm",
        "C/inetpub/logs/LogFiles",
        "C/Users/Administrator/AppData/Local/Temp",
        "C/Users/Administrator/Documents/My Web Sites",
    ] {
        assert!(r.join(p).exists(), "{p}");
    }
    let again = SimMachine::open(r).unwrap();
    assert_eq!(again.config, m.config);
    assert_eq!(m.var("systemdrive").as_deref(), Some("C:"));
    assert_eq!(m.var("WINDIR").as_deref(), Some("C:\\Windows"));
    let e = iiswsgi_sim::create::create(
        r,
        &iiswsgi_sim::create::NewMachine {
            iis_express: false,
            python: "/x".into(),
            iiswsgi: vec![],
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("already holds a simulated machine"), "{e}");
}

#[test]
fn iis_express_has_its_own_config_and_variables() {
    let (_d, m) = machine(true);
    assert!(m
        .root()
        .join("C/Users/Administrator/Documents/IISExpress/config/applicationhost.config")
        .is_file());
    assert!(m
        .root()
        .join("C/Program Files/IIS Express/appcmd.exe")
        .is_file());
    assert_eq!(
        m.var("IIS_USER_HOME").as_deref(),
        Some("C:\\Users\\Administrator\\Documents\\IISExpress")
    );
    let host = iiswsgi_iisconfig::ApplicationHost::load(&m.apphost_path().unwrap()).unwrap();
    let sites = host.sites().unwrap();
    assert_eq!(sites[0].name, "WebSite1");
    assert_eq!(sites[0].bindings[0].binding_information, ":8080:localhost");
}

#[test]
fn paths_translate_both_ways_case_insensitively() {
    let (_d, m) = machine(false);
    let www = m.host_path("%SystemDrive%\\INETPUB\\WwwRoot").unwrap();
    assert_eq!(www, m.root().join("C/inetpub/wwwroot"));
    assert_eq!(
        m.host_path("c:/inetpub/wwwroot/new/x.py").unwrap(),
        m.root().join("C/inetpub/wwwroot/new/x.py")
    );
    assert_eq!(m.windows_path(&www).unwrap(), "C:\\inetpub\\wwwroot");
    assert_eq!(
        m.host_path("C:\\..\\..\\etc").unwrap(),
        m.root().join("C/etc"),
        "never above the drive"
    );
    let e = m.host_path("inetpub\\wwwroot").unwrap_err().to_string();
    assert!(e.contains("not a Windows path"), "{e}");
    assert!(m.windows_path(std::path::Path::new("/etc/passwd")).is_err());
}

#[test]
fn the_program_map_resolves_pythons_venvs_and_builtins() {
    let (_d, m) = machine(false);
    assert_eq!(
        m.resolve_program("py").unwrap(),
        Program::Host("/usr/bin/python3".into())
    );
    assert_eq!(
        m.resolve_program("\"C:\\Python311\\python.exe\"").unwrap(),
        Program::Host("/usr/bin/python3".into())
    );
    assert_eq!(
        m.resolve_program("%windir%\\system32\\inetsrv\\appcmd.exe")
            .unwrap(),
        Program::Appcmd
    );
    assert_eq!(m.resolve_program("CMD.EXE").unwrap(), Program::Cmd);
    let venv = m.root().join("C/inetpub/wwwroot/app/.venv/bin");
    std::fs::create_dir_all(&venv).unwrap();
    std::fs::write(venv.join("python"), "").unwrap();
    assert_eq!(
        m.resolve_program("C:\\inetpub\\wwwroot\\app\\.venv\\Scripts\\python.exe")
            .unwrap(),
        Program::Host(venv.join("python"))
    );
    let e = m
        .resolve_program("C:\\Tools\\thing.exe")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"C:\\\\Tools\\\\thing.exe\" is not in the simulated machine's program map"),
        "{e}"
    );
    assert!(
        e.contains("'C:\\Tools\\thing.exe' = \"/path/on/this/host\""),
        "{e}"
    );
    assert!(e.contains("sim.toml"), "{e}");
}

// Unix by nature: on a Windows host a process opens the Windows path itself.
#[cfg(unix)]
#[test]
fn windows_paths_in_arguments_become_host_paths_and_the_launcher_drops_its_options() {
    let (_d, m) = machine(false);
    let args: Vec<String> = [
        "-m",
        "iiswsgi",
        "serve",
        "config:C:\\inetpub\\wwwroot\\app\\production.ini",
        "x:y",
        "D:/data",
    ]
    .map(String::from)
    .to_vec();
    let host = m.host_args(&args);
    assert_eq!(
        host[3],
        format!(
            "config:{}",
            m.root()
                .join("C/inetpub/wwwroot/app/production.ini")
                .display()
        )
    );
    assert_eq!(host[4], "x:y");
    assert_eq!(host[5], m.root().join("D/data").display().to_string());
    let a: Vec<String> = ["-3.11-64", "-m", "iiswsgi"].map(String::from).to_vec();
    assert_eq!(SimMachine::launcher_args("py", &a), ["-m", "iiswsgi"]);
    assert_eq!(
        SimMachine::launcher_args("C:\\Windows\\py.exe", &["-3".into()]),
        Vec::<String>::new()
    );
    assert_eq!(SimMachine::launcher_args("python", &a), a);
}
