//! `-verb:sync` of a manifest package to the machine: parameters settled,
//! every file's content planned (parameter entries applied) and every
//! unsupported provider refused before anything is written; then the
//! providers in manifest order: `iisApp` (the application created under its
//! site through the configuration model, the content copied), `createApp`,
//! `setAcl` (recorded, no effect), `alias`, `runCommand`.

use std::collections::BTreeSet;

use iiswsgi_deploy::format::manifest::Provider;
use iiswsgi_deploy::format::parameters::EntryKind;
use iiswsgi_iisconfig::ApplicationHost;

use super::package::Package;
use super::params::{self, Values};
use super::{replace, run_command, Emit, MsdeployError};
use crate::machine::SimMachine;
use crate::model::msdeploy_args::SetParam;

/// What to sync.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub set_params: Vec<SetParam>,
    /// `-skip:objectName=` provider names.
    pub skips: Vec<String>,
    pub whatif: bool,
    pub set_appl_physical_path: bool,
}

/// What a sync did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub added: usize,
    pub updated: usize,
    pub params_changed: usize,
    pub bytes: u64,
    /// `Site/app` as the iisApp parameter gave it.
    pub app: String,
    /// The application's folder, a Windows path.
    pub physical_path: String,
    pub warnings: usize,
}

/// Where the application goes.
#[derive(Debug, Clone)]
pub struct AppTarget {
    pub value: String,
    pub site: String,
    /// `/` or `/app`.
    pub app: String,
    pub physical: String,
    pub exists: bool,
}

impl AppTarget {
    pub fn resolve(machine: &SimMachine, value: &str) -> Result<AppTarget, MsdeployError> {
        let v = value.trim().trim_matches('/');
        let (site, rest) = v.split_once('/').unwrap_or((v, ""));
        if site.trim().is_empty() {
            return Err(MsdeployError::BadAppPath {
                value: value.to_owned(),
            });
        }
        let app = format!("/{}", rest.trim_matches('/'));
        let host = ApplicationHost::load(&machine.apphost_path()?)?;
        let sites = host.sites()?;
        let s = sites
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(site))
            .ok_or_else(|| MsdeployError::NoSite {
                site: site.to_owned(),
            })?;
        let root_dir = |a: &iiswsgi_iisconfig::apphost::Application| {
            a.virtual_directories
                .iter()
                .find(|d| d.path == "/")
                .map(|d| machine.expand(&d.physical_path))
        };
        if let Some(a) = s
            .applications
            .iter()
            .find(|a| a.path.eq_ignore_ascii_case(&app))
        {
            return Ok(AppTarget {
                value: value.to_owned(),
                site: s.name.clone(),
                app: a.path.clone(),
                physical: root_dir(a).unwrap_or_default(),
                exists: true,
            });
        }
        let site_root = s
            .applications
            .iter()
            .find(|a| a.path == "/")
            .and_then(root_dir)
            .ok_or_else(|| MsdeployError::NoSite {
                site: site.to_owned(),
            })?;
        Ok(AppTarget {
            value: value.to_owned(),
            site: s.name.clone(),
            physical: format!("{site_root}\\{}", rest.trim_matches('/').replace('/', "\\")),
            app,
            exists: false,
        })
    }

    /// How msdeploy names a path of the application: `Site/app\sub\file`.
    fn display(&self, rel: &str) -> String {
        let base = format!(
            "{}{}",
            self.site,
            if self.app == "/" { "" } else { &self.app }
        );
        if rel.is_empty() {
            base
        } else {
            format!("{base}\\{}", rel.replace('/', "\\"))
        }
    }
}

/// A file or folder to write, relative to the application folder.
#[derive(Debug, Clone)]
struct Planned {
    rel: String,
    data: Vec<u8>,
    params_changed: usize,
}

