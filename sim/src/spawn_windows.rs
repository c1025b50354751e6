//! Starting a `FastCGI` process as IIS starts it, on Windows, with IIS's own
//! calls (reference `iis-fastcgi.md` §1.1–§1.2):
//!
//! 1. `CreateNamedPipeW(\\.\pipe\IISFCGI-<id>, FILE_FLAG_OVERLAPPED |
//!    PIPE_ACCESS_DUPLEX, byte mode, 1 instance, 4096, 4096, 0, inheritable)`;
//! 2. `CreateFileW` on that name (read/write, overlapped): the pipe is
//!    connected before the process exists;
//! 3. an inheritable manual-reset event for `_FCGI_SHUTDOWN_EVENT_`;
//! 4. `CreateProcessW` with `STARTF_USESTDHANDLES` (stdin = the pipe's
//!    server end, stdout = stderr = `INVALID_HANDLE_VALUE`), `CREATE_SUSPENDED`
//!    | `DETACHED_PROCESS` | `CREATE_UNICODE_ENVIRONMENT` |
//!    `EXTENDED_STARTUPINFO_PRESENT`, `PROC_THREAD_ATTRIBUTE_HANDLE_LIST` =
//!    [pipe, event], and an environment starting with
//!    `_FCGI_SHUTDOWN_EVENT_=<handle>` and `_FCGI_X_PIPE_=<name>`;
//! 5. `ResumeThread`; our copy of the server end is closed.
//!
//! IIS gives the process no stdout or stderr, so nothing is ever captured
//! here: [`wait_output`] returns empty strings, as IIS would see.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "Win32's integer types at the FFI edge: buffer lengths and codes converted where the API takes them"
)]
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, OwnedHandle};
use std::os::windows::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0,
};
use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_OVERLAPPED, OPEN_EXISTING, PIPE_ACCESS_DUPLEX,
};
use windows_sys::Win32::System::Pipes::CreateNamedPipeW;
use windows_sys::Win32::System::Threading::{
    CreateProcessW, DeleteProcThreadAttributeList, GetExitCodeProcess,
    InitializeProcThreadAttributeList, ResumeThread, SetEvent, TerminateProcess,
    UpdateProcThreadAttribute, WaitForSingleObject, CREATE_SUSPENDED, CREATE_UNICODE_ENVIRONMENT,
    DETACHED_PROCESS, EXTENDED_STARTUPINFO_PRESENT, LPPROC_THREAD_ATTRIBUTE_LIST,
    PROCESS_INFORMATION, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, STARTF_USESTDHANDLES, STARTUPINFOEXW,
};

use crate::fcgi::Client;
use crate::model::cmdline::quote_windows;
use crate::pipe::{event, owned, PipeStream};

/// Where the process's stdout and stderr go: under IIS's model on Windows
/// always nowhere (invalid handles); kept for the Unix API's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Discard,
    Capture,
}

/// A process started by [`spawn_pipe`].
pub struct Child {
    process: OwnedHandle,
    pid: u32,
}

impl Child {
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The exit status if the process has ended.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        // SAFETY: a valid process handle of ours; zero wait.
        if unsafe { WaitForSingleObject(self.process.as_raw_handle(), 0) } != WAIT_OBJECT_0 {
            return Ok(None);
        }
        let mut code = 0u32;
        // SAFETY: valid handle and out pointer.
        if unsafe { GetExitCodeProcess(self.process.as_raw_handle(), &raw mut code) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Some(ExitStatus::from_raw(code)))
    }

    /// Terminates the process (exit code 1, as `std::process::Child::kill`).
    pub fn kill(&mut self) -> io::Result<()> {
        // SAFETY: a valid process handle of ours.
        if unsafe { TerminateProcess(self.process.as_raw_handle(), 1) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits for the process to end.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        // SAFETY: a valid process handle of ours.
        unsafe { WaitForSingleObject(self.process.as_raw_handle(), u32::MAX) };
        self.try_wait()?
            .ok_or_else(|| io::Error::other("the process is still running after its wait"))
    }
}

impl crate::process::Process for Child {
    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        Child::try_wait(self)
    }
    fn kill(&mut self) -> io::Result<()> {
        Child::kill(self)
    }
    fn wait(&mut self) -> io::Result<ExitStatus> {
        Child::wait(self)
    }
}

