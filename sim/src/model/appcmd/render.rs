//! appcmd's output forms for objects (`SITE "X" (id:1,…)`, `/text:PROP`,
//! `/text:*`, `/xml`) and for configuration sections.

use iiswsgi_iisconfig::dom::escape_attr;
use iiswsgi_iisconfig::Element;
use std::fmt::Write as _;

/// One object as appcmd lists it.
#[derive(Debug, Clone)]
pub struct Record {
    /// `SITE`, `APP`, `VDIR`, `APPPOOL`, `BACKUP`.
    pub kind: &'static str,
    /// The identifier (`Default Web Site/`).
    pub name: String,
    /// The identifier properties, in the order `/xml` prints them.
    pub props: Vec<(String, String)>,
    /// The properties in the parenthesis of the text line.
    pub summary: Vec<(String, String)>,
    /// The configuration element behind the object (for `/text:*` and `/config`).
    pub element: Option<Element>,
}

impl Record {
    /// A property by name (identifier properties, then the element's attributes).
    pub fn prop(&self, name: &str) -> Option<String> {
        self.props
            .iter()
            .chain(self.summary.iter())
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .or_else(|| {
                self.element.as_ref().and_then(|e| {
                    e.attrs()
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                })
            })
    }

    /// `SITE "Default Web Site" (id:1,bindings:http/*:80:,state:Started)`.
    pub fn line(&self) -> String {
        let inner: Vec<String> = self
            .summary
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        if inner.is_empty() {
            format!("{} \"{}\"", self.kind, self.name)
        } else {
            format!("{} \"{}\" ({})", self.kind, self.name, inner.join(","))
        }
    }

    /// The `/text:*` tree.
    pub fn tree(&self) -> String {
        let mut out = format!("{}\n", self.kind);
        for (k, v) in &self.props {
            let _ = writeln!(out, "  {k}: {v}");
        }
        if let Some(e) = &self.element {
            tree_element(e, 1, &mut out);
        }
        out
    }

    /// The `<SITE … />` element of `/xml` (with the configuration inside for `/config`).
    pub fn xml(&self, with_config: bool) -> String {
        let attrs: String = self
            .props
            .iter()
            .map(|(k, v)| format!(" {k}=\"{}\"", escape_attr(v)))
            .collect();
        match (&self.element, with_config) {
            (Some(e), true) => {
                let mut inner = String::new();
                element_xml(e, 2, &mut inner, &|_| Vec::new());
                format!("    <{}{attrs}>\n{inner}    </{}>\n", self.kind, self.kind)
            }
            _ => format!("    <{}{attrs} />\n", self.kind),
        }
    }
}

fn tree_element(e: &Element, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(out, "{pad}[{}]", e.name());
    for (k, v) in e.attrs() {
        let _ = writeln!(out, "{pad}  {k}:\"{v}\"");
    }
    for c in e.elements() {
        tree_element(c, depth + 1, out);
    }
}

/// The `/xml` document around `body`.
pub fn xml_document(body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<appcmd>\n{body}</appcmd>\n")
}

/// Writes `e` and its child elements, indented four spaces per level from
/// `depth`; `extra` gives attributes to add (defaults for `/config:*`).
pub fn element_xml(
    e: &Element,
    depth: usize,
    out: &mut String,
    extra: &dyn Fn(&Element) -> Vec<(String, String)>,
) {
    let pad = "    ".repeat(depth);
    out.push_str(&pad);
    out.push('<');
    out.push_str(e.name());
    let mut attrs: Vec<(String, String)> = e.attrs().to_vec();
    for (k, v) in extra(e) {
        if !attrs.iter().any(|(a, _)| a == &k) {
            attrs.push((k, v));
        }
    }
    for (k, v) in &attrs {
        let _ = write!(out, " {k}=\"{}\"", escape_attr(v));
    }
    let kids: Vec<&Element> = e.elements().collect();
    if kids.is_empty() {
        out.push_str(" />\n");
        return;
    }
    out.push_str(">\n");
    for c in kids {
        element_xml(c, depth + 1, out, extra);
    }
    let _ = writeln!(out, "{pad}</{}>", e.name());
}