fn plan_file(
    pkg_rel: &str,
    dest: &str,
    data: &[u8],
    values: &Values,
) -> Result<(Vec<u8>, usize), MsdeployError> {
    let mut changed = 0;
    let mut data = data.to_vec();
    let paths = [pkg_rel, dest];
    for kind in [EntryKind::TextFile, EntryKind::XmlFile] {
        for v in &values.values {
            for e in v.entries.iter().filter(|e| e.kind == kind) {
                let err = |source| MsdeployError::Entry {
                    name: v.name.clone(),
                    source,
                };
                if !replace::in_scope(e, &paths).map_err(err)? {
                    continue;
                }
                let Ok(text) = std::str::from_utf8(&data) else {
                    continue;
                };
                let (out, n) = if kind == EntryKind::TextFile {
                    replace::text_file(text, &e.matches, &v.value).map_err(err)?
                } else {
                    replace::xml_file(std::path::Path::new(dest), text, &e.matches, &v.value)
                        .map_err(err)?
                };
                if n > 0 {
                    changed += 1;
                    data = out.into_bytes();
                }
            }
        }
    }
    Ok((data, changed))
}

/// Every file of the application folder and of the aliases, planned.
fn plan(
    pkg: &Package,
    folder: &str,
    target: &AppTarget,
    values: &Values,
) -> Result<(Vec<String>, Vec<Planned>), MsdeployError> {
    let mut dirs = BTreeSet::new();
    let mut files = Vec::new();
    let add_parents = |rel: &str, dirs: &mut BTreeSet<String>| {
        let mut acc = String::new();
        let parts: Vec<&str> = rel.split('/').collect();
        for p in &parts[..parts.len().saturating_sub(1)] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(p);
            dirs.insert(acc.clone());
        }
    };
    let one = |rel: &str, data: &[u8], dirs: &mut BTreeSet<String>| {
        add_parents(rel, dirs);
        let pkg_rel = format!("{folder}\\{}", rel.replace('/', "\\"));
        let dest = format!("{}\\{}", target.physical, rel.replace('/', "\\"));
        let (data, params_changed) = plan_file(&pkg_rel, &dest, data, values)?;
        Ok::<Planned, MsdeployError>(Planned {
            rel: rel.to_owned(),
            data,
            params_changed,
        })
    };
    for (rel, e) in pkg.content(folder) {
        if e.dir {
            dirs.insert(rel.to_owned());
        } else {
            files.push(one(rel, &e.data, &mut dirs)?);
        }
    }
    for p in &pkg.manifest.providers {
        if let Provider::Alias { from, to, .. } = p {
            let src = pkg.file(from).ok_or_else(|| MsdeployError::NotZip {
                path: pkg.path.clone(),
                why: format!("<alias from={from:?}>: no such file in the package"),
            })?;
            let rel = strip_folder(folder, to);
            files.push(one(&rel, &src.data, &mut dirs)?);
        }
    }
    Ok((dirs.into_iter().collect(), files))
}

fn strip_folder(folder: &str, p: &str) -> String {
    let p = p.replace('\\', "/");
    let f = format!("{}/", folder.trim_matches('/'));
    if p.to_ascii_lowercase().starts_with(&f.to_ascii_lowercase()) {
        p[f.len()..].to_owned()
    } else {
        p
    }
}

