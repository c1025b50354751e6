//! `applicationHost.config`: sites with their bindings, applications and
//! virtual directories, application pools, `system.webServer/fastCgi`,
//! handlers, `<location>` elements and section declarations. Read and written
//! through the preserving [`Document`]: unknown elements, attributes and
//! comments are kept, untouched parts are written back byte for byte, writes
//! are atomic and serialised by a lock ([`ApplicationHost::edit`]).

use std::path::{Path, PathBuf};

use crate::dom::{Document, Element};
use crate::error::{ConfigError, ErrorKind};
use crate::fastcgi::{merge_collection, FastCgiApplication, Handler};
use crate::io::{read_text, write_atomic, FileLock};

const SITES: &str = "system.applicationHost/sites";
const POOLS: &str = "system.applicationHost/applicationPools";
pub(crate) const FASTCGI: &str = "system.webServer/fastCgi";
const HANDLERS: &str = "system.webServer/handlers";

/// A site binding: `protocol` and `bindingInformation` (`IP:port:host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub protocol: String,
    pub binding_information: String,
}

/// A virtual directory of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualDirectory {
    pub path: String,
    /// As stored: may hold `%VAR%` references.
    pub physical_path: String,
}

/// An application of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub path: String,
    /// The pool, or the site's / `applicationDefaults`' when not set.
    pub application_pool: String,
    pub virtual_directories: Vec<VirtualDirectory>,
}

/// A site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    pub id: u32,
    pub bindings: Vec<Binding>,
    pub applications: Vec<Application>,
    pub line: usize,
}

/// An application pool (`<applicationPools><add>`), with its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPool {
    pub name: String,
    pub attributes: Vec<(String, String)>,
}

/// A `<configSections>` declaration: `group/name` and its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionDecl {
    /// The full section path, e.g. `system.webServer/fastCgi`.
    pub path: String,
    pub allow_definition: String,
    pub override_mode_default: String,
}

/// A parsed `applicationHost.config`.
#[derive(Debug, Clone)]
pub struct ApplicationHost {
    file: PathBuf,
    doc: Document,
}

impl ApplicationHost {
    /// Parses and checks the text of `file`, including the rules IIS applies
    /// when it loads the file: site ids and names unique, application paths
    /// unique in a site, `FastCGI` keys unique and values in range.
    pub fn parse(file: &Path, text: &str) -> Result<ApplicationHost, ConfigError> {
        let doc = Document::parse_configuration(
            file,
            text,
            crate::dom::Wording::default(),
            "applicationHost.config",
        )?;
        let host = ApplicationHost {
            file: file.to_path_buf(),
            doc,
        };
        host.check()?;
        Ok(host)
    }

    /// Reads `path`.
    pub fn load(path: &Path) -> Result<ApplicationHost, ConfigError> {
        Self::parse(path, &read_text(path)?)
    }

