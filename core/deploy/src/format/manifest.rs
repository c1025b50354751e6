//! A Web App Gallery `Manifest.xml`: a root element (any name:
//! `msDeploy.iisApp`, `msdeploy.iisapp`, `sitemanifest`, …) whose child
//! elements are provider invocations, in order. Exactly one is `iisApp`.
//!
//! Provider names are matched in any case, as Web Deploy does, and written
//! in their documented case. `runCommand` settings live either as plain
//! attributes (a template) or in `MSDeploy.MSDeployProviderOptions` (a
//! built manifest: the only place Web Deploy reads them from);
//! [`RunCommand::compiled`] moves them there.

use std::path::Path;

use super::provider_options::ProviderOptions;
use super::{invalid, invalid_file, Attrs, FormatError, Generic, Line};

pub const KEY_ATTR: &str = "MSDeploy.MSDeployKeyAttributeName";
pub const OPTIONS_ATTR: &str = "MSDeploy.MSDeployProviderOptions";

/// A manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The root element's name, as written.
    pub root: String,
    pub providers: Vec<Provider>,
}

/// One provider invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// `<iisApp path>`: the folder of the application inside the package.
    IisApp(Keyed),
    RunCommand(RunCommand),
    SetAcl(SetAcl),
    /// `<alias from to>`: a copy of a package file under another name.
    Alias {
        from: String,
        to: String,
        line: Line,
    },
    /// `<createApp path …>`.
    CreateApp(Keyed),
    /// `<dbFullSql path [transacted]>`: a SQL Server script in the package.
    DbFullSql(Keyed),
    /// `<dbMySql path [commandDelimiter removeCommandDelimiter …]>`.
    DbMySql(Keyed),
    /// Any other provider (or a known one with child elements), kept as read.
    Other(Generic),
}

/// A provider keyed by `path`, with its other attributes in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyed {
    pub path: String,
    pub attrs: Attrs,
    pub line: Line,
}

/// `<runCommand>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCommand {
    /// The command line.
    pub path: String,
    /// Settings written as plain attributes (`waitAttempts`, `waitInterval`,
    /// `successReturnCodes`, `dontUseCommandExe`, …), in order.
    pub settings: Attrs,
    /// `MSDeploy.MSDeployKeyAttributeName` (`path`).
    pub key_attribute: Option<String>,
    /// The decoded `MSDeploy.MSDeployProviderOptions`.
    pub options: Option<ProviderOptions>,
    /// Other `MSDeploy.*` attributes, in order.
    pub msdeploy: Attrs,
    pub line: Line,
}

/// `<setAcl>`: access rights on a package folder or file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetAcl {
    /// Package-relative path (`wordpress/wp-content`).
    pub path: String,
    /// `setAclAccess`: `FileSystemRights` names (`Modify`, `Read, Write`).
    pub access: Option<String>,
    /// `setAclUser`: `anonymousAuthenticationUser`, or the pool identity when absent.
    pub user: Option<String>,
    /// `setAclResourceType`: `File` or `Directory`.
    pub resource_type: Option<String>,
    /// Other attributes, in order.
    pub attrs: Attrs,
    pub line: Line,
}

impl RunCommand {
    /// The settings moved into `MSDeploy.MSDeployProviderOptions` (after any
    /// already there) and `MSDeploy.MSDeployKeyAttributeName` set: what Web
    /// Deploy needs to honour them from a package.
    #[must_use]
    pub fn compiled(&self) -> RunCommand {
        let mut settings = self
            .options
            .as_ref()
            .map(|o| o.settings.clone())
            .unwrap_or_default();
        settings.extend(self.settings.iter().cloned());
        RunCommand {
            path: self.path.clone(),
            settings: Vec::new(),
            key_attribute: Some(self.key_attribute.clone().unwrap_or_else(|| "path".into())),
            options: Some(ProviderOptions {
                provider: "runCommand".into(),
                path: self.path.clone(),
                settings,
            }),
            msdeploy: self.msdeploy.clone(),
            line: self.line,
        }
    }

