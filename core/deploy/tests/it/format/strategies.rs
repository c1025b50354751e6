//! Generators of format values for the round-trip properties.

use iiswsgi_deploy::format::feed::{
    Author, Dependency, DiscoveryHint, Entry, Feed, Images, Installer, InstallerFile, Keyword,
    Language, Link, MsDeploy, NamedDependency, Text,
};
use iiswsgi_deploy::format::manifest::{Keyed, Manifest, Provider, RunCommand, SetAcl};
use iiswsgi_deploy::format::parameters::{
    EntryKind, Parameter, ParameterEntry, Parameters, Validation, ValidationKind,
};
use iiswsgi_deploy::format::{Generic, Line};
use iiswsgi_deploy::provider_options::ProviderOptions;
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;

/// Text with everything XML must escape, white space and non-ASCII.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 &<>\"'=;/\\\\{}éü日本€😀\t\n]{0,12}"
}

fn nonblank() -> impl Strategy<Value = String> {
    "[a-zA-Z&<>\"'é日😀][a-zA-Z0-9 &<>\"'é日😀]{0,10}"
}

/// Attributes with distinct names, each starting with `prefix`.
fn attrs(prefix: &'static str) -> impl Strategy<Value = Vec<(String, String)>> {
    btree_map("[a-z]{1,6}", text(), 0..3).prop_map(move |m| {
        m.into_iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v))
            .collect()
    })
}

/// An element no model knows (named `ext…`), with attributes, text or children.
fn generic() -> impl Strategy<Value = Generic> {
    let leaf = ("[a-z]{1,6}", attrs("a"), text()).prop_map(|(n, a, t)| Generic {
        name: format!("ext{n}"),
        attrs: a,
        text: t,
        ..Generic::default()
    });
    leaf.prop_recursive(2, 8, 3, |inner| {
        ("[a-z]{1,6}", attrs("a"), vec(inner, 1..3)).prop_map(|(n, a, c)| Generic {
            name: format!("ext{n}"),
            attrs: a,
            children: c,
            ..Generic::default()
        })
    })
}

fn keyed() -> impl Strategy<Value = Keyed> {
    (text(), attrs("a")).prop_map(|(path, attrs)| Keyed {
        path,
        attrs,
        line: Line(0),
    })
}

fn options() -> impl Strategy<Value = ProviderOptions> {
    (text(), text(), vec((text(), text()), 0..3)).prop_map(|(provider, path, settings)| {
        ProviderOptions {
            provider,
            path,
            settings,
        }
    })
}

fn run_command() -> impl Strategy<Value = RunCommand> {
    (
        text(),
        attrs("s"),
        of(text()),
        of(options()),
        attrs("MSDeploy.x"),
    )
        .prop_map(
            |(path, settings, key_attribute, options, msdeploy)| RunCommand {
                path,
                settings,
                key_attribute,
                options,
                msdeploy,
                line: Line(0),
            },
        )
}

fn provider() -> impl Strategy<Value = Provider> {
    prop_oneof![
        run_command().prop_map(Provider::RunCommand),
        (text(), of(text()), of(text()), of(text()), attrs("a")).prop_map(
            |(path, access, user, resource_type, attrs)| Provider::SetAcl(SetAcl {
                path,
                access,
                user,
                resource_type,
                attrs,
                line: Line(0),
            })
        ),
        (text(), text()).prop_map(|(from, to)| Provider::Alias {
            from,
            to,
            line: Line(0)
        }),
        keyed().prop_map(Provider::CreateApp),
        keyed().prop_map(Provider::DbFullSql),
        keyed().prop_map(Provider::DbMySql),
        generic().prop_map(Provider::Other),
    ]
}

pub(super) fn manifest() -> impl Strategy<Value = Manifest> {
    (
        "[a-zA-Z][a-zA-Z0-9.]{0,12}",
        nonblank(),
        attrs("a"),
        vec(provider(), 0..5),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(root, path, attrs, mut providers, at)| {
            let app = Provider::IisApp(Keyed {
                path,
                attrs,
                line: Line(0),
            });
            providers.insert(at.index(providers.len() + 1), app);
            Manifest { root, providers }
        })
}

/// An unknown kind: never one of the known names, in any case.
fn other_kind() -> impl Strategy<Value = String> {
    "[A-Z][a-z]{2,8}x"
}

fn parameter() -> impl Strategy<Value = Parameter> {
    let validation = (
        vec(
            prop_oneof![
                Just(ValidationKind::AllowEmpty),
                Just(ValidationKind::Boolean),
                Just(ValidationKind::Enumeration),
                Just(ValidationKind::RegularExpression),
                other_kind().prop_map(ValidationKind::Other),
            ],
            0..3,
        ),
        of(text()),
    )
        .prop_map(|(kinds, expression)| Validation {
            kinds,
            expression,
            line: Line(0),
        });
    let entry = (
        prop_oneof![
            Just(EntryKind::ProviderPath),
            Just(EntryKind::TextFile),
            Just(EntryKind::XmlFile),
            Just(EntryKind::TextFilePosition),
            other_kind().prop_map(EntryKind::Other),
        ],
        text(),
        text(),
        vec("[A-Za-z]{1,8}", 0..3),
    )
        .prop_map(|(kind, scope, matches, tags)| ParameterEntry {
            kind,
            scope,
            matches,
            tags,
            line: Line(0),
        });
    (
        (nonblank(), of(text()), of(text()), of(text())),
        vec("[A-Za-z]{1,8}", 0..3),
        of(validation),
        vec(entry, 0..3),
        vec(generic(), 0..2),
    )
        .prop_map(
            |(
                (name, friendly_name, description, default_value),
                tags,
                validation,
                entries,
                other,
            )| {
                Parameter {
                    name,
                    friendly_name,
                    description,
                    default_value,
                    tags,
                    validation,
                    entries,
                    other,
                    line: Line(0),
                }
            },
        )
}

