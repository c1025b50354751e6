use iiswsgi_iisconfig::{Document, Element, ErrorKind};
use proptest::prelude::*;
use std::fmt::Write as _;

use crate::{file, APPHOST};

#[test]
fn unchanged_document_is_written_back_byte_for_byte() {
    let doc = Document::parse(file(), APPHOST).unwrap();
    assert_eq!(doc.write(), APPHOST);
    let bom = format!("\u{feff}{APPHOST}");
    assert_eq!(Document::parse(file(), &bom).unwrap().write(), bom);
}

#[test]
fn attributes_are_unescaped_and_normalised() {
    let text = "<a x=\"1 &amp; 2\" y='line\nbreak' z=\"&#xA;kept\"/>";
    let doc = Document::parse(file(), text).unwrap();
    assert_eq!(doc.root().attr("x"), Some("1 & 2"));
    assert_eq!(doc.root().attr("y"), Some("line break"));
    assert_eq!(doc.root().attr("z"), Some("\nkept"));
}

fn err(text: &str) -> (ErrorKind, usize, String) {
    let e = Document::parse(file(), text).unwrap_err();
    (e.kind().unwrap(), e.line().unwrap_or(0), e.to_string())
}

#[test]
fn malformed_xml_is_refused_with_its_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("<a>\n<b>\n</a>", 3, "not well-formed"),
        ("<a>\n</a>\n<b/>", 3, "a second root element"),
        ("<a>\n<b x=\"1\" x=\"2\"/>\n</a>", 2, "not well-formed"),
        ("<a>\n\n<b x=\"&nope;\"/></a>", 3, "not well-formed"),
        ("<a>\n&nope;</a>", 2, "undefined entity &nope;"),
        ("<a x=\"<\"/>", 1, "'<' in the value of attribute x"),
        ("text<a/>", 1, "text outside the root element"),
        ("<a>\n  <b>\n", 2, "<b> is never closed"),
        ("<!-- only a comment -->", 1, "no root element"),
    ];
    for (text, line, what) in cases {
        let (kind, l, msg) = err(text);
        assert_eq!(kind, ErrorKind::Malformed, "{text:?}: {msg}");
        assert_eq!(l, *line, "{text:?}: {msg}");
        assert!(msg.contains(what), "{text:?}: {msg}");
        assert!(msg.contains("applicationHost.config"), "{msg}");
    }
}

#[test]
fn doctypes_are_refused_whatever_they_declare() {
    let bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n <!ENTITY lol2 \"&lol;&lol;&lol;\">\n]>\n<configuration>&lol2;</configuration>";
    let (kind, line, msg) = err(bomb);
    assert_eq!(kind, ErrorKind::Doctype);
    assert_eq!(line, 2);
    assert!(msg.contains("remove the <!DOCTYPE"), "{msg}");
    let external = "<!DOCTYPE c [<!ENTITY % x SYSTEM \"http://example.invalid/x.dtd\"> %x;]><c/>";
    assert_eq!(err(external).0, ErrorKind::Doctype);
    assert_eq!(
        err("<!DOCTYPE configuration><configuration/>").0,
        ErrorKind::Doctype
    );
}

#[test]
fn appending_indents_like_the_siblings() {
    let text = "<c>\n    <list>\n        <add k=\"1\" />\n    </list>\n    <empty/>\n</c>\n";
    let mut doc = Document::parse(file(), text).unwrap();
    let root = doc.root_mut();
    root.child_mut("list")
        .unwrap()
        .append(Element::new("add").with_attr("k", "2"));
    let mut nested = Element::new("item").with_attr("a", "x\"y");
    nested.append(Element::new("sub"));
    root.child_mut("empty").unwrap().append(nested);
    insta::assert_snapshot!(doc.write(), @r#"
    <c>
        <list>
            <add k="1" />
            <add k="2" />
        </list>
        <empty>
          <item a="x&quot;y">
            <sub />
          </item>
        </empty>
    </c>
    "#);
}

#[test]
fn removing_takes_the_leading_white_space() {
    let text = "<c>\n  <a n=\"1\"/>\n  <a n=\"2\"/>\n  <a n=\"3\"/>\n</c>";
    let mut doc = Document::parse(file(), text).unwrap();
    assert_eq!(doc.root_mut().remove_where(|e| e.attr("n") == Some("2")), 1);
    assert_eq!(doc.write(), "<c>\n  <a n=\"1\"/>\n  <a n=\"3\"/>\n</c>");
}

// ---- generated documents ----

#[derive(Debug, Clone)]
struct Gen {
    name: String,
    attrs: Vec<(String, String, bool)>,
    children: Vec<GenNode>,
    indent: String,
}

#[derive(Debug, Clone)]
enum GenNode {
    El(Gen),
    Comment(String),
}

fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("'".to_string()),
            Just("\"".to_string()),
            Just(",".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(" ".to_string()),
            Just("%SystemDrive%".to_string()),
            Just("&".to_string()),
            Just("<".to_string()),
            Just(">".to_string()),
            Just("\n".to_string()),
            Just("\t".to_string()),
            "[a-zA-Z0-9\\\\:._|-]{1,6}",
            "\\PC",
        ],
        0..6,
    )
    .prop_map(|v| v.concat())
}

