//! The spool directory, opened once and locked: every file operation of the
//! spool goes through its handle, so the spool keeps working in the
//! directory it locked even when that directory is renamed or its path is
//! switched to another one (a `current` symlink moved on deploy).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::error::io_err;
use crate::sink::SinkError;

/// The spool directory's locked handle and the path it was opened by (for
/// messages only).
#[derive(Debug)]
pub(super) struct SpoolDir {
    handle: File,
    shown: PathBuf,
}

/// A regular file in the directory and its length.
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) len: u64,
}

impl SpoolDir {
    /// Creates `dir` when missing (only its owner may use it), opens it,
    /// checks that no one but its owner (the user privlog runs as, or root)
    /// can write it, and takes an exclusive lock on the directory itself.
    pub(super) fn open(dir: &Path) -> Result<SpoolDir, SinkError> {
        create_private_dir(dir).map_err(|e| io_err("cannot create spool directory", dir, e))?;
        let handle = open_dir(dir).map_err(|e| io_err("cannot open spool directory", dir, e))?;
        check_trusted(&handle, dir)?;
        let handle = try_lock(handle, dir)?;
        Ok(SpoolDir {
            handle,
            shown: dir.to_owned(),
        })
    }

    /// The path the directory was opened by, joined with `name`, for messages.
    pub(super) fn shown(&self, name: &str) -> PathBuf {
        self.shown.join(name)
    }

    /// The path the directory was opened by.
    pub(super) fn path(&self) -> &Path {
        &self.shown
    }

    /// Creates the file `name`, which must not exist yet (a link there is
    /// not followed: the creation fails), for writing.
    pub(super) fn create_new(&self, name: &str) -> io::Result<File> {
        imp::create_new(&self.handle, &self.shown, name)
    }

    /// Opens the regular file `name` for reading, without following a link.
    pub(super) fn open_read(&self, name: &str) -> io::Result<File> {
        imp::open_read(&self.handle, &self.shown, name)
    }

    /// Removes the file `name` (a link itself, never its target).
    pub(super) fn remove(&self, name: &str) -> io::Result<()> {
        imp::remove(&self.handle, &self.shown, name)
    }

    /// Renames `from` to `to`, replacing `to` (a link itself, never its target).
    pub(super) fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        imp::rename(&self.handle, &self.shown, from, to)
    }

    /// The regular files in the directory whose names are UTF-8.
    pub(super) fn list(&self) -> io::Result<Vec<Entry>> {
        imp::list(&self.handle, &self.shown)
    }

    /// The length of the regular file `name`; `None` when it is missing or
    /// not a regular file.
    #[cfg(test)]
    pub(super) fn len(&self, name: &str) -> Option<u64> {
        self.list().ok()?.into_iter().find(|e| e.name == name).map(|e| e.len)
    }

    /// Makes the directory's entries durable (best effort).
    pub(super) fn sync(&self) {
        let _ = self.handle.sync_all();
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Opens `dir` itself, so that no file a clean-up job may delete carries
/// the lock.
#[cfg(unix)]
fn open_dir(dir: &Path) -> io::Result<File> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    let fd = openat(
        CWD,
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// Where a directory cannot be opened as a file, the lock is taken on the
/// file `lock` in it.
#[cfg(not(unix))]
fn open_dir(dir: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
}

/// Refuses a spool directory someone else could write: files planted there
/// would be sent to the collector as records, and links there could make
/// the spool write elsewhere. The rule is the key directory's: owned by the
/// user privlog runs as or root, not writable by group or others.
#[cfg(unix)]
fn check_trusted(handle: &File, dir: &Path) -> Result<(), SinkError> {
    use crate::ownership::{Untrusted, check_private_dir};
    let st = rustix::fs::fstat(handle).map_err(|e| io_err("cannot open spool directory", dir, e.into()))?;
    match check_private_dir(st.st_mode, st.st_uid) {
        Ok(()) => Ok(()),
        Err(Untrusted::Writable(mode)) => Err(SinkError::new(format!(
            "spool directory {} can be written by group or others (mode {mode:04o}), so anyone who can \
             write there can plant records the spool sends or links it writes through; run `chmod 700 {}`",
            dir.display(),
            dir.display()
        ))),
        Err(Untrusted::Owner(uid)) => Err(SinkError::new(format!(
            "spool directory {} belongs to user {uid}, neither the user privlog runs as nor root, so that \
             user can plant records the spool sends or links it writes through; run `chown USER {}` with \
             the user privlog runs as (or root), or give the spool a directory of that user",
            dir.display(),
            dir.display()
        ))),
    }
}

#[cfg(not(unix))]
fn check_trusted(_handle: &File, _dir: &Path) -> Result<(), SinkError> {
    Ok(())
}

/// Takes an exclusive lock on `handle`, which stands for the spool directory `dir`.
fn try_lock(handle: File, dir: &Path) -> Result<File, SinkError> {
    match handle.try_lock() {
        Ok(()) => Ok(handle),
        Err(std::fs::TryLockError::WouldBlock) => Err(SinkError::new(format!(
            "spool directory {} is in use by another spool (this or another process holds its lock); \
             give each process and each sink its own spool directory",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(SinkError::with_source(
            format!(
                "cannot lock spool directory {} (put the spool on a local file system that supports flock)",
                dir.display()
            ),
            e,
        )),
    }
}

#[cfg(unix)]
mod imp {
    use std::fs::File;
    use std::io;
    use std::path::Path;

    use rustix::fs::{AtFlags, FileType, Mode, OFlags, openat, renameat, statat, unlinkat};

    use super::Entry;

    pub(super) fn create_new(dir: &File, _shown: &Path, name: &str) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(File::from(openat(dir, name, flags, Mode::from_raw_mode(0o600))?))
    }

    pub(super) fn open_read(dir: &File, _shown: &Path, name: &str) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(File::from(openat(dir, name, flags, Mode::empty())?))
    }

    pub(super) fn remove(dir: &File, _shown: &Path, name: &str) -> io::Result<()> {
        Ok(unlinkat(dir, name, AtFlags::empty())?)
    }

    pub(super) fn rename(dir: &File, _shown: &Path, from: &str, to: &str) -> io::Result<()> {
        Ok(renameat(dir, from, dir, to)?)
    }

    pub(super) fn list(dir: &File, _shown: &Path) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for entry in rustix::fs::Dir::read_from(dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name == "." || name == ".." {
                continue;
            }
            let Ok(st) = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                continue;
            }
            out.push(Entry {
                name: name.to_owned(),
                len: u64::try_from(st.st_size).unwrap_or(0),
            });
        }
        Ok(out)
    }
}

#[cfg(not(unix))]
mod imp {
    use std::fs::{self, File, OpenOptions};
    use std::io;
    use std::path::Path;

    use super::Entry;

    pub(super) fn create_new(_dir: &File, shown: &Path, name: &str) -> io::Result<File> {
        OpenOptions::new().write(true).create_new(true).open(shown.join(name))
    }

    pub(super) fn open_read(_dir: &File, shown: &Path, name: &str) -> io::Result<File> {
        File::open(shown.join(name))
    }

    pub(super) fn remove(_dir: &File, shown: &Path, name: &str) -> io::Result<()> {
        fs::remove_file(shown.join(name))
    }

    pub(super) fn rename(_dir: &File, shown: &Path, from: &str, to: &str) -> io::Result<()> {
        fs::rename(shown.join(from), shown.join(to))
    }

    pub(super) fn list(_dir: &File, shown: &Path) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(shown)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(meta) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if meta.is_file() {
                out.push(Entry { name, len: meta.len() });
            }
        }
        Ok(out)
    }
}
