//! Windows: IIS hands the process the server end of an already-connected,
//! single-instance named pipe as STDIN (`protocol="NamedPipe"`), or a listening
//! TCP socket (`protocol="Tcp"`). IIS creates the pipe with `FILE_FLAG_OVERLAPPED`,
//! so every read and write passes an OVERLAPPED and waits for its completion;
//! that also works if the handle is synchronous.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "Win32's integer types at the FFI edge: buffer lengths and codes converted where the API takes them"
)]
#![allow(unsafe_code)]

use std::io;
use std::ptr;

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_BROKEN_PIPE, ERROR_IO_PENDING, ERROR_NO_DATA,
    ERROR_PIPE_CONNECTED, ERROR_PIPE_NOT_CONNECTED, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{ReadFile, WriteFile};
use windows_sys::Win32::System::Console::{GetStdHandle, STD_INPUT_HANDLE};
use windows_sys::Win32::System::Pipes::{ConnectNamedPipe, GetNamedPipeInfo, PeekNamedPipe};
use windows_sys::Win32::System::Threading::{CreateEventW, WaitForSingleObject, INFINITE};
use windows_sys::Win32::System::IO::{GetOverlappedResult, OVERLAPPED};

use super::{Listener, StdinKind, Stream};

/// The inherited pipe handle, with an event for overlapped completion.
pub struct PipeStream {
    handle: HANDLE,
    event: HANDLE,
}

// SAFETY: the handles are plain kernel handles owned by this value; Windows
// allows using them from any thread, and the value is used by one thread at a time.
unsafe impl Send for PipeStream {}

impl PipeStream {
    fn new(handle: HANDLE) -> io::Result<Self> {
        // SAFETY: plain call; null attributes and name, manual-reset, not signalled.
        let event = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
        if event.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(PipeStream { handle, event })
    }

    fn overlapped(&self) -> OVERLAPPED {
        // SAFETY: OVERLAPPED is plain data; all-zero is its documented initial state.
        let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
        ov.hEvent = self.event;
        ov
    }

    /// Waits for an overlapped operation that returned FALSE.
    fn complete(&self, ov: &OVERLAPPED) -> io::Result<u32> {
        // SAFETY: reads the thread's last error, no preconditions.
        let err = unsafe { GetLastError() };
        if err != ERROR_IO_PENDING {
            return Err(io::Error::from_raw_os_error(err as i32));
        }
        let mut n = 0u32;
        // SAFETY: `ov` is the OVERLAPPED of the pending operation on this handle and
        // lives until this call returns (bWait = TRUE waits for completion).
        let ok = unsafe { GetOverlappedResult(self.handle, ov, &raw mut n, 1) };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n)
    }

    /// `ConnectNamedPipe`: IIS connected the pipe before starting the process, so
    /// `ERROR_PIPE_CONNECTED` is the expected answer and means success.
    fn ensure_connected(&self) -> io::Result<()> {
        let mut ov = self.overlapped();
        // SAFETY: handle is a pipe server end; `ov` outlives the operation (waited below).
        let ok = unsafe { ConnectNamedPipe(self.handle, &raw mut ov) };
        if ok != 0 {
            return Ok(());
        }
        // SAFETY: reads the thread's last error, no preconditions.
        match unsafe { GetLastError() } {
            ERROR_PIPE_CONNECTED => Ok(()),
            ERROR_NO_DATA => Ok(()),
            _ => self.complete(&ov).map(|_| ()),
        }
    }
}

impl Drop for PipeStream {
    fn drop(&mut self) {
        // SAFETY: the event was created by this value; the pipe handle is left
        // open (never disconnected) for IIS to close.
        unsafe { CloseHandle(self.event) };
    }
}

fn is_eof(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(|c| c as u32),
        Some(ERROR_BROKEN_PIPE | ERROR_PIPE_NOT_CONNECTED)
    )
}

