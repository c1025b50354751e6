//! The PEP 3333 bridge. It knows nothing of `FastCGI`: the transport hands it the
//! request's CGI variables and a [`RequestChannel`] to read the body from and
//! write the response to; [`serve_request`] runs the application.
//!
//! The GIL is held only while Python code runs: reads and writes on the channel
//! happen with it released.

pub mod environ;
pub mod errors;
pub mod input;
pub mod load;
pub mod response;

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

pub use environ::ServerModel;
pub use load::{load_app, LoadError};

/// The transport's side of one request.
pub trait RequestChannel: Send + Sync {
    /// Appends more body bytes to `buf` and returns how many; 0 at the end of
    /// the body. `max` is a hint (a transport may hand over the rest of what it
    /// holds, up to one `FastCGI` record more). Blocks until data arrives.
    fn read_body(&self, buf: &mut Vec<u8>, max: usize) -> std::io::Result<usize>;
    /// Sends the CGI head (non-empty only on the first call) and a body chunk.
    /// With `flush` false the transport may hold the bytes until the response
    /// ends, to send everything in one write.
    fn send(&self, head: &[u8], body: &[u8], flush: bool) -> std::io::Result<()>;
    /// Drops response bytes held back by `send(.., flush: false)`; false when
    /// part of the response has already been written (nothing can be taken back).
    fn discard_pending(&self) -> bool;
    /// Diagnostic text for the web server (`FastCGI` STDERR, which IIS shows per
    /// its `stderrMode`).
    fn send_diagnostic(&self, text: &[u8]) -> std::io::Result<()>;
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A response went out (possibly a 500 made by the gateway).
    Complete,
    /// The application failed after the head went out: the body is cut short.
    Truncated,
    /// The web server went away or the channel failed.
    ChannelFailed,
}

/// What a request gave, for the transport's records (a truncated body has a
/// non-zero appStatus) and its request log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub ending: Ending,
    /// The response's status code; 0 when no head was accepted.
    pub status: u16,
    /// Body bytes handed to the transport.
    pub body_bytes: u64,
}

impl Outcome {
    /// The outcome of the response recorded in `state`.
    fn of(ending: Ending, state: &response::Shared) -> Outcome {
        let st = response::lock(state);
        Outcome {
            ending,
            status: st.status,
            body_bytes: st.body_sent,
        }
    }
}

const ERROR_BODY: &[u8] = b"Internal Server Error\n";

/// Bytes of a list response gathered before a write.
const LIST_BATCH: usize = 1 << 20;

/// The response head of the gateway's own 500.
pub fn error_head() -> Vec<u8> {
    format!(
        "Status: 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        ERROR_BODY.len()
    )
    .into_bytes()
}

/// Sends the gateway's 500 with `diagnostic` as error text.
pub fn send_error_response(channel: &dyn RequestChannel, diagnostic: &str) -> std::io::Result<()> {
    channel.send_diagnostic(diagnostic.as_bytes())?;
    channel.send(&error_head(), ERROR_BODY, false)
}

/// Builds the environ for `params`, calls `app`, and streams the response.
#[allow(
    clippy::needless_pass_by_value,
    reason = "the request owns its channel; the response iterator keeps clones of it"
)]
#[allow(
    clippy::items_after_statements,
    reason = "the per-process wsgi.errors stream is declared where it is used"
)]
pub fn serve_request(
    py: Python<'_>,
    app: &Bound<'_, PyAny>,
    params: &[(&[u8], &[u8])],
    model: &ServerModel,
    channel: Arc<dyn RequestChannel>,
) -> Outcome {
    let state: response::Shared = Arc::new(Mutex::new(response::State::default()));
    let result = (|| -> PyResult<Bound<'_, PyAny>> {
        let env = environ::cgi_environ(py, params, model)?;
        let input = Bound::new(py, input::Input::new(channel.clone()))?;
        // One wsgi.errors stream per process: it only forwards lines to the log.
        static ERRORS: pyo3::sync::PyOnceLock<Py<errors::LogStream>> =
            pyo3::sync::PyOnceLock::new();
        let errors = ERRORS
            .get_or_try_init(py, || {
                Py::new(
                    py,
                    errors::LogStream::new("wsgi.errors", errors::Level::Warn),
                )
            })?
            .bind(py)
            .clone();
        let file_wrapper = py.get_type::<response::FileWrapper>();
        environ::add_wsgi_keys(
            &env,
            input.into_any(),
            errors.into_any(),
            file_wrapper.into_any(),
            model,
        )?;
        let write = Py::new(
            py,
            response::Write {
                state: state.clone(),
                channel: channel.clone(),
            },
        )?;
        let start_response = Bound::new(
            py,
            response::StartResponse {
                state: state.clone(),
                write,
            },
        )?;
        app.call1((env, start_response))
    })();

    let (iter_result, iterable) = match result {
        Ok(iterable) => (iterate(py, &iterable, &state, &channel), Some(iterable)),
        Err(e) => (Err(e), None),
    };
    // close() is always called, whatever happened while iterating.
    let close_result = match &iterable {
        Some(it) => call_close(it),
        None => Ok(()),
    };
    let failure = match (iter_result, close_result) {
        (Err(e), close) => {
            if let Err(c) = close {
                tracing::error!(
                    "close() of the response failed too:\n{}",
                    load::format_traceback(py, &c)
                );
            }
            Some(e)
        }
        (Ok(()), Err(c)) => Some(c),
        (Ok(()), Ok(())) => None,
    };
    let Some(err) = failure else {
        let st = response::lock(&state);
        if let Some(cl) = st.content_length.filter(|&cl| cl != st.body_sent) {
            tracing::warn!(
                "the application declared Content-Length: {cl} but sent {} bytes",
                st.body_sent
            );
        }
        drop(st);
        return Outcome::of(Ending::Complete, &state);
    };
    failed(py, &err, &state, channel.as_ref())
}