pub(super) fn parameters() -> impl Strategy<Value = Parameters> {
    vec(parameter(), 0..5).prop_map(|mut ps| {
        let mut seen = std::collections::HashSet::new();
        ps.retain(|p| seen.insert(p.name.clone()));
        Parameters { parameters: ps }
    })
}

fn ftext() -> impl Strategy<Value = Text> {
    (text(), of(text())).prop_map(|(text, resource_name)| Text {
        text,
        resource_name,
    })
}

fn link() -> impl Strategy<Value = Link> {
    (of(text()), text()).prop_map(|(rel, href)| Link { rel, href })
}

fn author() -> impl Strategy<Value = Author> {
    (of(text()), of(text())).prop_map(|(name, uri)| Author { name, uri })
}

fn dependency() -> impl Strategy<Value = Dependency> {
    let leaf = prop_oneof![
        text().prop_map(Dependency::Ref),
        text().prop_map(Dependency::Product),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(Dependency::And),
            vec(inner, 0..3).prop_map(Dependency::Or),
        ]
    })
}

fn discovery_hint() -> impl Strategy<Value = DiscoveryHint> {
    let leaf = prop_oneof![
        (text(), of(text())).prop_map(|(path, minimum_version)| DiscoveryHint::File {
            path,
            minimum_version
        }),
        (text(), of(text()), of(text())).prop_map(|(key_path, value_name, value_value)| {
            DiscoveryHint::Registry {
                key_path,
                value_name,
                value_value,
            }
        }),
        text().prop_map(DiscoveryHint::MsiProductCode),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(DiscoveryHint::And),
            vec(inner, 0..3).prop_map(DiscoveryHint::Or),
        ]
    })
}

fn installer() -> impl Strategy<Value = Installer> {
    let file = (
        of(any::<u64>()),
        of(text()),
        of(text()),
        of(text()),
        of(text()),
    )
        .prop_map(
            |(file_size, tracking_url, installer_url, display_url, sha1)| InstallerFile {
                file_size,
                tracking_url,
                installer_url,
                display_url,
                sha1,
            },
        );
    (
        (of(text()), vec(text(), 0..2), of(text())),
        of(file),
        of(of(text()).prop_map(|start_page| MsDeploy { start_page })),
        of(text()),
        vec(generic(), 0..2),
    )
        .prop_map(
            |((id, language_ids, eula_url), file, msdeploy, help_link, other)| Installer {
                id,
                language_ids,
                eula_url,
                file,
                msdeploy,
                help_link,
                other,
            },
        )
}

fn entry() -> impl Strategy<Value = Entry> {
    let head = (
        of(text()),
        text(),
        of(ftext()),
        of(text()),
        of(text()),
        of(ftext()),
        of(ftext()),
        of(text()),
        of(text()),
        vec(link(), 0..2),
        of(author()),
    );
    let images = (of(text()), vec(text(), 0..2))
        .prop_map(|(icon, screenshots)| Images { icon, screenshots });
    let body = (
        of(images),
        vec(text(), 0..3),
        of(discovery_hint()),
        of(dependency()),
        vec(text(), 0..2),
        vec(installer(), 0..2),
        of(ftext()),
        (of(text()), of(text()), of(text())),
        vec(generic(), 0..2),
    );
    (head, body).prop_map(|(h, b)| Entry {
        entry_type: h.0,
        product_id: h.1,
        title: h.2,
        id: h.3,
        version: h.4,
        summary: h.5,
        long_summary: h.6,
        published: h.7,
        updated: h.8,
        links: h.9,
        author: h.10,
        images: b.0,
        keywords: b.1,
        discovery_hint: b.2,
        dependency: b.3,
        related: b.4,
        installers: b.5,
        product_family: b.6,
        framework_family: b.7 .0,
        add_to_feed_date: b.7 .1,
        page_name: b.7 .2,
        other: b.8,
    })
}

pub(super) fn feed() -> impl Strategy<Value = Feed> {
    let language = (text(), of(text()), any::<bool>()).prop_map(|(id, name, default)| Language {
        id,
        name,
        default,
    });
    let keyword = (text(), of(text()), text()).prop_map(|(id, resource_name, text)| Keyword {
        id,
        resource_name,
        text,
    });
    let named =
        (text(), dependency()).prop_map(|(id, dependency)| NamedDependency { id, dependency });
    let head = (
        of(text()),
        of(ftext()),
        vec(link(), 0..2),
        of(text()),
        of(author()),
        of(text()),
        of(text()),
        vec(language, 0..2),
    );
    let body = (
        vec(entry(), 0..3),
        vec(keyword, 0..3),
        vec(named, 0..2),
        vec(text(), 0..2),
        vec(generic(), 0..2),
    );
    (head, body).prop_map(|(h, b)| Feed {
        webpi_version: h.0,
        title: h.1,
        links: h.2,
        updated: h.3,
        author: h.4,
        id: h.5,
        version: h.6,
        languages: h.7,
        entries: b.0,
        keywords: b.1,
        dependencies: b.2,
        featured: b.3,
        other: b.4,
    })
}
