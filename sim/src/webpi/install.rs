//! `webpi install`: dependencies resolved against the inventory and the
//! feeds (installed first, in order), every installer downloaded and its
//! SHA1 checked before anything is installed, then each product installed:
//! Web Deploy packages through the msdeploy emulation with the `iisApp`
//! parameter `WebPI` would choose, others recorded in the inventory (their
//! installers are not run by the simulator). Each install writes
//! `logs\install\<time>\<title>.txt`.

use std::path::{Path, PathBuf};

use iiswsgi_deploy::format::feed::{Dependency, DiscoveryHint, Entry, Installer};
use iiswsgi_iisconfig::apphost::Binding;
use iiswsgi_iisconfig::ApplicationHost;
use sha1::Digest as _;

use super::{fetch, hex, LoadedFeed, Log, WebpiError};
use crate::machine::SimMachine;
use crate::model::msdeploy_args::SetParam;
use crate::model::webpi_args::WebpiArgs;
use crate::msdeploy::{self, Emit};

/// Dependency resolution: the products to install, dependencies first.
struct Planner<'a> {
    feeds: &'a [LoadedFeed],
    inventory: Vec<String>,
    order: Vec<(usize, &'a Entry)>,
    visiting: Vec<String>,
    sim_toml: PathBuf,
    machine: &'a SimMachine,
}

fn find<'a>(feeds: &'a [LoadedFeed], id: &str) -> Option<(usize, &'a Entry)> {
    feeds.iter().enumerate().find_map(|(i, f)| {
        f.feed
            .entries
            .iter()
            .find(|e| e.product_id.eq_ignore_ascii_case(id))
            .map(|e| (i, e))
    })
}

impl<'a> Planner<'a> {
    fn has(&self, id: &str) -> bool {
        self.inventory.iter().any(|p| p.eq_ignore_ascii_case(id))
            || self
                .order
                .iter()
                .any(|(_, e)| e.product_id.eq_ignore_ascii_case(id))
    }

    fn satisfied(&self, d: &Dependency) -> bool {
        match d {
            Dependency::Product(id) => self.has(id),
            Dependency::Ref(r) => self.named(r).is_some_and(|d| self.satisfied(d)),
            Dependency::And(xs) => xs.iter().all(|x| self.satisfied(x)),
            Dependency::Or(xs) => xs.iter().any(|x| self.satisfied(x)),
        }
    }

    fn named(&self, id: &str) -> Option<&'a Dependency> {
        self.feeds.iter().find_map(|f| {
            f.feed
                .dependencies
                .iter()
                .find(|n| n.id.eq_ignore_ascii_case(id))
                .map(|n| &n.dependency)
        })
    }

    fn need(&mut self, d: &'a Dependency, product: &str) -> Result<(), WebpiError> {
        match d {
            Dependency::Product(id) => self.product(id, product, false),
            Dependency::Ref(r) => {
                let dep = self
                    .named(r)
                    .ok_or_else(|| WebpiError::UnknownDependencyRef {
                        product: product.to_owned(),
                        idref: r.clone(),
                    })?;
                self.need(dep, product)
            }
            Dependency::And(xs) => xs.iter().try_for_each(|x| self.need(x, product)),
            Dependency::Or(xs) => {
                if xs.iter().any(|x| self.satisfied(x)) {
                    return Ok(());
                }
                let mut first = None;
                for x in xs {
                    let saved = self.order.clone();
                    match self.need(x, product) {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            first.get_or_insert(e);
                            self.order = saved;
                        }
                    }
                }
                first.map_or(Ok(()), Err)
            }
        }
    }

    fn product(&mut self, id: &str, needed_by: &str, requested: bool) -> Result<(), WebpiError> {
        if (!requested && self.has(id)) || self.visiting.iter().any(|v| v.eq_ignore_ascii_case(id))
        {
            return Ok(());
        }
        let (feed, entry) = find(self.feeds, id).ok_or_else(|| {
            if requested {
                WebpiError::NoProduct {
                    id: id.to_owned(),
                    feeds: self
                        .feeds
                        .iter()
                        .map(|f| fetch::display(&f.location))
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            } else {
                WebpiError::MissingDependency {
                    product: needed_by.to_owned(),
                    missing: id.to_owned(),
                    sim_toml: self.sim_toml.clone(),
                }
            }
        })?;
        if !requested
            && entry
                .discovery_hint
                .as_ref()
                .is_some_and(|h| discovered(self.machine, h))
        {
            return Ok(());
        }
        self.visiting.push(entry.product_id.clone());
        if let Some(d) = &entry.dependency {
            self.need(d, &entry.product_id)?;
        }
        self.visiting.pop();
        self.order.push((feed, entry));
        Ok(())
    }
}

