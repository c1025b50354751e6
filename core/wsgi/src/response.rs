//! `start_response`, `write()`, `wsgi.file_wrapper` and the CGI response head.

use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{PyAssertionError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::RequestChannel;

/// What `start_response` recorded.
#[derive(Default, Debug)]
pub(crate) struct State {
    /// The CGI head (`Status: …`, the headers, a blank line) once
    /// `start_response` has accepted a status and headers.
    pub head: Option<Vec<u8>>,
    pub head_sent: bool,
    /// The status code of the accepted head (0 before `start_response`).
    pub status: u16,
    pub content_length: Option<u64>,
    pub body_sent: u64,
    /// The application produced more than its declared Content-Length.
    pub overflowed: bool,
}

/// A body block at least this large is written at once from the application's
/// own buffer (gather I/O), never copied into the transport's buffer.
pub(crate) const DIRECT_WRITE_MIN: usize = 32 * 1024;

/// Appends `s` as latin-1 (PEP 3333). Other characters raise the
/// `UnicodeEncodeError` that `s.encode("latin-1")` would, as `mod_wsgi` does;
/// `what` names the string in the log.
fn push_latin1(out: &mut Vec<u8>, s: &str, what: &str) -> PyResult<()> {
    if s.is_ascii() {
        out.extend_from_slice(s.as_bytes());
        return Ok(());
    }
    let mut bad: Option<(usize, usize)> = None;
    for (i, c) in s.chars().enumerate() {
        match (u8::try_from(u32::from(c)), bad) {
            (Ok(b), None) => out.push(b),
            (Ok(_), Some(_)) => break,
            (Err(_), None) => bad = Some((i, i + 1)),
            (Err(_), Some((start, _))) => bad = Some((start, i + 1)),
        }
    }
    let Some((start, end)) = bad else {
        return Ok(());
    };
    tracing::error!("refused a response {what} that is not latin-1 (PEP 3333): {s:?}");
    Err(pyo3::exceptions::PyUnicodeEncodeError::new_err((
        "latin-1",
        s.to_owned(),
        start,
        end,
        "ordinal not in range(256)",
    )))
}

pub(crate) type Shared = Arc<Mutex<State>>;

pub(crate) fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends a body chunk, preceded by the head if it has not gone out yet. The GIL
/// is released during I/O. `flush`: false lets the transport batch the bytes
/// with the end of the response. Never sends more than a declared
/// Content-Length (PEP 3333): returns `Ok(false)` once the application went
/// past it, and the caller stops iterating.
pub(crate) fn send_chunk(
    py: Python<'_>,
    state: &Shared,
    channel: &Arc<dyn RequestChannel>,
    data: &[u8],
    mut flush: bool,
) -> PyResult<bool> {
    let (head, data, within) = {
        let mut st = lock(state);
        if st.head.is_none() {
            return Err(PyAssertionError::new_err(
                "the application sent body data before calling start_response()",
            ));
        }
        let (data, within) = match st.content_length {
            Some(cl) => {
                let left = usize::try_from(cl.saturating_sub(st.body_sent)).unwrap_or(usize::MAX);
                if data.len() > left {
                    if !st.overflowed {
                        st.overflowed = true;
                        tracing::warn!(
                            "the application sent more than its Content-Length: {cl}; \
                             the rest of the body is dropped (PEP 3333)"
                        );
                    }
                    (&data[..left], false)
                } else {
                    (data, true)
                }
            }
            None => (data, true),
        };
        st.body_sent += data.len() as u64;
        // The block that completes the declared Content-Length ends the body:
        // it can leave together with the end of the response.
        if flush && st.content_length.is_some_and(|cl| st.body_sent >= cl) {
            flush = false;
        }
        if st.head_sent {
            if data.is_empty() {
                return Ok(within);
            }
            (Vec::new(), data, within)
        } else {
            st.head_sent = true;
            (st.head.clone().unwrap_or_default(), data, within)
        }
    };
    let result = if flush || data.len() >= DIRECT_WRITE_MIN {
        py.detach(|| channel.send(&head, data, true))
    } else {
        // Only buffered: no I/O, so no reason to let go of the GIL.
        channel.send(&head, data, false)
    };
    result.map_err(|e| {
        crate::ClientDisconnected::new_err(format!("sending the response failed: {e}"))
    })?;
    Ok(within)
}

/// Refuses the control characters RFC 9110 forbids in a field value or a
/// reason phrase (everything below 0x20 but HTAB, and DEL): CR and LF would
/// split the response, the others are rejected or mangled by web servers.
fn refuse_controls(what: &str, s: &str) -> PyResult<()> {
    let Some(c) = s.chars().find(|&c| (c < ' ' && c != '\t') || c == '\x7f') else {
        return Ok(());
    };
    let kind = if c == '\r' || c == '\n' {
        "CR or LF".to_owned()
    } else {
        format!("the control character {:#04x}", u32::from(c))
    };
    tracing::error!("refused a response {what} containing {kind}: {s:?}");
    Err(PyValueError::new_err(format!(
        "response {what} contains {kind}, which HTTP does not allow (RFC 9110): {s:?}"
    )))
}

fn check_status(status: &str) -> PyResult<()> {
    refuse_controls("status", status)?;
    let b = status.as_bytes();
    let ok = b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ';
    if !ok {
        return Err(PyValueError::new_err(format!(
            "status must look like '200 OK' (three digits, a space, a reason): {status:?}"
        )));
    }
    Ok(())
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

fn str_of<'a>(
    obj: &'a Bound<'_, PyAny>,
    item: &Bound<'_, PyAny>,
) -> PyResult<&'a Bound<'a, PyString>> {
    obj.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "response header names and values must be str, got {item:?}"
        ))
    })
}

