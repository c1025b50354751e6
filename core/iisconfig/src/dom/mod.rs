//! A document model for IIS's XML files that writes back what it read.
//!
//! quick-xml parses; this module keeps, for every element, the exact source
//! text of its start and end tags, and every text, comment and processing
//! instruction as it was written. An element whose attributes are changed gets
//! a regenerated start tag; everything else is written back byte for byte, so
//! an edit changes only the element edited (what `appcmd` users and diff
//! reviewers expect of `applicationHost.config`). No crate keeps source text
//! this way (quick-xml and roxmltree read; xmltree and minidom re-serialise),
//! hence this module.
//!
//! Parsing is checked: well-formedness that quick-xml leaves to the caller
//! (attribute syntax and escapes, entity references, one root, no text outside
//! it, closed elements) and no DOCTYPE at all, so no DTD, internal entity
//! expansion or external entity ever reaches IIS, Web Deploy or iiswsgi.

use std::path::Path;

use crate::error::{ConfigError, ErrorKind};

mod parse;
use parse::Parser;

/// One node of a document: an element, or source text kept as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    /// Character data, escaped as in the source.
    Text(String),
    /// A comment, a processing instruction, a CDATA section or the XML
    /// declaration, as in the source.
    Other(String),
}

/// An element with its attributes (unescaped and normalised values) and children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    /// The children, in document order, white space included.
    pub children: Vec<Node>,
    raw_start: Option<String>,
    raw_end: Option<String>,
    line: usize,
    /// The white space in front of the start tag on its line, when known.
    indent: Option<String>,
}

/// A parsed document: the nodes around the root element, and the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    bom: bool,
    nodes: Vec<Node>,
}

/// How parse errors are worded: what is wrong, and what to do.
#[derive(Debug, Clone, Copy)]
pub struct Wording {
    pub what: &'static str,
    pub hint: &'static str,
}

impl Default for Wording {
    fn default() -> Self {
        Wording {
            what: "not well-formed XML",
            hint: "fix the XML",
        }
    }
}

impl Wording {
    /// For a template checked after its variables were expanded.
    pub const AFTER_EXPANSION: Wording = Wording {
        what: "not well-formed XML after expansion",
        hint: "fix the XML of the template",
    };
}

