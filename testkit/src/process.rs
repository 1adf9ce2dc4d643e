//! Process helpers with bounded waits: running a program to completion, waiting for a child, signalling by PID,
//! and finding who to run a server as.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::Error;

/// How often a bounded wait looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A user and group id to run a server as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// Whether this process runs as root, from the owner of `/proc/self` (the effective uid), so no `unsafe` call is
/// needed.
pub(crate) fn running_as_root() -> Result<bool, Error> {
    let meta = fs::metadata("/proc/self").map_err(|e| Error::io("read /proc/self", e))?;
    Ok(meta.uid() == 0)
}

/// Looks a system user up in `/etc/passwd`.
pub(crate) fn system_user(name: &str) -> Result<Identity, Error> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(|e| Error::io("read /etc/passwd", e))?;
    for line in passwd.lines() {
        let mut fields = line.split(':');
        if fields.next() != Some(name) {
            continue;
        }
        let mut ids = fields.skip(1).take(2).map(str::parse::<u32>);
        if let (Some(Ok(uid)), Some(Ok(gid))) = (ids.next(), ids.next()) {
            return Ok(Identity { uid, gid });
        }
    }
    Err(Error::MissingProgram {
        path: format!("system user {name:?}").into(),
        hint: "the postgresql-15 package creates the `postgres` user; PostgreSQL refuses to run as root",
    })
}

/// Runs `command` to completion within `timeout`, capturing its output; kills it when the time runs out.
pub(crate) fn run_bounded(mut command: Command, what: &str, timeout: Duration) -> Result<Output, Error> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| Error::io(format!("start {what}"), e))?;
    match wait_bounded(&mut child, timeout).map_err(|e| Error::io(format!("wait for {what}"), e))? {
        Some(_) => {
            let output = child.wait_with_output().map_err(|e| Error::io(format!("read output of {what}"), e))?;
            if output.status.success() {
                Ok(output)
            } else {
                Err(Error::Command {
                    what: what.to_owned(),
                    outcome: output.status.to_string(),
                    stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                })
            }
        }
        None => {
            // Best effort: the error below is what matters to the caller.
            let _ = child.kill();
            let output = child.wait_with_output().ok();
            Err(Error::Command {
                what: what.to_owned(),
                outcome: format!("did not finish within {timeout:?}"),
                stderr: output.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_default(),
            })
        }
    }
}

/// Waits for `child` to exit, at most `timeout`; `None` when it is still running.
pub(crate) fn wait_bounded(child: &mut Child, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Sends `signal` (a name such as `INT`) to `pid` with kill(1), which needs no `unsafe` here.
pub(crate) fn signal(pid: u32, signal: &str) -> Result<(), Error> {
    let mut kill = Command::new("kill");
    kill.arg("-s").arg(signal).arg(pid.to_string());
    run_bounded(kill, &format!("kill -s {signal} {pid}"), Duration::from_secs(5)).map(drop)
}
