//! The checked parse: quick-xml's events with the source text of every tag
//! kept, and the well-formedness checks quick-xml leaves to the caller.

use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{indent_of, Document, Element, Node, Wording};
use crate::error::{line_of, ConfigError, ErrorKind};

pub(super) struct Parser<'a> {
    pub(super) file: &'a Path,
    pub(super) text: &'a str,
    pub(super) wording: Wording,
}

impl Parser<'_> {
    fn bad(&self, pos: usize, why: impl std::fmt::Display) -> ConfigError {
        ConfigError::at(
            ErrorKind::Malformed,
            self.file,
            line_of(self.text, pos),
            format!("{}: {why}", self.wording.what),
            self.wording.hint,
        )
    }

    fn attributes(
        &self,
        pos: usize,
        e: &BytesStart<'_>,
    ) -> Result<Vec<(String, String)>, ConfigError> {
        let mut out = Vec::new();
        for a in e.attributes().with_checks(true) {
            let a = a.map_err(|err| self.bad(pos, err))?;
            let name = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let raw = String::from_utf8_lossy(&a.value);
            if raw.contains('<') {
                return Err(self.bad(
                    pos,
                    format!("'<' in the value of attribute {name} (write &lt;)"),
                ));
            }
            // XML 1.0 §3.3.3: literal white space becomes a space; character
            // references keep what they name.
            let normalised = raw.replace(['\t', '\r', '\n'], " ");
            let value = quick_xml::escape::unescape(&normalised)
                .map_err(|err| self.bad(pos, err))?
                .into_owned();
            out.push((name, value));
        }
        Ok(out)
    }

    fn element(&self, pos: usize, raw: &str, e: &BytesStart<'_>) -> Result<Element, ConfigError> {
        Ok(Element {
            name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
            attrs: self.attributes(pos, e)?,
            children: Vec::new(),
            raw_start: Some(raw.to_owned()),
            raw_end: None,
            line: line_of(self.text, pos),
            indent: None,
        })
    }

    fn check_ref(
        &self,
        pos: usize,
        r: &quick_xml::events::BytesRef<'_>,
    ) -> Result<(), ConfigError> {
        if r.is_char_ref() {
            r.resolve_char_ref().map_err(|err| self.bad(pos, err))?;
            return Ok(());
        }
        let name = r.decode().map_err(|err| self.bad(pos, err))?;
        if ["lt", "gt", "amp", "apos", "quot"].contains(&name.as_ref()) {
            Ok(())
        } else {
            Err(self.bad(pos, format!("undefined entity &{name};")))
        }
    }

    pub(super) fn parse(&self) -> Result<Document, ConfigError> {
        let (bom, body) = match self.text.strip_prefix('\u{feff}') {
            Some(rest) => (true, rest),
            None => (false, self.text),
        };
        let offset = self.text.len() - body.len();
        let mut reader = Reader::from_str(body);
        reader.config_mut().check_end_names = true;
        let mut stack: Vec<Element> = Vec::new();
        let mut top: Vec<Node> = Vec::new();
        let mut roots = 0usize;
        loop {
            let start = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let pos = start.saturating_add(offset);
            let ev = reader.read_event().map_err(|e| self.bad(pos, e))?;
            let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let raw = body.get(start..end).unwrap_or("");
            let node = match ev {
                Event::Start(e) => {
                    if stack.is_empty() {
                        roots += 1;
                    }
                    stack.push(self.element(pos, raw, &e)?);
                    continue;
                }
                Event::Empty(e) => {
                    if stack.is_empty() {
                        roots += 1;
                    }
                    Node::Element(self.element(pos, raw, &e)?)
                }
                Event::End(_) => {
                    let Some(mut el) = stack.pop() else {
                        return Err(self.bad(pos, "an end tag without a start tag"));
                    };
                    el.raw_end = Some(raw.to_owned());
                    Node::Element(el)
                }
                Event::Text(t) => {
                    if stack.is_empty() {
                        let s = t.decode().map_err(|err| self.bad(pos, err))?;
                        if !s.trim().is_empty() {
                            return Err(self.bad(pos, "text outside the root element"));
                        }
                    }
                    Node::Text(raw.to_owned())
                }
                Event::GeneralRef(r) => {
                    self.check_ref(pos, &r)?;
                    if stack.is_empty() {
                        return Err(self.bad(pos, "text outside the root element"));
                    }
                    Node::Text(raw.to_owned())
                }
                Event::CData(_) if stack.is_empty() => {
                    return Err(self.bad(pos, "text outside the root element"))
                }
                Event::DocType(_) => {
                    return Err(ConfigError::at(
                        ErrorKind::Doctype,
                        self.file,
                        line_of(self.text, pos),
                        "a DOCTYPE declaration is not accepted (DTDs and entity declarations are refused: they are how entity-expansion and external-entity attacks are written)",
                        "remove the <!DOCTYPE …> declaration; IIS and Web Deploy files never need one",
                    ))
                }
                Event::Eof => break,
                Event::CData(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {
                    Node::Other(raw.to_owned())
                }
            };
            if matches!(node, Node::Element(_)) && stack.is_empty() && roots > 1 {
                return Err(self.bad(pos, "a second root element"));
            }
            match stack.last_mut() {
                Some(parent) => push_node(&mut parent.children, node),
                None => push_node(&mut top, node),
            }
        }
        if let Some(open) = stack.last() {
            return Err(ConfigError::at(
                ErrorKind::Malformed,
                self.file,
                open.line,
                format!("{}: <{}> is never closed", self.wording.what, open.name),
                "close every element",
            ));
        }
        if roots == 0 {
            return Err(self.bad(self.text.len(), "no root element"));
        }
        Ok(Document { bom, nodes: top })
    }
}

/// Appends a node, merging adjacent text (quick-xml splits text at references).
fn push_node(nodes: &mut Vec<Node>, mut node: Node) {
    if let (Node::Element(e), Some(Node::Text(prev))) = (&mut node, nodes.last()) {
        if prev.contains('\n') {
            e.indent = Some(indent_of(prev));
        }
    }
    if let (Node::Text(add), Some(Node::Text(prev))) = (&node, nodes.last_mut()) {
        prev.push_str(add);
        return;
    }
    nodes.push(node);
}
