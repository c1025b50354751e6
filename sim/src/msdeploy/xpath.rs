//! The `XPath` that real `XmlFile` parameter entries use, on the checked
//! reader's element tree: absolute element paths (`/configuration/appSettings/add`),
//! descendants (`//add`), `*` and `*[local-name()='x']`, attribute predicates
//! (`[@key='v']`, `[@key]`), positions (`[1]`), and a final `@attribute` or
//! `text()`. Anything else is an error naming the expression.

use iiswsgi_iisconfig::{Element, Node};

/// One location step.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    descendant: bool,
    /// `None`: any element.
    name: Option<String>,
    preds: Vec<Pred>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pred {
    AttrEq(String, String),
    Has(String),
    LocalName(String),
    Position(usize),
}

/// What the expression selects in each element it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Attribute(String),
    Text,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XPath {
    steps: Vec<Step>,
    pub target: Target,
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn parse_pred(p: &str) -> Result<Pred, String> {
    let p = p.trim();
    if let Ok(n) = p.parse::<usize>() {
        return Ok(Pred::Position(n));
    }
    let unquote = |v: &str| {
        let v = v.trim();
        v.strip_prefix('\'')
            .and_then(|x| x.strip_suffix('\''))
            .or_else(|| v.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
            .map(str::to_owned)
            .ok_or_else(|| format!("{v} is not a quoted string"))
    };
    if let Some((l, r)) = p.split_once('=') {
        let l = l.trim();
        if let Some(a) = l.strip_prefix('@') {
            return Ok(Pred::AttrEq(a.to_owned(), unquote(r)?));
        }
        if l == "local-name()" {
            return Ok(Pred::LocalName(unquote(r)?));
        }
    } else if let Some(a) = p.strip_prefix('@') {
        return Ok(Pred::Has(a.to_owned()));
    }
    Err(format!(
        "the predicate [{p}] is not one the simulator knows"
    ))
}

/// Splits a step into its name and bracketed predicates (quotes respected).
fn parse_step(s: &str, descendant: bool) -> Result<Step, String> {
    let name_end = s.find('[').unwrap_or(s.len());
    let name = &s[..name_end];
    let mut preds = Vec::new();
    let mut rest = &s[name_end..];
    while let Some(r) = rest.strip_prefix('[') {
        let mut quote = None;
        let end = r
            .char_indices()
            .find(|&(_, c)| {
                match (quote, c) {
                    (None, '\'' | '"') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (None, ']') => return true,
                    _ => {}
                }
                false
            })
            .map(|(i, _)| i)
            .ok_or_else(|| format!("unclosed [ in {s}"))?;
        preds.push(parse_pred(&r[..end])?);
        rest = &r[end + 1..];
    }
    if !rest.is_empty() {
        return Err(format!("unexpected {rest:?} after the step {s}"));
    }
    if name.is_empty() {
        return Err("an empty step".into());
    }
    Ok(Step {
        descendant,
        name: (name != "*").then(|| name.to_owned()),
        preds,
    })
}

/// Splits on `/` outside brackets and quotes.
fn split_path(expr: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let (mut depth, mut quote) = (0usize, None);
    for c in expr.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, '/') if depth == 0 => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

impl XPath {
    pub fn parse(expr: &str) -> Result<XPath, String> {
        let e = expr.trim();
        if !e.starts_with('/') {
            return Err(format!("{expr:?} is not an absolute path (/… or //…)"));
        }
        let parts = split_path(e);
        let mut steps = Vec::new();
        let mut target = Target::Text;
        let mut descendant = false;
        let n = parts.len();
        for (i, part) in parts.into_iter().enumerate().skip(1) {
            if part.is_empty() {
                descendant = true;
                continue;
            }
            if i == n - 1 {
                if let Some(a) = part.strip_prefix('@') {
                    target = Target::Attribute(a.to_owned());
                    continue;
                }
                if part == "text()" {
                    continue;
                }
            }
            steps.push(parse_step(&part, descendant)?);
            descendant = false;
        }
        if steps.is_empty() {
            return Err(format!("{expr:?} selects no element"));
        }
        Ok(XPath { steps, target })
    }

    /// Child-index paths (into `Element::children`) of the selected
    /// elements, from `root`, in document order.
    pub fn select(&self, root: &Element) -> Vec<Vec<usize>> {
        // The document node's only child is the root element.
        let mut current: Vec<Vec<usize>> = vec![Vec::new()];
        let mut at_document = true;
        for step in &self.steps {
            let mut next = Vec::new();
            for path in &current {
                let mut cands = Vec::new();
                if at_document {
                    if step.descendant {
                        collect_descendants(root, Vec::new(), true, &mut cands);
                    } else {
                        cands.push((Vec::new(), root));
                    }
                } else if let Some(el) = get(root, path) {
                    if step.descendant {
                        collect_descendants(el, path.clone(), false, &mut cands);
                    } else {
                        for (i, c) in el.children.iter().enumerate() {
                            if let Node::Element(c) = c {
                                let mut p = path.clone();
                                p.push(i);
                                cands.push((p, c));
                            }
                        }
                    }
                }
                let matched: Vec<Vec<usize>> = cands
                    .into_iter()
                    .filter(|(_, el)| step.name.as_deref().is_none_or(|n| el.name() == n))
                    .filter(|(_, el)| step.preds.iter().all(|p| pred_ok(p, el)))
                    .map(|(p, _)| p)
                    .collect();
                let pos = step.preds.iter().find_map(|p| match p {
                    Pred::Position(n) => Some(*n),
                    _ => None,
                });
                match pos {
                    Some(n) => next.extend(matched.into_iter().nth(n.wrapping_sub(1))),
                    None => next.extend(matched),
                }
            }
            next.dedup();
            current = next;
            at_document = false;
        }
        current
    }
}

fn pred_ok(p: &Pred, el: &Element) -> bool {
    match p {
        Pred::AttrEq(a, v) => el.attr(a) == Some(v.as_str()),
        Pred::Has(a) => el.attr(a).is_some(),
        Pred::LocalName(n) => local(el.name()) == n,
        Pred::Position(_) => true,
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "each level of the recursion extends its own copy of the path"
)]
fn collect_descendants<'a>(
    el: &'a Element,
    path: Vec<usize>,
    include_self: bool,
    out: &mut Vec<(Vec<usize>, &'a Element)>,
) {
    if include_self {
        out.push((path.clone(), el));
    }
    for (i, c) in el.children.iter().enumerate() {
        if let Node::Element(c) = c {
            let mut p = path.clone();
            p.push(i);
            collect_descendants(c, p, true, out);
        }
    }
}

/// The element at a child-index path.
pub fn get<'a>(root: &'a Element, path: &[usize]) -> Option<&'a Element> {
    let mut el = root;
    for &i in path {
        el = match el.children.get(i)? {
            Node::Element(e) => e,
            _ => return None,
        };
    }
    Some(el)
}

/// The element at a child-index path, mutably.
pub fn get_mut<'a>(root: &'a mut Element, path: &[usize]) -> Option<&'a mut Element> {
    let mut el = root;
    for &i in path {
        el = match el.children.get_mut(i)? {
            Node::Element(e) => e,
            _ => return None,
        };
    }
    Some(el)
}
