//! `Manifest.xml` from `Manifest.xml.in`: validated (exactly one `iisApp`, a
//! `path` on every `runCommand`), and each `runCommand`'s settings moved into
//! `MSDeploy.MSDeployProviderOptions`, where Web Deploy reads them.

use std::path::Path;

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesStart, Event};
use quick_xml::{Reader, Writer};

use crate::error::{line_of, DeployError};
use crate::provider_options::ProviderOptions;

const KEY_ATTR: &str = "MSDeploy.MSDeployKeyAttributeName";
const OPTIONS_ATTR: &str = "MSDeploy.MSDeployProviderOptions";

/// The compiled manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub xml: String,
    /// `<iisApp path>`: the folder of the application inside the package.
    pub iis_app_path: String,
    pub run_commands: Vec<ProviderOptions>,
}

fn xml_error(file: &Path, text: &str, pos: usize, e: impl std::fmt::Display) -> DeployError {
    DeployError::at(
        file,
        line_of(text, pos),
        format!("not well-formed XML: {e}"),
        "fix the XML",
    )
}

/// Attributes of an element, values normalised as an XML parser reads them.
fn attributes(
    file: &Path,
    text: &str,
    pos: usize,
    e: &BytesStart<'_>,
) -> Result<Vec<(String, String)>, DeployError> {
    let attrs = crate::xmlcheck::attributes(file, text, pos, e)?;
    Ok(attrs
        .into_iter()
        .map(|(k, v)| (k, crate::xmlcheck::normalize_attr(&v)))
        .collect())
}

/// The `path` of an `<iisApp>` at `line`.
fn iis_app(file: &Path, line: usize, attrs: &[(String, String)]) -> Result<String, DeployError> {
    let path = attrs
        .iter()
        .find(|(k, _)| k == "path")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if path.trim().is_empty() {
        return Err(DeployError::at(
            file,
            line,
            "<iisApp> has no path",
            "give it path=\"%DIST_NAME%\": the folder of the application inside the package",
        ));
    }
    Ok(path)
}

/// A `<runCommand>` with its settings moved into `MSDeploy.MSDeployProviderOptions`.
fn run_command(
    file: &Path,
    line: usize,
    name: &str,
    attrs: &[(String, String)],
) -> Result<(BytesStart<'static>, ProviderOptions), DeployError> {
    let Some(path) = attrs
        .iter()
        .find(|(k, _)| k == "path")
        .map(|(_, v)| v.clone())
    else {
        return Err(DeployError::at(
            file,
            line,
            "<runCommand> has no path",
            "give it path=\"<the command line to run>\"",
        ));
    };
    let settings: Vec<(String, String)> = attrs
        .iter()
        .filter(|(k, _)| k != "path" && !k.starts_with("MSDeploy."))
        .cloned()
        .collect();
    let options = ProviderOptions {
        provider: "runCommand".into(),
        path: path.clone(),
        settings,
    };
    let mut el = BytesStart::new(name.to_string());
    el.push_attribute(("path", path.as_str()));
    for (k, v) in attrs
        .iter()
        .filter(|(k, _)| k.starts_with("MSDeploy.") && k != OPTIONS_ATTR)
    {
        el.push_attribute(Attribute::from((k.as_str(), v.as_str())));
    }
    if !attrs.iter().any(|(k, _)| k == KEY_ATTR) {
        el.push_attribute((KEY_ATTR, "path"));
    }
    el.push_attribute((OPTIONS_ATTR, options.to_attribute().as_str()));
    Ok((el, options))
}

/// The one `<iisApp path>` of the manifest (each found with its line).
fn the_iis_app(file: &Path, iis_apps: &[(String, usize)]) -> Result<String, DeployError> {
    match iis_apps {
        [(p, _)] => Ok(p.clone()),
        [] => Err(DeployError::file(
            file,
            "has no <iisApp path=\"...\"/> provider",
            "add exactly one <iisApp path=\"%DIST_NAME%\" /> under the root element",
        )),
        [_, (_, line), ..] => Err(DeployError::at(
            file,
            *line,
            format!("{} <iisApp> providers", iis_apps.len()),
            "a package installs one application: keep exactly one <iisApp>",
        )),
    }
}

