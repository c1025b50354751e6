//! A `WebPI` feed: an Atom `<feed>` of products (`<entry>`), as `WebPI` reads it.
//!
//! The model covers what `WebPI` feeds carry for Web App Gallery applications
//! (see `TechNet`'s feed, entry, installer and discoveryHint schema pages and
//! Microsoft's WebApplicationList.xml); elements it does not model
//! (`tabs`, `oses`, `osLists`, `resourcesList`, `installCommands`, …) are
//! kept as [`Generic`] elements and written after the modelled ones.

use std::path::Path;

use super::{FormatError, Generic};

/// The Atom namespace of a `WebPI` feed.
pub const ATOM: &str = "http://www.w3.org/2005/Atom";

/// A feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feed {
    /// `<webpiFile version>`: `WebPI`'s schema version, not the product's.
    pub webpi_version: Option<String>,
    pub title: Option<Text>,
    pub links: Vec<Link>,
    pub updated: Option<String>,
    pub author: Option<Author>,
    pub id: Option<String>,
    pub version: Option<String>,
    pub languages: Vec<Language>,
    pub entries: Vec<Entry>,
    /// `<keywords><keyword id>`.
    pub keywords: Vec<Keyword>,
    /// `<dependencies><dependency id>`: named dependencies for `idref`.
    pub dependencies: Vec<NamedDependency>,
    /// `<featured><productId>`.
    pub featured: Vec<String>,
    /// Other feed-level elements, kept.
    pub other: Vec<Generic>,
}

/// Text with an optional `resourceName` (a key into localised resources).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text {
    pub text: String,
    pub resource_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    pub rel: Option<String>,
    pub href: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Author {
    pub name: Option<String>,
    /// Must be a valid URI (`WebPI` rejects an e-mail address).
    pub uri: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Language {
    pub id: String,
    pub name: Option<String>,
    pub default: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyword {
    pub id: String,
    pub resource_name: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedDependency {
    pub id: String,
    pub dependency: Dependency,
}

/// A dependency expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dependency {
    /// `<dependency idref>`: a named dependency of the feed.
    Ref(String),
    /// `<dependency><productId>`.
    Product(String),
    And(Vec<Dependency>),
    Or(Vec<Dependency>),
}

/// How `WebPI` tells that a product is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryHint {
    File {
        path: String,
        minimum_version: Option<String>,
    },
    Registry {
        key_path: String,
        value_name: Option<String>,
        value_value: Option<String>,
    },
    MsiProductCode(String),
    And(Vec<DiscoveryHint>),
    Or(Vec<DiscoveryHint>),
}

/// A product.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// `type` (`application` for Web App Gallery applications).
    pub entry_type: Option<String>,
    /// The unique key.
    pub product_id: String,
    pub title: Option<Text>,
    pub id: Option<String>,
    pub version: Option<String>,
    pub summary: Option<Text>,
    pub long_summary: Option<Text>,
    pub published: Option<String>,
    pub updated: Option<String>,
    pub links: Vec<Link>,
    pub author: Option<Author>,
    pub images: Option<Images>,
    /// `<keywords><keywordId>`.
    pub keywords: Vec<String>,
    pub discovery_hint: Option<DiscoveryHint>,
    pub dependency: Option<Dependency>,
    /// `<related><relatedProduct><productId>`.
    pub related: Vec<String>,
    pub installers: Vec<Installer>,
    pub product_family: Option<Text>,
    pub framework_family: Option<String>,
    /// `MM-DD-YYYY`.
    pub add_to_feed_date: Option<String>,
    pub page_name: Option<String>,
    /// Other elements (`searchExclude`, `incompatibilities`, …), kept.
    pub other: Vec<Generic>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Images {
    pub icon: Option<String>,
    pub screenshots: Vec<String>,
}

/// One installer (per language and architecture).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installer {
    pub id: Option<String>,
    pub language_ids: Vec<String>,
    /// Must be a valid URI.
    pub eula_url: Option<String>,
    pub file: Option<InstallerFile>,
    /// Present for a Web Deploy package.
    pub msdeploy: Option<MsDeploy>,
    pub help_link: Option<String>,
    /// Other elements (`osList`, `architectures`, `installCommands`, …), kept.
    pub other: Vec<Generic>,
}

