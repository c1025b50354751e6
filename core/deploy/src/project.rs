//! The project's metadata: `pyproject.toml` `[project]` (PEP 621) and
//! `[tool.iiswsgi]` for what PEP 621 lacks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::error::{read_text, DeployError};

#[derive(Debug, Clone, Default, Deserialize)]
struct Pyproject {
    project: Option<ProjectTable>,
    tool: Option<ToolTable>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ToolTable {
    iiswsgi: Option<Tool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ProjectTable {
    name: Option<toml::Spanned<String>>,
    version: Option<toml::Spanned<String>>,
    description: Option<String>,
    readme: Option<Readme>,
    #[serde(default)]
    authors: Vec<Person>,
    #[serde(default)]
    urls: BTreeMap<String, String>,
    license: Option<License>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    dynamic: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Readme {
    Path(String),
    Table {
        file: Option<String>,
        text: Option<String>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum License {
    Spdx(String),
    Table {
        text: Option<String>,
        file: Option<String>,
    },
}

/// An author (`[project] authors`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Person {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// `[tool.iiswsgi]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub title: Option<String>,
    pub author_url: Option<String>,
    pub license_url: Option<String>,
    pub display_url: Option<String>,
    pub help_url: Option<String>,
    /// A TOML date or a string (`WebPI`'s `published`).
    #[serde(default, deserialize_with = "string_or_datetime")]
    pub published: Option<String>,
    pub icon_url: Option<String>,
    pub screenshot_url: Option<String>,
    /// A file whose presence tells `WebPI` the product is installed (`<discoveryHint>`).
    pub discovery_file: Option<String>,
    pub msdeploy_url_template: Option<String>,
    /// The page `WebPI` opens after the install (`<msDeploy><startPage>`).
    pub start_page: Option<String>,
    /// `WebPI` productIds the package depends on, besides `WDeploy`.
    #[serde(default, rename = "webpi-dependencies", alias = "webpi_dependencies")]
    pub webpi_dependencies: Vec<String>,
    /// `WebPI` productIds offered with the package.
    #[serde(default, rename = "webpi-related", alias = "webpi_related")]
    pub webpi_related: Vec<String>,
    /// Globs of files to add to the package's defaults.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs of files to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Build-machine environment variables `Manifest.xml.in` may use, besides
    /// the ones iiswsgi defines (`DIST_NAME`).
    #[serde(default, rename = "expand-env", alias = "expand_env")]
    pub expand_env: Vec<String>,
    /// `[tool.iiswsgi.install]`: commands the installer runs around its steps.
    #[serde(default)]
    pub install: InstallHooks,
}

/// `[tool.iiswsgi.install]`: commands run in the application's virtualenv, in
/// its folder, with the install's environment (and `APPL_PHYSICAL_PATH`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallHooks {
    /// Before web.config is written (after the dependencies are installed).
    #[serde(default)]
    pub before: Vec<String>,
    /// After the `FastCGI` registration and before the smoke test (a database
    /// migration, collecting static files).
    #[serde(default)]
    pub after: Vec<String>,
}

/// Everything the packager needs to know about a project.
#[derive(Debug, Clone)]
pub struct Project {
    pub dir: PathBuf,
    /// A valid PEP 508 name.
    pub name: String,
    /// A valid PEP 440 version, as written.
    pub version: String,
    /// Its normalised form, used in file names.
    pub normalized_version: String,
    pub description: Option<String>,
    /// The readme's text (from its file or inline).
    pub long_description: Option<String>,
    pub authors: Vec<Person>,
    pub urls: BTreeMap<String, String>,
    pub license: Option<String>,
    pub keywords: Vec<String>,
    pub tool: Tool,
}

impl Project {
    /// Reads `DIR/pyproject.toml`.
    pub fn load(dir: &Path) -> Result<Project, DeployError> {
        let path = dir.join("pyproject.toml");
        if !path.is_file() {
            return Err(DeployError::file(
                &path,
                "not found",
                "run the command in (or give it) the folder of a Python project with a pyproject.toml",
            ));
        }
        let text = read_text(&path)?;
        let doc: Pyproject = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| crate::error::line_of(&text, s.start))
                .unwrap_or(1);
            DeployError::at(
                &path,
                line,
                e.message().to_string(),
                "fix the TOML (see [project] in PEP 621 and [tool.iiswsgi] in the README)",
            )
        })?;
        let p = doc.project.ok_or_else(|| {
            DeployError::file(
                &path,
                "has no [project] table",
                "add [project] with at least name and version (PEP 621)",
            )
        })?;
        let (name, version, normalized_version) =
            name_and_version(&path, &text, p.name, p.version, &p.dynamic)?;
        let long_description = match p.readme {
            Some(Readme::Path(f) | Readme::Table { file: Some(f), .. }) => {
                Some(read_text(&inside(dir, &path, &f)?)?)
            }
            Some(Readme::Table { text: Some(t), .. }) => Some(t),
            _ => None,
        };
        let license = match p.license {
            Some(License::Spdx(s)) => Some(s),
            Some(License::Table { text: Some(t), .. }) => Some(t),
            Some(License::Table { file: Some(f), .. }) => Some(f),
            _ => None,
        };
        Ok(Project {
            dir: dir.to_path_buf(),
            name,
            version,
            normalized_version,
            description: p.description,
            long_description,
            authors: p.authors,
            urls: p.urls,
            license,
            keywords: p.keywords,
            tool: doc.tool.and_then(|t| t.iiswsgi).unwrap_or_default(),
        })
    }