/// Builds the CGI head from a status and the headers list, checking both.
/// Returns the head and the declared Content-Length.
fn build_head(status: &str, headers: &Bound<'_, PyAny>) -> PyResult<(Vec<u8>, Option<u64>)> {
    // PEP 3333 and wsgiref: a list, nothing else (a tuple is a common mistake).
    if !headers.is_instance_of::<PyList>() {
        return Err(PyTypeError::new_err(format!(
            "start_response() argument 2 must be list, not {}",
            headers.get_type().name()?
        )));
    }
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"Status: ");
    push_latin1(&mut out, status, "status")?;
    out.extend_from_slice(b"\r\n");
    let mut content_length = None;
    for item in headers.try_iter()? {
        let item = item?;
        // mod_wsgi's wording: a TypeError for the type, a ValueError for the length.
        let pair = item.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err(format!(
                "each header must be a 2-tuple, not {}",
                item.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        if pair.len() != 2 {
            return Err(PyValueError::new_err(format!(
                "each header must be a 2-tuple, got length {}",
                pair.len()
            )));
        }
        let (name_obj, value_obj) = (pair.get_item(0)?, pair.get_item(1)?);
        let name = str_of(&name_obj, &item)?.to_str()?;
        let value = str_of(&value_obj, &item)?.to_str()?;
        refuse_controls("header", name)?;
        refuse_controls("header", value)?;
        if !is_token(name) {
            return Err(PyValueError::new_err(format!(
                "invalid response header name {name:?}"
            )));
        }
        if name.eq_ignore_ascii_case("status") {
            // As wsgiref.validate: the status is start_response's first argument.
            return Err(PyValueError::new_err(format!(
                "the Status header cannot be used: pass the status to start_response() \
                 (Status: {value:?})"
            )));
        }
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.trim().parse::<u64>().map_err(|_| {
                PyValueError::new_err(format!(
                    "Content-Length must be a number of bytes, got {value:?}"
                ))
            })?);
        }
        push_latin1(&mut out, name, "header")?;
        out.extend_from_slice(b": ");
        push_latin1(&mut out, value, "header")?;
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok((out, content_length))
}

/// The error for an `exc_info` that is not `sys.exc_info()`'s 3-tuple: a
/// `TypeError` (as for any wrong argument type) that is also a `RuntimeError`
/// (what `mod_wsgi` raises), so that either `except` catches it.
fn exc_info_error(py: Python<'_>) -> PyResult<PyErr> {
    static CLASS: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let class = CLASS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        let bases = PyTuple::new(
            py,
            [
                py.get_type::<PyTypeError>(),
                py.get_type::<pyo3::exceptions::PyRuntimeError>(),
            ],
        )?;
        let class = py.get_type::<pyo3::types::PyType>().call1((
            "ExcInfoError",
            bases,
            pyo3::types::PyDict::new(py),
        ))?;
        Ok(class.unbind())
    })?;
    let value = class
        .bind(py)
        .call1(("start_response() argument 'exc_info' must be a 3-tuple or None",))?;
    Ok(PyErr::from_value(value))
}

/// The `start_response` callable.
#[pyclass(module = "iiswsgi", name = "StartResponse")]
pub struct StartResponse {
    pub(crate) state: Shared,
    pub(crate) write: Py<Write>,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<Write>> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        if let Some(info) = exc_info {
            if !info.cast::<PyTuple>().is_ok_and(|t| t.len() == 3) {
                return Err(exc_info_error(py)?);
            }
        }
        {
            let st = lock(&self.state);
            if let Some(info) = exc_info {
                if st.head_sent {
                    drop(st);
                    // PEP 3333: too late to change the response; re-raise the error.
                    let value = info.get_item(1)?;
                    return Err(PyErr::from_value(value));
                }
            } else if st.head.is_some() {
                return Err(PyAssertionError::new_err(
                    "start_response() called a second time without exc_info",
                ));
            }
        }
        let status = status.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!("status must be str, got {}", status.get_type()))
        })?;
        let status = status.to_str()?;
        check_status(status)?;
        let (head, content_length) = build_head(status, headers)?;
        let mut st = lock(&self.state);
        st.head = Some(head);
        // check_status accepted three digits.
        st.status = status.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        st.content_length = content_length;
        Ok(self.write.clone_ref(py))
    }
}

/// The `write()` callable that `start_response` returns.
#[pyclass(module = "iiswsgi", name = "Write")]
pub struct Write {
    pub(crate) state: Shared,
    pub(crate) channel: Arc<dyn RequestChannel>,
}

#[pymethods]
impl Write {
    fn __call__(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = data.cast::<PyBytes>().map_err(|_| {
            PyTypeError::new_err(format!("write() takes bytes, got {}", data.get_type()))
        })?;
        let bytes = data.as_bytes();
        if bytes.is_empty() {
            return Ok(());
        }
        send_chunk(py, &self.state, &self.channel, bytes, true).map(|_| ())
    }
}

/// `wsgi.file_wrapper`: iterates a file-like object in blocks.
#[pyclass(module = "iiswsgi", name = "FileWrapper")]
pub struct FileWrapper {
    filelike: Py<PyAny>,
    blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> Self {
        FileWrapper {
            filelike,
            blksize: blksize.max(1),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let block = self
            .filelike
            .bind(py)
            .call_method1(pyo3::intern!(py, "read"), (self.blksize,))?;
        Ok(if block.is_truthy()? {
            Some(block)
        } else {
            None
        })
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let f = self.filelike.bind(py);
        if f.hasattr(pyo3::intern!(py, "close"))? {
            f.call_method0(pyo3::intern!(py, "close"))?;
        }
        Ok(())
    }
}