/// `<installerFile>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallerFile {
    /// KiB, rounded.
    pub file_size: Option<u64>,
    pub tracking_url: Option<String>,
    pub installer_url: Option<String>,
    pub display_url: Option<String>,
    /// SHA-1 of the file, hex (either case).
    pub sha1: Option<String>,
}

/// `<msDeploy>`: the installer is a Web Deploy package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MsDeploy {
    /// The page opened after the install (`<startPage />`: the default page).
    pub start_page: Option<String>,
}

impl Text {
    pub fn new(text: &str, resource_name: Option<&str>) -> Text {
        Text {
            text: text.to_owned(),
            resource_name: resource_name.map(str::to_owned),
        }
    }

    pub(super) fn to_generic(&self, name: &str) -> Generic {
        Generic::leaf(name, &self.text).attr_opt("resourceName", self.resource_name.as_deref())
    }
}

impl Link {
    fn to_generic(&self) -> Generic {
        Generic::new("link")
            .attr_opt("rel", self.rel.as_deref())
            .attr("href", &self.href)
    }
}

impl Author {
    fn to_generic(&self) -> Generic {
        let mut g = Generic::new("author");
        g.push_leaf("name", self.name.as_deref());
        g.push_leaf("uri", self.uri.as_deref());
        g
    }
}

impl Dependency {
    /// The expression as a `<dependency>` element.
    fn to_generic(&self) -> Generic {
        let group = |name: &str, items: &[Dependency]| Generic {
            children: items.iter().map(Dependency::to_generic).collect(),
            ..Generic::new(name)
        };
        let g = Generic::new("dependency");
        match self {
            Dependency::Ref(id) => g.attr("idref", id),
            Dependency::Product(id) => g.child(Generic::leaf("productId", id)),
            Dependency::And(items) => g.child(group("and", items)),
            Dependency::Or(items) => g.child(group("or", items)),
        }
    }
}

impl DiscoveryHint {
    /// The hint as a `<discoveryHint>` element.
    fn to_generic(&self) -> Generic {
        let group = |name: &str, items: &[DiscoveryHint]| Generic {
            children: items.iter().map(DiscoveryHint::to_generic).collect(),
            ..Generic::new(name)
        };
        let inner = match self {
            DiscoveryHint::File {
                path,
                minimum_version,
            } => {
                let mut g = Generic::new("file").child(Generic::leaf("filePath", path));
                g.push_leaf("minimumVersion", minimum_version.as_deref());
                g
            }
            DiscoveryHint::Registry {
                key_path,
                value_name,
                value_value,
            } => {
                let mut g = Generic::new("registry").child(Generic::leaf("keyPath", key_path));
                g.push_leaf("valueName", value_name.as_deref());
                g.push_leaf("valueValue", value_value.as_deref());
                g
            }
            DiscoveryHint::MsiProductCode(code) => Generic::leaf("msiProductCode", code),
            DiscoveryHint::And(items) => group("and", items),
            DiscoveryHint::Or(items) => group("or", items),
        };
        Generic::new("discoveryHint").child(inner)
    }
}

/// `<name>` holding one `<item>` leaf per text, or nothing when empty.
fn list(name: &str, item: &str, texts: &[String]) -> Option<Generic> {
    (!texts.is_empty()).then(|| Generic {
        children: texts.iter().map(|t| Generic::leaf(item, t)).collect(),
        ..Generic::new(name)
    })
}

impl Installer {
    fn to_generic(&self) -> Generic {
        let mut g = Generic::new("installer");
        g.push_leaf("id", self.id.as_deref());
        for l in &self.language_ids {
            g.push_leaf("languageId", Some(l));
        }
        g.push_leaf("eulaURL", self.eula_url.as_deref());
        if let Some(f) = &self.file {
            let mut file = Generic::new("installerFile");
            file.push_leaf("fileSize", f.file_size.map(|s| s.to_string()).as_deref());
            file.push_leaf("trackingURL", f.tracking_url.as_deref());
            file.push_leaf("installerURL", f.installer_url.as_deref());
            file.push_leaf("displayURL", f.display_url.as_deref());
            file.push_leaf("sha1", f.sha1.as_deref());
            g.children.push(file);
        }
        if let Some(m) = &self.msdeploy {
            let mut md = Generic::new("msDeploy");
            md.push_leaf("startPage", m.start_page.as_deref());
            g.children.push(md);
        }
        g.push_leaf("helpLink", self.help_link.as_deref());
        g.children.extend(self.other.iter().cloned());
        g
    }
}

