//! `Parameters.xml`: the values Web Deploy asks for (or computes) and where
//! each is applied.
//!
//! The type attribute of `parameterEntry` and `parameterValidation` is read
//! as `kind` or `type` (both appear in real packages) and written as `kind`.

use std::path::Path;

use super::{invalid, split_list, FormatError, Generic, Line};

/// The parameters, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters {
    pub parameters: Vec<Parameter>,
}

/// One `<parameter>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameter {
    /// Unique; also the `{name}` used in other defaults and in `-setParam`.
    pub name: String,
    pub friendly_name: Option<String>,
    pub description: Option<String>,
    /// May refer to other parameters as `{Other Name}`.
    pub default_value: Option<String>,
    /// `tags`, comma-separated (`iisApp`, `Hidden`, `Password`, …).
    pub tags: Vec<String>,
    pub validation: Option<Validation>,
    pub entries: Vec<ParameterEntry>,
    /// Other child elements (localised `<description culture>` …), kept.
    pub other: Vec<Generic>,
    pub line: Line,
}

/// `<parameterValidation kind validationString>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// Combinable: `RegularExpression,AllowEmpty`.
    pub kinds: Vec<ValidationKind>,
    /// `validationString`: the regex, or the comma-separated enumeration.
    pub expression: Option<String>,
    pub line: Line,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationKind {
    AllowEmpty,
    Boolean,
    Enumeration,
    RegularExpression,
    Other(String),
}

/// `<parameterEntry kind scope match>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterEntry {
    pub kind: EntryKind,
    /// A provider name (`ProviderPath`) or a regex of file paths (`TextFile`, `XmlFile`).
    pub scope: String,
    /// A regex (`ProviderPath`, `TextFile`), an `XPath` (`XmlFile`) or `line;column;length`.
    pub matches: String,
    /// `tags` (seen in the wild, harmless).
    pub tags: Vec<String>,
    pub line: Line,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    ProviderPath,
    TextFile,
    XmlFile,
    TextFilePosition,
    /// `DeploymentObjectAttribute`, `DestinationBinding`, … as written.
    Other(String),
}

/// Names of the known variants of a kind enum, matched in any case.
macro_rules! kind_names {
    ($ty:ident { $($variant:ident),* }) => {
        impl $ty {
            pub fn parse(s: &str) -> $ty {
                $(if s.eq_ignore_ascii_case(stringify!($variant)) {
                    return $ty::$variant;
                })*
                $ty::Other(s.to_owned())
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $($ty::$variant => stringify!($variant),)*
                    $ty::Other(s) => s,
                }
            }
        }
    };
}

kind_names!(ValidationKind {
    AllowEmpty,
    Boolean,
    Enumeration,
    RegularExpression
});
kind_names!(EntryKind {
    ProviderPath,
    TextFile,
    XmlFile,
    TextFilePosition
});

impl Parameter {
    /// Whether the parameter has `tag` (any case).
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }

    fn read(file: &Path, el: &Generic) -> Result<Parameter, FormatError> {
        let name = el
            .get_any(&["name"])
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                invalid(
                    file,
                    el.line,
                    "<parameter> without a name",
                    "give every parameter a unique name=\"...\"",
                )
            })?;
        let mut p = Parameter {
            name: name.to_owned(),
            friendly_name: el.get_any(&["friendlyName"]).map(str::to_owned),
            description: el.get_any(&["description"]).map(str::to_owned),
            default_value: el.get_any(&["defaultValue"]).map(str::to_owned),
            tags: el.get_any(&["tags"]).map(split_list).unwrap_or_default(),
            line: el.line,
            ..Parameter::default()
        };
        for c in &el.children {
            if c.name.eq_ignore_ascii_case("parameterEntry") {
                p.entries.push(ParameterEntry {
                    kind: EntryKind::parse(c.get_any(&["kind", "type"]).unwrap_or_default()),
                    scope: c.get_any(&["scope"]).unwrap_or_default().to_owned(),
                    matches: c.get_any(&["match"]).unwrap_or_default().to_owned(),
                    tags: c.get_any(&["tags"]).map(split_list).unwrap_or_default(),
                    line: c.line,
                });
            } else if c.name.eq_ignore_ascii_case("parameterValidation") {
                let kinds = c.get_any(&["kind", "type"]).unwrap_or_default();
                p.validation = Some(Validation {
                    kinds: split_list(kinds)
                        .iter()
                        .map(|k| ValidationKind::parse(k))
                        .collect(),
                    expression: c.get_any(&["validationString"]).map(str::to_owned),
                    line: c.line,
                });
            } else {
                p.other.push(c.clone());
            }
        }
        Ok(p)
    }

    fn to_generic(&self) -> Generic {
        let mut g = Generic::new("parameter")
            .attr("name", &self.name)
            .attr_opt("friendlyName", self.friendly_name.as_deref())
            .attr_opt("description", self.description.as_deref())
            .attr_opt("defaultValue", self.default_value.as_deref());
        if !self.tags.is_empty() {
            g = g.attr("tags", &self.tags.join(", "));
        }
        g.children.extend(self.other.iter().cloned());
        if let Some(v) = &self.validation {
            let kinds: Vec<&str> = v.kinds.iter().map(ValidationKind::as_str).collect();
            g.children.push(
                Generic::new("parameterValidation")
                    .attr("kind", &kinds.join(","))
                    .attr_opt("validationString", v.expression.as_deref()),
            );
        }
        for e in &self.entries {
            let mut entry = Generic::new("parameterEntry")
                .attr("kind", e.kind.as_str())
                .attr("scope", &e.scope)
                .attr("match", &e.matches);
            if !e.tags.is_empty() {
                entry = entry.attr("tags", &e.tags.join(", "));
            }
            g.children.push(entry);
        }
        g
    }
}

impl Parameters {
    /// Reads `Parameters.xml`; `file` names it in errors.
    pub fn from_xml(file: &Path, text: &str) -> Result<Parameters, FormatError> {
        let root = Generic::parse(file, text)?;
        if !root.name.eq_ignore_ascii_case("parameters") {
            return Err(invalid(
                file,
                root.line,
                format!("the root element is <{}>", root.name),
                "the root element of Parameters.xml is <parameters>",
            ));
        }
        let mut parameters: Vec<Parameter> = Vec::new();
        for el in root
            .children
            .iter()
            .filter(|c| c.name.eq_ignore_ascii_case("parameter"))
        {
            let p = Parameter::read(file, el)?;
            if parameters.iter().any(|q| q.name == p.name) {
                return Err(invalid(
                    file,
                    el.line,
                    format!("parameter {:?} is declared twice", p.name),
                    "parameter names must be unique",
                ));
            }
            parameters.push(p);
        }
        Ok(Parameters { parameters })
    }

    /// The parameters as XML.
    pub fn to_xml(&self) -> String {
        Generic {
            children: self.parameters.iter().map(Parameter::to_generic).collect(),
            ..Generic::new("parameters")
        }
        .to_document()
    }
}
