//! `iiswsgi feed`: the WebPI (Atom) feed for built packages.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use quick_xml::escape::escape;
use serde::Serialize;

use crate::error::DeployError;
use crate::package::{dist_dir, sha1_file, write_atomic};
use crate::project::Project;

/// WebPI's feed schema version (not the product's).
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
                match fields.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        let known: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
                        return Err(format!(
                            "unknown field {{{name}}} (known: {})",
                            known.join(", ")
                        ));
                    }
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

struct Xml(String);

impl Xml {
    fn open(&mut self, indent: usize, tag: &str) {
        let _ = writeln!(self.0, "{:indent$}<{tag}>", "");
    }
    fn close(&mut self, indent: usize, tag: &str) {
        let name = tag.split(' ').next().unwrap_or(tag);
        let _ = writeln!(self.0, "{:indent$}</{name}>", "");
    }
    fn leaf(&mut self, indent: usize, tag: &str, text: &str) {
        let name = tag.split(' ').next().unwrap_or(tag);
        let text = crate::xmlcheck::xml_chars(text);
        let _ = writeln!(self.0, "{:indent$}<{tag}>{}</{name}>", "", escape(&text));
    }
    fn empty(&mut self, indent: usize, tag: &str) {
        let _ = writeln!(self.0, "{:indent$}<{tag} />", "");
    }
}

fn attr(v: &str) -> String {
    escape(v).into_owned()
}

