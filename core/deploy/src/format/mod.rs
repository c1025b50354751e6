//! The packager's file formats as typed models, each read with `from_xml`
//! and written with `to_xml`; no file system here.
//!
//! * a Web App Gallery `Manifest.xml`, [`manifest::Manifest`];
//! * `Parameters.xml`, [`parameters::Parameters`];
//! * the `MSDeploy.MSDeployProviderOptions` blob, [`provider_options`];
//! * a `WebPI` (Atom) feed, [`feed::Feed`].
//!
//! Reading goes through the project's checked XML reader
//! ([`iiswsgi_iisconfig::Document`]: well-formedness checked, DOCTYPE
//! refused, errors with the file and line), so whatever reads these files
//! (the packager, the simulated Web Deploy and `WebPI`) reads exactly what the
//! packager writes. Each model reads into, and writes from, a [`Generic`]
//! element tree; writing indents by two spaces.

pub mod feed;
mod feed_read;
pub mod manifest;
pub mod parameters;

pub mod provider_options;

use std::fmt::Write as _;
use std::path::Path;

use iiswsgi_iisconfig::{Document, Element, Node};

use crate::error::DeployError;

/// An error reading one of the formats: the file, the line when there is
/// one, what is wrong and what to do (the checked reader's error type, so
/// that malformed XML, a refused DOCTYPE and an invalid value are told
/// apart by [`ErrorKind`]).
pub use iiswsgi_iisconfig::ConfigError as FormatError;
pub use iiswsgi_iisconfig::ErrorKind;