impl Stream for PipeStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let mut ov = self.overlapped();
        let mut n = 0u32;
        // SAFETY: `buf` is valid for `len` bytes and, like `ov`, outlives the
        // operation, which completes before this function returns.
        let ok = unsafe { ReadFile(self.handle, buf.as_mut_ptr(), len, &raw mut n, &raw mut ov) };
        let r = if ok != 0 { Ok(n) } else { self.complete(&ov) };
        match r {
            Ok(n) => Ok(n as usize),
            Err(e) if is_eof(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
            let mut ov = self.overlapped();
            let mut n = 0u32;
            // SAFETY: `buf` is valid for `len` bytes and, like `ov`, outlives the
            // operation, which completes before this function returns.
            let ok = unsafe { WriteFile(self.handle, buf.as_ptr(), len, &raw mut n, &raw mut ov) };
            let n = if ok != 0 { n } else { self.complete(&ov)? };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n as usize..];
        }
        Ok(())
    }

    fn readable_now(&mut self) -> io::Result<bool> {
        let mut avail = 0u32;
        // SAFETY: no buffer is passed (size 0); `avail` is a valid out pointer.
        let ok = unsafe {
            PeekNamedPipe(
                self.handle,
                ptr::null_mut(),
                0,
                ptr::null_mut(),
                &raw mut avail,
                ptr::null_mut(),
            )
        };
        if ok == 0 {
            let e = io::Error::last_os_error();
            return if is_eof(&e) { Ok(true) } else { Err(e) };
        }
        Ok(avail > 0)
    }
}

/// Inspects the STDIN handle: a named pipe (IIS's default) or a listening socket.
pub fn stdin_kind() -> io::Result<StdinKind> {
    use std::os::windows::io::FromRawSocket;
    // SAFETY: plain call with a valid constant.
    let h = unsafe { GetStdHandle(STD_INPUT_HANDLE) };
    if h.is_null() || h == INVALID_HANDLE_VALUE {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "there is no STDIN handle: `iiswsgi serve` must be started by IIS's FastCGI module \
             (or pass --bind tcp:HOST:PORT)",
        ));
    }
    // SAFETY: `h` is a valid handle; null out pointers are allowed.
    let is_pipe = unsafe {
        GetNamedPipeInfo(
            h,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    } != 0;
    if is_pipe {
        let pipe = PipeStream::new(h)?;
        pipe.ensure_connected()?;
        return Ok(StdinKind::Connected(Box::new(pipe)));
    }
    init_winsock()?;
    if !is_listening_socket(h) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "stdin is neither IIS's named pipe nor a listening socket: `iiswsgi serve` must be \
             started by IIS's FastCGI module; to listen yourself, pass --bind tcp:HOST:PORT",
        ));
    }
    // SAFETY: IIS passes an inheritable listening SOCKET as the STDIN handle; it is
    // owned by this process from here on.
    let listener = unsafe { std::net::TcpListener::from_raw_socket(h as u64) };
    Ok(StdinKind::Listening(Listener::Tcp(listener)))
}

/// Whether `h` is a socket in the listening state (`SO_ACCEPTCONN`).
fn is_listening_socket(h: HANDLE) -> bool {
    use windows_sys::Win32::Networking::WinSock::{getsockopt, SOCKET, SOL_SOCKET, SO_ACCEPTCONN};
    let mut value: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as i32;
    // SAFETY: `value` and `len` are valid out pointers of the sizes given; a
    // handle that is not a socket makes the call fail, which is the answer.
    let r = unsafe {
        getsockopt(
            h as SOCKET,
            SOL_SOCKET,
            SO_ACCEPTCONN,
            (&raw mut value).cast(),
            &raw mut len,
        )
    };
    r == 0 && value != 0
}

fn init_winsock() -> io::Result<()> {
    use windows_sys::Win32::Networking::WinSock::{WSAStartup, WSADATA};
    // SAFETY: WSADATA is plain data filled by WSAStartup.
    let mut data: WSADATA = unsafe { std::mem::zeroed() };
    // SAFETY: valid out pointer; version 2.2.
    let r = unsafe { WSAStartup(0x202, &raw mut data) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

/// Waits on IIS's `_FCGI_SHUTDOWN_EVENT_` handle (decimal handle value), if set,
/// and calls `on_signal` when IIS signals it.
pub fn watch_shutdown_event(
    on_signal: impl FnOnce() + Send + 'static,
) -> Option<std::thread::JoinHandle<()>> {
    let value = std::env::var("_FCGI_SHUTDOWN_EVENT_").ok()?;
    let raw: usize = value.trim().parse().ok()?;
    let handle = raw as HANDLE as usize;
    std::thread::Builder::new()
        .name("iiswsgi-shutdown-event".into())
        .spawn(move || {
            // SAFETY: IIS made this event handle inheritable for this process; waiting on
            // it has no other precondition.
            let r = unsafe { WaitForSingleObject(handle as HANDLE, INFINITE) };
            if r == 0 {
                on_signal();
            }
        })
        .ok()
}
