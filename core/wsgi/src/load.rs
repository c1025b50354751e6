//! Finding the WSGI application: `module:callable`, wfastcgi's dotted
//! `module.attr` (with optional `()` calls), or `config:PATH.ini[#name]` through
//! `PasteDeploy`.

use pyo3::exceptions::PyModuleNotFoundError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Why the application could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid WSGI application {spec:?}: {why}")]
    BadSpec { spec: String, why: String },
    #[error("could not import module {module:?} for WSGI application {spec:?}: no module named {module:?} on sys.path")]
    ModuleNotFound { spec: String, module: String },
    #[error("could not import module {module:?} for WSGI application {spec:?}: {error}")]
    Import {
        spec: String,
        module: String,
        error: String,
        traceback: String,
    },
    #[error("{error} (while resolving {attr:?} of WSGI application {spec:?})")]
    Attribute {
        spec: String,
        attr: String,
        error: String,
        traceback: String,
    },
    #[error("loading the PasteDeploy application {name:?} from {path} failed: {error}")]
    Paste {
        path: String,
        name: String,
        error: String,
        traceback: String,
    },
    #[error("WSGI application {spec:?} is {repr}, which is not callable")]
    NotCallable { spec: String, repr: String },
}

impl LoadError {
    /// The Python traceback behind the error, when there is one.
    pub fn traceback(&self) -> Option<&str> {
        match self {
            LoadError::Import { traceback, .. }
            | LoadError::Attribute { traceback, .. }
            | LoadError::Paste { traceback, .. } => Some(traceback),
            _ => None,
        }
    }
}

/// `ExcType: message` of a Python exception.
pub fn exception_line(py: Python<'_>, err: &PyErr) -> String {
    let ty = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let msg = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    if msg.is_empty() {
        ty
    } else {
        format!("{ty}: {msg}")
    }
}

/// The full traceback of a Python exception, as `traceback.format_exception` gives it.
pub fn format_traceback(py: Python<'_>, err: &PyErr) -> String {
    let formatted = (|| -> PyResult<String> {
        let tb = py.import("traceback")?;
        let lines = tb.call_method1(
            "format_exception",
            (err.get_type(py), err.value(py), err.traceback(py)),
        )?;
        Ok(lines.extract::<Vec<String>>()?.concat())
    })();
    formatted.unwrap_or_else(|_| exception_line(py, err))
}

/// One step of an attribute path: a name, and whether to call it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    name: String,
    call: bool,
}

fn parse_steps(spec: &str, path: &str) -> Result<Vec<Step>, LoadError> {
    path.split('.')
        .map(|p| {
            let (name, call) = match p.strip_suffix("()") {
                Some(n) => (n, true),
                None => (p, false),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(LoadError::BadSpec {
                    spec: spec.into(),
                    why: format!("{p:?} is not a Python name (optionally followed by `()`)"),
                });
            }
            Ok(Step {
                name: name.into(),
                call,
            })
        })
        .collect()
}

/// Imports `module`; `Ok(None)` when the module itself (or a parent package)
/// does not exist, an error when it exists but fails to import.
fn try_import<'py>(
    py: Python<'py>,
    spec: &str,
    module: &str,
) -> Result<Option<Bound<'py, PyAny>>, LoadError> {
    match py.import(module) {
        Ok(m) => Ok(Some(m.into_any())),
        Err(e) => {
            if e.is_instance_of::<PyModuleNotFoundError>(py) {
                let missing: Option<String> = e
                    .value(py)
                    .getattr("name")
                    .ok()
                    .and_then(|n| n.extract().ok());
                if let Some(missing) = missing {
                    let is_ours = module == missing || module.starts_with(&format!("{missing}."));
                    if is_ours {
                        return Ok(None);
                    }
                }
            }
            Err(LoadError::Import {
                spec: spec.into(),
                module: module.into(),
                error: exception_line(py, &e),
                traceback: format_traceback(py, &e),
            })
        }
    }
}

