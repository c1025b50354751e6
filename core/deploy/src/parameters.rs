//! `Parameters.xml` validation: what `WebPI` and Web Deploy would reject or
//! silently get wrong, found before anything is built.

use std::path::Path;

use crate::error::DeployError;
use crate::format::parameters::Parameters;
pub use crate::format::parameters::{
    EntryKind, Parameter, ParameterEntry as Entry, Validation, ValidationKind,
};

/// Parses `Parameters.xml`.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Parameter>, DeployError> {
    Ok(Parameters::from_xml(file, text)?.parameters)
}

fn compile_regex(
    file: &Path,
    line: usize,
    what: &str,
    pattern: &str,
) -> Result<fancy_regex::Regex, DeployError> {
    fancy_regex::Regex::new(pattern).map_err(|e| {
        DeployError::at(
            file,
            line,
            format!("{what} {pattern:?} is not a valid regular expression: {e}"),
            "fix the pattern (Web Deploy reads it as a .NET regex)",
        )
    })
}

/// Checks the parameters against each other and against the manifest's `<iisApp path>`.
pub fn validate(file: &Path, params: &[Parameter], iis_app_path: &str) -> Result<(), DeployError> {
    for p in params {
        for e in &p.entries {
            compile_regex(file, e.line.0, "scope", &e.scope)?;
            if matches!(e.kind, EntryKind::ProviderPath | EntryKind::TextFile) {
                compile_regex(file, e.line.0, "match", &e.matches)?;
            }
        }
        if p.has_tag("Hidden") && p.default_value.is_none() {
            return Err(DeployError::at(
                file,
                p.line.0,
                format!("hidden parameter {:?} has no defaultValue", p.name),
                "a Hidden parameter is never asked for: give it a defaultValue",
            ));
        }
        check_default(file, p)?;
    }
    let app_params: Vec<&Parameter> = params.iter().filter(|p| p.has_tag("iisApp")).collect();
    if app_params.is_empty() {
        return Err(DeployError::file(
            file,
            "no parameter is tagged iisApp",
            format!("add one, e.g. <parameter name=\"Application Path\" defaultValue=\"Default Web Site/{iis_app_path}\" tags=\"iisApp\"><parameterEntry kind=\"ProviderPath\" scope=\"iisApp\" match=\"^{}$\" /></parameter>", fancy_regex::escape(iis_app_path)),
        ));
    }
    let found = app_params.iter().any(|p| {
        p.entries.iter().any(|e| {
            e.kind == EntryKind::ProviderPath
                && fancy_regex::Regex::new(&format!("(?i){}", e.scope))
                    .ok()
                    .and_then(|r| r.is_match("iisApp").ok())
                    .unwrap_or(false)
                && fancy_regex::Regex::new(&e.matches)
                    .ok()
                    .and_then(|r| r.is_match(iis_app_path).ok())
                    .unwrap_or(false)
        })
    });
    if !found {
        let p = app_params[0];
        return Err(DeployError::at(
            file,
            p.line.0,
            format!("parameter {:?} (tagged iisApp) has no ProviderPath entry with scope iisApp whose match matches the manifest's <iisApp path=\"{iis_app_path}\">", p.name),
            format!("add <parameterEntry kind=\"ProviderPath\" scope=\"iisApp\" match=\"^{}$\" />", fancy_regex::escape(iis_app_path)),
        ));
    }
    Ok(())
}

fn check_default(file: &Path, p: &Parameter) -> Result<(), DeployError> {
    let (Some(v), Some(default)) = (&p.validation, &p.default_value) else {
        return Ok(());
    };
    let (kinds, line) = (&v.kinds, &v.line.0);
    let validation = v.expression.as_deref().unwrap_or_default();
    // A default computed from other parameters is checked when it is resolved.
    if default.contains('{') {
        return Ok(());
    }
    let allow_empty = kinds.contains(&ValidationKind::AllowEmpty);
    if default.is_empty() && allow_empty {
        return Ok(());
    }
    let fail = |why: String| {
        Err(DeployError::at(
            file,
            *line,
            format!(
                "the defaultValue {default:?} of parameter {:?} {why}",
                p.name
            ),
            "make the default one of the values the validation accepts",
        ))
    };
    for kind in kinds {
        match kind {
            ValidationKind::Enumeration if !validation.split(',').any(|v| v == default) => {
                return fail(format!(
                    "is not one of the Enumeration values {validation:?} (whitespace counts)"
                ));
            }
            ValidationKind::Boolean
                if !default.eq_ignore_ascii_case("true")
                    && !default.eq_ignore_ascii_case("false") =>
            {
                return fail("is not True or False (Boolean)".into());
            }
            ValidationKind::RegularExpression => {
                let re = compile_regex(file, *line, "validationString", validation)?;
                if !re.is_match(default).unwrap_or(false) {
                    return fail(format!(
                        "does not match the RegularExpression {validation:?}"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
