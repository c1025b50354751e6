//! SITE, APP, VDIR and APPPOOL: listing with appcmd's identifiers and
//! filters, and `add`, `set`, `delete`.

use iiswsgi_iisconfig::{ApplicationHost, Element};

use super::render::{xml_document, Record};
use super::{code, AppcmdError, Invocation, Object, Param, Verb};

const SITES: &str = "system.applicationHost/sites";
const POOLS: &str = "system.applicationHost/applicationPools";

/// `APP.NAME` of application `path` in site `site`.
pub fn app_name(site: &str, path: &str) -> String {
    format!(
        "{site}{}",
        if path == "/" {
            "/".to_owned()
        } else {
            path.to_owned()
        }
    )
}

/// `VDIR.NAME` of virtual directory `vpath` in the application named `app`.
pub fn vdir_name(app: &str, vpath: &str) -> String {
    let app = app.trim_end_matches('/');
    format!("{app}/{}", vpath.trim_start_matches('/'))
}

fn sites_el(host: &ApplicationHost) -> Option<&Element> {
    host.document().root().descendant(SITES)
}

fn default_pool(host: &ApplicationHost) -> String {
    sites_el(host)
        .and_then(|s| s.child("applicationDefaults"))
        .and_then(|d| d.attr("applicationPool"))
        .unwrap_or("DefaultAppPool")
        .to_owned()
}

fn site_elements(host: &ApplicationHost) -> impl Iterator<Item = &Element> {
    sites_el(host)
        .into_iter()
        .flat_map(Element::elements)
        .filter(|e| e.name() == "site")
}