fn resolve<'py>(
    spec: &str,
    mut obj: Bound<'py, PyAny>,
    steps: &[Step],
) -> Result<Bound<'py, PyAny>, LoadError> {
    let py = obj.py();
    for step in steps {
        let fail = |e: PyErr, what: String| LoadError::Attribute {
            spec: spec.into(),
            attr: what,
            error: exception_line(py, &e),
            traceback: format_traceback(py, &e),
        };
        obj = obj
            .getattr(step.name.as_str())
            .map_err(|e| fail(e, step.name.clone()))?;
        if step.call {
            obj = obj
                .call0()
                .map_err(|e| fail(e, format!("{}()", step.name)))?;
        }
    }
    Ok(obj)
}

fn callable(spec: &str, obj: Bound<'_, PyAny>) -> Result<Py<PyAny>, LoadError> {
    if obj.is_callable() {
        Ok(obj.unbind())
    } else {
        Err(LoadError::NotCallable {
            spec: spec.into(),
            repr: obj.repr().map(|r| r.to_string()).unwrap_or_default(),
        })
    }
}

/// Loads the application named by `spec`.
pub fn load_app(py: Python<'_>, spec: &str) -> Result<Py<PyAny>, LoadError> {
    let spec = spec.trim();
    if let Some(rest) = spec.strip_prefix("config:") {
        return load_paste(py, rest);
    }
    if let Some((module, path)) = spec.split_once(':') {
        if module.is_empty() {
            return Err(LoadError::BadSpec {
                spec: spec.into(),
                why: "the module name before `:` is empty".into(),
            });
        }
        let steps = parse_steps(spec, path)?;
        let m = try_import(py, spec, module)?.ok_or_else(|| LoadError::ModuleNotFound {
            spec: spec.into(),
            module: module.into(),
        })?;
        return callable(spec, resolve(spec, m, &steps)?);
    }
    load_dotted(py, spec)
}

/// wfastcgi's `WSGI_HANDLER` form: the longest importable prefix is the module,
/// the rest are attributes (each may end in `()` to be called).
fn load_dotted(py: Python<'_>, spec: &str) -> Result<Py<PyAny>, LoadError> {
    let steps = parse_steps(spec, spec)?;
    if steps.len() < 2 {
        return Err(LoadError::BadSpec {
            spec: spec.into(),
            why: "expected `module:callable` or a dotted `module.callable`".into(),
        });
    }
    for split in (1..steps.len()).rev() {
        if steps[..split].iter().any(|s| s.call) {
            continue;
        }
        let module = steps[..split]
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(".");
        if let Some(m) = try_import(py, spec, &module)? {
            return callable(spec, resolve(spec, m, &steps[split..])?);
        }
    }
    Err(LoadError::ModuleNotFound {
        spec: spec.into(),
        module: steps[0].name.clone(),
    })
}

fn load_paste(py: Python<'_>, rest: &str) -> Result<Py<PyAny>, LoadError> {
    let (path, name) = match rest.rsplit_once('#') {
        Some((p, n)) => (p, n),
        None => (rest, "main"),
    };
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.into());
    let abs_s = abs.to_string_lossy().into_owned();
    let fail = |e: PyErr| LoadError::Paste {
        path: abs_s.clone(),
        name: name.into(),
        error: exception_line(py, &e),
        traceback: format_traceback(py, &e),
    };
    if !abs.is_file() {
        return Err(LoadError::Paste {
            path: abs_s.clone(),
            name: name.into(),
            error: "no such file".into(),
            traceback: String::new(),
        });
    }
    let run = || -> PyResult<Bound<'_, PyAny>> {
        setup_paste_logging(py, &abs_s)?;
        let deploy = py.import("paste.deploy")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("name", name)?;
        deploy.call_method("loadapp", (format!("config:{abs_s}"),), Some(&kwargs))
    };
    let app = run().map_err(fail)?;
    callable(rest, app)
}

/// Like `pserve`: configure `logging` from the ini when it has a `[loggers]` section.
fn setup_paste_logging(py: Python<'_>, path: &str) -> PyResult<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    if !text.lines().any(|l| l.trim() == "[loggers]") {
        return Ok(());
    }
    let here = std::path::Path::new(path)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let defaults = PyDict::new(py);
    defaults.set_item("__file__", path)?;
    defaults.set_item("here", here)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("disable_existing_loggers", false)?;
    py.import("logging.config")?
        .call_method("fileConfig", (path, defaults), Some(&kwargs))?;
    Ok(())
}
