//! Process helpers with bounded waits: running a program to completion, waiting for a child, signalling by PID,
//! finding who to run a server as, and finding programs.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
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

/// Stops `child`: SIGTERM (a peer's clean shutdown), then SIGKILL when it has not exited within `grace`. Returns
/// its exit status when it could be collected.
pub(crate) fn stop_child(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    // A failed SIGTERM (the child just exited) is covered by the wait below.
    let _ = signal(child.id(), "TERM");
    if let Ok(Some(status)) = wait_bounded(child, grace) {
        return Some(status);
    }
    let _ = child.kill();
    wait_bounded(child, grace).ok().flatten()
}

/// The last `lines` non-empty lines of a text file (a carriage return also ends a line: status lines redrawn in
/// place count one each); empty when it cannot be read (the tail only makes an error message richer).
pub(crate) fn file_tail(path: &Path, lines: usize) -> String {
    let contents = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&contents);
    let all: Vec<&str> = text.split(['\n', '\r']).filter(|line| !line.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Finds `name` in the directories of `PATH`, or takes the path in the environment variable `override_env`.
pub(crate) fn find_program(name: &str, override_env: &str, hint: &'static str) -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os(override_env) {
        let path = PathBuf::from(path);
        return if path.is_file() { Ok(path) } else { Err(Error::MissingProgram { path, hint }) };
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&search)
        .map(|dir| dir.join(name))
        .find(|candidate| fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .ok_or_else(|| Error::MissingProgram { path: name.into(), hint })
}
