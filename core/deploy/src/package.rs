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
use crate::expand::{expand, product_lookup, Expansion};
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

/// Expands a template with the variables iiswsgi defines (`DIST_NAME`) and
/// those the project lists in `[tool.iiswsgi] expand-env`; quote warnings go
/// to `warnings`. The expansion tells which references it left as they are.
pub fn expand_template(
    project: &Project,
    file: &Path,
    warnings: &mut Vec<String>,
) -> Result<Expansion, DeployError> {
    let text = read_text(file)?;
    let lookup = product_lookup(
        vec![("DIST_NAME".into(), project.name.clone())],
        &project.tool.expand_env,
    );
    let e = expand(&text, &lookup);
    for line in &e.quote_warnings {
        warnings.push(format!(
            "{}:{line}: a variable here sits after an unclosed single quote; iiswsgi 0.3 left such text unexpanded, iiswsgi expands it",
            file.display()
        ));
    }
    Ok(e)
}

/// Warnings for the references a template expanded at build time left as
/// they are: iiswsgi 0.3 took any build-machine variable, so a template
/// relying on that now carries the reference itself.
fn unexpanded_warnings(
    file: &Path,
    e: &Expansion,
    expand_env: &[String],
    warnings: &mut Vec<String>,
) {
    for (line, reference) in &e.unexpanded {
        let name = reference.trim_matches(['%', '$', '{', '}']);
        let why = if expand_env.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            "it is listed in [tool.iiswsgi] expand-env but not set on the build machine; set it, or the target expands it".to_string()
        } else {
            "only DIST_NAME and the variables listed in [tool.iiswsgi] expand-env are expanded at build time (iiswsgi 0.3 took any build-machine variable); list it there if the build machine's value is meant, otherwise the target expands it (e.g. cmd.exe for a runCommand)".to_string()
        };
        warnings.push(format!(
            "{}:{line}: {reference} is left as it is: {why}",
            file.display()
        ));
    }
}

/// Everything `package` checks before writing: the compiled manifest, the
/// parameters, web.config.in, the file list.
pub struct Plan {
    pub project: Project,
    pub manifest: manifest::Manifest,
    pub parameters: Vec<u8>,
    pub stamp: Option<Vec<u8>>,
    /// Zip paths under the application folder, each with the file to read.
    pub files: Vec<(String, PathBuf)>,
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
    unexpanded_warnings(
        &manifest_in,
        &expanded,
        &project.tool.expand_env,
        &mut warnings,
    );
    let manifest = manifest::compile(&manifest_in, &expanded.text)?;
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
        // Expanded here only to be checked: the installer expands it on the
        // target, so references left as they are are expected.
        let e = expand_template(&project, &web_config_in, &mut warnings)?;
        webconfig::validate(&web_config_in, &e.text)?;
    }
    let stamp_in = dir.join(STAMP_IN);
    let stamp = if stamp_in.is_file() {
        Some(std::fs::read(&stamp_in).map_err(|e| DeployError::read(&stamp_in, e))?)
    } else {
        None
    };
    let dist = dist_dir(dir, dist);
    let resolved_dist = crate::walk::resolve_lenient(&dist)?;
    if dir.canonicalize().is_ok_and(|d| d == resolved_dist) {
        return Err(DeployError::file(
            &dist,
            "the dist folder is the project folder, so each package would be packed into the next",
            "give --dist-dir a folder inside the project (such as dist) or outside it",
        ));
    }
    let selection = files::select(
        dir,
        &project.tool.include,
        &project.tool.exclude,
        Some(&resolved_dist),
    )?;
    warnings.extend(selection.warnings);
    let mut files = selection.files;
    if stamp.is_some() {
        files.retain(|(f, _)| f != STAMP);
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

/// Gives the finished temporary file the mode of a file for sharing (0644:
/// temporary files are private) and renames it to `path`.
fn persist_shared(tmp: tempfile::NamedTempFile, path: &Path) -> Result<(), DeployError> {
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

fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, DeployError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::NamedTempFile::new_in(dir).map_err(|e| DeployError::write(path, e))
}

/// Writes `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DeployError> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes)
        .map_err(|e| DeployError::write(path, e))?;
    persist_shared(tmp, path)
}

/// What a zip entry holds: bytes built in memory, or a project file read
/// while it is written.
enum Source<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

