//! `list config` and `set config`: sections by name, `<location>` paths,
//! collection expressions (`/+`, `/-`, `/[…].prop:value`), IIS's collection
//! keys and duplicate rules, `/config:*` defaults.

use iiswsgi_iisconfig::{ApplicationHost, Element, FastCgiApplication, SectionDecl};
use std::fmt::Write as _;

use super::expr::{self, Segment};
use super::render::{element_xml, xml_document};
use super::{code, AppcmdError, Invocation, Param, Verb};

/// The root configuration path of applicationHost.config.
pub const APPHOST_PATH: &str = "MACHINE/WEBROOT/APPHOST";

/// Where a `set config` is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// applicationHost.config, globally or in `<location path>`.
    AppHost { location: Option<String> },
    /// The web.config of this configuration path (`Site/app`).
    WebConfig { path: String },
}

/// The configuration path of the command (`None`: the server level).
pub fn config_path(inv: &Invocation) -> Option<String> {
    let id = inv.id.as_deref()?.trim_matches('/');
    let rest = if id.len() >= APPHOST_PATH.len()
        && id[..APPHOST_PATH.len()].eq_ignore_ascii_case(APPHOST_PATH)
    {
        id[APPHOST_PATH.len()..].trim_matches('/')
    } else {
        id
    };
    (!rest.is_empty()).then(|| rest.to_owned())
}

/// Where `set config` writes: `/commit:apphost` (or no path) → applicationHost.config.
pub fn target(inv: &Invocation) -> Target {
    let path = config_path(inv);
    let commit = inv.get("commit").unwrap_or("");
    match path {
        None => Target::AppHost { location: None },
        Some(p)
            if commit.eq_ignore_ascii_case("apphost")
                || commit.eq_ignore_ascii_case(APPHOST_PATH) =>
        {
            Target::AppHost { location: Some(p) }
        }
        Some(p) => Target::WebConfig { path: p },
    }
}

/// The declaration of the section named by `-section:` (full path, or its
/// last part when that is unique).
pub fn section(inv: &Invocation, host: &ApplicationHost) -> Result<SectionDecl, AppcmdError> {
    let want = inv
        .get("section")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            AppcmdError::new(
                code::INVALID_PARAMETER,
                "Missing required parameter \"section\".  Replace with -? for help.",
            )
        })?;
    let decls = host.section_declarations();
    if let Some(d) = decls.iter().find(|d| d.path.eq_ignore_ascii_case(want)) {
        return Ok(d.clone());
    }
    let short: Vec<&SectionDecl> = decls
        .iter()
        .filter(|d| {
            d.path
                .rsplit('/')
                .next()
                .is_some_and(|l| l.eq_ignore_ascii_case(want))
        })
        .collect();
    match short.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(AppcmdError::new(
            code::INVALID_PARAMETER,
            format!("Unknown config section \"{want}\".  Replace with ? for help."),
        )),
    }
}

/// The name of the element `/+[…]` adds to a collection element.
fn add_element(collection: &str) -> &'static str {
    match collection {
        "fastCgi" => "application",
        "environmentVariables" => "environmentVariable",
        "bindings" => "binding",
        "httpErrors" => "error",
        "staticContent" => "mimeMap",
        "sites" => "site",
        _ => "add",
    }
}

/// The key attributes of a collection entry.
fn keys(collection: &str, entry: &str, given: &[(String, String)]) -> Vec<String> {
    let k: &[&str] = match (collection, entry) {
        (_, "application") if collection == "fastCgi" => &["fullPath", "arguments"],
        (_, "environmentVariable") => &["name"],
        (_, "binding") => &["protocol", "bindingInformation"],
        (_, "error") => &["statusCode", "subStatusCode"],
        (_, "mimeMap") => &["fileExtension"],
        ("appSettings", _) => &["key"],
        ("files", _) => &["value"],
        ("fileExtensions", _) => &["fileExtension"],
        ("hiddenSegments", _) => &["segment"],
        _ => &["name"],
    };
    let mut out: Vec<String> = k.iter().map(|s| (*s).to_owned()).collect();
    if !given.iter().any(|(n, _)| out.contains(n)) {
        out = given.iter().take(1).map(|(n, _)| n.clone()).collect();
    }
    out
}

