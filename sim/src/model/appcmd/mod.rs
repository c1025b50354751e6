//! appcmd.exe emulated: its argument syntax, its objects (SITE, APP, VDIR,
//! APPPOOL, CONFIG, BACKUP), its output forms (one line per object,
//! `/text:PROP`, `/text:*`, `/xml`) and its errors (`ERROR ( message:… )` on
//! stdout, the Win32 error code as exit status), over the one IIS XML model.
//! Reference: `msdeploy-webpi-appcmd.md` §5. Pure: the caller reads and
//! writes the files (see `crate::appcmd`).

pub mod config;
pub mod expr;
pub mod objects;
mod objects_edit;
pub mod render;

use iiswsgi_iisconfig::ApplicationHost;

/// Win32 error codes appcmd exits with.
pub mod code {
    /// `ERROR_INVALID_FUNCTION`: `list` found nothing (decided: see the README of the simulator).
    pub const NOTHING_FOUND: i32 = 1;
    /// `ERROR_INVALID_DATA`.
    pub const INVALID_DATA: i32 = 13;
    /// `ERROR_NOT_SUPPORTED`: "Must use exact identifer…".
    pub const NOT_SUPPORTED: i32 = 50;
    /// `ERROR_INVALID_PARAMETER`: an unknown attribute, object or section.
    pub const INVALID_PARAMETER: i32 = 87;
    /// `ERROR_ALREADY_EXISTS`.
    pub const ALREADY_EXISTS: i32 = 183;
    /// `ERROR_NOT_FOUND`.
    pub const NOT_FOUND: i32 = 1168;
}

/// An appcmd failure: the Win32 code and the message inside `ERROR ( … )`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppcmdError {
    pub code: i32,
    pub message: String,
}

impl AppcmdError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        AppcmdError {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(kind: &str, id: &str) -> Self {
        Self::new(
            code::NOT_FOUND,
            format!("Cannot find {kind} object with identifier \"{id}\"."),
        )
    }

    /// What appcmd prints.
    pub fn render(&self) -> String {
        if self.message.starts_with("Object '") {
            return format!("{}\n", self.message);
        }
        format!("ERROR ( message:{} )\n", self.message)
    }
}

/// The verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    List,
    Add,
    Set,
    Delete,
    Restore,
}

/// The object types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Site,
    App,
    Vdir,
    AppPool,
    Config,
    Backup,
}

impl Object {
    /// The word appcmd prints (`SITE`, `APP`, …).
    pub fn word(self) -> &'static str {
        match self {
            Object::Site => "SITE",
            Object::App => "APP",
            Object::Vdir => "VDIR",
            Object::AppPool => "APPPOOL",
            Object::Config => "CONFIG",
            Object::Backup => "BACKUP",
        }
    }
}

/// One parameter: `/name:value`, `-name:value`, `/flag`, or a collection
/// expression (`/+[…]`, `/-[…]`, `/[…].prop:value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Named { name: String, value: Option<String> },
    Add(String),
    Remove(String),
    SetPath(String),
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub verb: Verb,
    pub object: Object,
    pub id: Option<String>,
    pub params: Vec<Param>,
}

impl Invocation {
    /// The value of a named parameter (case-insensitive name).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find_map(|p| match p {
            Param::Named { name: n, value } if n.eq_ignore_ascii_case(name) => {
                Some(value.as_deref().unwrap_or(""))
            }
            _ => None,
        })
    }

    /// Whether a named parameter is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Parses appcmd's arguments (the program name excluded).
pub fn parse(args: &[String]) -> Result<Invocation, AppcmdError> {
    let mut it = args.iter();
    let usage = || {
        AppcmdError::new(code::INVALID_PARAMETER, "Command line is incomplete: use APPCMD (command) (object-type) <identifier> </parameter1:value1 ...>")
    };
    let verb_word = it.next().ok_or_else(usage)?;
    let verb = match verb_word.to_ascii_lowercase().as_str() {
        "list" => Verb::List,
        "add" => Verb::Add,
        "set" => Verb::Set,
        "delete" => Verb::Delete,
        "restore" => Verb::Restore,
        _ => {
            return Err(AppcmdError::new(
                code::INVALID_PARAMETER,
                format!(
                "Object '{}' is not supported.  Run 'appcmd.exe /?' to display supported objects.",
                verb_word.to_ascii_uppercase()
            ),
            ))
        }
    };
    let object_word = it.next().ok_or_else(usage)?;
    let object = match object_word.to_ascii_lowercase().as_str() {
        "site" | "sites" => Object::Site,
        "app" | "apps" => Object::App,
        "vdir" | "vdirs" => Object::Vdir,
        "apppool" | "apppools" => Object::AppPool,
        "config" | "configs" => Object::Config,
        "backup" | "backups" => Object::Backup,
        _ => {
            return Err(AppcmdError::new(
                code::INVALID_PARAMETER,
                format!(
                "Object '{}' is not supported.  Run 'appcmd.exe /?' to display supported objects.",
                object_word.to_ascii_uppercase()
            ),
            ))
        }
    };
    let mut id = None;
    let mut params = Vec::new();
    for a in it {
        let (lead, rest) = if let Some(c @ ('/' | '-')) = a.chars().next() {
            (c, &a[1..])
        } else {
            if id.is_none() {
                id = Some(a.clone());
                continue;
            }
            return Err(AppcmdError::new(
                code::INVALID_PARAMETER,
                format!("Unexpected parameter \"{a}\".  Replace with -? for help."),
            ));
        };
        let _ = lead;
        let p = if let Some(e) = rest.strip_prefix('+') {
            Param::Add(e.to_owned())
        } else if rest.starts_with('-') && rest.len() > 1 {
            Param::Remove(rest[1..].to_owned())
        } else if rest.starts_with('[') {
            Param::SetPath(rest.to_owned())
        } else {
            match rest.split_once(':') {
                Some((n, v)) => Param::Named {
                    name: n.to_owned(),
                    value: Some(v.to_owned()),
                },
                None => Param::Named {
                    name: rest.to_owned(),
                    value: None,
                },
            }
        };
        params.push(p);
    }
    Ok(Invocation {
        verb,
        object,
        id,
        params,
    })
}

/// What a run printed and returned, and whether the configuration changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub changed: bool,
}

/// Runs a parsed command against `host` (changed in place). Backups are the
/// caller's (they are files); `BACKUP` objects reach here only to be refused.
pub fn run(inv: &Invocation, host: &mut ApplicationHost) -> Outcome {
    let result = match inv.object {
        Object::Config => config::run(inv, host),
        Object::Backup => Err(AppcmdError::new(
            code::INVALID_PARAMETER,
            "BACKUP objects are handled by the file layer",
        )),
        _ => objects::run(inv, host),
    };
    match result {
        Ok((stdout, changed)) => Outcome {
            code: 0,
            stdout,
            changed,
        },
        Err(e) if e.code == code::NOTHING_FOUND && e.message.is_empty() => Outcome {
            code: e.code,
            stdout: String::new(),
            changed: false,
        },
        Err(e) => Outcome {
            code: e.code,
            stdout: e.render(),
            changed: false,
        },
    }
}
