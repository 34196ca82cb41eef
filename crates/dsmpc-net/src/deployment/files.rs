//! File handling for deployment directories: atomic writes, private directories and key files that
//! only their owner can read.
//!
//! A file is written to a fresh temporary file beside its destination, flushed to disk, and only
//! then moved into place, so a crash leaves either the old file or the whole new one — never half
//! a key file. Secret files are created with mode 0600 from the start, never widened afterwards.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zeroize::Zeroizing;

use super::DeploymentError;

/// Key files are small; anything larger is not one, and is not read into memory.
const MAX_KEY_FILE_LEN: u64 = 64 * 1024;

/// Distinguishes temporary files made by one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Who may read a file being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Readable by everyone the umask allows (0644).
    Public,
    /// Readable and writable by the owner only (0600).
    Secret,
}

/// What to do when the destination exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Existing {
    /// Replace it atomically.
    Replace,
    /// Refuse, with this hint on what to do instead.
    Refuse(&'static str),
}

/// An I/O error on `path` while doing `action`.
pub(super) fn io_error(path: &Path, action: &'static str, source: io::Error) -> DeploymentError {
    DeploymentError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// Writes `contents` to `dest` atomically, with the given access and policy for an existing file.
pub(super) fn write_atomic(
    dest: &Path,
    contents: &[u8],
    access: Access,
    existing: Existing,
) -> Result<(), DeploymentError> {
    let (temp, mut file) = create_temp(dest, access)?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    drop(file);
    let outcome = match written {
        Ok(()) => publish(&temp, dest, existing),
        Err(err) => Err(io_error(&temp, "write", err)),
    };
    if outcome.is_err() {
        // Best effort: the temporary file is useless now, and may hold a secret.
        let _ = fs::remove_file(&temp);
    }
    outcome?;
    sync_parent(dest);
    Ok(())
}

/// Creates a new, empty temporary file beside `dest`.
fn create_temp(dest: &Path, access: Access) -> Result<(PathBuf, File), DeploymentError> {
    let name = dest
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let dir = dest.parent().unwrap_or_else(|| Path::new("."));
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.tmp.{}.{n}", std::process::id()));
        match open_new(&temp, access) {
            Ok(file) => return Ok((temp, file)),
            // A leftover of a crashed process with the same pid: try the next name.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(io_error(&temp, "create", err)),
        }
    }
}

/// Opens `path` for writing, failing if it exists; secret files get mode 0600 at creation.
fn open_new(path: &Path, access: Access) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(match access {
            Access::Public => 0o644,
            Access::Secret => 0o600,
        });
    }
    #[cfg(not(unix))]
    let _ = access;
    options.open(path)
}

/// Moves the finished temporary file to `dest`.
fn publish(temp: &Path, dest: &Path, existing: Existing) -> Result<(), DeploymentError> {
    let Existing::Refuse(hint) = existing else {
        return fs::rename(temp, dest).map_err(|err| io_error(dest, "write", err));
    };
    let exists = || DeploymentError::Exists {
        path: dest.to_owned(),
        hint,
    };
    // A hard link never replaces an existing file, so the check and the move are one step.
    match fs::hard_link(temp, dest) {
        Ok(()) => {
            let _ = fs::remove_file(temp);
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(exists()),
        // File systems without hard links: check, then rename.
        Err(_) if dest.exists() => Err(exists()),
        Err(_) => fs::rename(temp, dest).map_err(|err| io_error(dest, "write", err)),
    }
}

/// Flushes the directory entry of `path` to disk (best effort; not every platform supports it).
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(handle) = File::open(dir)
    {
        let _ = handle.sync_all();
    }
}

/// Creates `dir` and its parents; a directory created here for secrets gets mode 0700.
pub(super) fn create_dir(dir: &Path, access: Access) -> Result<(), DeploymentError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        if access == Access::Secret {
            builder.mode(0o700);
        }
    }
    #[cfg(not(unix))]
    let _ = access;
    builder
        .create(dir)
        .map_err(|err| io_error(dir, "create directory", err))
}

/// Reads a public text file; a missing file is reported with `hint`.
pub(super) fn read_text(path: &Path, hint: &'static str) -> Result<String, DeploymentError> {
    fs::read_to_string(path).map_err(|err| read_error(path, hint, err))
}

/// Reads a secret key file: refuses it unless only its owner can read it, and keeps its contents
/// in memory that is wiped on drop.
pub(super) fn read_secret(
    path: &Path,
    hint: &'static str,
) -> Result<Zeroizing<String>, DeploymentError> {
    let file = File::open(path).map_err(|err| read_error(path, hint, err))?;
    let meta = file.metadata().map_err(|err| io_error(path, "read", err))?;
    if !meta.is_file() {
        return Err(invalid(path, "is not a regular file"));
    }
    check_private(path, &meta)?;
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(invalid(path, "is too large to be a dsmpc key file"));
    }
    // Reserve everything up front so the buffer never moves and leaves copies behind.
    let mut text = Zeroizing::new(String::with_capacity(meta.len() as usize + 1));
    file.take(MAX_KEY_FILE_LEN)
        .read_to_string(&mut text)
        .map_err(|err| io_error(path, "read", err))?;
    Ok(text)
}

/// Refuses a file that its group or others may read or write.
#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata) -> Result<(), DeploymentError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(DeploymentError::KeyFileExposed {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Permission bits are a Unix notion; elsewhere the check is left to the platform.
#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &fs::Metadata) -> Result<(), DeploymentError> {
    Ok(())
}

/// The error for a file that could not be opened, with `hint` when it does not exist.
fn read_error(path: &Path, hint: &'static str, err: io::Error) -> DeploymentError {
    if err.kind() == io::ErrorKind::NotFound {
        DeploymentError::Missing {
            path: path.to_owned(),
            hint,
        }
    } else {
        io_error(path, "read", err)
    }
}

/// An [`DeploymentError::Invalid`] for `path`.
pub(super) fn invalid(path: &Path, reason: impl Into<String>) -> DeploymentError {
    DeploymentError::Invalid {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Whether `path` is a file with some content.
pub(super) fn is_non_empty_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0)
}
