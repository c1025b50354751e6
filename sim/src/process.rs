//! Waiting for a started process with a deadline, whatever its kind
//! (`std::process::Child` on Unix, IIS's model's [`crate::spawn::Child`] on
//! Windows).

use std::io;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// What the wait needs of a process.
pub trait Process {
    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>>;
    fn kill(&mut self) -> io::Result<()>;
    fn wait(&mut self) -> io::Result<ExitStatus>;
}

impl Process for std::process::Child {
    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        std::process::Child::try_wait(self)
    }
    fn kill(&mut self) -> io::Result<()> {
        std::process::Child::kill(self)
    }
    fn wait(&mut self) -> io::Result<ExitStatus> {
        std::process::Child::wait(self)
    }
}

/// Waits for `p` to exit; kills it after `timeout` and reaps it.
pub fn wait_timeout(p: &mut impl Process, timeout: Duration) -> io::Result<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(s) = p.try_wait()? {
            return Ok(s);
        }
        if start.elapsed() > timeout {
            let _ = p.kill();
            return p.wait();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