/// A process started in IIS's pipe model, IIS's end of its pipe, and its
/// shutdown event.
pub struct PipeProcess {
    pub child: Child,
    pub client: Client<PipeStream>,
    pub shutdown_event: OwnedHandle,
    /// The pipe's name, as given in `_FCGI_X_PIPE_`.
    pub pipe_name: String,
}

impl PipeProcess {
    /// Signals `_FCGI_SHUTDOWN_EVENT_`, as IIS does before it terminates a
    /// process (`signalBeforeTerminateSeconds`).
    pub fn signal_shutdown(&self) -> io::Result<()> {
        set_event(self.shutdown_event.as_handle())
    }
}

/// Signals an event (the shutdown event of a [`PipeProcess`]).
pub fn set_event(event: BorrowedHandle<'_>) -> io::Result<()> {
    // SAFETY: a valid event handle, borrowed for the call.
    if unsafe { SetEvent(event.as_raw_handle()) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

fn inheritable() -> SECURITY_ATTRIBUTES {
    SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: ptr::null_mut(),
        bInheritHandle: 1,
    }
}

/// Steps 1 and 2: the pipe's server end (inheritable) and its client end.
fn pipe_pair() -> io::Result<(String, OwnedHandle, OwnedHandle)> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = format!(
        "\\\\.\\pipe\\IISFCGI-{}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let wname = wide(&name);
    let sa = inheritable();
    // SAFETY: a NUL-terminated name and valid attributes.
    let srv = unsafe {
        CreateNamedPipeW(
            wname.as_ptr(),
            FILE_FLAG_OVERLAPPED | PIPE_ACCESS_DUPLEX,
            0, // PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT
            1,
            0x1000,
            0x1000,
            0,
            &raw const sa,
        )
    };
    let srv = owned(srv).ok_or_else(io::Error::last_os_error)?;
    // SAFETY: a NUL-terminated name; no attributes, no template.
    let cli = unsafe {
        CreateFileW(
            wname.as_ptr(),
            GENERIC_READ | GENERIC_WRITE,
            0,
            ptr::null(),
            OPEN_EXISTING,
            FILE_FLAG_OVERLAPPED,
            ptr::null_mut(),
        )
    };
    let cli = owned(cli).ok_or_else(io::Error::last_os_error)?;
    Ok((name, srv, cli))
}

/// The environment block: IIS's two variables first, then the command's
/// own variables (the application's `<environmentVariables>`), then this
/// process's environment without what the command removes or overrides.
fn environment(cmd: &Command, event: HANDLE, pipe: &str) -> Vec<u16> {
    let mut env: Vec<(OsString, OsString)> = vec![
        (
            "_FCGI_SHUTDOWN_EVENT_".into(),
            (event as usize).to_string().into(),
        ),
        ("_FCGI_X_PIPE_".into(), pipe.into()),
    ];
    let same = |a: &OsString, b: &OsString| {
        a.to_string_lossy()
            .eq_ignore_ascii_case(&b.to_string_lossy())
    };
    let mut removed: Vec<OsString> = Vec::new();
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => env.push((k.to_owned(), v.to_owned())),
            None => removed.push(k.to_owned()),
        }
    }
    for (k, v) in std::env::vars_os() {
        if !env.iter().any(|(a, _)| same(a, &k)) && !removed.iter().any(|r| same(r, &k)) {
            env.push((k, v));
        }
    }
    let mut block: Vec<u16> = Vec::new();
    for (k, v) in &env {
        use std::os::windows::ffi::OsStrExt;
        block.extend(k.encode_wide());
        block.push(u16::from(b'='));
        block.extend(v.encode_wide());
        block.push(0);
    }
    block.push(0);
    block
}

/// The command line IIS builds: `"<fullPath>"`, then the arguments.
fn command_line(cmd: &Command) -> Vec<u16> {
    let mut line = format!("\"{}\"", cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote_windows(&a.to_string_lossy()));
    }
    wide(&line)
}

