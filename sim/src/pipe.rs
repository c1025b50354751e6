//! IIS's end of a `FastCGI` named pipe on Windows: the client end that IIS
//! opens with `CreateFileW(…, FILE_FLAG_OVERLAPPED)` before the process
//! starts (reference `iis-fastcgi.md` §1.2), read and written with
//! overlapped I/O, one manual-reset event per operation.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "Win32's integer types at the FFI edge: buffer lengths and codes converted where the API takes them"
)]
#![allow(unsafe_code)]

use std::io::{self, Read, Write};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    DuplicateHandle, GetLastError, DUPLICATE_SAME_ACCESS, ERROR_BROKEN_PIPE, ERROR_IO_PENDING,
    ERROR_PIPE_NOT_CONNECTED, HANDLE, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::Storage::FileSystem::{ReadFile, WriteFile};
use windows_sys::Win32::System::Threading::{CreateEventW, GetCurrentProcess, WaitForSingleObject};
use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};

use crate::fcgi::Transport;

/// An owned kernel handle made from a raw one (`None` for null or invalid).
pub(crate) fn owned(h: HANDLE) -> Option<OwnedHandle> {
    if h.is_null() || h == windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE {
        return None;
    }
    // SAFETY: `h` was just returned by the kernel to this process and is
    // owned by no one else; OwnedHandle closes it once.
    Some(unsafe { OwnedHandle::from_raw_handle(h) })
}

/// A new unnamed, manual-reset, non-signalled event.
pub(crate) fn event(inheritable: bool) -> io::Result<OwnedHandle> {
    let sa = windows_sys::Win32::Security::SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<windows_sys::Win32::Security::SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: ptr::null_mut(),
        bInheritHandle: i32::from(inheritable),
    };
    // SAFETY: valid attributes; manual reset, not signalled, no name.
    let h = unsafe { CreateEventW(&raw const sa, 1, 0, ptr::null()) };
    owned(h).ok_or_else(io::Error::last_os_error)
}

/// The web server's end of the pipe. `read` returns 0 at the application's
/// end of the connection (`ERROR_BROKEN_PIPE`).
pub struct PipeStream {
    handle: Option<OwnedHandle>,
    event: OwnedHandle,
    /// Read timeout in milliseconds, 0 for none.
    timeout_ms: AtomicU64,
}

impl PipeStream {
    /// Wraps a pipe handle opened with `FILE_FLAG_OVERLAPPED`.
    pub fn new(handle: OwnedHandle) -> io::Result<Self> {
        Ok(PipeStream {
            handle: Some(handle),
            event: event(false)?,
            timeout_ms: AtomicU64::new(0),
        })
    }

    fn raw(&self) -> io::Result<HANDLE> {
        self.handle
            .as_ref()
            .map(std::os::windows::io::AsRawHandle::as_raw_handle)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the pipe is closed"))
    }

    fn ov(&self) -> OVERLAPPED {
        // SAFETY: all-zero is OVERLAPPED's initial state.
        let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
        ov.hEvent = self.event.as_raw_handle();
        ov
    }

    /// Completes an operation whose call returned FALSE: waits up to
    /// `timeout`, cancelling it on time-out so `ov` and the buffer are free.
    fn finish(&self, h: HANDLE, ov: &OVERLAPPED, timeout: Option<Duration>) -> io::Result<u32> {
        // SAFETY: reads this thread's last error.
        let err = unsafe { GetLastError() };
        if err != ERROR_IO_PENDING {
            return Err(io::Error::from_raw_os_error(err as i32));
        }
        let ms = timeout.map_or(u32::MAX, |d| {
            d.as_millis().clamp(1, u128::from(u32::MAX - 1)) as u32
        });
        // SAFETY: waits on our own event.
        let w = unsafe { WaitForSingleObject(self.event.as_raw_handle(), ms) };
        let mut n = 0u32;
        if w == WAIT_TIMEOUT {
            // SAFETY: cancels this operation and waits for it to settle.
            unsafe {
                CancelIoEx(h, ov);
                GetOverlappedResult(h, ov, &raw mut n, 1);
            }
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "pipe read timed out",
            ));
        }
        if w != WAIT_OBJECT_0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the operation of `ov` on `h` has completed.
        if unsafe { GetOverlappedResult(h, ov, &raw mut n, 1) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n)
    }
}

fn is_eof(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(|c| c as u32),
        Some(ERROR_BROKEN_PIPE | ERROR_PIPE_NOT_CONNECTED)
    )
}

impl Read for PipeStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let h = self.raw()?;
        let len = buf.len().min(u32::MAX as usize) as u32;
        let mut ov = self.ov();
        let mut n = 0u32;
        // SAFETY: `buf` and `ov` outlive the operation: it completes (or is
        // cancelled and settled) before this function returns.
        let ok = unsafe { ReadFile(h, buf.as_mut_ptr(), len, &raw mut n, &raw mut ov) };
        let timeout = match self.timeout_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        let got = if ok != 0 {
            Ok(n)
        } else {
            self.finish(h, &ov, timeout)
        };
        match got {
            Ok(n) => Ok(n as usize),
            Err(e) if is_eof(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

impl Write for PipeStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let h = self.raw()?;
        let len = buf.len().min(u32::MAX as usize) as u32;
        let mut ov = self.ov();
        let mut n = 0u32;
        // SAFETY: as in `read`: the operation completes before returning.
        let ok = unsafe { WriteFile(h, buf.as_ptr(), len, &raw mut n, &raw mut ov) };
        if ok != 0 {
            return Ok(n as usize);
        }
        self.finish(h, &ov, None).map(|n| n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for PipeStream {
    fn try_clone(&self) -> io::Result<Self> {
        let h = self.raw()?;
        let mut dup: HANDLE = ptr::null_mut();
        // SAFETY: duplicates our own valid handle within this process.
        let ok = unsafe {
            let me = GetCurrentProcess();
            DuplicateHandle(me, h, me, &raw mut dup, 0, 0, DUPLICATE_SAME_ACCESS)
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        let handle = owned(dup).ok_or_else(io::Error::last_os_error)?;
        let s = PipeStream::new(handle)?;
        s.timeout_ms
            .store(self.timeout_ms.load(Ordering::Relaxed), Ordering::Relaxed);
        Ok(s)
    }

    /// Closes this handle, as IIS closes its end: the application reads EOF
    /// once no other handle on this end is open.
    fn shutdown(&mut self) -> io::Result<()> {
        self.handle = None;
        Ok(())
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let ms = timeout.map_or(0, |d| d.as_millis().clamp(1, u128::from(u64::MAX)) as u64);
        self.timeout_ms.store(ms, Ordering::Relaxed);
        Ok(())
    }
}
