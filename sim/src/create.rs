//! `iiswsgi sim new ROOT [--iis-express]`: a Windows-like tree with a
//! realistic applicationHost.config, IIS's start page, the log and temporary
//! folders, an appcmd shim, and `sim.toml`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::machine::{MachineError, MachineInfo, SimConfig, SimMachine, SIM_TOML};

const APPHOST: &str = include_str!("templates/applicationHost.config");
const IISSTART: &str = include_str!("templates/iisstart.htm");

/// The user the machine is set up for.
pub const USER: &str = "Administrator";

/// How to make a machine.
#[derive(Debug, Clone)]
pub struct NewMachine {
    pub iis_express: bool,
    /// The host Python that `py`, `python.exe` and `C:\Python311\python.exe` run.
    pub python: PathBuf,
    /// The command that runs `iiswsgi` on this host (for the appcmd shim).
    pub iiswsgi: Vec<String>,
}

fn environment(iis_express: bool) -> BTreeMap<String, String> {
    let profile = format!("C:\\Users\\{USER}");
    let mut env: BTreeMap<String, String> = [
        ("ALLUSERSPROFILE", "C:\\ProgramData".to_owned()),
        ("APPDATA", format!("{profile}\\AppData\\Roaming")),
        ("COMPUTERNAME", "SIMIIS".to_owned()),
        ("ComSpec", "C:\\Windows\\system32\\cmd.exe".to_owned()),
        ("HOMEDRIVE", "C:".to_owned()),
        ("HOMEPATH", format!("\\Users\\{USER}")),
        ("LOCALAPPDATA", format!("{profile}\\AppData\\Local")),
        ("NUMBER_OF_PROCESSORS", "2".to_owned()),
        ("OS", "Windows_NT".to_owned()),
        ("PATH", "C:\\Windows\\system32;C:\\Windows;C:\\Windows\\System32\\Wbem;C:\\Python311\\Scripts\\;C:\\Python311\\".to_owned()),
        ("PATHEXT", ".COM;.EXE;.BAT;.CMD;.VBS;.JS;.WSF;.MSC;.PY".to_owned()),
        ("PROCESSOR_ARCHITECTURE", "AMD64".to_owned()),
        ("ProgramData", "C:\\ProgramData".to_owned()),
        ("ProgramFiles", "C:\\Program Files".to_owned()),
        ("ProgramFiles(x86)", "C:\\Program Files (x86)".to_owned()),
        ("PUBLIC", "C:\\Users\\Public".to_owned()),
        ("SystemDrive", "C:".to_owned()),
        ("SystemRoot", "C:\\Windows".to_owned()),
        ("TEMP", format!("{profile}\\AppData\\Local\\Temp")),
        ("TMP", format!("{profile}\\AppData\\Local\\Temp")),
        ("USERNAME", USER.to_owned()),
        ("USERPROFILE", profile.clone()),
        ("windir", "C:\\Windows".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if iis_express {
        env.insert("IIS_BIN".into(), "C:\\Program Files\\IIS Express".into());
        env.insert(
            "IIS_USER_HOME".into(),
            format!("{profile}\\Documents\\IISExpress"),
        );
        env.insert(
            "IIS_SITES_HOME".into(),
            format!("{profile}\\Documents\\My Web Sites"),
        );
    }
    env
}

/// The IIS Express variant of the configuration: one site, `WebSite1`, on
/// `:8080:localhost` under `My Web Sites`, logs under `IIS_USER_HOME`.
fn express_apphost() -> String {
    APPHOST
        .replace(
            "<site name=\"Default Web Site\" id=\"1\">",
            "<site name=\"WebSite1\" id=\"1\" serverAutoStart=\"true\">",
        )
        .replace(
            "physicalPath=\"%SystemDrive%\\inetpub\\wwwroot\"",
            "physicalPath=\"%IIS_SITES_HOME%\\WebSite1\"",
        )
        .replace(
            "bindingInformation=\"*:80:\"",
            "bindingInformation=\":8080:localhost\"",
        )
        .replace(
            "%SystemDrive%\\inetpub\\logs\\LogFiles",
            "%IIS_USER_HOME%\\Logs",
        )
        .replace(
            "%SystemDrive%\\inetpub\\logs\\FailedReqLogFiles",
            "%IIS_USER_HOME%\\TraceLogFiles",
        )
}

fn write(path: &Path, text: &str) -> Result<(), MachineError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| MachineError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| MachineError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn mkdir(path: &Path) -> Result<(), MachineError> {
    std::fs::create_dir_all(path).map_err(|source| MachineError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Single-quotes a word for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `sim.toml`'s contents for a new machine.
fn machine_config(opts: &NewMachine, apphost: String, appcmd: &str) -> SimConfig {
    let python = opts.python.display().to_string();
    let programs: BTreeMap<String, String> = [
        ("C:\\Python311\\python.exe", python.as_str()),
        ("python.exe", python.as_str()),
        ("python", python.as_str()),
        ("py", python.as_str()),
        ("py.exe", python.as_str()),
        (appcmd, "builtin:appcmd"),
        ("appcmd.exe", "builtin:appcmd"),
        ("C:\\Windows\\system32\\cmd.exe", "builtin:cmd"),
        ("cmd.exe", "builtin:cmd"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut inventory = vec!["WDeploy".to_owned(), "Python311".to_owned()];
    inventory.insert(
        0,
        if opts.iis_express {
            "IISExpress".into()
        } else {
            "IIS".into()
        },
    );
    SimConfig {
        machine: MachineInfo {
            name: "SIMIIS".into(),
            user: USER.into(),
            iis_express: opts.iis_express,
            apphost,
            inventory,
        },
        environment: environment(opts.iis_express),
        programs,
    }
}

/// appcmd.exe on the machine: a shim that runs the emulator, so the real
/// (Windows) backend's code can drive the simulated IIS too.
fn write_shim(machine: &SimMachine, opts: &NewMachine, appcmd: &str) -> Result<(), MachineError> {
    let host = |w: &str| machine.host_path(w);
    let root_abs = machine.root().display().to_string();
    let mut shim = String::from(
        "#!/bin/sh\n# appcmd.exe of the simulated machine: runs iiswsgi's appcmd emulator.\nexec",
    );
    for w in &opts.iiswsgi {
        shim.push(' ');
        shim.push_str(&sh_quote(w));
    }
    let _ = writeln!(shim, " sim appcmd --root {} \"$@\"", sh_quote(&root_abs));
    let shim_path = host(appcmd)?;
    write(&shim_path, &shim)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim_path, std::fs::Permissions::from_mode(0o755)).map_err(
            |source| MachineError::Write {
                path: shim_path.clone(),
                source,
            },
        )?;
    }
    Ok(())
}

/// Creates a machine at `root`, which must be empty or absent.
pub fn create(root: &Path, opts: &NewMachine) -> Result<SimMachine, MachineError> {
    if root.join(SIM_TOML).exists() || std::fs::read_dir(root).is_ok_and(|mut d| d.next().is_some())
    {
        return Err(MachineError::Exists {
            root: root.to_path_buf(),
        });
    }
    mkdir(root)?;
    let profile = format!("C:\\Users\\{USER}");
    let apphost = if opts.iis_express {
        format!("{profile}\\Documents\\IISExpress\\config\\applicationhost.config")
    } else {
        "C:\\Windows\\System32\\inetsrv\\config\\applicationHost.config".to_owned()
    };
    let appcmd = if opts.iis_express {
        "C:\\Program Files\\IIS Express\\appcmd.exe"
    } else {
        "C:\\Windows\\System32\\inetsrv\\appcmd.exe"
    };
    let config = machine_config(opts, apphost, appcmd);
    let machine = SimMachine::with_config(root, config);
    let host = |w: &str| machine.host_path(w);
    for dir in [
        "C:\\Windows\\System32\\inetsrv\\config",
        "C:\\inetpub\\logs\\LogFiles",
        "C:\\inetpub\\logs\\FailedReqLogFiles",
        "C:\\inetpub\\custerr",
        "C:\\Python311",
        "C:\\ProgramData",
        &format!("{profile}\\AppData\\Local\\Temp"),
        &format!("{profile}\\AppData\\Roaming"),
        &format!("{profile}\\Documents\\My Web Sites"),
    ] {
        mkdir(&host(dir)?)?;
    }
    let apphost_text = if opts.iis_express {
        express_apphost()
    } else {
        APPHOST.to_owned()
    };
    write(&machine.apphost_path()?, &apphost_text)?;
    if opts.iis_express {
        mkdir(&host(&format!("{profile}\\Documents\\IISExpress\\Logs"))?)?;
        write(
            &host(&format!(
                "{profile}\\Documents\\My Web Sites\\WebSite1\\iisstart.htm"
            ))?,
            IISSTART,
        )?;
    } else {
        write(&host("C:\\inetpub\\wwwroot\\iisstart.htm")?, IISSTART)?;
    }
    write_shim(&machine, opts, appcmd)?;
    let toml_text = toml::to_string_pretty(&machine.config).map_err(|e| MachineError::BadToml {
        path: machine.sim_toml(),
        message: e.to_string(),
    })?;
    let header = "# The simulated IIS machine (iiswsgi sim). Edit [environment] and [programs] as needed:\n# [programs] maps a Windows program (path or name, %VAR% allowed) to a host command,\n# or to builtin:appcmd / builtin:cmd. A virtualenv's Scripts\\python.exe runs its bin/python.\n\n";
    write(&machine.sim_toml(), &format!("{header}{toml_text}"))?;
    Ok(machine)
}
