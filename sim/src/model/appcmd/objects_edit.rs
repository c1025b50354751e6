//! `add`, `set` and `delete` of SITE, APP, VDIR and APPPOOL objects.

use iiswsgi_iisconfig::{ApplicationHost, Element};
use std::fmt::Write as _;

use super::objects::{app_name as app_name_of, records, vdir_name as vdir_name_of};
use super::{code, AppcmdError, Invocation, Object, Param};

const SITES: &str = "system.applicationHost/sites";
const POOLS: &str = "system.applicationHost/applicationPools";
const OPTIONS: [&str; 4] = ["apphostconfig", "commit", "xml", "in"];

fn required<'a>(inv: &'a Invocation, name: &str) -> Result<&'a str, AppcmdError> {
    inv.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        AppcmdError::new(
            code::INVALID_PARAMETER,
            format!("Missing required attribute \"{name}\".  Replace with -? for help."),
        )
    })
}

fn duplicate(kind: &str, key: &str, value: &str) -> AppcmdError {
    AppcmdError::new(code::ALREADY_EXISTS, format!("Cannot add duplicate collection entry of type '{kind}' with unique key attribute '{key}' set to '{value}'"))
}

fn vdir_element(path: &str, physical: &str) -> Element {
    Element::new("virtualDirectory")
        .with_attr("path", path)
        .with_attr("physicalPath", physical)
}

fn binding_elements(spec: &str) -> Result<Vec<Element>, AppcmdError> {
    spec.split(',')
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            let (proto, info) = b.split_once('/').ok_or_else(|| {
                AppcmdError::new(
                    code::INVALID_DATA,
                    format!(
                        "Invalid binding \"{b}\": write protocol/IP:port:host, e.g. http/*:80:"
                    ),
                )
            })?;
            if info.matches(':').count() != 2 {
                return Err(AppcmdError::new(
                    code::INVALID_DATA,
                    format!(
                        "Invalid binding information \"{info}\": write IP:port:host, e.g. *:80:"
                    ),
                ));
            }
            Ok(Element::new("binding")
                .with_attr("protocol", proto)
                .with_attr("bindingInformation", info))
        })
        .collect()
}

fn add_site(inv: &Invocation, host: &mut ApplicationHost) -> Result<String, AppcmdError> {
    let name = required(inv, "name")?.to_owned();
    let existing = records(host, Object::Site);
    if existing.iter().any(|r| r.name.eq_ignore_ascii_case(&name)) {
        return Err(duplicate("site", "name", &name));
    }
    let ids: Vec<u32> = existing
        .iter()
        .filter_map(|r| r.prop("SITE.ID")?.parse().ok())
        .collect();
    let id = match inv.get("id") {
        Some(v) => {
            let id: u32 = v.parse().map_err(|_| AppcmdError::new(code::INVALID_DATA, format!("Can not set attribute \"id\" to value \"{v}\".. Reason: Not a valid unsigned integer.")))?;
            if ids.contains(&id) {
                return Err(duplicate("site", "id", v));
            }
            id
        }
        None => ids.iter().max().map_or(1, |m| m + 1),
    };
    let mut site = Element::new("site")
        .with_attr("name", &name)
        .with_attr("id", &id.to_string());
    let mut out = format!("SITE object \"{name}\" added\n");
    if let Some(physical) = inv.get("physicalPath") {
        let mut app = Element::new("application").with_attr("path", "/");
        app.append(vdir_element("/", physical));
        site.append(app);
        let _ = write!(
            out,
            "APP object \"{name}/\" added\nVDIR object \"{name}/\" added\n"
        );
    }
    let mut bindings = Element::new("bindings");
    for b in binding_elements(inv.get("bindings").unwrap_or(""))? {
        bindings.append(b);
    }
    site.append(bindings);
    let sites = host.document_mut().root_mut().ensure_path(SITES);
    sites.append(site);
    sites.move_before_first_named(&[
        "siteDefaults",
        "applicationDefaults",
        "virtualDirectoryDefaults",
    ]);
    Ok(out)
}

fn find_site<'a>(
    host: &'a mut ApplicationHost,
    name: &str,
) -> Result<&'a mut Element, AppcmdError> {
    host.document_mut()
        .root_mut()
        .ensure_path(SITES)
        .elements_mut()
        .find(|e| {
            e.name() == "site" && e.attr("name").is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| AppcmdError::not_found("SITE", name))
}