/// Whether a `discoveryHint` finds the product on the machine: a file that
/// exists (registry and MSI hints cannot be checked: not found).
fn discovered(machine: &SimMachine, h: &DiscoveryHint) -> bool {
    match h {
        DiscoveryHint::File { path, .. } => machine.host_path(path).is_ok_and(|p| p.exists()),
        DiscoveryHint::Registry { .. } | DiscoveryHint::MsiProductCode(_) => false,
        DiscoveryHint::And(hs) => hs.iter().all(|x| discovered(machine, x)),
        DiscoveryHint::Or(hs) => hs.iter().any(|x| discovered(machine, x)),
    }
}

fn title(e: &Entry) -> String {
    e.title
        .as_ref()
        .map_or_else(|| e.product_id.clone(), |t| t.text.clone())
}

/// The installer `WebPI` picks: English (or language-neutral) first.
fn installer(e: &Entry) -> Option<&Installer> {
    e.installers
        .iter()
        .find(|i| {
            i.language_ids.is_empty() || i.language_ids.iter().any(|l| l.eq_ignore_ascii_case("en"))
        })
        .or_else(|| e.installers.first())
}

/// A downloaded, checked installer.
struct Downloaded<'a> {
    entry: &'a Entry,
    url: String,
    sha1: String,
    file: PathBuf,
}

fn download<'a>(
    machine: &SimMachine,
    feed: &LoadedFeed,
    entry: &'a Entry,
    cache: &Path,
    log: &mut Log,
    out: &mut dyn FnMut(&str),
) -> Result<Downloaded<'a>, WebpiError> {
    let none = || WebpiError::NoInstaller {
        product: entry.product_id.clone(),
    };
    let file = installer(entry)
        .and_then(|i| i.file.as_ref())
        .ok_or_else(none)?;
    let (Some(url), Some(expected)) = (&file.installer_url, &file.sha1) else {
        return Err(none());
    };
    let expected = expected.trim().to_ascii_lowercase();
    let loc = fetch::locate(url, Some(&feed.location))?;
    let name = fetch::display(&loc)
        .split(['/', '\\', '?'])
        .rfind(|s| !s.is_empty())
        .unwrap_or("installer")
        .to_owned();
    let cached = cache
        .join("installers")
        .join(&entry.product_id)
        .join(expected.to_ascii_uppercase())
        .join(name);
    // A cached copy is used as it is (WebPI does not download again what
    // its cache holds), so a stale one fails the check.
    let bytes = if let Ok(b) = std::fs::read(&cached) {
        log.line(&format!(
            "DownloadManager Information: 0 : Using cached file at {} instead of downloading from {url}",
            cached.display()
        ));
        let actual = hex(&sha1::Sha1::digest(&b));
        if actual != expected {
            return Err(WebpiError::StaleCache {
                url: url.clone(),
                expected,
                actual,
                file: cached,
            });
        }
        b
    } else {
        out(&format!("Started downloading: '{}'", title(entry)));
        log.line(&format!(
            "DownloadManager Information: 0 : Downloading {url} to {}",
            cached.display()
        ));
        let b = fetch::get(&loc, &|w| machine.host_path(w).ok())?;
        super::write(&cached, &b)?;
        b
    };
    let actual = hex(&sha1::Sha1::digest(&bytes));
    if actual != expected {
        return Err(WebpiError::Sha1Mismatch {
            product: entry.product_id.clone(),
            expected,
            actual,
            file: cached,
        });
    }
    Ok(Downloaded {
        entry,
        url: url.clone(),
        sha1: actual,
        file: cached,
    })
}

/// `YYYY-MM-DDTHH.MM.SS` (`SOURCE_DATE_EPOCH` when set).
fn stamp() -> String {
    iiswsgi_deploy::feed::now()
        .trim_end_matches('Z')
        .replace(':', ".")
}

fn file_name(s: &str) -> String {
    s.chars()
        .map(|c| if "\\/:*?\"<>|".contains(c) { '_' } else { c })
        .collect()
}

