//! `iiswsgi feed`: the `WebPI` (Atom) feed for built packages.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::DeployError;
use crate::format::feed as model;
use crate::format::feed::{Author, Dependency, Text};
use crate::package::{dist_dir, sha1_file, write_atomic};
use crate::project::Project;

/// `WebPI`'s feed schema version (not the product's).
pub const WEBPI_FILE_VERSION: &str = "4.0.1.0";

/// One package in the feed.
#[derive(Debug, Clone, Serialize)]
pub struct FeedEntry {
    pub name: String,
    pub version: String,
    pub zip: PathBuf,
    pub size_kib: u64,
    pub sha1: String,
    pub installer_url: String,
}

/// What `feed` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Feed {
    pub path: PathBuf,
    pub url: String,
    pub entries: Vec<FeedEntry>,
    pub warnings: Vec<String>,
}

/// `file:` URL of an absolute path.
pub fn file_url(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    url::Url::from_file_path(&abs)
        .map(|u| u.to_string())
        .unwrap_or_else(|()| format!("file://{}", abs.display()))
}

/// Formats `template`, whose `{field}`s must be in `fields` (`{{`/`}}` escape braces).
pub fn format_template(template: &str, fields: &[(&str, String)]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|&d| d != '}').collect();
                if let Some((_, v)) = fields.iter().find(|(k, _)| *k == name) {
                    out.push_str(v);
                } else {
                    let known: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
                    return Err(format!(
                        "unknown field {{{name}}} (known: {})",
                        known.join(", ")
                    ));
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

fn check_uri(file: &Path, field: &str, value: &str) -> Result<(), DeployError> {
    match url::Url::parse(value) {
        Ok(u) if !u.cannot_be_a_base() || u.scheme() == "mailto" => Ok(()),
        _ => Err(DeployError::file(
            file,
            format!("{field} = {value:?} is not a valid URI"),
            "WebPI rejects the feed when a URI field holds anything else (an email address, a bare host): use an absolute URL such as https://example.org/",
        )),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of seconds since the epoch.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The feed's time: `SOURCE_DATE_EPOCH` when set (reproducible builds), else now.
#[allow(
    clippy::cast_possible_wrap,
    reason = "seconds since 1970 fit in i64 for the next 292 billion years"
)]
pub fn now() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    rfc3339(secs)
}

/// What an entry needs beyond the project: its package and the feed's time.
struct Package {
    zip: PathBuf,
    size_kib: u64,
    sha1: String,
    installer_url: String,
}