/// The site and application paths of an `APP.NAME` (`Site/app` → `Site`, `/app`).
fn split_app_name(host: &ApplicationHost, app: &str) -> Option<(String, String)> {
    records(host, Object::App)
        .into_iter()
        .find(|r| r.name.eq_ignore_ascii_case(app))
        .and_then(|r| Some((r.prop("SITE.NAME")?, r.prop("path")?)))
}

fn find_app<'a>(host: &'a mut ApplicationHost, app: &str) -> Result<&'a mut Element, AppcmdError> {
    let (site, path) =
        split_app_name(host, app).ok_or_else(|| AppcmdError::not_found("APP", app))?;
    find_site(host, &site)?
        .elements_mut()
        .find(|e| {
            e.name() == "application"
                && e.attr("path")
                    .is_some_and(|p| p.eq_ignore_ascii_case(&path))
        })
        .ok_or_else(|| AppcmdError::not_found("APP", app))
}

fn add_app(inv: &Invocation, host: &mut ApplicationHost) -> Result<String, AppcmdError> {
    let site = required(inv, "site.name")?.to_owned();
    let path = required(inv, "path")?.to_owned();
    if !path.starts_with('/') {
        return Err(AppcmdError::new(code::INVALID_DATA, format!("Can not set attribute \"path\" to value \"{path}\".. Reason: The application path must begin with '/'.")));
    }
    let site_el = find_site(host, &site)?;
    let site_name = site_el.attr("name").unwrap_or(&site).to_owned();
    if site_el.elements().any(|e| {
        e.name() == "application"
            && e.attr("path")
                .is_some_and(|p| p.eq_ignore_ascii_case(&path))
    }) {
        return Err(duplicate("application", "path", &path));
    }
    let mut app = Element::new("application").with_attr("path", &path);
    if let Some(pool) = inv.get("applicationPool") {
        app.set_attr("applicationPool", pool);
    }
    let name = app_name_of(&site_name, &path);
    let mut out = format!("APP object \"{name}\" added\n");
    if let Some(physical) = inv.get("physicalPath") {
        app.append(vdir_element("/", physical));
        let _ = writeln!(out, "VDIR object \"{}\" added", vdir_name_of(&name, "/"));
    }
    site_el.append(app);
    site_el.move_before_first_named(&["bindings"]);
    Ok(out)
}

fn add_vdir(inv: &Invocation, host: &mut ApplicationHost) -> Result<String, AppcmdError> {
    let app = required(inv, "app.name")?.to_owned();
    let path = required(inv, "path")?.to_owned();
    let physical = inv.get("physicalPath").unwrap_or("").to_owned();
    let app_el = find_app(host, &app)?;
    if app_el.elements().any(|e| {
        e.name() == "virtualDirectory"
            && e.attr("path")
                .is_some_and(|p| p.eq_ignore_ascii_case(&path))
    }) {
        return Err(duplicate("virtualDirectory", "path", &path));
    }
    app_el.append(vdir_element(&path, &physical));
    Ok(format!(
        "VDIR object \"{}\" added\n",
        vdir_name_of(&app, &path)
    ))
}

fn add_pool(inv: &Invocation, host: &mut ApplicationHost) -> Result<String, AppcmdError> {
    let name = required(inv, "name")?.to_owned();
    if records(host, Object::AppPool)
        .iter()
        .any(|r| r.name.eq_ignore_ascii_case(&name))
    {
        return Err(duplicate("add", "name", &name));
    }
    let mut pool = Element::new("add").with_attr("name", &name);
    set_attributes(inv, &mut pool, &["name"])?;
    let pools = host.document_mut().root_mut().ensure_path(POOLS);
    pools.append(pool);
    pools.move_before_first_named(&["applicationPoolDefaults"]);
    Ok(format!("APPPOOL object \"{name}\" added\n"))
}