/// Adds products to `[machine] inventory` in sim.toml (comments kept).
fn record_inventory(machine: &SimMachine, ids: &[String]) -> Result<(), WebpiError> {
    let mut m = SimMachine::open(machine.root())?;
    for id in ids {
        if !m
            .config
            .machine
            .inventory
            .iter()
            .any(|p| p.eq_ignore_ascii_case(id))
        {
            m.config.machine.inventory.push(id.clone());
        }
    }
    let path = m.sim_toml();
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let header: String = old
        .lines()
        .take_while(|l| l.starts_with('#') || l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let body =
        toml::to_string_pretty(&m.config).map_err(|e| crate::machine::MachineError::BadToml {
            path: path.clone(),
            message: e.to_string(),
        })?;
    super::write(&path, format!("{header}{body}").as_bytes())
}

/// IIS Express: a new site named after the app (numeric suffix on a
/// collision) under `Documents\My Web Sites`, on the next free port.
#[allow(
    clippy::maybe_infinite_iter,
    reason = "stops at the first free name; there are finitely many sites"
)]
fn express_site(machine: &SimMachine, app: &str) -> Result<String, WebpiError> {
    let home = machine.var("IIS_SITES_HOME").unwrap_or_else(|| {
        format!(
            "{}\\Documents\\My Web Sites",
            machine.var("USERPROFILE").unwrap_or_default()
        )
    });
    let base = app
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_owned();
    let base = if base.is_empty() {
        app.to_owned()
    } else {
        base
    };
    let name = ApplicationHost::edit(&machine.apphost_path()?, |h| {
        let sites = h.sites()?;
        let taken = |n: &str| sites.iter().any(|s| s.name.eq_ignore_ascii_case(n));
        let name = std::iter::once(app.to_owned())
            .chain((1..).map(|n| format!("{base}{n}")))
            .find(|n| !taken(n))
            .unwrap_or_else(|| app.to_owned());
        let id = sites
            .iter()
            .map(|s| s.id)
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        let port = sites
            .iter()
            .flat_map(|s| s.bindings.iter())
            .filter_map(|b| b.binding_information.split(':').nth(1)?.parse::<u32>().ok())
            .max()
            .map_or(8080, |p| p.saturating_add(1));
        let binding = Binding {
            protocol: "http".into(),
            binding_information: format!(":{port}:localhost"),
        };
        h.add_site(
            &name,
            id,
            &binding,
            &machine.expand(&format!("{home}\\{name}")),
        )?;
        Ok(name)
    })?;
    let dir = machine.host_path(&format!("{home}\\{name}"))?;
    std::fs::create_dir_all(&dir).map_err(|source| WebpiError::Write { path: dir, source })?;
    Ok(name)
}

