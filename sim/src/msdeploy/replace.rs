//! `TextFile` and `XmlFile` parameter entries applied to a file while it is
//! copied (the package itself is not changed).
//!
//! The scope is a regular expression matched against the file's path with
//! backslashes, both inside the package (`app\web.config`) and at its
//! destination (`C:\inetpub\wwwroot\app\web.config`), as real scopes
//! (`\\web\.config$`) expect. A `TextFile` match is replaced everywhere in
//! the file by the value, literally (`$1` is not expanded: real packages
//! must not rely on either reading). An `XmlFile` `XPath` sets every selected
//! attribute, or the text of every selected element.

use iiswsgi_deploy::format::parameters::ParameterEntry;
use iiswsgi_iisconfig::{Document, Node};

use super::xpath::{self, Target, XPath};

/// A parameter entry that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {expr:?}: {why}")]
pub struct EntryError {
    pub what: &'static str,
    pub expr: String,
    pub why: String,
}

fn regex(what: &'static str, expr: &str) -> Result<fancy_regex::Regex, EntryError> {
    fancy_regex::Regex::new(expr).map_err(|e| EntryError {
        what,
        expr: expr.to_owned(),
        why: e.to_string(),
    })
}

/// Whether an entry's scope matches a file at one of `paths`.
pub fn in_scope(entry: &ParameterEntry, paths: &[&str]) -> Result<bool, EntryError> {
    let re = regex("the scope", &entry.scope)?;
    Ok(paths.iter().any(|p| re.is_match(p).unwrap_or(false)))
}

/// Replaces every match of `pattern` in `text` by `value`; the count.
pub fn text_file(text: &str, pattern: &str, value: &str) -> Result<(String, usize), EntryError> {
    let re = regex("the match", pattern)?;
    let count = re.find_iter(text).flatten().count();
    if count == 0 {
        return Ok((text.to_owned(), 0));
    }
    let out = re
        .try_replacen(text, 0, fancy_regex::NoExpand(value))
        .map_err(|e| EntryError {
            what: "the match",
            expr: pattern.to_owned(),
            why: e.to_string(),
        })?;
    Ok((out.into_owned(), count))
}

/// Sets what `expr` selects in the XML `text` to `value`; the count. The
/// document is rewritten only where it changed.
pub fn xml_file(
    file: &std::path::Path,
    text: &str,
    expr: &str,
    value: &str,
) -> Result<(String, usize), EntryError> {
    let xp = XPath::parse(expr).map_err(|why| EntryError {
        what: "the XPath",
        expr: expr.to_owned(),
        why,
    })?;
    let mut doc = Document::parse(file, text).map_err(|e| EntryError {
        what: "the file",
        expr: file.display().to_string(),
        why: e.to_string(),
    })?;
    let paths = xp.select(doc.root());
    let mut count = 0;
    for p in &paths {
        let Some(el) = xpath::get_mut(doc.root_mut(), p) else {
            continue;
        };
        match &xp.target {
            Target::Attribute(a) => {
                if el.attr(a).is_some() {
                    el.set_attr(a, value);
                    count += 1;
                }
            }
            Target::Text => {
                // Rewrites the start tag (a self-closed one gets an end tag).
                el.set_attr("iiswsgi-sim-rewrite", "");
                el.remove_attr("iiswsgi-sim-rewrite");
                el.children = vec![Node::Text(iiswsgi_iisconfig::dom::escape_text(value))];
                count += 1;
            }
        }
    }
    Ok((doc.write(), count))
}
