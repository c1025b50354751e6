//! msdeploy.exe's command line: `-verb:sync -source:package=ZIP -dest:auto
//! -setParam:name=…,value=… -setParamFile:… -skip:objectName=… -whatif
//! -verbose`, parsed as msdeploy parses it.
//!
//! Each argument is `-name[:value]` (`/name:value` is accepted too). A
//! provider argument (`-source:`, `-dest:`, `-skip:`, `-setParam:`) is a
//! comma-separated list of `key=value` settings, the first of a provider
//! argument being `provider=path` (or a bare provider: `auto`). A value may be
//! double- or single-quoted (then commas and `=` are literal, and a doubled
//! quote is one quote character), which is how msdeploy's documentation
//! writes paths with spaces: `-setParam:name="Application Path",value="Default
//! Web Site/app"`. The short form `-setParam:Name="value"` sets `Name`.

/// What can be wrong with a command line; the texts are msdeploy's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("Unrecognized argument '{0}'. All arguments must begin with \"-\".")]
    Unrecognized(String),
    #[error("The verb must be specified by using the -verb argument.")]
    NoVerb,
    #[error("Unrecognized verb '{0}'. The verbs the simulator knows are sync and getParameters.")]
    UnknownVerb(String),
    #[error("Missing the {0} argument (e.g. {1}).")]
    Missing(&'static str, &'static str),
    #[error("Invalid value for the {arg} argument: {why}.")]
    Invalid { arg: String, why: String },
}

/// `-verb:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Sync,
    GetParameters,
}

/// A provider argument: `package=C:\x.zip,key=value`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderArg {
    pub provider: String,
    pub path: String,
    pub settings: Vec<(String, String)>,
}

impl ProviderArg {
    /// A setting by name (any case).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// `-setParam:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetParam {
    /// A declared parameter's value.
    Named { name: String, value: String },
    /// A value applied without a declared parameter (`kind=…,scope=…,match=…,value=…`).
    Entry {
        kind: String,
        scope: String,
        matches: String,
        value: String,
    },
}

/// A parsed msdeploy command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsdeployArgs {
    pub verb: Verb,
    pub source: ProviderArg,
    pub dest: Option<ProviderArg>,
    pub set_params: Vec<SetParam>,
    pub set_param_files: Vec<String>,
    /// `-skip:` directives, each a list of settings (`objectName`, `absolutePath`).
    pub skips: Vec<Vec<(String, String)>>,
    pub whatif: bool,
    pub verbose: bool,
}

/// Splits a settings list on commas outside quotes into `key=value` pairs
/// (a bare item gives an empty value), unquoting values.
pub fn split_settings(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut items = Vec::new();
    let mut key = String::new();
    let mut value = String::new();
    let mut in_value = false;
    let mut chars = s.chars().peekable();
    let mut saw_any = false;
    while let Some(c) = chars.next() {
        saw_any = true;
        match c {
            '"' | '\'' => {
                let q = c;
                let target = if in_value { &mut value } else { &mut key };
                loop {
                    match chars.next() {
                        Some(x) if x == q => {
                            if chars.peek() == Some(&q) {
                                chars.next();
                                target.push(q);
                            } else {
                                break;
                            }
                        }
                        Some(x) => target.push(x),
                        None => return Err(format!("unclosed {q} quote")),
                    }
                }
            }
            ',' => {
                items.push((std::mem::take(&mut key), std::mem::take(&mut value)));
                in_value = false;
            }
            '=' if !in_value => in_value = true,
            c => {
                if in_value {
                    value.push(c);
                } else {
                    key.push(c);
                }
            }
        }
    }
    if saw_any {
        items.push((key, value));
    }
    Ok(items)
}

/// Quotes a setting value so that [`split_settings`] gives it back.
pub fn quote_setting(v: &str) -> String {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| matches!(c, ',' | '=' | '"' | '\'') || c.is_whitespace())
    {
        return v.to_owned();
    }
    format!("\"{}\"", v.replace('"', "\"\""))
}

/// The long `-setParam:` argument for a name and a value.
pub fn format_set_param(name: &str, value: &str) -> String {
    format!(
        "-setParam:name={},value={}",
        quote_setting(name),
        quote_setting(value)
    )
}