/// A well-formed file that is not what the format allows, at a line.
pub(crate) fn invalid(
    file: &Path,
    line: Line,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> FormatError {
    FormatError::at(ErrorKind::Invalid, file, line.0, message, hint)
}

/// A well-formed file that is not what the format allows, as a whole.
pub(crate) fn invalid_file(
    file: &Path,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> FormatError {
    FormatError::file(ErrorKind::Invalid, file, message, hint)
}

impl From<FormatError> for DeployError {
    fn from(e: FormatError) -> Self {
        match e {
            FormatError::At {
                file,
                line,
                message,
                hint,
                ..
            } => DeployError::At {
                file,
                line,
                message,
                hint,
            },
            FormatError::File {
                file,
                message,
                hint,
                ..
            } => DeployError::File {
                file,
                message,
                hint,
            },
            FormatError::Read { path, source } => DeployError::Read { path, source },
            FormatError::Write { path, source } => DeployError::Write { path, source },
        }
    }
}

/// The source line a value was read from (0 when built in code). Not part
/// of the value: equality ignores it, so a value read back from what it
/// wrote compares equal to the original.
#[derive(Debug, Clone, Copy, Default)]
pub struct Line(pub usize);

impl PartialEq for Line {
    fn eq(&self, _: &Line) -> bool {
        true
    }
}

impl Eq for Line {}

/// Attributes, in document order.
pub type Attrs = Vec<(String, String)>;

/// An element as the formats see it: attributes (unescaped), its text (when
/// it has no child elements), child elements, and where it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generic {
    pub name: String,
    pub attrs: Attrs,
    /// Character data (unescaped); empty when there are child elements.
    pub text: String,
    pub children: Vec<Generic>,
    pub line: Line,
}

impl Generic {
    pub fn new(name: &str) -> Generic {
        Generic {
            name: name.to_owned(),
            ..Generic::default()
        }
    }

    /// A leaf: `<name>text</name>`.
    pub fn leaf(name: &str, text: &str) -> Generic {
        Generic {
            text: text.to_owned(),
            ..Generic::new(name)
        }
    }

    #[must_use]
    pub fn attr(mut self, name: &str, value: &str) -> Generic {
        self.attrs.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds an attribute when there is a value.
    #[must_use]
    pub fn attr_opt(self, name: &str, value: Option<&str>) -> Generic {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    #[must_use]
    pub fn child(mut self, child: Generic) -> Generic {
        self.children.push(child);
        self
    }

    /// Appends `<name>text</name>` when there is a text.
    pub fn push_leaf(&mut self, name: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.children.push(Generic::leaf(name, t));
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An attribute named `names[0]`, else `names[1]`, …, any case.
    pub fn get_any(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| {
            self.attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        })
    }

    /// The first child element named `name`.
    pub fn find(&self, name: &str) -> Option<&Generic> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child element named `name`.
    pub fn text_of(&self, name: &str) -> Option<String> {
        self.find(name).map(|c| c.text.clone())
    }

    /// The texts of the child elements named `name`, in order.
    pub fn texts_of(&self, name: &str) -> Vec<String> {
        self.children
            .iter()
            .filter(|c| c.name == name)
            .map(|c| c.text.clone())
            .collect()
    }

    /// Reads a document's root element.
    pub fn parse(file: &Path, text: &str) -> Result<Generic, FormatError> {
        let doc = Document::parse(file, text)?;
        from_element(file, doc.root())
    }

    /// The element as a document: an XML declaration and the element.
    pub fn to_document(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        self.write(0, &mut out);
        out
    }

    fn write(&self, depth: usize, out: &mut String) {
        // Writing to a String cannot fail.
        let indent = depth * 2;
        let _ = write!(out, "{:indent$}<{}", "", self.name);
        for (k, v) in &self.attrs {
            let _ = write!(out, " {k}=\"{}\"", escape_attr(v));
        }
        if self.children.is_empty() {
            if self.text.is_empty() {
                out.push_str(" />\n");
            } else {
                let _ = writeln!(out, ">{}</{}>", escape_text(&self.text), self.name);
            }
            return;
        }
        out.push_str(">\n");
        for c in &self.children {
            c.write(depth + 1, out);
        }
        let _ = writeln!(out, "{:indent$}</{}>", "", self.name);
    }
}

fn from_element(file: &Path, el: &Element) -> Result<Generic, FormatError> {
    let children = el
        .elements()
        .map(|c| from_element(file, c))
        .collect::<Result<Vec<_>, _>>()?;
    let text = if children.is_empty() {
        text_content(file, el)?
    } else {
        String::new()
    };
    Ok(Generic {
        name: el.name().to_owned(),
        attrs: el.attrs().to_vec(),
        text,
        children,
        line: Line(el.line()),
    })
}

/// The character data of an element: text unescaped, CDATA sections kept,
/// comments and processing instructions dropped.
fn text_content(file: &Path, el: &Element) -> Result<String, FormatError> {
    let mut out = String::new();
    for n in &el.children {
        match n {
            Node::Text(raw) => {
                let t = quick_xml::escape::unescape(raw).map_err(|e| {
                    invalid(
                        file,
                        Line(el.line()),
                        format!("the text of <{}> is not well-formed: {e}", el.name()),
                        "fix the XML",
                    )
                })?;
                out.push_str(&t);
            }
            Node::Other(raw) => {
                if let Some(cdata) = raw
                    .strip_prefix("<![CDATA[")
                    .and_then(|r| r.strip_suffix("]]>"))
                {
                    out.push_str(cdata);
                }
            }
            Node::Element(_) => {}
        }
    }
    Ok(out)
}

/// Escapes character data (characters XML does not allow are dropped).
pub fn escape_text(v: &str) -> String {
    quick_xml::escape::escape(iiswsgi_iisconfig::dom::xml_chars(v).as_str()).into_owned()
}

/// Escapes an attribute value so that it reads back the same: white space
/// as character references survives attribute-value normalisation.
pub fn escape_attr(v: &str) -> String {
    escape_text(v)
        .replace('\t', "&#x9;")
        .replace('\n', "&#xA;")
        .replace('\r', "&#xD;")
}

/// Splits a comma-separated list (`tags`, validation kinds), trimmed.
pub(crate) fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}
