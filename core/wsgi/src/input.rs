//! `wsgi.input`: the request body, read from the web server as the application
//! asks for it (so a large upload is never held in memory), with `io` semantics.

use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::RequestChannel;

/// How much is asked of the channel at a time when the caller wants "all".
const STEP: usize = 64 * 1024;

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl State {
    fn available(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Drops consumed bytes so the buffer does not grow with the body; moves
    /// the unread rest only when it is the smaller part.
    fn compact(&mut self) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let start = self.pos;
        self.pos += n;
        &self.buf[start..start + n]
    }
}

/// The `wsgi.input` stream.
#[pyclass(module = "iiswsgi", name = "Input")]
pub struct Input {
    channel: Arc<dyn RequestChannel>,
    state: Mutex<State>,
}

impl Input {
    pub fn new(channel: Arc<dyn RequestChannel>) -> Self {
        Input {
            channel,
            state: Mutex::new(State::default()),
        }
    }

    /// Locks the buffer; waits with the GIL released, since the holder may be
    /// blocked in a read that needs the GIL back to finish.
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, State> {
        use pyo3::sync::MutexExt;
        // A panic while holding the lock leaves plain bytes behind: still usable.
        self.state
            .lock_py_attached(py)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads at least one more byte into the buffer unless the body has ended;
    /// returns false at the end. The GIL is released while waiting.
    fn fill(&self, py: Python<'_>, st: &mut State, want: usize) -> PyResult<bool> {
        if st.eof {
            return Ok(false);
        }
        st.compact();
        let channel = &self.channel;
        let buf = &mut st.buf;
        let n = py
            .detach(|| channel.read_body(buf, want.max(1)))
            .map_err(|e| {
                crate::ClientDisconnected::new_err(format!("reading the request body failed: {e}"))
            })?;
        if n == 0 {
            st.eof = true;
        }
        Ok(n > 0)
    }

    fn read_line<'py>(
        &self,
        py: Python<'py>,
        st: &mut State,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut scanned = 0;
        loop {
            let avail = &st.buf[st.pos..];
            if let Some(i) = avail[scanned..].iter().position(|&c| c == b'\n') {
                let n = limit.map_or(scanned + i + 1, |l| l.min(scanned + i + 1));
                return Ok(PyBytes::new(py, st.take(n)));
            }
            scanned = avail.len();
            if limit.is_some_and(|l| scanned >= l) {
                let n = limit.unwrap_or(scanned);
                return Ok(PyBytes::new(py, st.take(n)));
            }
            // `fill` compacts the buffer; `scanned` counts from `pos` and stays valid.
            if !self.fill(py, st, STEP)? {
                let n = st.available();
                return Ok(PyBytes::new(py, st.take(n)));
            }
        }
    }
}

fn size_arg(size: Option<i64>) -> Option<usize> {
    size.and_then(|s| usize::try_from(s).ok())
}

#[allow(
    clippy::unused_self,
    reason = "Python methods of a file-like object: pyo3 needs the receiver"
)]
#[pymethods]
impl Input {
    /// `read(size=-1)`: up to `size` bytes, or everything left.
    #[pyo3(signature = (size=None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let mut st = self.lock(py);
        match size_arg(size) {
            None => {
                while self.fill(py, &mut st, STEP)? {}
                let n = st.available();
                Ok(PyBytes::new(py, st.take(n)))
            }
            Some(n) => {
                while st.available() < n {
                    let want = n - st.available();
                    if !self.fill(py, &mut st, want.min(1 << 20))? {
                        break;
                    }
                }
                let n = n.min(st.available());
                Ok(PyBytes::new(py, st.take(n)))
            }
        }
    }

    /// `readline(size=-1)`: one line including its `\n`, at most `size` bytes.
    #[pyo3(signature = (size=None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let mut st = self.lock(py);
        self.read_line(py, &mut st, size_arg(size))
    }

    /// `readlines(hint=-1)`: lines until their total reaches `hint`.
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<i64>) -> PyResult<Bound<'py, PyList>> {
        let hint = size_arg(hint).filter(|&h| h > 0);
        let lines = PyList::empty(py);
        let mut total = 0;
        let mut st = self.lock(py);
        loop {
            let line = self.read_line(py, &mut st, None)?;
            let n = line.as_bytes().len();
            if n == 0 {
                break;
            }
            lines.append(line)?;
            total += n;
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut st = self.lock(py);
        let line = self.read_line(py, &mut st, None)?;
        Ok(if line.as_bytes().is_empty() {
            None
        } else {
            Some(line)
        })
    }

    fn readable(&self) -> bool {
        true
    }

    fn close(&self) {}
}
