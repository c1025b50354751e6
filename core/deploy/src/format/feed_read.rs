//! Reading a [`Feed`] from its element tree.

use std::path::Path;

use super::feed::{
    Author, Dependency, DiscoveryHint, Entry, Feed, Images, Installer, InstallerFile, Keyword,
    Language, Link, MsDeploy, NamedDependency, Text,
};
use super::{invalid, FormatError, Generic};

fn text(g: &Generic) -> Text {
    Text {
        text: g.text.clone(),
        resource_name: g.get("resourceName").map(str::to_owned),
    }
}

fn link(file: &Path, g: &Generic) -> Result<Link, FormatError> {
    let href = g.get("href").ok_or_else(|| {
        invalid(
            file,
            g.line,
            "<link> has no href",
            "give it href=\"<an absolute URL>\"",
        )
    })?;
    Ok(Link {
        rel: g.get("rel").map(str::to_owned),
        href: href.to_owned(),
    })
}

fn author(g: &Generic) -> Author {
    Author {
        name: g.text_of("name"),
        uri: g.text_of("uri"),
    }
}

/// Each child element of `g`, read with `read`.
fn each<T>(
    file: &Path,
    g: &Generic,
    read: fn(&Path, &Generic) -> Result<T, FormatError>,
) -> Result<Vec<T>, FormatError> {
    g.children.iter().map(|c| read(file, c)).collect()
}

/// The one child element of a `<dependency>` or `<discoveryHint>`.
fn only_child<'a>(file: &Path, g: &'a Generic, hint: &str) -> Result<&'a Generic, FormatError> {
    match g.children.as_slice() {
        [one] => Ok(one),
        _ => Err(invalid(
            file,
            g.line,
            format!(
                "<{}> holds {} elements where one is expected",
                g.name,
                g.children.len()
            ),
            hint,
        )),
    }
}

const DEPENDENCY_HINT: &str =
    "write <dependency idref=\"…\" />, or one <productId>, <and> or <or> inside <dependency>";

fn dependency(file: &Path, g: &Generic) -> Result<Dependency, FormatError> {
    if let Some(id) = g.get("idref") {
        return Ok(Dependency::Ref(id.to_owned()));
    }
    let inner = only_child(file, g, DEPENDENCY_HINT)?;
    Ok(match inner.name.as_str() {
        "productId" => Dependency::Product(inner.text.clone()),
        "and" => Dependency::And(each(file, inner, dependency)?),
        "or" => Dependency::Or(each(file, inner, dependency)?),
        other => {
            return Err(invalid(
                file,
                inner.line,
                format!("<{other}> in a <dependency>"),
                DEPENDENCY_HINT,
            ))
        }
    })
}

const HINT_HINT: &str =
    "put one <file>, <registry>, <msiProductCode>, <and> or <or> inside <discoveryHint>";

fn discovery_hint(file: &Path, g: &Generic) -> Result<DiscoveryHint, FormatError> {
    let inner = only_child(file, g, HINT_HINT)?;
    Ok(match inner.name.as_str() {
        "file" => DiscoveryHint::File {
            path: inner.text_of("filePath").unwrap_or_default(),
            minimum_version: inner.text_of("minimumVersion"),
        },
        "registry" => DiscoveryHint::Registry {
            key_path: inner.text_of("keyPath").unwrap_or_default(),
            value_name: inner.text_of("valueName"),
            value_value: inner.text_of("valueValue"),
        },
        "msiProductCode" => DiscoveryHint::MsiProductCode(inner.text.clone()),
        "and" => DiscoveryHint::And(each(file, inner, discovery_hint)?),
        "or" => DiscoveryHint::Or(each(file, inner, discovery_hint)?),
        other => {
            return Err(invalid(
                file,
                inner.line,
                format!("<{other}> in a <discoveryHint>"),
                HINT_HINT,
            ))
        }
    })
}

fn installer_file(file: &Path, g: &Generic) -> Result<InstallerFile, FormatError> {
    let file_size = match g.find("fileSize") {
        None => None,
        Some(s) => Some(s.text.trim().parse::<u64>().map_err(|_| {
            invalid(
                file,
                s.line,
                format!("<fileSize>{}</fileSize> is not a whole number", s.text),
                "write the size of the file in KiB, rounded",
            )
        })?),
    };
    Ok(InstallerFile {
        file_size,
        tracking_url: g.text_of("trackingURL"),
        installer_url: g.text_of("installerURL"),
        display_url: g.text_of("displayURL"),
        sha1: g.text_of("sha1"),
    })
}