/// Starts `cmd` as IIS starts a `FastCGI` process in `protocol="NamedPipe"`
/// mode (steps 1–5 above). `cmd`'s program, arguments, environment changes
/// and working folder are used; its stdio settings are not (IIS's are).
pub fn spawn_pipe(cmd: &mut Command, _output: Output) -> io::Result<PipeProcess> {
    let (name, srv, cli) = pipe_pair()?;
    let shutdown_event = event(true)?;
    let block = environment(cmd, shutdown_event.as_raw_handle(), &name);
    let mut line = command_line(cmd);
    let cwd = cmd.get_current_dir().map(|d| wide(&d.to_string_lossy()));

    // SAFETY: STARTUPINFOEXW is plain data; all-zero is its empty state.
    let mut si: STARTUPINFOEXW = unsafe { std::mem::zeroed() };
    si.StartupInfo.cb = std::mem::size_of::<STARTUPINFOEXW>() as u32;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = srv.as_raw_handle();
    si.StartupInfo.hStdOutput = INVALID_HANDLE_VALUE;
    si.StartupInfo.hStdError = INVALID_HANDLE_VALUE;

    let inherit: [HANDLE; 2] = [srv.as_raw_handle(), shutdown_event.as_raw_handle()];
    let mut size = 0usize;
    // SAFETY: the size query, with a null list, as documented.
    unsafe { InitializeProcThreadAttributeList(ptr::null_mut(), 1, 0, &raw mut size) };
    let mut attrs = vec![0u8; size];
    let list = attrs.as_mut_ptr() as LPPROC_THREAD_ATTRIBUTE_LIST;
    // SAFETY: `list` points to `size` writable bytes.
    if unsafe { InitializeProcThreadAttributeList(list, 1, 0, &raw mut size) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `inherit` outlives CreateProcessW and the list's deletion.
    let ok = unsafe {
        UpdateProcThreadAttribute(
            list,
            0,
            PROC_THREAD_ATTRIBUTE_HANDLE_LIST as usize,
            inherit.as_ptr().cast(),
            std::mem::size_of_val(&inherit),
            ptr::null_mut(),
            ptr::null(),
        )
    };
    let created = if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        si.lpAttributeList = list;
        create_process(&mut line, &block, cwd.as_deref(), &si)
    };
    // SAFETY: initialised above; deleted once, before `attrs` is freed.
    unsafe { DeleteProcThreadAttributeList(list) };
    drop(attrs);
    let pi = created?;
    let thread = owned(pi.hThread);
    let process = owned(pi.hProcess).ok_or_else(|| io::Error::other("no process handle"))?;
    if let Some(t) = &thread {
        // SAFETY: the new process's suspended main thread.
        unsafe { ResumeThread(t.as_raw_handle()) };
    }
    drop(thread);
    // The child holds its own copy of the server end now.
    drop(srv);
    Ok(PipeProcess {
        child: Child {
            process,
            pid: pi.dwProcessId,
        },
        client: Client::new(PipeStream::new(cli)?),
        shutdown_event,
        pipe_name: name,
    })
}

fn create_process(
    line: &mut [u16],
    block: &[u16],
    cwd: Option<&[u16]>,
    si: &STARTUPINFOEXW,
) -> io::Result<PROCESS_INFORMATION> {
    let flags = CREATE_SUSPENDED
        | DETACHED_PROCESS
        | CREATE_UNICODE_ENVIRONMENT
        | EXTENDED_STARTUPINFO_PRESENT;
    // SAFETY: PROCESS_INFORMATION is plain data.
    let mut pi: PROCESS_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: every pointer is valid for the call; `line` is writable and
    // NUL-terminated, `block` is a double-NUL-terminated UTF-16 block.
    let ok = unsafe {
        CreateProcessW(
            ptr::null(),
            line.as_mut_ptr(),
            ptr::null(),
            ptr::null(),
            1,
            flags,
            block.as_ptr().cast(),
            cwd.map_or(ptr::null(), <[u16]>::as_ptr),
            &raw const si.StartupInfo,
            &raw mut pi,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pi)
}

/// Waits for `child` (killing it after `timeout`) and returns its exit
/// status; stdout and stderr are always empty (IIS gives none).
pub fn wait_output(
    child: &mut Child,
    timeout: Duration,
) -> io::Result<(ExitStatus, String, String)> {
    let status = crate::process::wait_timeout(child, timeout)?;
    Ok((status, String::new(), String::new()))
}