/// The installerURL of a project's package, from the template.
fn installer_url(
    proj: &Project,
    zip: &Path,
    url_template: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<String, DeployError> {
    let file = proj.dir.join("pyproject.toml");
    let msdeploy_file = proj.package_file_name();
    let abs_zip = std::path::absolute(zip).unwrap_or_else(|_| zip.to_path_buf());
    let fields = [
        ("name", proj.name.clone()),
        ("version", proj.version.clone()),
        (
            "letter",
            msdeploy_file
                .chars()
                .next()
                .map(String::from)
                .unwrap_or_default(),
        ),
        ("msdeploy_file", msdeploy_file.clone()),
        ("msdeploy_package", abs_zip.display().to_string()),
        ("msdeploy_package_url", file_url(&abs_zip)),
    ];
    let template = if let Some(t) = url_template.or(proj.tool.msdeploy_url_template.as_deref()) {
        t.to_string()
    } else {
        warnings.push(format!("{}: no msdeploy_url_template in [tool.iiswsgi] and no --url-template: the installerURL is the local file URL", file.display()));
        "{msdeploy_package_url}".to_string()
    };
    let url = format_template(&template, &fields).map_err(|e| {
        let source = if url_template.is_some() {
            "--url-template"
        } else {
            "[tool.iiswsgi] msdeploy_url_template"
        };
        DeployError::file(
            &file,
            format!("{source} {template:?}: {e}"),
            "use only the fields listed",
        )
    })?;
    check_uri(&file, "installerURL", &url)?;
    Ok(url)
}

/// Checks every URI field of a project's metadata.
fn check_project_uris(proj: &Project) -> Result<(), DeployError> {
    let file = proj.dir.join("pyproject.toml");
    let home = proj.home_url();
    let t = &proj.tool;
    for (field, value) in [
        ("[project.urls] home page", home.as_deref()),
        ("[tool.iiswsgi] author_url", t.author_url.as_deref()),
        ("[tool.iiswsgi] license_url", t.license_url.as_deref()),
        ("[tool.iiswsgi] display_url", t.display_url.as_deref()),
        ("[tool.iiswsgi] help_url", t.help_url.as_deref()),
        ("[tool.iiswsgi] icon_url", t.icon_url.as_deref()),
        ("[tool.iiswsgi] screenshot_url", t.screenshot_url.as_deref()),
    ] {
        if let Some(v) = value {
            check_uri(&file, field, v)?;
        }
    }
    Ok(())
}

/// The author of a project, when it names one.
fn author(proj: &Project) -> Option<Author> {
    let name = proj.authors.iter().find_map(|a| a.name.clone());
    let uri = proj.tool.author_url.clone();
    (name.is_some() || uri.is_some()).then_some(Author { name, uri })
}

/// The installer of a project's package.
fn installer(proj: &Project, pkg: &Package) -> model::Installer {
    let home = proj.home_url();
    model::Installer {
        id: Some("1".into()),
        language_ids: vec!["en".into()],
        eula_url: proj.tool.license_url.clone(),
        file: Some(model::InstallerFile {
            file_size: Some(pkg.size_kib),
            installer_url: Some(pkg.installer_url.clone()),
            display_url: proj.tool.display_url.clone().or(home.clone()),
            sha1: Some(pkg.sha1.clone()),
            ..model::InstallerFile::default()
        }),
        msdeploy: Some(model::MsDeploy {
            start_page: Some(proj.tool.start_page.clone().unwrap_or_default()),
        }),
        help_link: proj.tool.help_url.clone().or(home),
        other: Vec::new(),
    }
}

/// The feed entry of a project's package.
fn entry(proj: &Project, pkg: &Package, updated: &str) -> model::Entry {
    let home = proj.home_url();
    let t = &proj.tool;
    let rn = |what: &str| Some(format!("Entry_{}_{what}", proj.name));
    let text = |s: &str, what: &str| Text {
        text: s.to_owned(),
        resource_name: rn(what),
    };
    let mut deps = vec![Dependency::Product("WDeploy".into())];
    deps.extend(
        t.webpi_dependencies
            .iter()
            .cloned()
            .map(Dependency::Product),
    );
    let dependency = match deps.len() {
        1 => deps.remove(0),
        _ => Dependency::And(deps),
    };
    model::Entry {
        entry_type: Some("application".into()),
        product_id: proj.name.clone(),
        title: Some(text(t.title.as_deref().unwrap_or(&proj.name), "Title")),
        id: Some(home.clone().unwrap_or(format!("urn:iiswsgi:{}", proj.name))),
        version: Some(proj.version.clone()),
        summary: proj.description.as_deref().map(|d| text(d, "Summary")),
        long_summary: proj
            .long_description
            .as_deref()
            .map(|l| text(l, "LongSummary")),
        published: Some(t.published.clone().unwrap_or_else(|| updated.to_owned())),
        updated: Some(updated.to_owned()),
        links: home
            .iter()
            .map(|h| model::Link {
                rel: None,
                href: h.clone(),
            })
            .collect(),
        author: author(proj),
        images: (t.icon_url.is_some() || t.screenshot_url.is_some()).then(|| model::Images {
            icon: t.icon_url.clone(),
            screenshots: t.screenshot_url.iter().cloned().collect(),
        }),
        keywords: proj.keywords.clone(),
        // WebPI reports the product as installed when this file exists.
        discovery_hint: t
            .discovery_file
            .as_ref()
            .map(|f| model::DiscoveryHint::File {
                path: f.clone(),
                minimum_version: None,
            }),
        dependency: Some(dependency),
        related: t.webpi_related.clone(),
        installers: vec![installer(proj, pkg)],
        product_family: Some(Text::new("Applications", Some("Applications"))),
        framework_family: Some("Python".into()),
        ..model::Entry::default()
    }
}

/// The feed-level part, from the main project's metadata.
fn feed_head(main: &Project, feed_url: &str, updated: &str) -> model::Feed {
    model::Feed {
        webpi_version: Some(WEBPI_FILE_VERSION.into()),
        title: Some(Text::new(
            main.tool.title.as_deref().unwrap_or(&main.name),
            None,
        )),
        links: vec![model::Link {
            rel: Some("self".into()),
            href: feed_url.to_owned(),
        }],
        updated: Some(updated.to_owned()),
        author: author(main),
        id: Some(main.home_url().unwrap_or_else(|| feed_url.to_owned())),
        languages: vec![model::Language {
            id: "en".into(),
            name: Some("English".into()),
            default: true,
        }],
        ..model::Feed::default()
    }
}

/// Reads, hashes and sizes a project's built package.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "a file size in KiB, rounded for the feed's display field"
)]
fn package_of(
    proj: &Project,
    pdist: &Path,
    url_template: Option<&str>,
    warnings: &mut Vec<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<Package, DeployError> {
    let zip = pdist.join(proj.package_file_name());
    if !zip.is_file() {
        return Err(DeployError::file(
            &zip,
            "not found",
            format!("package it first: iiswsgi package {}", proj.dir.display()),
        ));
    }
    progress(&format!(
        "adding {} {} ({})",
        proj.name,
        proj.version,
        zip.display()
    ));
    let (sha1, size) = sha1_file(&zip)?;
    let size_kib = (size as f64 / 1024.0).round() as u64;
    let installer_url = installer_url(proj, &zip, url_template, warnings)?;
    check_project_uris(proj)?;
    Ok(Package {
        zip,
        size_kib,
        sha1,
        installer_url,
    })
}

/// Builds the feed for the project in `dir` and the packages in `packages`.
pub fn feed(
    dir: &Path,
    packages: &[PathBuf],
    dist: Option<&Path>,
    url_template: Option<&str>,
    progress: &mut dyn FnMut(&str),
) -> Result<Feed, DeployError> {
    let main = Project::load(dir)?;
    let dist = dist_dir(dir, dist);
    let feed_path = dist.join(main.feed_file_name());
    let feed_url = file_url(&feed_path);
    let pyproject = dir.join("pyproject.toml");
    let updated = now();
    let mut warnings = Vec::new();

    let mut projects = vec![(main.clone(), dist.clone())];
    for p in packages {
        let proj = Project::load(p)?;
        // A package built into the same --dist-dir, else into its own dist/.
        let own = if dist.join(proj.package_file_name()).is_file() {
            dist.clone()
        } else {
            p.join("dist")
        };
        projects.push((proj, own));
    }
    let mut entries = Vec::new();
    let mut model_entries = Vec::new();
    for (proj, pdist) in &projects {
        let pkg = package_of(proj, pdist, url_template, &mut warnings, progress)?;
        model_entries.push(entry(proj, &pkg, &updated));
        entries.push(FeedEntry {
            name: proj.name.clone(),
            version: proj.version.clone(),
            zip: pkg.zip,
            size_kib: pkg.size_kib,
            sha1: pkg.sha1,
            installer_url: pkg.installer_url,
        });
    }

    // The feed itself, from DIR's metadata.
    for (field, value) in [
        ("[project.urls] home page", main.home_url()),
        ("[tool.iiswsgi] author_url", main.tool.author_url.clone()),
    ] {
        if let Some(v) = value {
            check_uri(&pyproject, field, &v)?;
        }
    }
    let mut xml = feed_head(&main, &feed_url, &updated);
    xml.entries = model_entries;
    let mut keywords: Vec<&String> = projects
        .iter()
        .flat_map(|(p, _)| p.keywords.iter())
        .collect();
    keywords.sort();
    keywords.dedup();
    xml.keywords = keywords
        .into_iter()
        .map(|k| model::Keyword {
            id: k.clone(),
            resource_name: None,
            text: k.clone(),
        })
        .collect();

    std::fs::create_dir_all(&dist).map_err(|e| DeployError::write(&dist, e))?;
    progress(&format!("writing {}", feed_path.display()));
    write_atomic(&feed_path, xml.to_xml().as_bytes())?;
    Ok(Feed {
        path: feed_path,
        url: feed_url,
        entries,
        warnings,
    })
}