fn installer(file: &Path, g: &Generic) -> Result<Installer, FormatError> {
    let mut i = Installer::default();
    for c in &g.children {
        match c.name.as_str() {
            "id" => i.id = Some(c.text.clone()),
            "languageId" => i.language_ids.push(c.text.clone()),
            "eulaURL" => i.eula_url = Some(c.text.clone()),
            "installerFile" => i.file = Some(installer_file(file, c)?),
            "msDeploy" => {
                i.msdeploy = Some(MsDeploy {
                    start_page: c.text_of("startPage"),
                });
            }
            "helpLink" => i.help_link = Some(c.text.clone()),
            _ => i.other.push(c.clone()),
        }
    }
    Ok(i)
}

fn entry(file: &Path, g: &Generic) -> Result<Entry, FormatError> {
    let mut e = Entry {
        entry_type: g.get("type").map(str::to_owned),
        ..Entry::default()
    };
    let mut product_id = None;
    for c in &g.children {
        let t = || Some(c.text.clone());
        match c.name.as_str() {
            "productId" => product_id = t(),
            "title" => e.title = Some(text(c)),
            "id" => e.id = t(),
            "version" => e.version = t(),
            "summary" => e.summary = Some(text(c)),
            "longSummary" => e.long_summary = Some(text(c)),
            "published" => e.published = t(),
            "updated" => e.updated = t(),
            "link" => e.links.push(link(file, c)?),
            "author" => e.author = Some(author(c)),
            "images" => {
                e.images = Some(Images {
                    icon: c.text_of("icon"),
                    screenshots: c.texts_of("screenshot"),
                });
            }
            "keywords" => e.keywords = c.texts_of("keywordId"),
            "discoveryHint" => e.discovery_hint = Some(discovery_hint(file, c)?),
            "dependency" => e.dependency = Some(dependency(file, c)?),
            "related" => {
                e.related = c
                    .children
                    .iter()
                    .filter_map(|r| r.text_of("productId"))
                    .collect();
            }
            "installers" => e.installers = each(file, c, installer)?,
            "productFamily" => e.product_family = Some(text(c)),
            "frameworkFamily" => e.framework_family = t(),
            "addToFeedDate" => e.add_to_feed_date = t(),
            "pageName" => e.page_name = t(),
            _ => e.other.push(c.clone()),
        }
    }
    e.product_id = product_id.ok_or_else(|| {
        invalid(
            file,
            g.line,
            "an <entry> has no <productId>",
            "give every entry a unique <productId>",
        )
    })?;
    Ok(e)
}

fn languages(g: &Generic) -> Vec<Language> {
    g.children
        .iter()
        .map(|l| Language {
            id: l.text_of("languageId").unwrap_or_default(),
            name: l.text_of("name"),
            default: l
                .get("default")
                .is_some_and(|d| d.eq_ignore_ascii_case("true")),
        })
        .collect()
}

fn named_dependencies(file: &Path, g: &Generic) -> Result<Vec<NamedDependency>, FormatError> {
    g.children
        .iter()
        .map(|d| {
            Ok(NamedDependency {
                id: d.get("id").unwrap_or_default().to_owned(),
                dependency: dependency(file, d)?,
            })
        })
        .collect()
}

pub(super) fn feed(file: &Path, root: &Generic) -> Result<Feed, FormatError> {
    if root.name != "feed" {
        return Err(invalid(
            file,
            root.line,
            format!("the root element is <{}>", root.name),
            "a WebPI feed is an Atom <feed xmlns=\"http://www.w3.org/2005/Atom\">",
        ));
    }
    let mut f = Feed::default();
    for c in &root.children {
        let t = || Some(c.text.clone());
        match c.name.as_str() {
            "webpiFile" => f.webpi_version = c.get("version").map(str::to_owned),
            "title" => f.title = Some(text(c)),
            "link" => f.links.push(link(file, c)?),
            "updated" => f.updated = t(),
            "author" => f.author = Some(author(c)),
            "id" => f.id = t(),
            "version" => f.version = t(),
            "languages" => f.languages = languages(c),
            "entry" => f.entries.push(entry(file, c)?),
            "keywords" => {
                f.keywords = c
                    .children
                    .iter()
                    .map(|k| Keyword {
                        id: k.get("id").unwrap_or_default().to_owned(),
                        resource_name: k.get("resourceName").map(str::to_owned),
                        text: k.text.clone(),
                    })
                    .collect();
            }
            "dependencies" => f.dependencies = named_dependencies(file, c)?,
            "featured" => f.featured = c.texts_of("productId"),
            _ => f.other.push(c.clone()),
        }
    }
    Ok(f)
}
