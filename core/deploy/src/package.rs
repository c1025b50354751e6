//! `iiswsgi package`: `Manifest.xml` and `iis_install.stamp` from their
//! templates, then the Web Deploy package zip, reproducibly.
//!
//! The zip holds `Manifest.xml` and `Parameters.xml` at its root and the
//! application's files under the folder named by `<iisApp path>`. Entries are
//! sorted, dated 1980-01-01 00:00 and marked 0644, so the same inputs give the
//! same bytes whatever the files' mtimes. It is written to a temporary file in
//! the dist folder and renamed into place only when complete.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha1::Digest as _;

use crate::error::{read_text, DeployError};
use crate::expand::expand;
use crate::project::Project;
use crate::{files, manifest, parameters, webconfig};

pub const MANIFEST_IN: &str = "Manifest.xml.in";
pub const MANIFEST: &str = "Manifest.xml";
pub const PARAMETERS: &str = "Parameters.xml";
pub const WEB_CONFIG_IN: &str = "web.config.in";
pub const STAMP_IN: &str = "iis_install.stamp.in";
pub const STAMP: &str = "iis_install.stamp";

/// What `package` made.
#[derive(Debug, Clone, Serialize)]
pub struct Packaged {
    pub name: String,
    pub version: String,
    pub zip: PathBuf,
    pub manifest: PathBuf,
    pub iis_app_path: String,
    /// Entries of the zip, in order.
    pub entries: Vec<String>,
    pub size: u64,
    pub sha1: String,
    pub warnings: Vec<String>,
}

/// The dist folder: `dist_dir` or `DIR/dist`.
pub fn dist_dir(dir: &Path, dist_dir: Option<&Path>) -> PathBuf {
    dist_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join("dist"))
}

/// The variables a template may use at build time: the project's own,
/// nothing from the machine that builds the package.
pub fn build_variables(project: &Project) -> Vec<(String, String)> {
    vec![("DIST_NAME".into(), project.name.clone())]
}

/// Expands a template with [`build_variables`]; quote warnings go to
/// `warnings`.
///
/// Every other reference (`%SystemDrive%`, `%windir%`, `%APPL_PHYSICAL_PATH%`,
/// …) is left as written: it names something on the machine that installs
/// the package (Web Deploy runs `runCommand` through `cmd.exe` there, IIS
/// expands `web.config`'s), so the same project gives the same package on
/// any build machine. iiswsgi 0.3 expanded the build machine's environment.
pub fn expand_template(
    project: &Project,
    file: &Path,
    warnings: &mut Vec<String>,
) -> Result<String, DeployError> {
    let text = read_text(file)?;
    let vars = build_variables(project);
    let lookup = |name: &str| {
        vars.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let e = expand(&text, &lookup);
    for line in e.quote_warnings {
        warnings.push(format!(
            "{}:{line}: a variable here sits after an unclosed single quote; iiswsgi 0.3 left such text unexpanded, iiswsgi expands it",
            file.display()
        ));
    }
    Ok(e.text)
}

/// Everything `package` checks before writing: the compiled manifest, the
/// parameters, web.config.in, the file list.
pub struct Plan {
    pub project: Project,
    pub manifest: manifest::Manifest,
    pub parameters: Vec<u8>,
    pub stamp: Option<Vec<u8>>,
    pub files: Vec<String>,
    pub warnings: Vec<String>,
    pub dist: PathBuf,
}

pub fn plan(dir: &Path, dist: Option<&Path>) -> Result<Plan, DeployError> {
    let project = Project::load(dir)?;
    let mut warnings = Vec::new();
    let manifest_in = dir.join(MANIFEST_IN);
    if !manifest_in.is_file() {
        return Err(DeployError::file(
            &manifest_in,
            "not found",
            "run `iiswsgi init` to write the templates, then adjust them",
        ));
    }
    let expanded = expand_template(&project, &manifest_in, &mut warnings)?;
    let manifest = manifest::compile(&manifest_in, &expanded)?;
    let params_path = dir.join(PARAMETERS);
    if !params_path.is_file() {
        return Err(DeployError::file(
            &params_path,
            "not found",
            "run `iiswsgi init` to write one, or add a Parameters.xml with an iisApp parameter",
        ));
    }
    let params_text = read_text(&params_path)?;
    let params = parameters::parse(&params_path, &params_text)?;
    parameters::validate(&params_path, &params, &manifest.iis_app_path)?;
    let web_config_in = dir.join(WEB_CONFIG_IN);
    if web_config_in.is_file() {
        let text = expand_template(&project, &web_config_in, &mut warnings)?;
        webconfig::validate(&web_config_in, &text)?;
    }
    let stamp_in = dir.join(STAMP_IN);
    let stamp = if stamp_in.is_file() {
        Some(std::fs::read(&stamp_in).map_err(|e| DeployError::read(&stamp_in, e))?)
    } else {
        None
    };
    let dist = dist_dir(dir, dist);
    let mut files = files::select(
        dir,
        &project.tool.include,
        &project.tool.exclude,
        Some(&dist),
    )?;
    if stamp.is_some() {
        files.retain(|f| f != STAMP);
    }
    Ok(Plan {
        project,
        manifest,
        parameters: params_text.into_bytes(),
        stamp,
        files,
        warnings,
        dist,
    })
}

/// Writes `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DeployError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| DeployError::write(path, e))?;
    tmp.write_all(bytes)
        .map_err(|e| DeployError::write(path, e))?;
    // Temporary files are private (0600); what is written here is for sharing.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| DeployError::write(path, e))?;
    }
    tmp.persist(path)
        .map_err(|e| DeployError::write(path, e.error))?;
    Ok(())
}