    /// Locks `path`, reads it, applies `f`, and writes the result atomically
    /// when `f` succeeds; nothing is written when it fails.
    pub fn edit<T>(
        path: &Path,
        f: impl FnOnce(&mut ApplicationHost) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        let _lock = FileLock::acquire(path)?;
        let mut host = Self::load(path)?;
        let before = host.write();
        let out = f(&mut host)?;
        let after = host.write();
        if after != before {
            write_atomic(path, &after)?;
        }
        Ok(out)
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// The document, for edits the typed methods do not cover (appcmd's
    /// generic `set config`).
    pub fn document_mut(&mut self) -> &mut Document {
        &mut self.doc
    }

    /// The file's text: unchanged parts exactly as read.
    pub fn write(&self) -> String {
        self.doc.write()
    }

    /// Writes the file atomically (without the edit lock; see [`ApplicationHost::edit`]).
    pub fn save(&self) -> Result<(), ConfigError> {
        write_atomic(&self.file, &self.write())
    }

    fn invalid(&self, line: usize, message: String, hint: &str) -> ConfigError {
        ConfigError::at(ErrorKind::Invalid, &self.file, line, message, hint)
    }

    /// Every section used must be declared in `<configSections>` (IIS refuses
    /// to load the file otherwise: "Unrecognized configuration section").
    fn check_sections(&self) -> Result<(), ConfigError> {
        let decls = self.section_declarations();
        if decls.is_empty() {
            return Ok(());
        }
        let is_group = |p: &str| {
            decls.iter().any(|d| {
                d.path.len() > p.len()
                    && d.path[..p.len()].eq_ignore_ascii_case(p)
                    && d.path.as_bytes()[p.len()] == b'/'
            })
        };
        let is_section = |p: &str| decls.iter().any(|d| d.path.eq_ignore_ascii_case(p));
        #[allow(
            clippy::items_after_statements,
            reason = "the walk is local to this check and reads best next to its closures"
        )]
        fn walk(
            e: &Element,
            prefix: &str,
            is_group: &dyn Fn(&str) -> bool,
            is_section: &dyn Fn(&str) -> bool,
            file: &Path,
        ) -> Result<(), ConfigError> {
            for c in e.elements() {
                if prefix.is_empty()
                    && matches!(
                        c.name(),
                        "configSections" | "location" | "configProtectedData"
                    )
                {
                    if c.name() == "location" {
                        walk(c, "", is_group, is_section, file)?;
                    }
                    continue;
                }
                let path = if prefix.is_empty() {
                    c.name().to_owned()
                } else {
                    format!("{prefix}/{}", c.name())
                };
                if is_section(&path) {
                    continue;
                }
                if is_group(&path) {
                    walk(c, &path, is_group, is_section, file)?;
                    continue;
                }
                return Err(ConfigError::at(
                    ErrorKind::Invalid,
                    file,
                    c.line(),
                    format!("Unrecognized configuration section {path}"),
                    "declare it in <configSections> or remove it",
                ));
            }
            Ok(())
        }
        walk(self.doc.root(), "", &is_group, &is_section, &self.file)
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.check_sections()?;
        let mut seen: Vec<(u32, String)> = Vec::new();
        for site in self.sites()? {
            if let Some((_, other)) = seen
                .iter()
                .find(|(id, name)| *id == site.id || name.eq_ignore_ascii_case(&site.name))
            {
                return Err(ConfigError::at(
                    ErrorKind::Duplicate,
                    &self.file,
                    site.line,
                    format!(
                        "site {:?} (id {}) has the id or name of site {other:?}",
                        site.name, site.id
                    ),
                    "give every site a unique name and id",
                ));
            }
            seen.push((site.id, site.name.clone()));
        }
        let apps = self.fastcgi_applications()?;
        for (i, a) in apps.iter().enumerate() {
            if apps[..i]
                .iter()
                .any(|b| b.has_key(&a.full_path, &a.arguments))
            {
                return Err(ConfigError::file(
                    ErrorKind::Duplicate,
                    &self.file,
                    format!(
                        "two <fastCgi><application> entries have fullPath={:?} arguments={:?}",
                        a.full_path, a.arguments
                    ),
                    "IIS keys FastCGI applications by fullPath and arguments: remove one",
                ));
            }
        }
        Ok(())
    }

    fn site_defaults_pool(&self) -> String {
        self.doc
            .root()
            .descendant(SITES)
            .and_then(|s| s.child("applicationDefaults"))
            .and_then(|d| d.attr("applicationPool"))
            .unwrap_or("DefaultAppPool")
            .to_owned()
    }

    fn site_from(&self, e: &Element, default_pool: &str) -> Result<Site, ConfigError> {
        let name = e.attr("name").unwrap_or_default().to_owned();
        let id_text = e.attr("id").unwrap_or_default();
        let id = id_text.trim().parse::<u32>().map_err(|_| {
            self.invalid(
                e.line(),
                format!("site {name:?} has id={id_text:?}, not a number"),
                "give the site a numeric id",
            )
        })?;
        let site_pool = e
            .child("applicationDefaults")
            .and_then(|d| d.attr("applicationPool"))
            .unwrap_or(default_pool);
        let bindings = e
            .child("bindings")
            .into_iter()
            .flat_map(Element::elements)
            .filter(|b| b.name() == "binding")
            .map(|b| Binding {
                protocol: b.attr("protocol").unwrap_or_default().to_owned(),
                binding_information: b.attr("bindingInformation").unwrap_or_default().to_owned(),
            })
            .collect();
        let mut applications: Vec<Application> = Vec::new();
        for a in e.elements().filter(|a| a.name() == "application") {
            let path = a.attr("path").unwrap_or_default().to_owned();
            if applications
                .iter()
                .any(|x| x.path.eq_ignore_ascii_case(&path))
            {
                return Err(ConfigError::at(
                    ErrorKind::Duplicate,
                    &self.file,
                    a.line(),
                    format!("site {name:?} has two applications with path {path:?}"),
                    "remove one of them",
                ));
            }
            applications.push(Application {
                path,
                application_pool: a.attr("applicationPool").unwrap_or(site_pool).to_owned(),
                virtual_directories: a
                    .elements()
                    .filter(|v| v.name() == "virtualDirectory")
                    .map(|v| VirtualDirectory {
                        path: v.attr("path").unwrap_or_default().to_owned(),
                        physical_path: v.attr("physicalPath").unwrap_or_default().to_owned(),
                    })
                    .collect(),
            });
        }
        Ok(Site {
            name,
            id,
            bindings,
            applications,
            line: e.line(),
        })
    }

    /// The sites, in file order.
    pub fn sites(&self) -> Result<Vec<Site>, ConfigError> {
        let pool = self.site_defaults_pool();
        self.doc
            .root()
            .descendant(SITES)
            .into_iter()
            .flat_map(Element::elements)
            .filter(|e| e.name() == "site")
            .map(|e| self.site_from(e, &pool))
            .collect()
    }

    /// The application pools.
    pub fn app_pools(&self) -> Vec<AppPool> {
        let Some(coll) = self.doc.root().descendant(POOLS) else {
            return Vec::new();
        };
        let mut merged = Vec::new();
        merge_collection(coll, "name", &mut merged);
        merged
            .into_iter()
            .map(|e| AppPool {
                name: e.attr("name").unwrap_or_default().to_owned(),
                attributes: e.attrs().to_vec(),
            })
            .collect()
    }

    /// The registered `FastCGI` applications (global section).
    pub fn fastcgi_applications(&self) -> Result<Vec<FastCgiApplication>, ConfigError> {
        self.doc
            .root()
            .descendant(FASTCGI)
            .into_iter()
            .flat_map(Element::elements)
            .filter(|e| e.name() == "application")
            .map(|e| FastCgiApplication::from_element(&self.file, e))
            .collect()
    }

    /// Registers a `FastCGI` application; an existing one with the same key is
    /// a [`ErrorKind::Duplicate`] error unless `replace`.
    pub fn add_fastcgi_application(
        &mut self,
        app: &FastCgiApplication,
        replace: bool,
    ) -> Result<(), ConfigError> {
        let exists = self
            .fastcgi_applications()?
            .iter()
            .any(|a| a.has_key(&app.full_path, &app.arguments));
        if exists && !replace {
            return Err(ConfigError::file(
                ErrorKind::Duplicate,
                &self.file,
                format!(
                    "a FastCGI application with fullPath={:?} arguments={:?} is already registered",
                    app.full_path, app.arguments
                ),
                "remove it first, or replace it",
            ));
        }
        if exists {
            self.remove_fastcgi_application(&app.full_path, &app.arguments)?;
        }
        self.doc
            .root_mut()
            .ensure_path(FASTCGI)
            .append(app.to_element());
        Ok(())
    }

    /// Removes the `FastCGI` application with this key (case-insensitive).
    pub fn remove_fastcgi_application(
        &mut self,
        full_path: &str,
        arguments: &str,
    ) -> Result<(), ConfigError> {
        let removed = match self.doc.root_mut().descendant_mut(FASTCGI) {
            Some(section) => section.remove_where(|e| {
                e.name() == "application"
                    && e.attr("fullPath")
                        .unwrap_or_default()
                        .eq_ignore_ascii_case(full_path)
                    && e.attr("arguments")
                        .unwrap_or_default()
                        .eq_ignore_ascii_case(arguments)
            }),
            None => 0,
        };
        if removed == 0 {
            return Err(ConfigError::file(
                ErrorKind::NotFound,
                &self.file,
                format!(
                    "no FastCGI application with fullPath={full_path:?} arguments={arguments:?}"
                ),
                "list them with `appcmd list config -section:system.webServer/fastCgi`",
            ));
        }
        Ok(())
    }

    /// The global handlers (`<add>`, `<remove>`, `<clear>` applied).
    pub fn handlers(&self) -> Vec<Handler> {
        Handler::merged(self.doc.root().descendant(HANDLERS))
    }

    /// The `<location path>` elements, in file order.
    pub fn locations(&self) -> impl Iterator<Item = &Element> {
        self.doc
            .root()
            .elements()
            .filter(|e| e.name() == "location")
    }

    /// Every `<section>` declared under `<configSections>`, with its group path.
    pub fn section_declarations(&self) -> Vec<SectionDecl> {
        fn walk(e: &Element, prefix: &str, out: &mut Vec<SectionDecl>) {
            for c in e.elements() {
                let name = c.attr("name").unwrap_or_default();
                let path = if prefix.is_empty() {
                    name.to_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                match c.name() {
                    "sectionGroup" => walk(c, &path, out),
                    "section" => out.push(SectionDecl {
                        path,
                        allow_definition: c
                            .attr("allowDefinition")
                            .unwrap_or("Everywhere")
                            .to_owned(),
                        override_mode_default: c
                            .attr("overrideModeDefault")
                            .unwrap_or("Allow")
                            .to_owned(),
                    }),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        if let Some(cs) = self.doc.root().child("configSections") {
            walk(cs, "", &mut out);
        }
        out
    }

    /// The declaration of a section (`system.webServer/fastCgi`), if any.
    pub fn section_declaration(&self, path: &str) -> Option<SectionDecl> {
        self.section_declarations()
            .into_iter()
            .find(|d| d.path.eq_ignore_ascii_case(path))
    }

    /// Adds a site with one root application and virtual directory.
    pub fn add_site(
        &mut self,
        name: &str,
        id: u32,
        binding: &Binding,
        physical_path: &str,
    ) -> Result<(), ConfigError> {
        if self
            .sites()?
            .iter()
            .any(|s| s.id == id || s.name.eq_ignore_ascii_case(name))
        {
            return Err(ConfigError::file(
                ErrorKind::Duplicate,
                &self.file,
                format!("a site named {name:?} or with id {id} exists"),
                "choose another name and id",
            ));
        }
        let mut app = Element::new("application").with_attr("path", "/");
        app.append(
            Element::new("virtualDirectory")
                .with_attr("path", "/")
                .with_attr("physicalPath", physical_path),
        );
        let mut bindings = Element::new("bindings");
        bindings.append(
            Element::new("binding")
                .with_attr("protocol", &binding.protocol)
                .with_attr("bindingInformation", &binding.binding_information),
        );
        let mut site = Element::new("site")
            .with_attr("name", name)
            .with_attr("id", &id.to_string());
        site.append(app);
        site.append(bindings);
        self.insert_site_element(site);
        Ok(())
    }

    /// Puts a new `<site>` after the last site (before `siteDefaults`).
    fn insert_site_element(&mut self, site: Element) {
        let sites = self.doc.root_mut().ensure_path(SITES);
        sites.append(site);
        sites.move_before_first_named(&[
            "siteDefaults",
            "applicationDefaults",
            "virtualDirectoryDefaults",
        ]);
    }

    /// Adds an application (with its root virtual directory) to a site.
    pub fn add_application(
        &mut self,
        site: &str,
        path: &str,
        physical_path: &str,
        pool: Option<&str>,
    ) -> Result<(), ConfigError> {
        let s = self.site_mut(site)?;
        if s.elements().any(|a| {
            a.name() == "application"
                && a.attr("path").is_some_and(|p| p.eq_ignore_ascii_case(path))
        }) {
            return Err(ConfigError::file(
                ErrorKind::Duplicate,
                &self.file,
                format!("site {site:?} already has an application at {path:?}"),
                "choose another path, or delete the application first",
            ));
        }
        let s = self.site_mut(site)?;
        let mut app = Element::new("application").with_attr("path", path);
        if let Some(pool) = pool {
            app.set_attr("applicationPool", pool);
        }
        app.append(
            Element::new("virtualDirectory")
                .with_attr("path", "/")
                .with_attr("physicalPath", physical_path),
        );
        s.append(app);
        s.move_before_first_named(&["bindings"]);
        Ok(())
    }

    /// The `<site>` element named `name` (case-insensitive).
    pub fn site_mut(&mut self, name: &str) -> Result<&mut Element, ConfigError> {
        let file = self.file.clone();
        self.doc
            .root_mut()
            .ensure_path(SITES)
            .elements_mut()
            .find(|e| {
                e.name() == "site" && e.attr("name").is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .ok_or_else(|| {
                ConfigError::file(
                    ErrorKind::NotFound,
                    &file,
                    format!("no site named {name:?}"),
                    "list the sites with `appcmd list site`",
                )
            })
    }
}