    /// The attributes in the order they are written.
    pub fn attributes(&self) -> Attrs {
        let mut out = vec![("path".to_owned(), self.path.clone())];
        out.extend(self.settings.iter().cloned());
        out.extend(self.msdeploy.iter().cloned());
        if let Some(k) = &self.key_attribute {
            out.push((KEY_ATTR.into(), k.clone()));
        }
        if let Some(o) = &self.options {
            out.push((OPTIONS_ATTR.into(), o.to_attribute()));
        }
        out
    }

    fn read(file: &Path, el: &Generic) -> Result<RunCommand, FormatError> {
        let mut rc = RunCommand {
            line: el.line,
            ..RunCommand::default()
        };
        let mut path = None;
        for (k, v) in &el.attrs {
            match k.as_str() {
                "path" => path = Some(v.clone()),
                KEY_ATTR => rc.key_attribute = Some(v.clone()),
                OPTIONS_ATTR => {
                    let o = ProviderOptions::from_attribute(v).map_err(|e| {
                        invalid(
                            file,
                            el.line,
                            format!("<runCommand>: {e}"),
                            "remove the attribute and build the manifest again (iiswsgi package writes it)",
                        )
                    })?;
                    rc.options = Some(o);
                }
                k if k.starts_with("MSDeploy.") => rc.msdeploy.push((k.into(), v.clone())),
                _ => rc.settings.push((k.clone(), v.clone())),
            }
        }
        rc.path = path.ok_or_else(|| {
            invalid(
                file,
                el.line,
                "<runCommand> has no path",
                "give it path=\"<the command line to run>\"",
            )
        })?;
        Ok(rc)
    }
}

/// The provider names of the typed variants, as documented.
const NAMES: [&str; 7] = [
    "iisApp",
    "runCommand",
    "setAcl",
    "alias",
    "createApp",
    "dbFullSql",
    "dbMySql",
];

fn keyed(file: &Path, el: &Generic) -> Result<Keyed, FormatError> {
    let path = el.get("path").ok_or_else(|| {
        invalid(
            file,
            el.line,
            format!("<{}> has no path", el.name),
            "give the provider a path=\"...\" attribute",
        )
    })?;
    Ok(Keyed {
        path: path.to_owned(),
        attrs: el
            .attrs
            .iter()
            .filter(|(k, _)| k != "path")
            .cloned()
            .collect(),
        line: el.line,
    })
}

fn set_acl(file: &Path, el: &Generic) -> Result<SetAcl, FormatError> {
    let k = keyed(file, el)?;
    let mut acl = SetAcl {
        path: k.path,
        line: k.line,
        ..SetAcl::default()
    };
    for (name, v) in k.attrs {
        match name.as_str() {
            "setAclAccess" => acl.access = Some(v),
            "setAclUser" => acl.user = Some(v),
            "setAclResourceType" => acl.resource_type = Some(v),
            _ => acl.attrs.push((name, v)),
        }
    }
    Ok(acl)
}

impl Provider {
    fn read(file: &Path, el: &Generic) -> Result<Provider, FormatError> {
        let known = NAMES.iter().find(|n| n.eq_ignore_ascii_case(&el.name));
        let Some(&name) = known.filter(|_| el.children.is_empty()) else {
            return Ok(Provider::Other(el.clone()));
        };
        Ok(match name {
            "iisApp" => {
                let k = keyed(file, el)?;
                if k.path.trim().is_empty() {
                    return Err(invalid(
                        file,
                        el.line,
                        "<iisApp> has no path",
                        "give it path=\"%DIST_NAME%\": the folder of the application inside the package",
                    ));
                }
                Provider::IisApp(k)
            }
            "runCommand" => Provider::RunCommand(RunCommand::read(file, el)?),
            "setAcl" => Provider::SetAcl(set_acl(file, el)?),
            "alias" => {
                let (Some(from), Some(to)) = (el.get("from"), el.get("to")) else {
                    return Err(invalid(
                        file,
                        el.line,
                        "<alias> needs both from and to",
                        "write <alias from=\"app/original\" to=\"app/copy\" />",
                    ));
                };
                Provider::Alias {
                    from: from.to_owned(),
                    to: to.to_owned(),
                    line: el.line,
                }
            }
            "createApp" => Provider::CreateApp(keyed(file, el)?),
            "dbFullSql" => Provider::DbFullSql(keyed(file, el)?),
            _ => Provider::DbMySql(keyed(file, el)?),
        })
    }