fn element() -> impl Strategy<Value = Gen> {
    let leaf = (
        "[a-zA-Z][a-zA-Z0-9.]{0,8}",
        prop::collection::vec(("[a-zA-Z][a-zA-Z0-9]{0,6}", value(), any::<bool>()), 0..4),
        "[ \t]{0,6}",
    )
        .prop_map(|(name, attrs, indent)| Gen {
            name,
            attrs,
            children: vec![],
            indent,
        });
    leaf.prop_recursive(4, 40, 5, |inner| {
        (
            inner.clone(),
            prop::collection::vec(
                prop_oneof![
                    4 => inner.prop_map(GenNode::El),
                    1 => "[a-z ]{0,10}".prop_map(GenNode::Comment),
                ],
                0..5,
            ),
        )
            .prop_map(|(mut g, kids)| {
                g.children = kids;
                g
            })
    })
}

/// Writes `g`, numbering elements with an `iid` attribute; escaping by hand
/// so that both quote styles and raw white space occur.
fn render(g: &Gen, next: &mut usize, out: &mut String) {
    let id = *next;
    *next += 1;
    let _ = write!(out, "\n{}<{} iid=\"{id}\"", g.indent, g.name);
    let mut seen = vec!["iid".to_string()];
    for (k, v, single) in &g.attrs {
        if seen.contains(k) {
            continue;
        }
        seen.push(k.clone());
        let q = if *single { '\'' } else { '"' };
        let esc = v
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace(q, if *single { "&apos;" } else { "&quot;" })
            .replace('\t', "&#9;")
            .replace('\n', "&#10;");
        let _ = write!(out, " {k}={q}{esc}{q}");
    }
    if g.children.is_empty() {
        out.push_str(" />");
        return;
    }
    out.push('>');
    for c in &g.children {
        match c {
            GenNode::El(e) => render(e, next, out),
            GenNode::Comment(t) => {
                let _ = write!(out, "\n<!--{t}-->");
            }
        }
    }
    let _ = write!(out, "\n{}</{}>", g.indent, g.name);
}

fn count(g: &Gen) -> usize {
    1 + g
        .children
        .iter()
        .map(|c| match c {
            GenNode::El(e) => count(e),
            GenNode::Comment(_) => 0,
        })
        .sum::<usize>()
}

fn find_mut<'a>(e: &'a mut Element, id: &str) -> Option<&'a mut Element> {
    if e.attr("iid") == Some(id) {
        return Some(e);
    }
    e.elements_mut().find_map(|c| find_mut(c, id))
}

fn start_tag_span(text: &str, id: usize) -> (usize, usize) {
    let at = text.find(&format!(" iid=\"{id}\"")).unwrap();
    let start = text[..at].rfind('<').unwrap();
    let end = at + text[at..].find('>').unwrap() + 1;
    (start, end)
}

proptest! {
    #[test]
    fn parse_write_parse_is_the_identity(g in element()) {
        let mut text = String::from("<?xml version=\"1.0\"?>");
        render(&g, &mut 0, &mut text);
        text.push('\n');
        let doc = Document::parse(file(), &text).unwrap();
        prop_assert_eq!(doc.write(), text.clone());
        let again = Document::parse(file(), &doc.write()).unwrap();
        prop_assert_eq!(again, doc);
    }

    #[test]
    fn an_edit_changes_only_the_edited_element(g in element(), pick in any::<prop::sample::Index>(), v in value()) {
        let mut text = String::new();
        render(&g, &mut 0, &mut text);
        let id = pick.index(count(&g));
        let mut doc = Document::parse(file(), &text).unwrap();
        let target = find_mut(doc.root_mut(), &id.to_string()).unwrap();
        target.set_attr("edited", &v);
        let written = doc.write();
        let prefix = text.bytes().zip(written.bytes()).take_while(|(a, b)| a == b).count();
        let suffix = text.bytes().rev().zip(written.bytes().rev()).take_while(|(a, b)| a == b).count();
        let (start, end) = start_tag_span(&text, id);
        prop_assert!(prefix >= start, "changed before the start tag: {} < {}", prefix, start);
        prop_assert!(text.len() - suffix.min(text.len() - prefix) <= end, "changed after the start tag");
        let reread = Document::parse(file(), &written).unwrap();
        let mut expected = Document::parse(file(), &text).unwrap();
        find_mut(expected.root_mut(), &id.to_string()).unwrap().set_attr("edited", &v);
        prop_assert_eq!(reread.write(), expected.write());
        let mut r2 = reread.clone();
        prop_assert_eq!(find_mut(r2.root_mut(), &id.to_string()).unwrap().attr("edited"), Some(v.as_str()));
    }
}
