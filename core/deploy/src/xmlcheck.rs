//! Well-formedness checks that quick-xml's event reader leaves to the caller:
//! every attribute of every element (syntax, unique names, escapes), entity
//! references (only the five predefined ones and character references), one
//! root element, and no text outside it. A DOCTYPE is refused outright: it can
//! declare entities (external ones included) that Web Deploy or IIS would
//! resolve on the target, and no file the packager reads needs one.

use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::{line_of, DeployError};

/// The error for malformed XML at byte `pos`.
fn bad(file: &Path, text: &str, pos: usize, why: impl std::fmt::Display) -> DeployError {
    DeployError::at(
        file,
        line_of(text, pos),
        format!("not well-formed XML: {why}"),
        "fix the XML",
    )
}

/// The error for a DOCTYPE at byte `pos` of `file`.
pub fn doctype_refused(file: &Path, text: &str, pos: usize) -> DeployError {
    DeployError::at(
        file,
        line_of(text, pos),
        "a DOCTYPE declaration, which iiswsgi refuses (it can declare entities, external files included, that the target would resolve)",
        "remove the <!DOCTYPE ...> declaration: none of these files needs one",
    )
}

/// Tracks the document structure across events.
pub struct Checker {
    depth: usize,
    roots: usize,
    /// How errors are worded (what is wrong, what to do).
    what: &'static str,
    hint: &'static str,
}

impl Default for Checker {
    fn default() -> Self {
        Checker {
            depth: 0,
            roots: 0,
            what: "not well-formed XML",
            hint: "fix the XML",
        }
    }
}

impl Checker {
    /// For a template checked after expansion.
    pub fn after_expansion() -> Self {
        Checker {
            what: "not well-formed XML after expansion",
            hint: "fix the XML of the template",
            ..Checker::default()
        }
    }

    fn bad(&self, file: &Path, text: &str, pos: usize, why: impl std::fmt::Display) -> DeployError {
        DeployError::at(
            file,
            line_of(text, pos),
            format!("{}: {why}", self.what),
            self.hint,
        )
    }

    /// Checks one event read at byte `pos`.
    pub fn check(
        &mut self,
        file: &Path,
        text: &str,
        pos: usize,
        ev: &Event<'_>,
    ) -> Result<(), DeployError> {
        match ev {
            Event::DocType(_) => return Err(doctype_refused(file, text, pos)),
            Event::Start(e) | Event::Empty(e) => {
                if self.depth == 0 {
                    self.roots += 1;
                    if self.roots > 1 {
                        return Err(self.bad(file, text, pos, "a second root element"));
                    }
                }
                for a in e.attributes().with_checks(true) {
                    let a = a.map_err(|err| self.bad(file, text, pos, err))?;
                    if a.value.contains(&b'<') {
                        let name = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                        return Err(self.bad(
                            file,
                            text,
                            pos,
                            format!("'<' in the value of attribute {name} (write &lt;)"),
                        ));
                    }
                    a.unescape_value()
                        .map_err(|err| self.bad(file, text, pos, err))?;
                }
                if matches!(ev, Event::Start(_)) {
                    self.depth += 1;
                }
            }
            Event::End(_) => self.depth = self.depth.saturating_sub(1),
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|err| self.bad(file, text, pos, err))?;
                } else {
                    let name = r.decode().map_err(|err| self.bad(file, text, pos, err))?;
                    if !["lt", "gt", "amp", "apos", "quot"].contains(&name.as_ref()) {
                        return Err(self.bad(
                            file,
                            text,
                            pos,
                            format!("undefined entity &{name};"),
                        ));
                    }
                }
                if self.depth == 0 {
                    return Err(self.bad(file, text, pos, "text outside the root element"));
                }
            }
            Event::Text(t) if self.depth == 0 => {
                let s = t.decode().map_err(|err| self.bad(file, text, pos, err))?;
                if !s.trim().is_empty() {
                    return Err(self.bad(file, text, pos, "text outside the root element"));
                }
            }
            Event::Eof if self.roots == 0 => {
                return Err(self.bad(file, text, pos, "no root element"))
            }
            _ => {}
        }
        Ok(())
    }
}

/// XML 1.0 attribute-value normalisation of white space (§3.3.3): what an XML
/// parser, Web Deploy's included, reads for a value written across lines.
pub fn normalize_attr(v: &str) -> String {
    v.replace(['\t', '\r', '\n'], " ")
}

/// Drops characters XML 1.0 does not allow in a document.
pub fn xml_chars(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect()
}

/// The attributes of an element as (name, unescaped value).
pub fn attributes(
    file: &Path,
    text: &str,
    pos: usize,
    e: &BytesStart<'_>,
) -> Result<Vec<(String, String)>, DeployError> {
    e.attributes()
        .map(|a| {
            let a = a.map_err(|err| bad(file, text, pos, err))?;
            let v = a
                .unescape_value()
                .map_err(|err| bad(file, text, pos, err))?;
            Ok((
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                v.into_owned(),
            ))
        })
        .collect()
}

impl Checker {
    /// Reads and checks the next event; returns it with its byte position.
    pub fn next<'a>(
        &mut self,
        reader: &mut Reader<&'a [u8]>,
        file: &Path,
        text: &str,
    ) -> Result<(usize, Event<'a>), DeployError> {
        let pos = reader.buffer_position() as usize;
        let ev = reader
            .read_event()
            .map_err(|e| self.bad(file, text, pos, e))?;
        self.check(file, text, pos, &ev)?;
        Ok((pos, ev))
    }
}
