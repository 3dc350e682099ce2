//! The temporary copy a rewriter (`privlog subject erase`) builds next to a
//! log file before renaming it over the file.
//!
//! Each log file has one fixed temporary name, `.{name}.erase.tmp` in the
//! same directory, and the rewriter holds an exclusive advisory lock
//! (`flock`) on it for as long as it works on it. A copy left behind by a
//! rewrite that was killed is therefore recognisable by its name and by its
//! lock being free: the next rewrite of the file removes it, and so do the
//! rolling file sink's start-up clean-up, the file sink's start and the
//! retention tool. The copy is created with at most the original's
//! permissions (and never more than `0600`), so a leftover is never readable
//! by more people than the original.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::shared_file::{FileId, LOCK_WAIT, LockError, LockKind, lock};

/// What ends the name of a rewriter's temporary copy.
const SUFFIX: &str = ".erase.tmp";

/// The temporary copy's path for a rewrite of `path`: `.{name}.erase.tmp`
/// next to it.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let mut temp = String::with_capacity(name.len() + SUFFIX.len() + 1);
    temp.push('.');
    temp.push_str(&name);
    temp.push_str(SUFFIX);
    path.with_file_name(temp)
}

/// The name of the file whose rewrite `temp` is the temporary copy of, when
/// its name is one ([`temp_path`]).
pub(crate) fn rewritten_name(temp: &Path) -> Option<&str> {
    let name = temp.file_name()?.to_str()?;
    let inner = name.strip_prefix('.')?.strip_suffix(SUFFIX)?;
    (!inner.is_empty()).then_some(inner)
}

/// Opens `path` without waiting: a FIFO or a device opens at once instead of
/// blocking until someone writes to it (its reads still would; check the
/// file type before reading).
pub(crate) fn open_no_wait(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The flag's bits fit an `i32` on every Unix (`O_NONBLOCK` is small).
        let flag = i32::try_from(rustix::fs::OFlags::NONBLOCK.bits()).unwrap_or(0);
        options.custom_flags(flag);
    }
    options.open(path)
}

/// What a file is, for messages about files that are not regular.
pub(crate) fn kind_of(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// The error for a temporary copy another rewrite holds.
fn in_use(temp: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::WouldBlock,
        format!(
            "{} is in use by another `privlog subject erase` of the same file",
            temp.display()
        ),
    )
}

/// Removes `temp`, a rewriter's temporary copy, when no rewrite holds it
/// (one was killed before it finished). Returns `false`, removing nothing,
/// while a rewrite is working on it; `true` once it is gone.
///
/// # Errors
/// `temp` is not a regular file (something else has its name), cannot be
/// opened to check its lock (permissions), or cannot be removed.
pub(crate) fn remove_if_left_over(temp: &Path) -> io::Result<bool> {
    let meta = match fs::symlink_metadata(temp) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} is {}, not a temporary copy privlog made; move it away",
                temp.display(),
                kind_of(&meta)
            ),
        ));
    }
    // For reading and writing when allowed: where `flock` is emulated with
    // `fcntl` locks (NFS) an exclusive lock needs a file open for writing.
    let opened = match open_no_wait(OpenOptions::new().read(true).write(true), temp) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => open_no_wait(OpenOptions::new().read(true), temp),
        other => other,
    };
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(false),
        // No locks on this file system: a rewrite in progress cannot be told
        // apart; it fails cleanly (its rename finds nothing) if there is one.
        Err(TryLockError::Error(_)) => {}
    }
    // Still the file that was locked (not removed and made again meanwhile).
    match fs::symlink_metadata(temp) {
        Ok(m) if FileId::of(&m) == FileId::of(&file.metadata()?) => match fs::remove_file(temp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(true),
        },
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e),
    }
}

/// Creates the temporary copy for a rewrite of `path` ([`temp_path`]), with
/// permissions `mode` (Unix; callers pass at most `0600`), and locks it for
/// the rewrite; the lock lasts as long as the returned file is open. A copy
/// left by a rewrite that was killed is removed first; while another rewrite
/// of `path` works on its copy, this waits (up to [`LOCK_WAIT`]) for it to
/// finish.
///
/// # Errors
/// Another rewrite of `path` held its temporary copy for all of
/// [`LOCK_WAIT`] ([`io::ErrorKind::WouldBlock`]), something that is not a
/// regular file has its name, or the file cannot be created.
pub(crate) fn create(path: &Path, mode: u32) -> io::Result<(PathBuf, File)> {
    let temp = temp_path(path);
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        match options.open(&temp) {
            Ok(file) => {
                match lock(&file, LockKind::Exclusive, LOCK_WAIT) {
                    Ok(()) | Err(LockError::Failed(_)) => {}
                    Err(LockError::Busy) => return Err(in_use(&temp)),
                }
                // A clean-up may have removed it between its creation and the lock.
                let ours = fs::symlink_metadata(&temp)
                    .is_ok_and(|m| file.metadata().is_ok_and(|f| FileId::of(&m) == FileId::of(&f)));
                if ours {
                    return Ok((temp, file));
                }
            }
            // Gone now when it was left over; in use by another rewrite
            // otherwise, which renames or removes it when it is done.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !remove_if_left_over(&temp)? {
                    if start.elapsed() >= LOCK_WAIT {
                        return Err(in_use(&temp));
                    }
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
            Err(e) => return Err(e),
        }
        if start.elapsed() >= LOCK_WAIT {
            return Err(in_use(&temp));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("privlog-rewrite-temp-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("dir");
        d
    }

    #[test]
    fn the_temporary_name_is_hidden_and_maps_back_to_the_file() {
        let t = temp_path(Path::new("/var/log/app/r.2026-11-22.0000.ndjson"));
        assert_eq!(t, Path::new("/var/log/app/.r.2026-11-22.0000.ndjson.erase.tmp"));
        assert_eq!(rewritten_name(&t), Some("r.2026-11-22.0000.ndjson"));
        assert_eq!(rewritten_name(Path::new(".erase.tmp")), None);
        assert_eq!(rewritten_name(Path::new("r.ndjson.erase.tmp")), None);
        assert_eq!(rewritten_name(Path::new(".r.ndjson.erase-12.tmp")), None);
    }

    #[test]
    fn a_held_copy_is_kept_and_a_left_over_one_is_replaced() {
        let d = tempdir("held");
        let p = d.join("f.ndjson");
        let (temp, held) = create(&p, 0o600).expect("create");
        assert!(!remove_if_left_over(&temp).expect("check"), "held by a rewrite");
        assert!(temp.exists());
        drop(held);
        // Left over (its rewrite gone): the next rewrite starts afresh.
        fs::write(&temp, b"old").expect("write");
        let (again, _held) = create(&p, 0o600).expect("create again");
        assert_eq!(again, temp);
        assert_eq!(fs::read(&again).expect("read"), b"", "a new, empty copy");
        let _ = fs::remove_dir_all(d);
    }

    #[cfg(unix)]
    #[test]
    fn something_else_under_the_temporary_name_is_refused() {
        let d = tempdir("dir");
        let p = d.join("f.ndjson");
        fs::create_dir(temp_path(&p)).expect("dir");
        let e = create(&p, 0o600).expect_err("a directory in the way");
        assert!(
            e.to_string().contains("a directory") && e.to_string().contains("move it away"),
            "{e}"
        );
        let _ = fs::remove_dir_all(d);
    }
}
