//! The WSGI environ: CGI variables from the request's parameters (bytes, decoded
//! as latin-1 as PEP 3333 requires), the IIS fix-ups, and the `wsgi.*` keys.

use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyString, PyTuple};

/// How the server runs, for `wsgi.multithread` and `wsgi.multiprocess`.
#[derive(Clone, Debug)]
pub struct ServerModel {
    pub multithread: bool,
    pub multiprocess: bool,
    /// An explicit mount point (the `SCRIPT_NAME` setting): overrides the one
    /// derived from `APPL_MD_PATH`.
    pub script_name: Option<String>,
    /// Whether URL Rewrite's `X-Original-URL` gives the path (wfastcgi's behaviour).
    pub use_x_original_url: bool,
}

/// Decodes bytes as latin-1 (every byte is one code point), in one pass.
#[allow(unsafe_code)]
pub fn latin1<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyString> {
    let len = pyo3::ffi::Py_ssize_t::try_from(b.len()).unwrap_or(pyo3::ffi::Py_ssize_t::MAX);
    // SAFETY: FFI edge. `b` is valid for `len` bytes; latin-1 decoding cannot fail
    // on any byte value, so the call returns a new reference (or NULL only on
    // out-of-memory, which `from_owned_ptr_or_err` turns into an error).
    let decoded = unsafe {
        let ptr = pyo3::ffi::PyUnicode_DecodeLatin1(b.as_ptr().cast(), len, std::ptr::null());
        Bound::from_owned_ptr_or_err(py, ptr)
    };
    if let Ok(s) = decoded.and_then(|o| o.cast_into::<PyString>().map_err(PyErr::from)) {
        s
    } else {
        let text: String = b.iter().map(|&c| char::from(c)).collect();
        PyString::new(py, &text)
    }
}

/// The mount point of an IIS application from its metabase path:
/// `/LM/W3SVC/<site>/ROOT/app/sub` gives `/app/sub`, the site root gives `""`.
pub fn mount_from_appl_md_path(md_path: &[u8]) -> Vec<u8> {
    let parts: Vec<&[u8]> = md_path.split(|&c| c == b'/').collect();
    // ["", "LM", "W3SVC", "<site>", "ROOT", rest...]
    if parts.len() < 5 || !parts[4].eq_ignore_ascii_case(b"ROOT") {
        return Vec::new();
    }
    let mut mount = Vec::new();
    for p in parts[5..].iter().filter(|p| !p.is_empty()) {
        mount.push(b'/');
        mount.extend_from_slice(p);
    }
    mount
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
pub fn percent_decode(s: &[u8]) -> Vec<u8> {
    fn hex(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// `SCRIPT_NAME` and `PATH_INFO` for a request from IIS.
///
/// IIS sends the full URL path in `PATH_INFO` (and in `SCRIPT_NAME`) for `path="*"`
/// handlers; the application's mount point comes from `APPL_MD_PATH`, or from an
/// explicit setting. URL Rewrite's `X-Original-URL` (raw, percent-encoded) wins
/// over `PATH_INFO`. A `?query` left inside the path is cut off.
pub fn iis_paths(
    appl_md_path: &[u8],
    path_info: &[u8],
    x_original_url: Option<&[u8]>,
    script_name_setting: Option<&[u8]>,
) -> (Vec<u8>, Vec<u8>) {
    let path = match x_original_url {
        Some(url) => {
            let raw = url.split(|&c| c == b'?').next().unwrap_or_default();
            percent_decode(raw)
        }
        None => path_info
            .split(|&c| c == b'?')
            .next()
            .unwrap_or_default()
            .to_vec(),
    };
    let mount = match script_name_setting {
        Some(s) => s.strip_suffix(b"/").unwrap_or(s).to_vec(),
        None => mount_from_appl_md_path(appl_md_path),
    };
    if mount.is_empty() {
        return (Vec::new(), path);
    }
    let n = mount.len();
    let matches = path.len() >= n
        && path[..n].eq_ignore_ascii_case(&mount)
        && (path.len() == n || path[n] == b'/');
    if matches {
        (path[..n].to_vec(), path[n..].to_vec())
    } else {
        (Vec::new(), path)
    }
}

/// Bytes and the `str` made of them.
type Decoded = (Box<[u8]>, Py<PyString>);

/// Environ keys are the same few dozen names on every request: their `str`
/// objects (with cached hashes) are made once per process. Many values
/// repeat too (the server's name, port and software, the application's
/// paths, the client's address on a kept-alive connection): the last value
/// at each position is kept and reused when the next request sends the same
/// bytes (`str` is immutable, so sharing it is invisible to the app).
struct KeyCache {
    /// Web servers send the same names in the same order: checked first, by position.
    by_position: Vec<Decoded>,
    map: HashMap<Box<[u8]>, Py<PyString>>,
    /// The last short value seen at each position.
    values: Vec<Option<Decoded>>,
}

/// Bounds the cache against a client inventing header names.
const MAX_CACHED_KEYS: usize = 512;
const MAX_CACHED_KEY_LEN: usize = 64;
const MAX_CACHED_VALUE_LEN: usize = 64;

static KEYS: Mutex<Option<KeyCache>> = Mutex::new(None);

impl KeyCache {
    fn key_at<'py>(&mut self, py: Python<'py>, i: usize, k: &[u8]) -> Bound<'py, PyString> {
        if let Some((name, s)) = self.by_position.get(i) {
            if **name == *k {
                return s.bind(py).clone();
            }
        }
        let s = self.key(py, k);
        if i < MAX_CACHED_KEYS && k.len() <= MAX_CACHED_KEY_LEN {
            if i < self.by_position.len() {
                self.by_position[i] = (k.into(), s.clone().unbind());
            } else if i == self.by_position.len() {
                self.by_position.push((k.into(), s.clone().unbind()));
            }
        }
        s
    }

    fn value_at<'py>(&mut self, py: Python<'py>, i: usize, v: &[u8]) -> Bound<'py, PyString> {
        if v.is_empty() || v.len() > MAX_CACHED_VALUE_LEN || i >= MAX_CACHED_KEYS {
            return latin1(py, v);
        }
        if let Some(Some((bytes, s))) = self.values.get(i) {
            if **bytes == *v {
                return s.bind(py).clone();
            }
        }
        let s = latin1(py, v);
        if i >= self.values.len() {
            self.values.resize_with(i + 1, || None);
        }
        self.values[i] = Some((v.into(), s.clone().unbind()));
        s
    }

    fn key<'py>(&mut self, py: Python<'py>, k: &[u8]) -> Bound<'py, PyString> {
        if let Some(s) = self.map.get(k) {
            return s.bind(py).clone();
        }
        if k.len() > MAX_CACHED_KEY_LEN || self.map.len() >= MAX_CACHED_KEYS {
            return latin1(py, k);
        }
        let s = match std::str::from_utf8(k) {
            Ok(text) if k.is_ascii() => PyString::intern(py, text),
            _ => latin1(py, k),
        };
        self.map.insert(k.into(), s.clone().unbind());
        s
    }
}