fn write_file(machine: &SimMachine, windows: &str, data: &[u8]) -> Result<(), MsdeployError> {
    let host = machine.host_path(windows)?;
    if let Some(dir) = host.parent() {
        std::fs::create_dir_all(dir).map_err(|source| MsdeployError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(&host, data).map_err(|source| MsdeployError::Write { path: host, source })
}

/// The application pool a `DeploymentObjectAttribute` entry or createApp gives.
fn pool(values: &Values, pkg: &Package) -> Option<String> {
    let from_entry = values.values.iter().find_map(|v| {
        v.entries
            .iter()
            .find(|e| {
                e.kind
                    .as_str()
                    .eq_ignore_ascii_case("DeploymentObjectAttribute")
                    && e.matches.to_ascii_lowercase().ends_with("@applicationpool")
            })
            .map(|_| v.value.clone())
    });
    from_entry.or_else(|| {
        pkg.manifest.providers.iter().find_map(|p| match p {
            Provider::CreateApp(k) => k
                .attrs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("applicationPool"))
                .map(|(_, v)| v.clone()),
            _ => None,
        })
    })
}

fn check_providers(pkg: &Package, req: &Request) -> Result<(), MsdeployError> {
    let skipped = |name: &str| req.skips.iter().any(|s| s.eq_ignore_ascii_case(name));
    for p in &pkg.manifest.providers {
        match p {
            Provider::DbFullSql(k) if !skipped("dbFullSql") => {
                return Err(MsdeployError::DbNotSupported {
                    provider: "dbFullSql".into(),
                    path: k.path.clone(),
                })
            }
            Provider::DbMySql(k) if !skipped("dbMySql") => {
                return Err(MsdeployError::DbNotSupported {
                    provider: "dbMySql".into(),
                    path: k.path.clone(),
                })
            }
            Provider::Other(g) if !skipped(&g.name) => {
                return Err(MsdeployError::Unsupported {
                    provider: g.name.clone(),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// Warns of the parameter entries the simulator does not apply.
fn warn_unapplied(values: &Values, emit: &mut Emit<'_>) {
    for (e, _) in values.entries(&EntryKind::TextFilePosition) {
        emit.warning(&format!(
            "A TextFilePosition parameter entry (scope {:?}) is not applied: the kind is deprecated and the simulator does not implement it; use TextFile.",
            e.scope
        ));
    }
}

/// Syncs `pkg` to `machine`.
pub fn sync(
    machine: &SimMachine,
    pkg: &Package,
    req: &Request,
    emit: &mut Emit<'_>,
) -> Result<Summary, MsdeployError> {
    let values = params::settle(&pkg.parameters, &req.set_params)?;
    check_providers(pkg, req)?;
    let folder = pkg.manifest.iis_app_path().unwrap_or_default().to_owned();
    let value = values
        .provider_path("iisApp", &folder)
        .unwrap_or_else(|| folder.clone());
    let mut target = AppTarget::resolve(machine, &value)?;
    let (dirs, files) = plan(pkg, &folder, &target, &values)?;
    let mut sum = Summary {
        app: target.value.clone(),
        physical_path: target.physical.clone(),
        params_changed: files.iter().map(|f| f.params_changed).sum(),
        ..Summary::default()
    };
    let mut alias_files = files
        .iter()
        .skip(pkg.content(&folder).iter().filter(|(_, e)| !e.dir).count());
    warn_unapplied(&values, emit);
    emit.info("Adding sitemanifest (sitemanifest).");
    sum.added += 1;
    for p in &pkg.manifest.providers {
        let name = provider_name(p);
        if req.skips.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            if matches!(p, Provider::Alias { .. }) {
                alias_files.next();
            }
            emit.verbose(&format!("Skipping {name}: -skip:objectName={name}"));
            continue;
        }
        match p {
            Provider::IisApp(_) | Provider::CreateApp(_) => {
                let pool = pool(&values, pkg);
                ensure_app(
                    machine,
                    &mut target,
                    pool.as_deref(),
                    req.whatif,
                    emit,
                    &mut sum,
                )?;
                if matches!(p, Provider::IisApp(_)) {
                    copy(
                        machine,
                        &target,
                        &dirs,
                        files.iter().take(files.len() - alias_count(pkg)),
                        req.whatif,
                        emit,
                        &mut sum,
                    )?;
                }
            }
            Provider::Alias { .. } => {
                if let Some(f) = alias_files.next() {
                    copy(
                        machine,
                        &target,
                        &[],
                        std::iter::once(f),
                        req.whatif,
                        emit,
                        &mut sum,
                    )?;
                }
            }
            Provider::SetAcl(a) => {
                let path = values
                    .provider_path("setAcl", &a.path)
                    .unwrap_or_else(|| target.display(&strip_folder(&folder, &a.path)));
                set_acl(a, &path, emit);
                sum.added += 1;
            }
            Provider::RunCommand(rc) => run_cmd(machine, rc, req, &target, emit, &mut sum)?,
            // Refused by check_providers unless skipped.
            Provider::DbFullSql(_) | Provider::DbMySql(_) | Provider::Other(_) => {}
        }
    }
    emit.raw(&format!(
        "Total changes: {} ({} added, 0 deleted, {} updated, {} parameters changed, {} bytes copied)",
        sum.added + sum.updated,
        sum.added,
        sum.updated,
        sum.params_changed,
        sum.bytes
    ));
    Ok(sum)
}

/// `setAcl`: recorded in the output, no effect (the machine has no ACLs).
fn set_acl(a: &iiswsgi_deploy::format::manifest::SetAcl, path: &str, emit: &mut Emit<'_>) {
    emit.info(&format!("Adding setAcl ({path})."));
    emit.verbose(&format!(
        "setAcl {} for {}: recorded only, the simulated machine has no ACLs",
        a.access.as_deref().unwrap_or("Read"),
        a.user.as_deref().unwrap_or("the application pool identity")
    ));
}

/// `runCommand` (not run with `-whatif`).
fn run_cmd(
    machine: &SimMachine,
    rc: &iiswsgi_deploy::format::manifest::RunCommand,
    req: &Request,
    target: &AppTarget,
    emit: &mut Emit<'_>,
    sum: &mut Summary,
) -> Result<(), MsdeployError> {
    emit.info(&format!("Updating runCommand ({}).", rc.path));
    sum.updated += 1;
    let appl = req
        .set_appl_physical_path
        .then_some(target.physical.as_str());
    if !req.whatif && run_command::run(machine, rc, appl, emit)? != run_command::Ended::Ok {
        sum.warnings += 1;
    }
    Ok(())
}

/// The provider's name, as `-skip:objectName=` names it.
fn provider_name(p: &Provider) -> &str {
    match p {
        Provider::IisApp(_) => "iisApp",
        Provider::RunCommand(_) => "runCommand",
        Provider::SetAcl(_) => "setAcl",
        Provider::Alias { .. } => "alias",
        Provider::CreateApp(_) => "createApp",
        Provider::DbFullSql(_) => "dbFullSql",
        Provider::DbMySql(_) => "dbMySql",
        Provider::Other(g) => &g.name,
    }
}

fn alias_count(pkg: &Package) -> usize {
    pkg.manifest
        .providers
        .iter()
        .filter(|p| matches!(p, Provider::Alias { .. }))
        .count()
}

fn ensure_app(
    machine: &SimMachine,
    target: &mut AppTarget,
    pool: Option<&str>,
    whatif: bool,
    emit: &mut Emit<'_>,
    sum: &mut Summary,
) -> Result<(), MsdeployError> {
    if !target.exists {
        create_app(machine, target, pool, whatif, emit)?;
        target.exists = true;
        sum.added += 1;
    }
    Ok(())
}

fn create_app(
    machine: &SimMachine,
    target: &AppTarget,
    pool: Option<&str>,
    whatif: bool,
    emit: &mut Emit<'_>,
) -> Result<(), MsdeployError> {
    emit.info(&format!("Creating application ({})", target.display("")));
    if whatif {
        return Ok(());
    }
    ApplicationHost::edit(&machine.apphost_path()?, |h| {
        h.add_application(&target.site, &target.app, &target.physical, pool)
    })?;
    let dir = machine.host_path(&target.physical)?;
    std::fs::create_dir_all(&dir).map_err(|source| MsdeployError::Write { path: dir, source })
}

fn copy<'a>(
    machine: &SimMachine,
    target: &AppTarget,
    dirs: &[String],
    files: impl Iterator<Item = &'a Planned>,
    whatif: bool,
    emit: &mut Emit<'_>,
    sum: &mut Summary,
) -> Result<(), MsdeployError> {
    let win = |rel: &str| format!("{}\\{}", target.physical, rel.replace('/', "\\"));
    for d in dirs {
        let host = machine.host_path(&win(d))?;
        if host.is_dir() {
            continue;
        }
        emit.info(&format!("Adding child dirPath ({}).", target.display(d)));
        sum.added += 1;
        if !whatif {
            std::fs::create_dir_all(&host)
                .map_err(|source| MsdeployError::Write { path: host, source })?;
        }
    }
    for f in files {
        let host = machine.host_path(&win(&f.rel))?;
        match std::fs::read(&host) {
            Ok(old) if old == f.data => continue,
            Ok(_) => {
                emit.info(&format!("Updating filePath ({}).", target.display(&f.rel)));
                sum.updated += 1;
            }
            Err(_) => {
                emit.info(&format!(
                    "Adding child filePath ({}).",
                    target.display(&f.rel)
                ));
                sum.added += 1;
            }
        }
        sum.bytes += f.data.len() as u64;
        if !whatif {
            write_file(machine, &win(&f.rel), &f.data)?;
        }
    }
    Ok(())
}