/// An attribute's value with the schema default where it is absent.
fn effective(parent: &str, e: &Element, name: &str) -> String {
    if let Some(v) = e.attr(name) {
        return v.to_owned();
    }
    if parent == "fastCgi" && e.name() == "application" {
        let app = FastCgiApplication::new(
            e.attr("fullPath").unwrap_or(""),
            e.attr("arguments").unwrap_or(""),
        );
        return app.attribute(name).unwrap_or_default();
    }
    String::new()
}

fn matches(parent: &str, e: &Element, sel: &[(String, String)]) -> bool {
    !matches!(e.name(), "clear" | "remove")
        && sel
            .iter()
            .all(|(k, v)| effective(parent, e, k).eq_ignore_ascii_case(v))
}

fn not_found_element() -> AppcmdError {
    AppcmdError::new(code::NOT_FOUND, "Cannot find requested collection element.")
}

/// Walks all but the last segment from `el`, creating named children when `create`.
fn walk<'a>(
    mut el: &'a mut Element,
    segs: &[Segment],
    create: bool,
) -> Result<&'a mut Element, AppcmdError> {
    for seg in segs {
        el = match seg {
            Segment::Child(name) => {
                if !create && el.child(name).is_none() {
                    return Err(not_found_element());
                }
                el.ensure_path(name)
            }
            Segment::Select(sel) => {
                let parent = el.name().to_owned();
                el.elements_mut()
                    .find(|e| matches(&parent, e, sel))
                    .ok_or_else(not_found_element)?
            }
        };
    }
    Ok(el)
}

fn check_attributes(
    entry: &str,
    collection: &str,
    sel: &[(String, String)],
) -> Result<(), AppcmdError> {
    let allowed: &[&str] = match (collection, entry) {
        ("fastCgi", "application") => &FastCgiApplication::ATTRIBUTES,
        (_, "environmentVariable") => &["name", "value"],
        _ => return Ok(()),
    };
    match sel.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((k, _)) => Err(AppcmdError::new(
            code::INVALID_PARAMETER,
            format!("Unknown attribute \"{k}\".  Replace with -? for help."),
        )),
        None => Ok(()),
    }
}

/// Applies one collection expression to `el` (a section or an object's element).
pub fn apply(el: &mut Element, p: &Param) -> Result<(), AppcmdError> {
    match p {
        Param::Add(e) => {
            let ex = expr::parse(e)?;
            let Some((Segment::Select(sel), head)) = ex.path.split_last() else {
                return Err(AppcmdError::new(code::INVALID_PARAMETER, format!("Malformed collection indexer \"{e}\": /+ needs [attribute='value',…] at the end.")));
            };
            let coll = walk(el, head, true)?;
            let entry = add_element(coll.name());
            let cname = coll.name().to_owned();
            check_attributes(entry, &cname, sel)?;
            let key = keys(&cname, entry, sel);
            let mut new = Element::new(entry);
            for (k, v) in sel {
                new.set_attr(k, v);
            }
            if coll.elements().any(|x| {
                x.name() == entry
                    && key.iter().all(|k| {
                        effective(&cname, x, k).eq_ignore_ascii_case(&effective(&cname, &new, k))
                    })
            }) {
                let values: Vec<String> = key.iter().map(|k| effective(&cname, &new, k)).collect();
                let msg = if key.len() > 1 {
                    format!("New {entry} object missing required attributes. Cannot add duplicate collection entry of type '{entry}' with combined key attributes '{}' respectively set to '{}'", key.join(", "), values.join(", "))
                } else {
                    format!("Cannot add duplicate collection entry of type '{entry}' with unique key attribute '{}' set to '{}'", key.join(""), values.join(""))
                };
                return Err(AppcmdError::new(code::ALREADY_EXISTS, msg));
            }
            coll.append(new);
            Ok(())
        }
        Param::Remove(e) => {
            let ex = expr::parse(e)?;
            let Some((Segment::Select(sel), head)) = ex.path.split_last() else {
                return Err(AppcmdError::new(code::INVALID_PARAMETER, format!("Malformed collection indexer \"{e}\": /- needs [attribute='value',…] at the end.")));
            };
            let coll = walk(el, head, false)?;
            let parent = coll.name().to_owned();
            let mut done = false;
            if coll.remove_where(|x| {
                !done && matches(&parent, x, sel) && {
                    done = true;
                    true
                }
            }) == 0
            {
                return Err(not_found_element());
            }
            Ok(())
        }
        Param::SetPath(e) => {
            let ex = expr::parse(e)?;
            let (Some(value), Some((Segment::Child(attr), head))) =
                (ex.value.as_ref(), ex.path.split_last())
            else {
                return Err(AppcmdError::new(code::INVALID_PARAMETER, format!("Malformed collection indexer \"{e}\": write [key='value'].attribute:value.")));
            };
            walk(el, head, false)?.set_attr(attr, value);
            Ok(())
        }
        Param::Named { .. } => Ok(()),
    }
}

