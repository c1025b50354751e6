//! `Manifest.xml` from `Manifest.xml.in`: read and validated as a
//! [`format::manifest::Manifest`](crate::format::manifest::Manifest)
//! (exactly one `iisApp`, a `path` on every `runCommand`), and each
//! `runCommand`'s settings moved into `MSDeploy.MSDeployProviderOptions`,
//! where Web Deploy reads them. The rest of the template (comments, layout)
//! is kept as written.

use std::fmt::Write as _;
use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{line_of, DeployError};
use crate::format::escape_attr;
use crate::format::manifest::{Manifest as Model, Provider, RunCommand};
use crate::provider_options::ProviderOptions;

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

/// The start tag of a compiled runCommand (`/>` closes an empty one).
fn run_command_tag(name: &str, rc: &RunCommand, empty: bool) -> String {
    let mut tag = format!("<{name}");
    for (k, v) in rc.attributes() {
        // Writing to a String cannot fail.
        let _ = write!(tag, " {k}=\"{}\"", escape_attr(&v));
    }
    tag.push_str(if empty { "/>" } else { ">" });
    tag
}

/// Compiles the expanded text of `Manifest.xml.in` (`file` names it in errors).
pub fn compile(file: &Path, text: &str) -> Result<Manifest, DeployError> {
    let model = Model::from_xml(file, text)?;
    let iis_app_path = model.iis_app_path().unwrap_or_default().to_owned();
    check_app_path(file, &iis_app_path)?;
    // One item per <runCommand> in document order; `None` for one kept as
    // read (a runCommand with child elements is not a provider invocation).
    let compiled: Vec<Option<RunCommand>> = model
        .providers
        .iter()
        .filter_map(|p| match p {
            Provider::RunCommand(rc) => Some(Some(rc.compiled())),
            Provider::Other(g) if g.name.eq_ignore_ascii_case("runCommand") => Some(None),
            _ => None,
        })
        .collect();
    let mut runs = compiled.iter();
    // The text was checked by `from_xml`: this walk only finds the tags to
    // replace. A byte-order mark is dropped (positions count without it).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut out = String::with_capacity(text.len() + 512);
    let mut depth = 0usize;
    let mut copied = 0usize;
    let mut saw_decl = false;
    loop {
        let start = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader
            .read_event()
            .map_err(|e| xml_error(file, text, start, e))?;
        let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let (tag, empty) = match event {
            Event::Eof => break,
            Event::Decl(_) => {
                saw_decl = true;
                continue;
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                continue;
            }
            Event::Start(t) => (t, false),
            Event::Empty(t) => (t, true),
            _ => continue,
        };
        let name = String::from_utf8_lossy(tag.name().as_ref()).into_owned();
        if depth == 1 && name.eq_ignore_ascii_case("runCommand") {
            if let Some(Some(rc)) = runs.next() {
                out.push_str(text.get(copied..start).unwrap_or_default());
                out.push_str(&run_command_tag(&name, rc, empty));
                copied = end;
            }
        }
        if !empty {
            depth += 1;
        }
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    if !saw_decl {
        out.insert_str(0, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    }
    Ok(Manifest {
        xml: out,
        iis_app_path,
        run_commands: compiled
            .into_iter()
            .filter_map(|rc| rc.and_then(|rc| rc.options))
            .collect(),
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