/// The parameters the environ's fix-ups read (the last of each name), noted
/// in the one pass over the parameters.
#[derive(Default)]
struct Noted<'a> {
    content_type: Option<&'a [u8]>,
    content_length: Option<&'a [u8]>,
    appl_md_path: Option<&'a [u8]>,
    path_info: Option<&'a [u8]>,
    x_original_url: Option<&'a [u8]>,
}

impl<'a> Noted<'a> {
    /// Notes `k`; whether it stays out of the environ (some web servers
    /// send the body headers both ways; WSGI wants only the CGI names).
    fn note(&mut self, k: &[u8], v: &'a [u8]) -> bool {
        // By length first: most names are compared with nothing.
        match k.len() {
            9 if k == b"PATH_INFO" => self.path_info = Some(v),
            12 if k == b"APPL_MD_PATH" => self.appl_md_path = Some(v),
            17 if k == b"HTTP_CONTENT_TYPE" => {
                self.content_type = Some(v);
                return true;
            }
            19 if k == b"HTTP_CONTENT_LENGTH" => {
                self.content_length = Some(v);
                return true;
            }
            19 if k == b"HTTP_X_ORIGINAL_URL" => self.x_original_url = Some(v),
            _ => {}
        }
        false
    }
}

/// Builds the CGI part of the environ (no `wsgi.*` keys yet).
pub fn cgi_environ<'py>(
    py: Python<'py>,
    params: &[(&[u8], &[u8])],
    model: &ServerModel,
) -> PyResult<Bound<'py, PyDict>> {
    let env = PyDict::new(py);
    let mut noted = Noted::default();
    {
        let mut guard = KEYS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cache = guard.get_or_insert_with(|| KeyCache {
            by_position: Vec::new(),
            map: HashMap::new(),
            values: Vec::new(),
        });
        for (i, &(k, v)) in params.iter().enumerate() {
            if noted.note(k, v) {
                continue;
            }
            let key = cache.key_at(py, i, k);
            let value = cache.value_at(py, i, v);
            // A header the web server sends twice (nginx before 1.23, others)
            // is joined as CGI does: "; " for Cookie, ", " for the rest.
            if k.starts_with(b"HTTP_") {
                if let Some(first) = env.get_item(&key)? {
                    let sep = if k == b"HTTP_COOKIE" { "; " } else { ", " };
                    env.set_item(key, first.add(sep)?.add(value)?)?;
                    continue;
                }
            }
            env.set_item(key, value)?;
        }
    }
    for (http, cgi) in [
        (noted.content_type, "CONTENT_TYPE"),
        (noted.content_length, "CONTENT_LENGTH"),
    ] {
        if let Some(v) = http {
            if !env.contains(cgi)? {
                env.set_item(cgi, latin1(py, v))?;
            }
        }
    }
    if let Some(md) = noted.appl_md_path {
        let (script, path) = iis_paths(
            md,
            noted.path_info.unwrap_or_default(),
            noted.x_original_url.filter(|_| model.use_x_original_url),
            model.script_name.as_deref().map(str::as_bytes),
        );
        env.set_item("SCRIPT_NAME", latin1(py, &script))?;
        env.set_item("PATH_INFO", latin1(py, &path))?;
    } else {
        for key in ["SCRIPT_NAME", "PATH_INFO"] {
            if !env.contains(key)? {
                env.set_item(key, "")?;
            }
        }
    }
    Ok(env)
}