const OPTIONS: [&str; 6] = [
    "section",
    "commit",
    "xml",
    "config",
    "apphostconfig",
    "text",
];

/// Applies a `set config` to the configuration root `root` (of
/// applicationHost.config or a web.config), under `<location path>` when given.
pub fn apply_set(
    root: &mut Element,
    decl: &SectionDecl,
    location: Option<&str>,
    inv: &Invocation,
) -> Result<(), AppcmdError> {
    let base = match location {
        Some(loc) => {
            let existing = root.elements().position(|e| {
                e.name() == "location"
                    && e.attr("path").is_some_and(|p| p.eq_ignore_ascii_case(loc))
            });
            if existing.is_none() {
                root.append(Element::new("location").with_attr("path", loc));
            }
            root.elements_mut()
                .find(|e| {
                    e.name() == "location"
                        && e.attr("path").is_some_and(|p| p.eq_ignore_ascii_case(loc))
                })
                .ok_or_else(not_found_element)?
        }
        None => root,
    };
    let section = base.ensure_path(&decl.path);
    for p in &inv.params {
        match p {
            Param::Named { name, value }
                if !OPTIONS.iter().any(|o| o.eq_ignore_ascii_case(name)) =>
            {
                let (path, attr) = name
                    .rsplit_once('.')
                    .map_or((None, name.as_str()), |(p, a)| (Some(p), a));
                let t = match path {
                    Some(p) => section.ensure_path(&p.replace('.', "/")),
                    None => &mut *section,
                };
                t.set_attr(attr, value.as_deref().unwrap_or(""));
            }
            Param::Named { .. } => {}
            other => apply(section, other)?,
        }
    }
    if decl.path.eq_ignore_ascii_case("system.webServer/fastCgi") {
        for e in section.elements().filter(|e| e.name() == "application") {
            FastCgiApplication::from_element(std::path::Path::new(""), e)
                .map_err(|err| invalid_value(&err))?;
        }
    }
    Ok(())
}

/// appcmd's words for a value the schema refuses.
fn invalid_value(err: &iiswsgi_iisconfig::ConfigError) -> AppcmdError {
    let message = match err {
        iiswsgi_iisconfig::ConfigError::At { message, .. } => message.clone(),
        other => other.to_string(),
    };
    let detail = message.trim_start_matches("<fastCgi><application> ");
    let text = match detail
        .split_once('=')
        .and_then(|(attr, rest)| Some((attr, rest.rsplit_once(": ")?)))
    {
        Some((attr, (value, why))) => {
            format!("Can not set attribute \"{attr}\" to value {value}.. Reason: {why}.")
        }
        None => format!("Can not set attribute. Reason: {detail}."),
    };
    AppcmdError::new(code::INVALID_DATA, text)
}

fn section_element<'a>(
    host: &'a ApplicationHost,
    decl: &SectionDecl,
    location: Option<&str>,
) -> Option<&'a Element> {
    let root = host.document().root();
    location
        .and_then(|loc| {
            root.elements()
                .find(|e| {
                    e.name() == "location"
                        && e.attr("path").is_some_and(|p| p.eq_ignore_ascii_case(loc))
                })
                .and_then(|l| l.descendant(&decl.path))
        })
        .or_else(|| root.descendant(&decl.path))
}