/// Compiles the expanded text of `Manifest.xml.in` (`file` names it in errors).
pub fn compile(file: &Path, text: &str) -> Result<Manifest, DeployError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut writer = Writer::new(Vec::new());
    let mut depth = 0usize;
    let mut iis_apps: Vec<(String, usize)> = Vec::new();
    let mut run_commands = Vec::new();
    let mut saw_decl = false;
    let mut root_seen = false;
    let mut checker = crate::xmlcheck::Checker::default();
    loop {
        let (pos, event) = checker.next(&mut reader, file, text)?;
        let (start, empty) = match &event {
            Event::Eof => break,
            Event::Start(s) => (s.clone(), false),
            Event::Empty(s) => (s.clone(), true),
            other => {
                match other {
                    Event::Decl(_) => saw_decl = true,
                    Event::End(_) => depth = depth.saturating_sub(1),
                    _ => {}
                }
                writer
                    .write_event(event.borrow())
                    .map_err(|e| xml_error(file, text, pos, e))?;
                continue;
            }
        };
        if depth == 0 {
            if root_seen {
                return Err(DeployError::at(
                    file,
                    line_of(text, pos),
                    "a second root element",
                    "a manifest has one root element (e.g. <msDeploy.iisApp>) holding the providers",
                ));
            }
            root_seen = true;
        }
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        let out_event = if depth == 1 && name.eq_ignore_ascii_case("iisApp") {
            let attrs = attributes(file, text, pos, &start)?;
            iis_apps.push((
                iis_app(file, line_of(text, pos), &attrs)?,
                line_of(text, pos),
            ));
            None
        } else if depth == 1 && name.eq_ignore_ascii_case("runCommand") {
            let attrs = attributes(file, text, pos, &start)?;
            let (el, options) = run_command(file, line_of(text, pos), &name, &attrs)?;
            run_commands.push(options);
            Some(if empty {
                Event::Empty(el)
            } else {
                Event::Start(el)
            })
        } else {
            None
        };
        match out_event {
            Some(ev) => writer.write_event(ev),
            None => writer.write_event(event.borrow()),
        }
        .map_err(|e| xml_error(file, text, pos, e))?;
        if !empty {
            depth += 1;
        }
    }
    if depth != 0 {
        return Err(DeployError::at(
            file,
            line_of(text, text.len()),
            "the root element is not closed",
            "close every element",
        ));
    }
    let iis_app_path = the_iis_app(file, &iis_apps)?;
    check_app_path(file, &iis_app_path)?;
    let mut xml = Vec::new();
    if !saw_decl {
        let mut w = Writer::new(&mut xml);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
            .map_err(|e| xml_error(file, text, 0, e))?;
        xml.push(b'\n');
    }
    xml.extend_from_slice(&writer.into_inner());
    Ok(Manifest {
        xml: String::from_utf8_lossy(&xml).into_owned(),
        iis_app_path,
        run_commands,
    })
}

/// The `<iisApp path>` becomes a folder in the zip: relative, each folder
/// name one that a Web Deploy zip can hold (no `..`, no drive, no name
/// Windows reserves).
fn check_app_path(file: &Path, path: &str) -> Result<(), DeployError> {
    let trimmed = path.trim_end_matches(['/', '\\']);
    let problem = if path.starts_with(['/', '\\']) {
        Some((path, "an absolute path"))
    } else {
        trimmed
            .split(['/', '\\'])
            .find_map(|c| crate::zipname::component_problem(c).map(|why| (c, why)))
    };
    match problem {
        Some((name, why)) => Err(DeployError::file(
            file,
            format!("<iisApp path=\"{path}\"> is not a relative folder name: \"{name}\" has {why}"),
            "use a plain folder name such as %DIST_NAME% (the project name)",
        )),
        None => Ok(()),
    }
}

/// The `<iisApp path>` of a built `Manifest.xml`.
pub fn iis_app_path(file: &Path, text: &str) -> Result<String, DeployError> {
    compile(file, text).map(|m| m.iis_app_path)
}