impl Entry {
    fn to_generic(&self) -> Generic {
        let mut g = Generic::new("entry").attr_opt("type", self.entry_type.as_deref());
        let text = |t: &Option<Text>, name: &str| t.as_ref().map(|t| t.to_generic(name));
        g.push_leaf("productId", Some(&self.product_id));
        g.children.extend(text(&self.title, "title"));
        g.push_leaf("id", self.id.as_deref());
        g.push_leaf("version", self.version.as_deref());
        g.children.extend(text(&self.summary, "summary"));
        g.children.extend(text(&self.long_summary, "longSummary"));
        g.push_leaf("published", self.published.as_deref());
        g.push_leaf("updated", self.updated.as_deref());
        g.children.extend(self.links.iter().map(Link::to_generic));
        g.children
            .extend(self.author.as_ref().map(Author::to_generic));
        if let Some(i) = &self.images {
            let mut images = Generic::new("images");
            images.push_leaf("icon", i.icon.as_deref());
            for s in &i.screenshots {
                images.push_leaf("screenshot", Some(s));
            }
            g.children.push(images);
        }
        g.children
            .extend(list("keywords", "keywordId", &self.keywords));
        g.children
            .extend(self.discovery_hint.as_ref().map(DiscoveryHint::to_generic));
        g.children
            .extend(self.dependency.as_ref().map(Dependency::to_generic));
        if !self.related.is_empty() {
            let mut related = Generic::new("related");
            for r in &self.related {
                related
                    .children
                    .push(Generic::new("relatedProduct").child(Generic::leaf("productId", r)));
            }
            g.children.push(related);
        }
        if !self.installers.is_empty() {
            g.children.push(Generic {
                children: self.installers.iter().map(Installer::to_generic).collect(),
                ..Generic::new("installers")
            });
        }
        g.children
            .extend(text(&self.product_family, "productFamily"));
        g.push_leaf("frameworkFamily", self.framework_family.as_deref());
        g.push_leaf("addToFeedDate", self.add_to_feed_date.as_deref());
        g.push_leaf("pageName", self.page_name.as_deref());
        g.children.extend(self.other.iter().cloned());
        g
    }
}

impl Feed {
    /// Reads a feed; `file` names it in errors.
    pub fn from_xml(file: &Path, text: &str) -> Result<Feed, FormatError> {
        super::feed_read::feed(file, &Generic::parse(file, text)?)
    }

    /// The feed as XML.
    pub fn to_xml(&self) -> String {
        let mut g = Generic::new("feed").attr("xmlns", ATOM);
        if let Some(v) = &self.webpi_version {
            g.children
                .push(Generic::new("webpiFile").attr("version", v));
        }
        g.children
            .extend(self.title.as_ref().map(|t| t.to_generic("title")));
        g.children.extend(self.links.iter().map(Link::to_generic));
        g.push_leaf("updated", self.updated.as_deref());
        g.children
            .extend(self.author.as_ref().map(Author::to_generic));
        g.push_leaf("id", self.id.as_deref());
        g.push_leaf("version", self.version.as_deref());
        if !self.languages.is_empty() {
            let mut langs = Generic::new("languages");
            for l in &self.languages {
                let mut lang = Generic::new("language");
                if l.default {
                    lang = lang.attr("default", "true");
                }
                lang.push_leaf("languageId", Some(&l.id));
                lang.push_leaf("name", l.name.as_deref());
                langs.children.push(lang);
            }
            g.children.push(langs);
        }
        g.children
            .extend(self.entries.iter().map(Entry::to_generic));
        if !self.keywords.is_empty() {
            let mut kws = Generic::new("keywords");
            for k in &self.keywords {
                kws.children.push(
                    Generic::leaf("keyword", &k.text)
                        .attr("id", &k.id)
                        .attr_opt("resourceName", k.resource_name.as_deref()),
                );
            }
            g.children.push(kws);
        }
        if !self.dependencies.is_empty() {
            let mut deps = Generic::new("dependencies");
            for d in &self.dependencies {
                let mut el = d.dependency.to_generic();
                el.attrs.insert(0, ("id".into(), d.id.clone()));
                deps.children.push(el);
            }
            g.children.push(deps);
        }
        g.children
            .extend(list("featured", "productId", &self.featured));
        g.children.extend(self.other.iter().cloned());
        g.to_document()
    }
}