    fn to_generic(&self) -> Generic {
        let with = |name: &str, path: &str, attrs: &Attrs| {
            let mut g = Generic::new(name).attr("path", path);
            g.attrs.extend(attrs.iter().cloned());
            g
        };
        match self {
            Provider::IisApp(k) => with("iisApp", &k.path, &k.attrs),
            Provider::RunCommand(rc) => Generic {
                attrs: rc.attributes(),
                ..Generic::new("runCommand")
            },
            Provider::SetAcl(a) => {
                let mut g = Generic::new("setAcl")
                    .attr("path", &a.path)
                    .attr_opt("setAclAccess", a.access.as_deref())
                    .attr_opt("setAclUser", a.user.as_deref())
                    .attr_opt("setAclResourceType", a.resource_type.as_deref());
                g.attrs.extend(a.attrs.iter().cloned());
                g
            }
            Provider::Alias { from, to, .. } => {
                Generic::new("alias").attr("from", from).attr("to", to)
            }
            Provider::CreateApp(k) => with("createApp", &k.path, &k.attrs),
            Provider::DbFullSql(k) => with("dbFullSql", &k.path, &k.attrs),
            Provider::DbMySql(k) => with("dbMySql", &k.path, &k.attrs),
            Provider::Other(g) => g.clone(),
        }
    }
}

impl Manifest {
    /// Reads a manifest; `file` names it in errors.
    pub fn from_xml(file: &Path, text: &str) -> Result<Manifest, FormatError> {
        let root = Generic::parse(file, text)?;
        let providers = root
            .children
            .iter()
            .map(|el| Provider::read(file, el))
            .collect::<Result<Vec<_>, _>>()?;
        let apps: Vec<&Keyed> = providers
            .iter()
            .filter_map(|p| match p {
                Provider::IisApp(k) => Some(k),
                _ => None,
            })
            .collect();
        match apps.as_slice() {
            [_] => {}
            [] => {
                return Err(invalid_file(
                    file,
                    "has no <iisApp path=\"...\"/> provider",
                    "add exactly one <iisApp path=\"%DIST_NAME%\" /> under the root element",
                ))
            }
            [_, second, ..] => {
                return Err(invalid(
                    file,
                    second.line,
                    format!("{} <iisApp> providers", apps.len()),
                    "a package installs one application: keep exactly one <iisApp>",
                ))
            }
        }
        Ok(Manifest {
            root: root.name,
            providers,
        })
    }

    /// The manifest as XML.
    pub fn to_xml(&self) -> String {
        Generic {
            children: self.providers.iter().map(Provider::to_generic).collect(),
            ..Generic::new(&self.root)
        }
        .to_document()
    }

    /// The `<iisApp path>` (a read manifest has exactly one).
    pub fn iis_app_path(&self) -> Option<&str> {
        self.providers.iter().find_map(|p| match p {
            Provider::IisApp(k) => Some(k.path.as_str()),
            _ => None,
        })
    }

    pub fn run_commands(&self) -> impl Iterator<Item = &RunCommand> {
        self.providers.iter().filter_map(|p| match p {
            Provider::RunCommand(rc) => Some(rc),
            _ => None,
        })
    }

    /// The manifest with every runCommand [compiled](RunCommand::compiled).
    #[must_use]
    pub fn compiled(&self) -> Manifest {
        Manifest {
            root: self.root.clone(),
            providers: self
                .providers
                .iter()
                .map(|p| match p {
                    Provider::RunCommand(rc) => Provider::RunCommand(rc.compiled()),
                    other => other.clone(),
                })
                .collect(),
        }
    }
}
