//! Reading a Web Deploy package zip, refusing hostile ones before anything
//! is written: entries that climb out of the folder (`../`), absolute or
//! drive-letter names, symbolic links, NUL bytes, sizes past Web Deploy's
//! limits; XML with a DOCTYPE (entity expansion, external entities) is
//! refused by the checked reader the formats use.
//!
//! Manifest-based (Web App Gallery) packages only: `manifest.xml` and
//! `parameters.xml` at the root, any case. An `archive.xml` package (Visual
//! Studio, `msdeploy -dest:package`) is told apart and refused with a clear
//! error.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use iiswsgi_deploy::format::manifest::Manifest;
use iiswsgi_deploy::format::parameters::Parameters;

use super::MsdeployError;

/// Web Deploy's limit per file (the `package` provider's documentation).
const MAX_FILE: u64 = 2_147_483_647;
/// The simulator's limit for a whole package held in memory.
const MAX_TOTAL: u64 = 1 << 30;

/// One entry: its name with `/` separators, and its bytes (none for a folder).
#[derive(Debug, Clone)]
pub struct ZipEntry {
    pub name: String,
    pub dir: bool,
    pub data: Vec<u8>,
}

/// A checked package.
#[derive(Debug, Clone)]
pub struct Package {
    pub path: PathBuf,
    pub entries: Vec<ZipEntry>,
    pub manifest: Manifest,
    pub parameters: Parameters,
}

fn hostile(package: &Path, entry: &str, why: &str) -> MsdeployError {
    MsdeployError::Hostile {
        package: package.to_path_buf(),
        entry: entry.to_owned(),
        why: why.to_owned(),
    }
}

/// Why a zip entry name is refused, if it is.
pub fn check_name(name: &str) -> Option<&'static str> {
    if name.contains('\0') {
        return Some("its name holds a NUL byte");
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Some("its name is an absolute path");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Some("its name starts with a drive letter");
    }
    if name.split(['/', '\\']).any(|c| c == "..") {
        return Some("its name climbs out of the package folder with '..' (zip-slip)");
    }
    None
}

fn read_entries(path: &Path, bytes: Vec<u8>) -> Result<Vec<ZipEntry>, MsdeployError> {
    let not_zip = |why: String| MsdeployError::NotZip {
        path: path.to_path_buf(),
        why,
    };
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| not_zip(e.to_string()))?;
    let mut out = Vec::with_capacity(zip.len());
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| not_zip(e.to_string()))?;
        let name = f.name().map_err(|e| not_zip(e.to_string()))?.into_owned();
        if let Some(why) = check_name(&name) {
            return Err(hostile(path, &name, why));
        }
        if f.is_symlink() {
            return Err(hostile(path, &name, "it is a symbolic link"));
        }
        if f.size() > MAX_FILE {
            return Err(hostile(
                path,
                &name,
                "it is larger than Web Deploy's 2 GiB limit per file",
            ));
        }
        total = total.saturating_add(f.size());
        if total > MAX_TOTAL {
            return Err(hostile(
                path,
                &name,
                "the package expands to more than 1 GiB",
            ));
        }
        let dir = f.is_dir();
        let mut data = Vec::new();
        if !dir {
            (&mut f)
                .take(MAX_FILE)
                .read_to_end(&mut data)
                .map_err(|e| not_zip(format!("{name}: {e}")))?;
            if data.len() as u64 != f.size() {
                return Err(hostile(
                    path,
                    &name,
                    "its size differs from the size its header declares",
                ));
            }
        }
        out.push(ZipEntry {
            name: name.replace('\\', "/").trim_end_matches('/').to_owned(),
            dir,
            data,
        });
    }
    Ok(out)
}

fn root_file<'a>(entries: &'a [ZipEntry], name: &str) -> Option<&'a ZipEntry> {
    entries
        .iter()
        .find(|e| !e.dir && !e.name.contains('/') && e.name.eq_ignore_ascii_case(name))
}

fn text(path: &Path, e: &ZipEntry) -> Result<String, MsdeployError> {
    let s = std::str::from_utf8(&e.data).map_err(|_| MsdeployError::NotZip {
        path: path.to_path_buf(),
        why: format!("{} is not UTF-8 text", e.name),
    })?;
    Ok(s.trim_start_matches('\u{feff}').to_owned())
}

impl Package {
    /// Reads and checks the package at `path` (a host path).
    pub fn open(path: &Path) -> Result<Package, MsdeployError> {
        let bytes = std::fs::read(path).map_err(|source| MsdeployError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let entries = read_entries(path, bytes)?;
        if root_file(&entries, "archive.xml").is_some() {
            return Err(MsdeployError::ArchivePackage {
                path: path.to_path_buf(),
            });
        }
        let manifest =
            root_file(&entries, "manifest.xml").ok_or_else(|| MsdeployError::NoManifest {
                path: path.to_path_buf(),
            })?;
        let label = |e: &ZipEntry| path.join(&e.name);
        let manifest = Manifest::from_xml(&label(manifest), &text(path, manifest)?)
            .map_err(|e| MsdeployError::Xml(Box::new(e)))?;
        let parameters = match root_file(&entries, "parameters.xml") {
            Some(p) => Parameters::from_xml(&label(p), &text(path, p)?)
                .map_err(|e| MsdeployError::Xml(Box::new(e)))?,
            None => Parameters::default(),
        };
        Ok(Package {
            path: path.to_path_buf(),
            entries,
            manifest,
            parameters,
        })
    }

    /// The entries under the package folder `folder` (the `iisApp path`),
    /// with their names relative to it, in name order.
    pub fn content(&self, folder: &str) -> Vec<(&str, &ZipEntry)> {
        let prefix = format!("{}/", folder.trim_matches(['/', '\\']).replace('\\', "/"));
        let mut out: Vec<(&str, &ZipEntry)> = self
            .entries
            .iter()
            .filter_map(|e| {
                let lower = e.name.to_ascii_lowercase();
                lower
                    .starts_with(&prefix.to_ascii_lowercase())
                    .then(|| (&e.name[prefix.len()..], e))
            })
            .filter(|(rel, _)| !rel.is_empty())
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// A file of the package by its package-relative name (any case, `/` or `\`).
    pub fn file(&self, name: &str) -> Option<&ZipEntry> {
        let want = name.replace('\\', "/");
        self.entries
            .iter()
            .find(|e| !e.dir && e.name.eq_ignore_ascii_case(&want))
    }
}