fn bindings_of(site: &Element) -> String {
    site.child("bindings")
        .into_iter()
        .flat_map(Element::elements)
        .filter(|b| b.name() == "binding")
        .map(|b| {
            format!(
                "{}/{}",
                b.attr("protocol").unwrap_or(""),
                b.attr("bindingInformation").unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Every object of a kind, in configuration order.
pub fn records(host: &ApplicationHost, object: Object) -> Vec<Record> {
    let mut out = Vec::new();
    match object {
        Object::Site => site_records(host, &mut out),
        Object::App | Object::Vdir => app_records(host, object, &mut out),
        Object::AppPool => pool_records(host, &mut out),
        Object::Config | Object::Backup => {}
    }
    out
}

fn site_records(host: &ApplicationHost, out: &mut Vec<Record>) {
    for s in site_elements(host) {
        let name = s.attr("name").unwrap_or("").to_owned();
        let id = s.attr("id").unwrap_or("").to_owned();
        let bindings = bindings_of(s);
        out.push(Record {
            kind: "SITE",
            name: name.clone(),
            props: vec![
                ("SITE.NAME".into(), name),
                ("SITE.ID".into(), id.clone()),
                ("bindings".into(), bindings.clone()),
                ("state".into(), "Started".into()),
            ],
            summary: vec![
                ("id".into(), id),
                ("bindings".into(), bindings),
                ("state".into(), "Started".into()),
            ],
            element: Some(s.clone()),
        });
    }
}

fn app_records(host: &ApplicationHost, object: Object, out: &mut Vec<Record>) {
    let pool = default_pool(host);
    for s in site_elements(host) {
        let site = s.attr("name").unwrap_or("");
        for a in s.elements().filter(|e| e.name() == "application") {
            let path = a.attr("path").unwrap_or("/");
            let name = app_name(site, path);
            let app_pool = a.attr("applicationPool").unwrap_or(&pool).to_owned();
            if object == Object::App {
                out.push(Record {
                    kind: "APP",
                    name: name.clone(),
                    props: vec![
                        ("path".into(), path.to_owned()),
                        ("APP.NAME".into(), name.clone()),
                        ("APPPOOL.NAME".into(), app_pool.clone()),
                        ("SITE.NAME".into(), site.to_owned()),
                    ],
                    summary: vec![("applicationPool".into(), app_pool)],
                    element: Some(a.clone()),
                });
                continue;
            }
            for v in a.elements().filter(|e| e.name() == "virtualDirectory") {
                let vpath = v.attr("path").unwrap_or("/");
                let physical = v.attr("physicalPath").unwrap_or("").to_owned();
                let vname = vdir_name(&name, vpath);
                out.push(Record {
                    kind: "VDIR",
                    name: vname.clone(),
                    props: vec![
                        ("VDIR.NAME".into(), vname),
                        ("APP.NAME".into(), name.clone()),
                        ("path".into(), vpath.to_owned()),
                        ("physicalPath".into(), physical.clone()),
                    ],
                    summary: vec![("physicalPath".into(), physical)],
                    element: Some(v.clone()),
                });
            }
        }
    }
}

fn pool_records(host: &ApplicationHost, out: &mut Vec<Record>) {
    let pools = host.document().root().descendant(POOLS);
    let defaults = pools.and_then(|p| p.child("applicationPoolDefaults"));
    let dflt = |k: &str, d: &str| defaults.and_then(|e| e.attr(k)).unwrap_or(d).to_owned();
    for p in pools
        .into_iter()
        .flat_map(Element::elements)
        .filter(|e| e.name() == "add")
    {
        let name = p.attr("name").unwrap_or("").to_owned();
        let ver = p
            .attr("managedRuntimeVersion")
            .map_or_else(|| dflt("managedRuntimeVersion", "v4.0"), str::to_owned);
        let mode = p
            .attr("managedPipelineMode")
            .map_or_else(|| dflt("managedPipelineMode", "Integrated"), str::to_owned);
        out.push(Record {
            kind: "APPPOOL",
            name: name.clone(),
            props: vec![
                ("APPPOOL.NAME".into(), name),
                ("PipelineMode".into(), mode.clone()),
                ("RuntimeVersion".into(), ver.clone()),
                ("state".into(), "Started".into()),
            ],
            summary: vec![
                ("MgdVersion".into(), ver),
                ("MgdMode".into(), mode),
                ("state".into(), "Started".into()),
            ],
            element: Some(p.clone()),
        });
    }
}

/// The options that are not filters.
const OPTIONS: [&str; 6] = ["xml", "text", "config", "apphostconfig", "in", "commit"];

fn list(inv: &Invocation, host: &ApplicationHost) -> Result<String, AppcmdError> {
    let mut recs = records(host, inv.object);
    if let Some(id) = &inv.id {
        recs.retain(|r| r.name.eq_ignore_ascii_case(id));
        if recs.is_empty() {
            return Err(AppcmdError::not_found(inv.object.word(), id));
        }
    }
    for p in &inv.params {
        let Param::Named {
            name,
            value: Some(want),
        } = p
        else {
            continue;
        };
        if OPTIONS.iter().any(|o| o.eq_ignore_ascii_case(name)) {
            continue;
        }
        let exact: Vec<Record> = recs
            .iter()
            .filter(|r| r.prop(name).is_some_and(|v| v.eq_ignore_ascii_case(want)))
            .cloned()
            .collect();
        recs = if exact.is_empty() && name.eq_ignore_ascii_case("app.name") {
            // appcmd's quirk: /app.name: matches the application whose name is
            // the longest prefix of the value.
            let best = recs
                .iter()
                .filter_map(|r| r.prop("APP.NAME"))
                .filter(|n| {
                    want.to_ascii_lowercase()
                        .starts_with(&n.to_ascii_lowercase())
                })
                .max_by_key(String::len);
            recs.into_iter()
                .filter(|r| {
                    best.as_ref()
                        .is_some_and(|b| r.prop("APP.NAME").as_ref() == Some(b))
                })
                .collect()
        } else {
            exact
        };
    }
    if recs.is_empty() {
        return Err(AppcmdError::new(code::NOTHING_FOUND, ""));
    }
    if inv.has("xml") {
        let body: String = recs.iter().map(|r| r.xml(inv.has("config"))).collect();
        return Ok(xml_document(&body));
    }
    if let Some(prop) = inv.get("text") {
        if prop == "*" {
            return Ok(recs.iter().map(Record::tree).collect());
        }
        return Ok(recs
            .iter()
            .filter_map(|r| r.prop(prop))
            .map(|v| format!("{v}\n"))
            .collect());
    }
    Ok(recs.iter().map(|r| format!("{}\n", r.line())).collect())
}

/// Runs a SITE, APP, VDIR or APPPOOL command; returns the output and whether
/// the configuration changed.
pub fn run(inv: &Invocation, host: &mut ApplicationHost) -> Result<(String, bool), AppcmdError> {
    match inv.verb {
        Verb::List => list(inv, host).map(|s| (s, false)),
        Verb::Add => super::objects_edit::add(inv, host).map(|s| (s, true)),
        Verb::Set => super::objects_edit::set(inv, host).map(|s| (s, true)),
        Verb::Delete => super::objects_edit::delete(inv, host).map(|s| (s, true)),
        Verb::Restore => Err(AppcmdError::new(
            code::INVALID_PARAMETER,
            format!(
                "The verb RESTORE is not supported by {} objects.",
                inv.object.word()
            ),
        )),
    }
}
