//! Private scratch directories for peers' configuration, logs and recordings, removed when dropped.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Error;

/// Set this environment variable (to anything) to keep every scratch directory after the test, for a look at the
/// peers' logs and recordings; each kept directory is named on standard error.
pub const KEEP_ENV: &str = "CARILLON_TESTKIT_KEEP";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new directory under the system temp directory, readable only by the current user, removed with its contents
/// when dropped (unless [`KEEP_ENV`] is set).
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    keep: bool,
}

impl ScratchDir {
    /// Creates `carillon-<label>-<pid>-<n>-<nanos>` under the temp directory.
    pub fn new(label: &str) -> Result<ScratchDir, Error> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("carillon-{label}-{}-{n}-{nanos:09}", std::process::id()));
        fs::create_dir(&path).map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        let dir = ScratchDir { path, keep: std::env::var_os(KEEP_ENV).is_some() };
        fs::set_permissions(&dir.path, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("make {} private", dir.path.display()), e))?;
        if dir.keep {
            eprintln!("carillon-testkit: keeping {}", dir.path.display());
        }
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// Creates a subdirectory and returns its path.
    pub fn subdir(&self, name: &str) -> Result<PathBuf, Error> {
        let path = self.path.join(name);
        fs::create_dir_all(&path).map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        Ok(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if !self.keep {
            // Nothing can be reported from drop; a leftover directory in /tmp is harmless.
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