    /// The project's home page: `urls` Homepage (any case), else the first URL.
    pub fn home_url(&self) -> Option<String> {
        self.urls
            .iter()
            .find(|(k, _)| {
                k.eq_ignore_ascii_case("homepage") || k.eq_ignore_ascii_case("home-page")
            })
            .or_else(|| self.urls.iter().next())
            .map(|(_, v)| v.clone())
    }

    /// `<name>-<version>` in their normalised forms: the stem of the package
    /// and feed files.
    pub fn stem(&self) -> String {
        format!(
            "{}-{}",
            crate::names::file_name_part(&self.name),
            self.normalized_version
        )
    }

    pub fn package_file_name(&self) -> String {
        format!("{}.msdeploy.zip", self.stem())
    }

    pub fn feed_file_name(&self) -> String {
        format!("{}.webpi.xml", self.stem())
    }
}

/// The project file `rel` (the readme), which must resolve inside `dir`: its
/// text goes into the feed.
fn inside(dir: &Path, pyproject: &Path, rel: &str) -> Result<PathBuf, DeployError> {
    let path = dir.join(rel);
    let resolved = path
        .canonicalize()
        .map_err(|e| DeployError::read(&path, e))?;
    let root = dir.canonicalize().map_err(|e| DeployError::read(dir, e))?;
    if !resolved.starts_with(&root) {
        return Err(DeployError::file(
            pyproject,
            format!(
                "[project] readme {rel:?} resolves to {}, outside the project",
                resolved.display()
            ),
            "name a file inside the project folder",
        ));
    }
    Ok(resolved)
}

/// `[project] name` and `version`, checked: present, a PEP 508 name and a
/// PEP 440 version.
fn name_and_version(
    path: &Path,
    text: &str,
    name: Option<toml::Spanned<String>>,
    version: Option<toml::Spanned<String>>,
    dynamic: &[String],
) -> Result<(String, String, String), DeployError> {
    let line = |s: &toml::Spanned<String>| crate::error::line_of(text, s.span().start);
    let name = name
        .filter(|n| !n.get_ref().trim().is_empty())
        .ok_or_else(|| {
            DeployError::file(
                path,
                "[project] has no name",
                "add name = \"...\" to [project]",
            )
        })?;
    if !crate::names::is_valid_name(name.get_ref()) {
        return Err(DeployError::at(
            path,
            line(&name),
            format!("[project] name {:?} is not a valid PEP 508 name", name.get_ref()),
            "use ASCII letters, digits and . _ - only, starting and ending with a letter or digit (it names the package file and the application folder)",
        ));
    }
    let version = match version {
        Some(v) if !v.get_ref().trim().is_empty() => v,
        _ => {
            let hint = if dynamic.iter().any(|d| d == "version") {
                "the package and feed need the version: set a static version = \"...\" in [project]"
            } else {
                "add version = \"...\" to [project]"
            };
            return Err(DeployError::file(path, "[project] has no version", hint));
        }
    };
    let normalized = crate::names::normalize_version(version.get_ref()).map_err(|why| {
        DeployError::at(
            path,
            line(&version),
            format!(
                "[project] version {:?} is not a valid PEP 440 version: {why}",
                version.get_ref()
            ),
            "use a version such as 1.0, 1.0.post1, 2.0rc1 or 1!2.0.dev3 (PEP 440)",
        )
    })?;
    Ok((name.into_inner(), version.into_inner(), normalized))
}

fn string_or_datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<toml::Value> = Option::deserialize(d)?;
    Ok(v.map(|v| match v {
        toml::Value::String(s) => s,
        other => other.to_string(),
    }))
}