fn provider_arg(arg: &str, v: &str) -> Result<ProviderArg, ArgError> {
    let invalid = |why: String| ArgError::Invalid {
        arg: arg.to_owned(),
        why,
    };
    let mut items = split_settings(v).map_err(invalid)?.into_iter();
    let (provider, path) = items
        .next()
        .filter(|(p, _)| !p.trim().is_empty())
        .ok_or_else(|| invalid("no provider (e.g. package=app.zip or auto)".into()))?;
    Ok(ProviderArg {
        provider: provider.trim().to_owned(),
        path,
        settings: items.map(|(k, v)| (k.trim().to_owned(), v)).collect(),
    })
}

fn set_param(v: &str) -> Result<SetParam, ArgError> {
    let invalid = |why: String| ArgError::Invalid {
        arg: "-setParam".into(),
        why,
    };
    let items = split_settings(v).map_err(invalid)?;
    let get = |k: &str| {
        items
            .iter()
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let is_long = items.iter().any(|(k, _)| {
        ["name", "value", "kind", "type", "scope", "match"]
            .iter()
            .any(|n| k.trim().eq_ignore_ascii_case(n))
    });
    if !is_long {
        return match items.as_slice() {
            [(name, value)] if !name.trim().is_empty() => Ok(SetParam::Named {
                name: name.trim().to_owned(),
                value: value.clone(),
            }),
            _ => Err(invalid(format!(
                "{v:?} is neither name=NAME,value=VALUE nor NAME=VALUE"
            ))),
        };
    }
    let value = get("value").ok_or_else(|| invalid(format!("{v:?} has no value=")))?;
    if let Some(name) = get("name") {
        return Ok(SetParam::Named { name, value });
    }
    match (
        get("kind").or_else(|| get("type")),
        get("scope"),
        get("match"),
    ) {
        (Some(kind), Some(scope), Some(matches)) => Ok(SetParam::Entry {
            kind,
            scope,
            matches,
            value,
        }),
        _ => Err(invalid(format!(
            "{v:?} needs name= (or kind=, scope= and match=)"
        ))),
    }
}

/// Parses msdeploy's arguments (without the program name).
pub fn parse(args: &[String]) -> Result<MsdeployArgs, ArgError> {
    let mut verb = None;
    let mut source = None;
    let mut dest = None;
    let mut out = MsdeployArgs {
        verb: Verb::Sync,
        source: ProviderArg::default(),
        dest: None,
        set_params: Vec::new(),
        set_param_files: Vec::new(),
        skips: Vec::new(),
        whatif: false,
        verbose: false,
    };
    for a in args {
        let Some(body) = a.strip_prefix('-').or_else(|| a.strip_prefix('/')) else {
            return Err(ArgError::Unrecognized(a.clone()));
        };
        let (name, value) = body.split_once(':').unwrap_or((body, ""));
        match name.to_ascii_lowercase().as_str() {
            "verb" => verb = Some(value.trim_matches('"').to_owned()),
            "source" => source = Some(provider_arg("-source", value)?),
            "dest" => dest = Some(provider_arg("-dest", value)?),
            "setparam" => out.set_params.push(set_param(value)?),
            "setparamfile" => out
                .set_param_files
                .push(value.trim_matches('"').trim_matches('\'').to_owned()),
            "skip" => out.skips.push(
                split_settings(value)
                    .map_err(|why| ArgError::Invalid {
                        arg: "-skip".into(),
                        why,
                    })?
                    .into_iter()
                    .map(|(k, v)| (k.trim().to_owned(), v))
                    .collect(),
            ),
            "whatif" => out.whatif = true,
            "verbose" | "debug" => out.verbose = true,
            // Accepted and without effect on the simulated machine.
            "allowuntrusted" | "retryattempts" | "retryinterval" | "disablelink" | "enablelink"
            | "enablerule" | "disablerule" | "xml" | "xpath" => {}
            _ => return Err(ArgError::Unrecognized(a.clone())),
        }
    }
    let verb = verb.ok_or(ArgError::NoVerb)?;
    out.verb = match verb.to_ascii_lowercase().as_str() {
        "sync" => Verb::Sync,
        "getparameters" => Verb::GetParameters,
        _ => return Err(ArgError::UnknownVerb(verb)),
    };
    out.source = source.ok_or(ArgError::Missing("-source", "-source:package=app.zip"))?;
    if out.verb == Verb::Sync {
        out.dest = Some(dest.ok_or(ArgError::Missing("-dest", "-dest:auto"))?);
    } else {
        out.dest = dest;
    }
    Ok(out)
}

impl MsdeployArgs {
    /// Whether a `-skip:objectName=…` names `provider` (any case).
    pub fn skips_provider(&self, provider: &str) -> bool {
        self.skips.iter().any(|s| {
            s.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("objectName") && v.eq_ignore_ascii_case(provider)
            })
        })
    }
}