/// Builds the package of the project in `dir`.
pub fn package(
    dir: &Path,
    dist: Option<&Path>,
    progress: &mut dyn FnMut(&str),
) -> Result<Packaged, DeployError> {
    progress(&format!("reading {}", dir.join("pyproject.toml").display()));
    let plan = plan(dir, dist)?;
    for w in &plan.warnings {
        progress(&format!("warning: {w}"));
    }
    let manifest_path = dir.join(MANIFEST);
    progress(&format!("writing {}", manifest_path.display()));
    write_atomic(&manifest_path, plan.manifest.xml.as_bytes())?;
    if let Some(stamp) = &plan.stamp {
        let p = dir.join(STAMP);
        progress(&format!("writing {}", p.display()));
        write_atomic(&p, stamp)?;
    }
    std::fs::create_dir_all(&plan.dist).map_err(|e| DeployError::write(&plan.dist, e))?;
    let zip_path = plan.dist.join(plan.project.package_file_name());
    progress(&format!(
        "packaging {} files into {}",
        plan.files.len() + 2,
        zip_path.display()
    ));

    let app = plan
        .manifest
        .iis_app_path
        .trim_end_matches(['/', '\\'])
        .replace('\\', "/");
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        (MANIFEST.into(), plan.manifest.xml.clone().into_bytes()),
        (PARAMETERS.into(), plan.parameters.clone()),
    ];
    let mut app_entries: Vec<(String, Vec<u8>)> = Vec::new();
    for rel in &plan.files {
        let p = dir.join(rel);
        let bytes = std::fs::read(&p).map_err(|e| DeployError::read(&p, e))?;
        app_entries.push((format!("{app}/{rel}"), bytes));
    }
    if let Some(stamp) = &plan.stamp {
        app_entries.push((format!("{app}/{STAMP}"), stamp.clone()));
    }
    app_entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.extend(app_entries);

    let bytes =
        write_zip(&entries).map_err(|e| DeployError::write(&zip_path, std::io::Error::other(e)))?;
    write_atomic(&zip_path, &bytes)?;
    let sha1 = hex(&sha1::Sha1::digest(&bytes));
    Ok(Packaged {
        name: plan.project.name.clone(),
        version: plan.project.version.clone(),
        zip: zip_path,
        manifest: manifest_path,
        iis_app_path: plan.manifest.iis_app_path.clone(),
        entries: entries.into_iter().map(|(n, _)| n).collect(),
        size: bytes.len() as u64,
        sha1,
        warnings: plan.warnings,
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A deflated zip of `entries` in the given order, with fixed dates and modes.
fn write_zip(entries: &[(String, Vec<u8>)]) -> zip::result::ZipResult<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
        .large_file(false);
    for (name, data) in entries {
        let opts = if data.len() >= 0xFFFF_FFFF {
            options.large_file(true)
        } else {
            options
        };
        w.start_file(name.as_str(), opts)?;
        w.write_all(data)?;
    }
    Ok(w.finish()?.into_inner())
}