impl Plan {
    /// The zip's entries: the manifest and parameters, then the application's
    /// files sorted by name.
    fn entries(&self) -> Vec<(String, Source<'_>)> {
        let app = self
            .manifest
            .iis_app_path
            .trim_end_matches(['/', '\\'])
            .replace('\\', "/");
        let mut app_entries: Vec<(String, Source<'_>)> = self
            .files
            .iter()
            .map(|(rel, path)| (format!("{app}/{rel}"), Source::File(path)))
            .collect();
        if let Some(stamp) = &self.stamp {
            app_entries.push((format!("{app}/{STAMP}"), Source::Bytes(stamp)));
        }
        app_entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut entries = vec![
            (MANIFEST.into(), Source::Bytes(self.manifest.xml.as_bytes())),
            (PARAMETERS.into(), Source::Bytes(&self.parameters)),
        ];
        entries.extend(app_entries);
        entries
    }
}

/// Builds the package of the project in `dir`. The zip is complete and in
/// place before `Manifest.xml` and `iis_install.stamp` are written into the
/// project, so a build that fails leaves the project as it was.
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
    std::fs::create_dir_all(&plan.dist).map_err(|e| DeployError::write(&plan.dist, e))?;
    let zip_path = plan.dist.join(plan.project.package_file_name());
    let entries = plan.entries();
    progress(&format!(
        "packaging {} files into {}",
        entries.len(),
        zip_path.display()
    ));
    let mut tmp = temp_beside(&zip_path)?;
    write_zip(tmp.as_file_mut(), &entries, &zip_path)?;
    persist_shared(tmp, &zip_path)?;
    let (sha1, size) = sha1_file(&zip_path)?;

    let manifest_path = dir.join(MANIFEST);
    progress(&format!("writing {}", manifest_path.display()));
    write_atomic(&manifest_path, plan.manifest.xml.as_bytes())?;
    if let Some(stamp) = &plan.stamp {
        let p = dir.join(STAMP);
        progress(&format!("writing {}", p.display()));
        write_atomic(&p, stamp)?;
    }
    Ok(Packaged {
        name: plan.project.name.clone(),
        version: plan.project.version.clone(),
        zip: zip_path,
        manifest: manifest_path,
        iis_app_path: plan.manifest.iis_app_path.clone(),
        entries: entries.into_iter().map(|(n, _)| n).collect(),
        size,
        sha1,
        warnings: plan.warnings,
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes read or hashed at a time: memory stays bounded whatever the sizes.
const CHUNK: usize = 64 * 1024;

/// The SHA-1 (hex) and size of a file, read in chunks.
pub fn sha1_file(path: &Path) -> Result<(String, u64), DeployError> {
    let mut file = std::fs::File::open(path).map_err(|e| DeployError::read(path, e))?;
    let mut hasher = sha1::Sha1::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(|e| DeployError::read(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

/// Writes a deflated zip of `entries` in the given order, with fixed dates
/// and modes, into `out`; files are streamed in chunks. `zip_path` names the
/// zip in errors.
fn write_zip(
    out: &mut std::fs::File,
    entries: &[(String, Source<'_>)],
    zip_path: &Path,
) -> Result<(), DeployError> {
    let zip_err = |e: zip::result::ZipError| DeployError::write(zip_path, std::io::Error::other(e));
    let write_err = |e: std::io::Error| DeployError::write(zip_path, e);
    let mut w = zip::ZipWriter::new(std::io::BufWriter::with_capacity(CHUNK, out));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
        // "Made by Unix" on every build machine: the same entries and modes
        // (0644) whether the package is built on Linux, macOS or Windows.
        .system(zip::System::Unix)
        .large_file(false);
    let mut buf = vec![0u8; CHUNK];
    for (name, source) in entries {
        match source {
            Source::Bytes(data) => {
                let large = data.len() as u64 >= 0xFFFF_FFFF;
                w.start_file(name.as_str(), options.large_file(large))
                    .map_err(zip_err)?;
                w.write_all(data).map_err(write_err)?;
            }
            Source::File(path) => {
                let mut file = std::fs::File::open(path).map_err(|e| DeployError::read(path, e))?;
                let len = file
                    .metadata()
                    .map_err(|e| DeployError::read(path, e))?
                    .len();
                w.start_file(name.as_str(), options.large_file(len >= 0xFFFF_FFFF))
                    .map_err(zip_err)?;
                loop {
                    let n = std::io::Read::read(&mut file, &mut buf)
                        .map_err(|e| DeployError::read(path, e))?;
                    if n == 0 {
                        break;
                    }
                    w.write_all(&buf[..n]).map_err(write_err)?;
                }
            }
        }
    }
    let mut inner = w.finish().map_err(zip_err)?;
    inner.flush().map_err(write_err)
}