/// Escapes an attribute value so that reading it back gives the same value
/// (white space as character references survives normalisation).
pub fn escape_attr(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes character data.
pub fn escape_text(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Drops characters XML 1.0 does not allow in a document.
pub fn xml_chars(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect()
}

impl Document {
    /// Parses and checks `text`, read from `file` (named in errors).
    pub fn parse(file: &Path, text: &str) -> Result<Document, ConfigError> {
        Self::parse_with(file, text, Wording::default())
    }

    /// As [`Document::parse`], with errors worded for the caller.
    pub fn parse_with(file: &Path, text: &str, wording: Wording) -> Result<Document, ConfigError> {
        Parser {
            file,
            text,
            wording,
        }
        .parse()
    }

    /// Parses an IIS configuration file: checked XML whose root is
    /// `<configuration>` (`kind` names the file in the error).
    pub fn parse_configuration(
        file: &Path,
        text: &str,
        wording: Wording,
        kind: &str,
    ) -> Result<Document, ConfigError> {
        let doc = Self::parse_with(file, text, wording)?;
        if doc.root().name() != "configuration" {
            return Err(ConfigError::at(
                ErrorKind::Invalid,
                file,
                doc.root().line(),
                format!(
                    "the root element is <{}>, not <configuration>",
                    doc.root().name()
                ),
                format!("{kind} holds one <configuration> element"),
            ));
        }
        Ok(doc)
    }

    /// A new document: an XML declaration and an empty root element.
    pub fn new(root: &str) -> Document {
        Document {
            bom: false,
            nodes: vec![
                Node::Other("<?xml version=\"1.0\" encoding=\"UTF-8\"?>".into()),
                Node::Text("\n".into()),
                Node::Element(Element {
                    indent: Some(String::new()),
                    ..Element::new(root)
                }),
                Node::Text("\n".into()),
            ],
        }
    }

    pub fn root(&self) -> &Element {
        self.nodes
            .iter()
            .find_map(|n| match n {
                Node::Element(e) => Some(e),
                _ => None,
            })
            .unwrap_or(&EMPTY)
    }

    pub fn root_mut(&mut self) -> &mut Element {
        if !self.nodes.iter().any(|n| matches!(n, Node::Element(_))) {
            self.nodes
                .push(Node::Element(Element::new("configuration")));
        }
        self.nodes
            .iter_mut()
            .find_map(|n| match n {
                Node::Element(e) => Some(e),
                _ => None,
            })
            .unwrap_or_else(|| unreachable!("a root element was just ensured"))
    }

    /// The document as text: unchanged parts exactly as read.
    pub fn write(&self) -> String {
        let mut out = String::new();
        if self.bom {
            out.push('\u{feff}');
        }
        for n in &self.nodes {
            write_node(n, &mut out);
        }
        out
    }
}

static EMPTY: Element = Element {
    name: String::new(),
    attrs: Vec::new(),
    children: Vec::new(),
    raw_start: None,
    raw_end: None,
    line: 0,
    indent: None,
};

fn write_node(n: &Node, out: &mut String) {
    match n {
        Node::Element(e) => e.write(out),
        Node::Text(t) | Node::Other(t) => out.push_str(t),
    }
}

impl Element {
    /// A new element with no attributes or children.
    pub fn new(name: &str) -> Element {
        Element {
            name: name.to_owned(),
            attrs: Vec::new(),
            children: Vec::new(),
            raw_start: None,
            raw_end: None,
            line: 0,
            indent: None,
        }
    }

    /// Builder form of [`Element::set_attr`].
    #[must_use]
    pub fn with_attr(mut self, name: &str, value: &str) -> Element {
        self.set_attr(name, value);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 1-based source line of the start tag (0 for a new element).
    pub fn line(&self) -> usize {
        self.line
    }

    /// Whether this element was read from the source and not changed since.
    pub fn is_unchanged(&self) -> bool {
        self.raw_start.is_some()
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn attrs(&self) -> &[(String, String)] {
        &self.attrs
    }

    /// Sets an attribute (added last when new); the start tag is rewritten
    /// only when the value changes.
    pub fn set_attr(&mut self, name: &str, value: &str) {
        match self.attrs.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) if v == value => return,
            Some((_, v)) => value.clone_into(v),
            None => self.attrs.push((name.to_owned(), value.to_owned())),
        }
        self.raw_start = None;
    }

    /// Removes an attribute; returns whether it was there.
    pub fn remove_attr(&mut self, name: &str) -> bool {
        let before = self.attrs.len();
        self.attrs.retain(|(k, _)| k != name);
        let removed = self.attrs.len() != before;
        if removed {
            self.raw_start = None;
        }
        removed
    }

    /// The element's character data (its text children, unescaped, joined).
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(
                    quick_xml::escape::unescape(t)
                        .map_or_else(|_| t.clone(), std::borrow::Cow::into_owned),
                ),
                _ => None,
            })
            .collect()
    }

    /// The child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The child elements, mutably.
    pub fn elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.elements_mut().find(|e| e.name == name)
    }

    /// The element at a `/`-separated path of child names below this one.
    pub fn descendant(&self, path: &str) -> Option<&Element> {
        path.split('/')
            .filter(|s| !s.is_empty())
            .try_fold(self, |e, name| e.child(name))
    }

    /// The element at a `/`-separated path of child names, mutably.
    pub fn descendant_mut(&mut self, path: &str) -> Option<&mut Element> {
        path.split('/')
            .filter(|s| !s.is_empty())
            .try_fold(self, |e, name| e.child_mut(name))
    }

    /// Moves the last child element (with the white space before it) in front
    /// of the first child element named one of `names`, when that comes
    /// earlier: IIS's schema orders some children (sites before
    /// `siteDefaults`, applications before `bindings`).
    pub fn move_before_first_named(&mut self, names: &[&str]) {
        let last = self
            .children
            .iter()
            .rposition(|n| matches!(n, Node::Element(_)));
        let first = self
            .children
            .iter()
            .position(|n| matches!(n, Node::Element(e) if names.contains(&e.name())));
        let (Some(last), Some(first)) = (last, first) else {
            return;
        };
        if first >= last {
            return;
        }
        let el = self.children.remove(last);
        let ws = match last.checked_sub(1).map(|i| &self.children[i]) {
            Some(Node::Text(t)) if t.trim().is_empty() => Some(self.children.remove(last - 1)),
            _ => None,
        };
        self.children.insert(first, el);
        if let Some(ws) = ws {
            self.children.insert(first + 1, ws);
        }
    }

    /// The element at a `/`-separated path, created (appended) where missing.
    pub fn ensure_path(&mut self, path: &str) -> &mut Element {
        let mut cur = self;
        for name in path.split('/').filter(|s| !s.is_empty()) {
            let idx = match cur
                .children
                .iter()
                .position(|n| matches!(n, Node::Element(e) if e.name == name))
            {
                Some(i) => i,
                None => cur.append(Element::new(name)),
            };
            cur = match &mut cur.children[idx] {
                Node::Element(e) => e,
                _ => unreachable!("the index names an element"),
            };
        }
        cur
    }

    /// Appends a child element after the last child element, indented as its
    /// siblings are (or one level below this element); returns its index in
    /// `children`.
    pub fn append(&mut self, mut child: Element) -> usize {
        if self.line == 0 && self.raw_start.is_none() && self.indent.is_none() {
            // A detached new element: laid out when it is attached.
            self.children.push(Node::Element(child));
            return self.children.len() - 1;
        }
        let (child_indent, close_indent) = self.children_indent().unwrap_or_else(|| {
            let own = self.indent.clone().unwrap_or_default();
            (format!("{own}  "), own)
        });
        let own = self.indent.as_deref().unwrap_or("");
        let unit = child_indent
            .strip_prefix(own)
            .filter(|u| !u.is_empty())
            .unwrap_or("  ")
            .to_owned();
        child.reindent(&child_indent, &unit);
        if self.children.is_empty() {
            if let Some(raw) = &self.raw_start {
                if raw.ends_with("/>") {
                    let open = raw.trim_end_matches("/>").trim_end();
                    self.raw_start = Some(format!("{open}>"));
                }
            }
            self.children.push(Node::Text(format!("\n{child_indent}")));
            self.children.push(Node::Element(child));
            self.children.push(Node::Text(format!("\n{close_indent}")));
            return 1;
        }
        let at = match self.children.last() {
            Some(Node::Text(t)) if t.trim().is_empty() => self.children.len() - 1,
            _ => self.children.len(),
        };
        self.children
            .insert(at, Node::Text(format!("\n{child_indent}")));
        self.children.insert(at + 1, Node::Element(child));
        at + 1
    }

    /// Removes the child elements for which `remove` holds, with the white
    /// space that led up to each; returns how many were removed.
    pub fn remove_where(&mut self, mut remove: impl FnMut(&Element) -> bool) -> usize {
        let mut removed = 0;
        let mut i = 0;
        while i < self.children.len() {
            let hit = matches!(&self.children[i], Node::Element(e) if remove(e));
            if !hit {
                i += 1;
                continue;
            }
            self.children.remove(i);
            removed += 1;
            if i > 0 && matches!(&self.children[i - 1], Node::Text(t) if t.trim().is_empty()) {
                self.children.remove(i - 1);
                i -= 1;
            }
        }
        removed
    }

    /// The indentation of this element's child elements and of its end tag,
    /// from the white space in front of them; `None` without child elements.
    fn children_indent(&self) -> Option<(String, String)> {
        let mut child = None;
        for (i, n) in self.children.iter().enumerate() {
            if let Node::Element(_) = n {
                if let Some(Node::Text(t)) = i.checked_sub(1).and_then(|p| self.children.get(p)) {
                    child = Some(indent_of(t));
                }
                break;
            }
        }
        let child = child?;
        let close = match self.children.last() {
            Some(Node::Text(t)) if t.contains('\n') => indent_of(t),
            _ => String::new(),
        };
        Some((child, close))
    }

    /// Lays out a new element's subtree below `indent` (only elements made
    /// here, never read ones, have no white space of their own).
    fn reindent(&mut self, indent: &str, unit: &str) {
        self.indent = Some(indent.to_owned());
        if self.raw_start.is_some() || self.children.is_empty() {
            return;
        }
        let inner = format!("{indent}{unit}");
        let kids = std::mem::take(&mut self.children);
        for n in kids {
            match n {
                Node::Text(t) if t.trim().is_empty() => {}
                Node::Element(mut e) => {
                    e.reindent(&inner, unit);
                    self.children.push(Node::Text(format!("\n{inner}")));
                    self.children.push(Node::Element(e));
                }
                other => self.children.push(other),
            }
        }
        self.children.push(Node::Text(format!("\n{indent}")));
    }

    fn write(&self, out: &mut String) {
        if let Some(raw) = &self.raw_start {
            out.push_str(raw);
        } else {
            out.push('<');
            out.push_str(&self.name);
            for (k, v) in &self.attrs {
                out.push(' ');
                out.push_str(k);
                out.push_str("=\"");
                out.push_str(&escape_attr(v));
                out.push('"');
            }
            let self_closing = self.children.is_empty() && self.raw_end.is_none();
            out.push_str(if self_closing { " />" } else { ">" });
        }
        for n in &self.children {
            write_node(n, out);
        }
        let self_closed = self.raw_start.as_ref().is_some_and(|r| r.ends_with("/>"))
            || (self.raw_start.is_none() && self.children.is_empty() && self.raw_end.is_none());
        if self_closed {
            return;
        }
        if let Some(raw) = &self.raw_end {
            out.push_str(raw);
        } else {
            out.push_str("</");
            out.push_str(&self.name);
            out.push('>');
        }
    }
}

/// The white space after the last line break of `t`.
pub(super) fn indent_of(t: &str) -> String {
    t.rsplit('\n').next().unwrap_or("").to_owned()
}