fn list(inv: &Invocation, host: &ApplicationHost) -> Result<String, AppcmdError> {
    let decl = section(inv, host)?;
    let path = config_path(inv);
    let leaf = decl
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&decl.path)
        .to_owned();
    let empty = Element::new(&leaf);
    let el = section_element(host, &decl, path.as_deref()).unwrap_or(&empty);
    let with_defaults = inv.get("config").is_some_and(|v| v == "*");
    let defaults = move |e: &Element| -> Vec<(String, String)> {
        if !with_defaults || e.name() != "application" {
            return Vec::new();
        }
        let app = FastCgiApplication::new(
            e.attr("fullPath").unwrap_or(""),
            e.attr("arguments").unwrap_or(""),
        );
        FastCgiApplication::ATTRIBUTES
            .iter()
            .filter_map(|k| Some(((*k).to_owned(), app.attribute(k)?)))
            .collect()
    };
    let full_path = match &path {
        Some(p) => format!("{APPHOST_PATH}/{p}"),
        None => APPHOST_PATH.to_owned(),
    };
    if inv.has("xml") {
        let mut renamed = Element::new(&decl.path.replace('/', "-"));
        for (k, v) in el.attrs() {
            renamed.set_attr(k, v);
        }
        for c in el.elements() {
            renamed
                .children
                .push(iiswsgi_iisconfig::Node::Element(c.clone()));
        }
        let mut inner = String::new();
        element_xml(&renamed, 2, &mut inner, &defaults);
        let body = format!(
            "    <CONFIG CONFIG.SECTION=\"{}\" path=\"{full_path}\" overrideMode=\"Inherit\" locked=\"false\">\n{inner}    </CONFIG>\n",
            decl.path
        );
        return Ok(xml_document(&body));
    }
    let groups: Vec<&str> = decl.path.split('/').collect();
    let mut out = String::new();
    for (i, g) in groups[..groups.len() - 1].iter().enumerate() {
        let _ = writeln!(out, "{}<{g}>", "  ".repeat(i));
    }
    let mut inner = String::new();
    element_xml(el, 0, &mut inner, &defaults);
    let pad = "  ".repeat(groups.len() - 1);
    for line in inner.lines() {
        let depth = line.len() - line.trim_start().len();
        let _ = writeln!(out, "{pad}{}{}", "  ".repeat(depth / 4), line.trim_start());
    }
    for (i, g) in groups[..groups.len() - 1].iter().enumerate().rev() {
        let _ = writeln!(out, "{}</{g}>", "  ".repeat(i));
    }
    Ok(out)
}

/// The success line of `set config`.
pub fn applied(decl: &SectionDecl, inv: &Invocation, commit: &str) -> String {
    let at = match config_path(inv) {
        Some(p) => format!("{APPHOST_PATH}/{p}"),
        None => APPHOST_PATH.to_owned(),
    };
    format!("Applied configuration changes to section \"{}\" for \"{at}\" at configuration commit path \"{commit}\"\n", decl.path)
}

/// Runs `list config`, or a `set config` committed to applicationHost.config.
pub fn run(inv: &Invocation, host: &mut ApplicationHost) -> Result<(String, bool), AppcmdError> {
    match inv.verb {
        Verb::List => list(inv, host).map(|s| (s, false)),
        Verb::Set => {
            let decl = section(inv, host)?;
            let Target::AppHost { location } = target(inv) else {
                return Err(AppcmdError::new(
                    code::INVALID_PARAMETER,
                    "set config for a web.config path is written by the file layer",
                ));
            };
            apply_set(
                host.document_mut().root_mut(),
                &decl,
                location.as_deref(),
                inv,
            )?;
            Ok((applied(&decl, inv, APPHOST_PATH), true))
        }
        _ => Err(AppcmdError::new(
            code::INVALID_PARAMETER,
            format!(
                "The verb {:?} is not supported by CONFIG objects.",
                inv.verb
            )
            .to_ascii_uppercase(),
        )),
    }
}