/// The parameters `WebPI` passes: the iisApp one from --param or its default
/// for the target, the others from --param.
fn parameters(
    machine: &SimMachine,
    pkg: &msdeploy::package::Package,
    a: &WebpiArgs,
    log: &mut Log,
    out: &mut dyn FnMut(&str),
) -> Result<Vec<SetParam>, WebpiError> {
    let given = |name: &str| {
        a.params
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut set = Vec::new();
    if let Some(p) = pkg
        .parameters
        .parameters
        .iter()
        .find(|p| p.has_tag("iisApp"))
    {
        let value = if let Some(v) = given(&p.name) {
            v
        } else {
            let app = p
                .default_value
                .as_deref()
                .and_then(|d| d.rsplit('/').find(|s| !s.is_empty()))
                .or(pkg.manifest.iis_app_path())
                .unwrap_or("app")
                .to_owned();
            if a.iis_express || machine.config.machine.iis_express {
                let site = express_site(machine, &app)?;
                if !site.eq_ignore_ascii_case(&app) {
                    let msg = format!("IIS Express already has a site named '{app}': the application is installed as the new site '{site}' (give --param \"{}={app}\" to install into the existing site instead)", p.name);
                    log.line(&msg);
                    out(&msg);
                }
                log.line(&format!("Created the IIS Express site '{site}'"));
                site
            } else {
                format!("Default Web Site/{app}")
            }
        };
        log.line(&format!("Parameter '{}' = '{value}'", p.name));
        set.push(SetParam::Named {
            name: p.name.clone(),
            value,
        });
    }
    for (n, v) in &a.params {
        if !set
            .iter()
            .any(|s| matches!(s, SetParam::Named { name, .. } if name.eq_ignore_ascii_case(n)))
        {
            log.line(&format!("Parameter '{n}' = '{v}'"));
            set.push(SetParam::Named {
                name: n.clone(),
                value: v.clone(),
            });
        }
    }
    Ok(set)
}

fn install_one(
    machine: &SimMachine,
    d: &Downloaded<'_>,
    a: &WebpiArgs,
    log: &mut Log,
    out: &mut dyn FnMut(&str),
) -> Result<(), String> {
    log.line(&format!("Installer: {}", d.url));
    log.line(&format!(
        "Cached installer: {} (SHA1 {}, verified)",
        machine
            .windows_path(&d.file)
            .unwrap_or_else(|_| d.file.display().to_string()),
        d.sha1
    ));
    let pkg = msdeploy::package::Package::open(&d.file)
        .map_err(|e| iiswsgi_iisconfig::error_chain(&e))?;
    let set =
        parameters(machine, &pkg, a, log, out).map_err(|e| iiswsgi_iisconfig::error_chain(&e))?;
    log.line("Web Deploy (msdeploy) output:");
    let mut lines = Vec::new();
    let mut stages = a
        .progress
        .then(|| super::progress::Stages::start(&d.file, out));
    let result = {
        let mut sink = |l: &str| {
            if let Some(s) = stages.as_mut() {
                s.line(l, out);
            }
            lines.push(l.to_owned());
        };
        let mut emit = Emit {
            sink: &mut sink,
            verbose: true,
        };
        let req = msdeploy::sync::Request {
            set_params: set,
            ..Default::default()
        };
        msdeploy::sync::sync(machine, &pkg, &req, &mut emit)
    };
    for l in lines {
        log.line(&l);
    }
    if let Some(s) = stages {
        s.finish(result.is_ok(), out);
    }
    match result {
        Ok(sum) => {
            log.line(&format!(
                "Application: {} at {}",
                sum.app, sum.physical_path
            ));
            Ok(())
        }
        Err(e) => {
            let e = iiswsgi_iisconfig::error_chain(&e);
            log.line(&format!("Error: {e}"));
            Err(e)
        }
    }
}

/// What a replay needs from the install log: the feeds asked for, the
/// products in order, the target and the parameters.
fn recorded_lines(
    machine: &SimMachine,
    a: &WebpiArgs,
    feeds: &[LoadedFeed],
    sequence: (usize, usize),
) -> Vec<String> {
    let products: Vec<(String, String)> = a
        .products
        .iter()
        .map(|p| {
            let t = find(feeds, p).map_or_else(|| p.clone(), |(_, e)| title(e));
            (t, p.clone())
        })
        .collect();
    let asked: Vec<String> = feeds
        .iter()
        .filter(|f| {
            a.feeds
                .iter()
                .any(|u| fetch::locate(u, None).is_ok_and(|l| l == f.location))
        })
        .map(|f| fetch::display(&f.location))
        .collect();
    super::logs::replay_lines(&super::logs::Recorded {
        feeds: asked,
        products,
        iis_express: a.iis_express || machine.config.machine.iis_express,
        params: a.params.clone(),
        sequence,
    })
}

/// Installs the products of `a` from `feeds`.
pub fn install(
    machine: &SimMachine,
    a: &WebpiArgs,
    feeds: &[LoadedFeed],
    cache: &Path,
    webpi_log: &mut Log,
    out: &mut dyn FnMut(&str),
) -> Result<i32, WebpiError> {
    let mut planner = Planner {
        feeds,
        inventory: machine.config.machine.inventory.clone(),
        order: Vec::new(),
        visiting: Vec::new(),
        sim_toml: machine.sim_toml(),
        machine,
    };
    for p in &a.products {
        planner.product(p, p, true)?;
    }
    let plan = planner.order;
    // Everything downloaded and checked before anything is installed.
    let mut downloads = Vec::new();
    for (feed, entry) in &plan {
        downloads.push(download(
            machine,
            &feeds[*feed],
            entry,
            cache,
            webpi_log,
            out,
        )?);
    }
    let dir = super::logs::install_log_dir(cache, &stamp());
    let mut installed = Vec::new();
    let total = downloads.len();
    for (n, d) in downloads.iter().enumerate() {
        let t = title(d.entry);
        out(&format!("Started installing: '{t}'"));
        let mut log = Log {
            path: dir.join(format!("{}.txt", file_name(&t))),
            lines: vec![format!(
                "Installing {t} ({} {}) on {}",
                d.entry.product_id,
                d.entry.version.as_deref().unwrap_or(""),
                machine.config.machine.name
            )],
        };
        for l in recorded_lines(machine, a, feeds, (n + 1, total)) {
            log.line(&l);
        }
        let is_msdeploy = installer(d.entry).is_some_and(|i| i.msdeploy.is_some());
        let result = if is_msdeploy {
            install_one(machine, d, a, &mut log, out)
        } else {
            log.line("Not a Web Deploy package: the simulator does not run installers; the product is recorded as installed in sim.toml's inventory");
            Ok(())
        };
        let ok = result.is_ok();
        log.line(&format!(
            "Install completed ({}): '{t}'",
            if ok { "Success" } else { "Failure" }
        ));
        log.save()?;
        out(&format!(
            "Install completed ({}): '{t}'",
            if ok { "Success" } else { "Failure" }
        ));
        let shown = machine
            .windows_path(&log.path)
            .unwrap_or_else(|_| log.path.display().to_string());
        out(&format!("Log: {shown}"));
        if let Err(message) = result {
            record_inventory(machine, &installed)?;
            out("Install of Products: FAILURE");
            return Err(WebpiError::Install { title: t, message });
        }
        installed.push(d.entry.product_id.clone());
    }
    record_inventory(machine, &installed)?;
    out("Install of Products: SUCCESS");
    Ok(0)
}