/// Adds the `wsgi.*` keys.
pub fn add_wsgi_keys(
    env: &Bound<'_, PyDict>,
    input: Bound<'_, PyAny>,
    errors: Bound<'_, PyAny>,
    file_wrapper: Bound<'_, PyAny>,
    model: &ServerModel,
) -> PyResult<()> {
    use pyo3::intern;
    static VERSION: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();
    let py = env.py();
    let https = match env.get_item(intern!(py, "HTTPS"))? {
        Some(v) => v
            .cast::<PyString>()
            .is_ok_and(|s| s.to_str().is_ok_and(|t| t.eq_ignore_ascii_case("on"))),
        None => false,
    };
    let version = VERSION.get_or_try_init(py, || PyTuple::new(py, [1, 0]).map(Bound::unbind))?;
    env.set_item(intern!(py, "wsgi.version"), version.bind(py))?;
    let scheme = if https {
        intern!(py, "https")
    } else {
        intern!(py, "http")
    };
    env.set_item(intern!(py, "wsgi.url_scheme"), scheme)?;
    env.set_item(intern!(py, "wsgi.input"), input)?;
    env.set_item(intern!(py, "wsgi.errors"), errors)?;
    env.set_item(
        intern!(py, "wsgi.multithread"),
        PyBool::new(py, model.multithread),
    )?;
    env.set_item(
        intern!(py, "wsgi.multiprocess"),
        PyBool::new(py, model.multiprocess),
    )?;
    env.set_item(intern!(py, "wsgi.run_once"), PyBool::new(py, false))?;
    env.set_item(intern!(py, "wsgi.input_terminated"), PyBool::new(py, true))?;
    env.set_item(intern!(py, "wsgi.file_wrapper"), file_wrapper)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(md: &str, pi: &str, xo: Option<&str>, sn: Option<&str>) -> (String, String) {
        let (a, b) = iis_paths(
            md.as_bytes(),
            pi.as_bytes(),
            xo.map(str::as_bytes),
            sn.map(str::as_bytes),
        );
        (String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap())
    }

    #[test]
    fn mount_points() {
        assert_eq!(mount_from_appl_md_path(b"/LM/W3SVC/1/ROOT"), b"");
        assert_eq!(mount_from_appl_md_path(b"/LM/W3SVC/1/ROOT/"), b"");
        assert_eq!(mount_from_appl_md_path(b"/LM/W3SVC/2/Root/app"), b"/app");
        assert_eq!(mount_from_appl_md_path(b"/lm/w3svc/2/root/a/b"), b"/a/b");
        assert_eq!(mount_from_appl_md_path(b"nonsense"), b"");
    }

    #[test]
    fn iis_path_fixups() {
        let app = "/LM/W3SVC/1/ROOT/app";
        assert_eq!(
            paths(app, "/app/foo/bar", None, None),
            ("/app".into(), "/foo/bar".into())
        );
        assert_eq!(
            paths(app, "/APP/foo", None, None),
            ("/APP".into(), "/foo".into())
        );
        assert_eq!(
            paths(app, "/app", None, None),
            ("/app".into(), String::new())
        );
        assert_eq!(
            paths(app, "/application", None, None),
            (String::new(), "/application".into())
        );
        assert_eq!(
            paths(app, "/app/x?y=1", None, None),
            ("/app".into(), "/x".into())
        );
        assert_eq!(
            paths(app, "/app/handler.fcgi/x", Some("/app/caf%C3%A9?q=1"), None),
            ("/app".into(), "/café".into())
        );
        assert_eq!(
            paths("/LM/W3SVC/1/ROOT", "/fob/oar/baz", None, None),
            (String::new(), "/fob/oar/baz".into())
        );
        assert_eq!(
            paths("/LM/W3SVC/1/ROOT", "/fob/oar/baz", None, Some("/fob/")),
            ("/fob".into(), "/oar/baz".into())
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"/a%20b%zz%4"), b"/a b%zz%4");
        assert_eq!(percent_decode(b"%41"), b"A");
    }
}