/// Applies `/name:value` (dotted names reach child elements) and collection
/// expressions to `el`, skipping the options and `skip`.
fn set_attributes(inv: &Invocation, el: &mut Element, skip: &[&str]) -> Result<(), AppcmdError> {
    for p in &inv.params {
        match p {
            Param::Named { name, value } => {
                if OPTIONS
                    .iter()
                    .chain(skip)
                    .any(|o| o.eq_ignore_ascii_case(name))
                {
                    continue;
                }
                let value = value.clone().unwrap_or_default();
                if name.eq_ignore_ascii_case("bindings") && el.name() == "site" {
                    let list = binding_elements(&value)?;
                    let b = el.ensure_path("bindings");
                    b.remove_where(|e| e.name() == "binding");
                    for x in list {
                        b.append(x);
                    }
                    continue;
                }
                let (path, attr) = name
                    .rsplit_once('.')
                    .map_or((None, name.as_str()), |(p, a)| (Some(p), a));
                let target = match path {
                    Some(p) => el.ensure_path(&p.replace('.', "/")),
                    None => el,
                };
                target.set_attr(attr, &value);
            }
            other => super::config::apply(el, other)?,
        }
    }
    Ok(())
}

fn locate<'a>(
    inv: &Invocation,
    host: &'a mut ApplicationHost,
) -> Result<(&'a mut Element, String), AppcmdError> {
    let id = inv.id.clone().or_else(|| match inv.object {
        Object::Site | Object::AppPool => inv.get("name").map(str::to_owned),
        Object::App | Object::Vdir => inv.get("app.name").map(str::to_owned),
        _ => None,
    });
    let Some(id) = id else {
        return Err(AppcmdError::new(
            code::INVALID_PARAMETER,
            format!("Must specify the {} object identifier.", inv.object.word()),
        ));
    };
    let recs = records(host, inv.object);
    let Some(rec) = recs.iter().find(|r| r.name.eq_ignore_ascii_case(&id)) else {
        if inv.object == Object::Vdir
            && recs.iter().any(|r| {
                r.name
                    .to_ascii_lowercase()
                    .starts_with(&id.to_ascii_lowercase())
            })
        {
            return Err(AppcmdError::new(
                code::NOT_SUPPORTED,
                format!(
                    "Must use exact identifer for VDIR object with verb {}.",
                    format!("{:?}", inv.verb).to_ascii_uppercase()
                ),
            ));
        }
        return Err(AppcmdError::not_found(inv.object.word(), &id));
    };
    let name = rec.name.clone();
    let el = match inv.object {
        Object::Site => find_site(host, &name)?,
        Object::App => find_app(host, &name)?,
        Object::Vdir => {
            let app = rec.prop("APP.NAME").unwrap_or_default();
            let vpath = rec.prop("path").unwrap_or_default();
            find_app(host, &app)?
                .elements_mut()
                .find(|e| {
                    e.name() == "virtualDirectory"
                        && e.attr("path")
                            .is_some_and(|p| p.eq_ignore_ascii_case(&vpath))
                })
                .ok_or_else(|| AppcmdError::not_found("VDIR", &name))?
        }
        _ => host
            .document_mut()
            .root_mut()
            .ensure_path(POOLS)
            .elements_mut()
            .find(|e| {
                e.name() == "add"
                    && e.attr("name")
                        .is_some_and(|n| n.eq_ignore_ascii_case(&name))
            })
            .ok_or_else(|| AppcmdError::not_found("APPPOOL", &name))?,
    };
    Ok((el, name))
}

pub(super) fn add(inv: &Invocation, host: &mut ApplicationHost) -> Result<String, AppcmdError> {
    match inv.object {
        Object::Site => add_site(inv, host),
        Object::App => add_app(inv, host),
        Object::Vdir => add_vdir(inv, host),
        _ => add_pool(inv, host),
    }
}

pub(super) fn set(inv: &Invocation, host: &mut ApplicationHost) -> Result<String, AppcmdError> {
    let kind = inv.object.word();
    let (el, name) = locate(inv, host)?;
    set_attributes(inv, el, &[])?;
    Ok(format!("{kind} object \"{name}\" changed\n"))
}

pub(super) fn delete(inv: &Invocation, host: &mut ApplicationHost) -> Result<String, AppcmdError> {
    let kind = inv.object.word();
    let (el, name) = locate(inv, host)?;
    // Mark the element, then remove it from its parent.
    el.set_attr("__iiswsgi_delete", "1");
    remove_marked(host.document_mut().root_mut());
    Ok(format!("{kind} object \"{name}\" deleted\n"))
}

fn remove_marked(e: &mut Element) -> bool {
    if e.remove_where(|c| c.attr("__iiswsgi_delete").is_some()) > 0 {
        return true;
    }
    e.elements_mut().any(remove_marked)
}