/// The outcome of a request whose application (or channel) raised `err`:
/// a 500 when the head can still be replaced, else a body cut short.
fn failed(
    py: Python<'_>,
    err: &PyErr,
    state: &response::Shared,
    channel: &dyn RequestChannel,
) -> Outcome {
    let head_sent = response::lock(state).head_sent;
    if is_channel_error(py, err) {
        tracing::warn!("request ended early: {}", load::exception_line(py, err));
        return Outcome::of(Ending::ChannelFailed, state);
    }
    let tb = load::format_traceback(py, err);
    // A head that was only buffered can still be replaced by a 500.
    let head_sent = head_sent && !channel.discard_pending();
    if head_sent {
        tracing::error!(
            "the application failed after the response head was sent; the body is cut short:\n{tb}"
        );
        return Outcome::of(Ending::Truncated, state);
    }
    tracing::error!("the application failed; answering 500:\n{tb}");
    let ending = match py.detach(|| send_error_response(channel, &tb)) {
        Ok(()) => Ending::Complete,
        Err(_) => Ending::ChannelFailed,
    };
    Outcome {
        ending,
        status: 500,
        body_bytes: ERROR_BODY.len() as u64,
    }
}

pyo3::create_exception!(
    iiswsgi,
    ClientDisconnected,
    pyo3::exceptions::PyOSError,
    "The web server ended the request (aborted, or the connection failed)."
);

/// Errors raised by our own channel I/O mean the web server is gone; anything
/// else is the application's.
fn is_channel_error(py: Python<'_>, err: &PyErr) -> bool {
    err.is_instance_of::<ClientDisconnected>(py)
}

fn call_close(iterable: &Bound<'_, PyAny>) -> PyResult<()> {
    // Lists and tuples have no close(); asking would build an AttributeError.
    if iterable.is_exact_instance_of::<PyList>() || iterable.is_exact_instance_of::<PyTuple>() {
        return Ok(());
    }
    let py = iterable.py();
    let name = pyo3::intern!(py, "close");
    if iterable.hasattr(name)? {
        iterable.call_method0(name)?;
    }
    Ok(())
}

fn chunk_bytes<'a, 'py>(item: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyBytes>> {
    item.cast::<PyBytes>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "the application yielded {} where bytes are required",
            item.get_type()
        ))
    })
}

fn iterate(
    py: Python<'_>,
    iterable: &Bound<'_, PyAny>,
    state: &response::Shared,
    channel: &Arc<dyn RequestChannel>,
) -> PyResult<()> {
    // Fast path: a one-element list or tuple goes out with the end of the response.
    let single = if let Ok(list) = iterable.cast::<PyList>() {
        (list.len() == 1).then(|| list.get_item(0)).transpose()?
    } else if let Ok(tuple) = iterable.cast::<PyTuple>() {
        (tuple.len() == 1).then(|| tuple.get_item(0)).transpose()?
    } else {
        None
    };
    if let Some(item) = single {
        let b = chunk_bytes(&item)?;
        return response::send_chunk(py, state, channel, b.as_bytes(), false).map(|_| ());
    }
    // A list or tuple is all in memory already: its blocks are batched into
    // writes of about LIST_BATCH bytes. A generator's blocks go out as produced.
    let in_memory = iterable.is_instance_of::<PyList>() || iterable.is_instance_of::<PyTuple>();
    let mut batched = 0usize;
    for item in iterable.try_iter()? {
        let item = item?;
        let b = chunk_bytes(&item)?;
        let data = b.as_bytes();
        if data.is_empty() {
            continue;
        }
        let flush = if in_memory {
            batched += data.len();
            if batched >= LIST_BATCH {
                batched = 0;
                true
            } else {
                false
            }
        } else {
            true
        };
        if !response::send_chunk(py, state, channel, data, flush)? {
            // Past the declared Content-Length: nothing more is sent.
            break;
        }
    }
    let head_sent = response::lock(state).head_sent;
    if !head_sent {
        // No body at all: the head still has to go out.
        response::send_chunk(py, state, channel, b"", false)?;
    }
    Ok(())
}