/// Checks one project's package and metadata: the zip exists, the
/// installerURL and every URI field are valid. Returns the feed's entry for it.
fn check_package(
    proj: &Project,
    pdist: &Path,
    url_template: Option<&str>,
    warnings: &mut Vec<String>,
    progress: &mut dyn FnMut(&str),
) -> Result<FeedEntry, DeployError> {
    let file = proj.dir.join("pyproject.toml");
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
    let msdeploy_file = proj.package_file_name();
    let abs_zip = std::path::absolute(&zip).unwrap_or_else(|_| zip.clone());
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
    let template = match url_template.or(proj.tool.msdeploy_url_template.as_deref()) {
        Some(t) => t.to_string(),
        None => {
            warnings.push(format!("{}: no msdeploy_url_template in [tool.iiswsgi] and no --url-template: the installerURL is the local file URL", file.display()));
            "{msdeploy_package_url}".to_string()
        }
    };
    let installer_url = format_template(&template, &fields).map_err(|e| {
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
    check_uri(&file, "installerURL", &installer_url)?;
    let home = proj.home_url();
    for (field, value) in [
        ("[project.urls] home page", home.as_deref()),
        ("[tool.iiswsgi] author_url", proj.tool.author_url.as_deref()),
        (
            "[tool.iiswsgi] license_url",
            proj.tool.license_url.as_deref(),
        ),
        (
            "[tool.iiswsgi] display_url",
            proj.tool.display_url.as_deref(),
        ),
        ("[tool.iiswsgi] help_url", proj.tool.help_url.as_deref()),
        ("[tool.iiswsgi] icon_url", proj.tool.icon_url.as_deref()),
        (
            "[tool.iiswsgi] screenshot_url",
            proj.tool.screenshot_url.as_deref(),
        ),
    ] {
        if let Some(v) = value {
            check_uri(&file, field, v)?;
        }
    }
    Ok(FeedEntry {
        name: proj.name.clone(),
        version: proj.version.clone(),
        zip,
        size_kib,
        sha1,
        installer_url,
    })
}

/// Writes the `<entry>` of one package.
fn write_entry(x: &mut Xml, proj: &Project, e: &FeedEntry, updated: &str) {
    let home = proj.home_url();
    let author_name = proj.authors.iter().find_map(|a| a.name.clone());
    let author_uri = proj.tool.author_url.clone();
    let title = proj.tool.title.clone().unwrap_or_else(|| proj.name.clone());
    let rn = |what: &str| format!("Entry_{}_{what}", proj.name);
    x.open(2, "entry type=\"application\"");
    x.leaf(4, "productId", &proj.name);
    x.leaf(
        4,
        &format!("title resourceName=\"{}\"", attr(&rn("Title"))),
        &title,
    );
    x.leaf(
        4,
        "id",
        home.as_deref()
            .unwrap_or(&format!("urn:iiswsgi:{}", proj.name)),
    );
    x.leaf(4, "version", &proj.version);
    if let Some(d) = &proj.description {
        x.leaf(
            4,
            &format!("summary resourceName=\"{}\"", attr(&rn("Summary"))),
            d,
        );
    }
    if let Some(l) = &proj.long_description {
        x.leaf(
            4,
            &format!("longSummary resourceName=\"{}\"", attr(&rn("LongSummary"))),
            l,
        );
    }
    x.leaf(
        4,
        "published",
        proj.tool.published.as_deref().unwrap_or(updated),
    );
    x.leaf(4, "updated", updated);
    if let Some(h) = &home {
        x.empty(4, &format!("link href=\"{}\"", attr(h)));
    }
    if author_name.is_some() || author_uri.is_some() {
        x.open(4, "author");
        if let Some(n) = &author_name {
            x.leaf(6, "name", n);
        }
        if let Some(u) = &author_uri {
            x.leaf(6, "uri", u);
        }
        x.close(4, "author");
    }
    if proj.tool.icon_url.is_some() || proj.tool.screenshot_url.is_some() {
        x.open(4, "images");
        if let Some(i) = &proj.tool.icon_url {
            x.leaf(6, "icon", i);
        }
        if let Some(s) = &proj.tool.screenshot_url {
            x.leaf(6, "screenshot", s);
        }
        x.close(4, "images");
    }
    if !proj.keywords.is_empty() {
        x.open(4, "keywords");
        for k in &proj.keywords {
            x.leaf(6, "keywordId", k);
        }
        x.close(4, "keywords");
    }
    if let Some(hint) = &proj.tool.discovery_file {
        // WebPI reports the product as installed when this file exists.
        x.open(4, "discoveryHint");
        x.open(6, "file");
        x.leaf(8, "filePath", hint);
        x.close(6, "file");
        x.close(4, "discoveryHint");
    }
    write_installers(x, proj, e, home.as_deref());
}

/// The `<dependency>`, `<related>`, `<installers>` and families of an entry.
fn write_installers(x: &mut Xml, proj: &Project, e: &FeedEntry, home: Option<&str>) {
    let mut deps = vec!["WDeploy".to_string()];
    deps.extend(proj.tool.webpi_dependencies.iter().cloned());
    x.open(4, "dependency");
    if deps.len() == 1 {
        x.leaf(6, "productId", &deps[0]);
    } else {
        x.open(6, "and");
        for d in &deps {
            x.open(8, "dependency");
            x.leaf(10, "productId", d);
            x.close(8, "dependency");
        }
        x.close(6, "and");
    }
    x.close(4, "dependency");
    if !proj.tool.webpi_related.is_empty() {
        x.open(4, "related");
        for r in &proj.tool.webpi_related {
            x.open(6, "relatedProduct");
            x.leaf(8, "productId", r);
            x.close(6, "relatedProduct");
        }
        x.close(4, "related");
    }
    x.open(4, "installers");
    x.open(6, "installer");
    x.leaf(8, "id", "1");
    x.leaf(8, "languageId", "en");
    if let Some(e) = &proj.tool.license_url {
        x.leaf(8, "eulaURL", e);
    }
    x.open(8, "installerFile");
    x.leaf(10, "fileSize", &e.size_kib.to_string());
    x.leaf(10, "installerURL", &e.installer_url);
    if let Some(d) = proj.tool.display_url.as_deref().or(home) {
        x.leaf(10, "displayURL", d);
    }
    x.leaf(10, "sha1", &e.sha1);
    x.close(8, "installerFile");
    x.open(8, "msDeploy");
    match &proj.tool.start_page {
        Some(p) => x.leaf(10, "startPage", p),
        None => x.empty(10, "startPage"),
    }
    x.close(8, "msDeploy");
    if let Some(h) = proj.tool.help_url.as_deref().or(home) {
        x.leaf(8, "helpLink", h);
    }
    x.close(6, "installer");
    x.close(4, "installers");
    x.leaf(
        4,
        "productFamily resourceName=\"Applications\"",
        "Applications",
    );
    x.leaf(4, "frameworkFamily", "Python");
    x.close(2, "entry");
}

/// The feed document around the `entries` XML, from the main project's metadata.
fn feed_document(
    main: &Project,
    projects: &[(Project, PathBuf)],
    feed_url: &str,
    updated: &str,
    entries: &str,
) -> Result<String, DeployError> {
    let pyproject = main.dir.join("pyproject.toml");
    // The feed itself, from DIR's metadata.
    let home = main.home_url();
    for (field, value) in [
        ("[project.urls] home page", home.as_deref()),
        ("[tool.iiswsgi] author_url", main.tool.author_url.as_deref()),
    ] {
        if let Some(v) = value {
            check_uri(&pyproject, field, v)?;
        }
    }
    let mut f = Xml(String::new());
    f.0.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    f.empty(2, &format!("webpiFile version=\"{WEBPI_FILE_VERSION}\""));
    f.leaf(2, "title", main.tool.title.as_deref().unwrap_or(&main.name));
    f.empty(2, &format!("link rel=\"self\" href=\"{}\"", attr(feed_url)));
    f.leaf(2, "updated", updated);
    let author_name = main.authors.iter().find_map(|a| a.name.clone());
    if author_name.is_some() || main.tool.author_url.is_some() {
        f.open(2, "author");
        if let Some(n) = &author_name {
            f.leaf(4, "name", n);
        }
        if let Some(u) = &main.tool.author_url {
            f.leaf(4, "uri", u);
        }
        f.close(2, "author");
    }
    f.leaf(2, "id", home.as_deref().unwrap_or(feed_url));
    f.open(2, "languages");
    f.open(4, "language default=\"true\"");
    f.leaf(6, "languageId", "en");
    f.leaf(6, "name", "English");
    f.close(4, "language");
    f.close(2, "languages");
    f.0.push_str(entries);
    let mut keywords: Vec<&String> = projects
        .iter()
        .flat_map(|(p, _)| p.keywords.iter())
        .collect();
    keywords.sort();
    keywords.dedup();
    if !keywords.is_empty() {
        f.open(2, "keywords");
        for k in keywords {
            f.leaf(4, &format!("keyword id=\"{}\"", attr(k)), k);
        }
        f.close(2, "keywords");
    }
    f.0.push_str("</feed>\n");

    Ok(f.0)
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
    let mut x = Xml(String::new());
    for (proj, pdist) in &projects {
        let entry = check_package(proj, pdist, url_template, &mut warnings, progress)?;
        write_entry(&mut x, proj, &entry, &updated);
        entries.push(entry);
    }
    let doc = feed_document(&main, &projects, &feed_url, &updated, &x.0)?;

    std::fs::create_dir_all(&dist).map_err(|e| DeployError::write(&dist, e))?;
    progress(&format!("writing {}", feed_path.display()));
    write_atomic(&feed_path, doc.as_bytes())?;
    Ok(Feed {
        path: feed_path,
        url: feed_url,
        entries,
        warnings,
    })
}
