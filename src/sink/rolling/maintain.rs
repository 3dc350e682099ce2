//! Work on closed files, off the sink's write path: gzip, then retention.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use time::OffsetDateTime;

use super::name::{LogFile, log_files};
use super::retention::Retention;
use crate::sink::{FileId, LOCK_WAIT, LockError, LockKind, WithinLimit, lock, rewrite_temp};

/// One round of maintenance for a sink's directory.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) dir: PathBuf,
    pub(super) prefix: String,
    pub(super) compress: bool,
    pub(super) retention: Retention,
    /// The file being written: neither it nor any newer file is compressed
    /// or deleted.
    pub(super) active: Option<LogFile>,
    pub(super) now: OffsetDateTime,
}

impl Job {
    /// Removes what interrupted work left behind, compresses every closed
    /// plain file, then applies retention. Returns the problems met (each
    /// naming its path), or nothing.
    pub(super) fn run(self) -> Vec<String> {
        let mut problems = Vec::new();
        self.remove_stale_temp_files();
        if self.compress {
            self.compress_closed(&mut problems);
        }
        if !self.retention.is_keep_all() {
            match log_files(&self.dir, Some(&self.prefix)) {
                Ok(files) => {
                    let exclude: Vec<&Path> = files
                        .iter()
                        .filter(|f| !self.is_closed(f))
                        .map(|f| f.path.as_path())
                        .collect();
                    let report = self.retention.delete_expired(&files, self.now, &exclude);
                    for (path, e) in report.failed {
                        problems.push(format!(
                            "cannot delete expired log file {} (check its permissions): {e}",
                            path.display()
                        ));
                    }
                }
                Err(e) => problems.push(format!(
                    "cannot list log directory {} for retention: {e}",
                    self.dir.display()
                )),
            }
        }
        problems
    }

    /// Whether `f` is older than the file being written. The sink may have
    /// moved on to a newer file since this job started; that one and any
    /// later are never touched.
    fn is_closed(&self, f: &LogFile) -> bool {
        self.active.as_ref().is_none_or(|a| f.order() < a.order())
    }

    fn compress_closed(&self, problems: &mut Vec<String>) {
        let files = match log_files(&self.dir, Some(&self.prefix)) {
            Ok(f) => f,
            Err(e) => {
                problems.push(format!(
                    "cannot list log directory {} to compress closed files: {e}",
                    self.dir.display()
                ));
                return;
            }
        };
        for f in files.iter().filter(|f| !f.compressed) {
            if !self.is_closed(f) || !fs::symlink_metadata(&f.path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let gz = f
                .path
                .with_file_name(LogFile::file_name(&f.prefix, f.date, f.seq, true));
            if files.iter().any(|g| g.path == gz) {
                // Compressed before a crash that left the original behind; the
                // `.gz` was renamed into place only once complete.
                if let Err(e) = fs::remove_file(&f.path)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    problems.push(format!("cannot remove {} after compressing it: {e}", f.path.display()));
                }
                continue;
            }
            if let Err(e) = gzip(&f.path, &gz) {
                problems.push(format!(
                    "cannot compress closed log file {} (is the disk full?): {e}",
                    f.path.display()
                ));
            }
        }
    }

    /// Half-written `.gz.tmp` files left by a crash during compression, and
    /// temporary copies of this sink's files left by a `privlog subject
    /// erase` that was killed (those an erase is working on stay).
    fn remove_stale_temp_files(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        let ours = |name: &str, compressed: Option<bool>| {
            LogFile::parse(Path::new(name))
                .is_some_and(|f| f.prefix == self.prefix && compressed.is_none_or(|c| c == f.compressed))
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if let Some(name) = rewrite_temp::rewritten_name(&path) {
                if ours(name, None) {
                    let _ = rewrite_temp::remove_if_left_over(&path);
                }
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if self.compress
                && let Some(stem) = name.strip_suffix(".tmp")
                && ours(stem, Some(true))
            {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

/// Writes `src` gzip-compressed to `dst` (through a temporary file, synced and
/// renamed into place), then removes `src`.
///
/// `src` is read under a shared lock, so `privlog subject erase` (which takes
/// an exclusive one) never replaces it meanwhile: an erase that finished
/// first is compressed as erased, one that comes later finds `src` gone.
fn gzip(src: &Path, dst: &Path) -> io::Result<()> {
    let mut attempts = 0;
    let input = loop {
        let input = File::open(src)?;
        match lock(&input, LockKind::Shared, LOCK_WAIT) {
            Ok(()) | Err(LockError::Failed(_)) => {}
            Err(LockError::Busy) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "another process held a lock on it (a `privlog subject erase`?); compressed in a later round",
                ));
            }
        }
        if FileId::of(&fs::metadata(src)?) == FileId::of(&input.metadata()?) {
            break input;
        }
        // Replaced by a rewritten copy while waiting: compress that one.
        attempts += 1;
        if attempts >= 3 {
            return Err(io::Error::other("it keeps being replaced; compressed in a later round"));
        }
    };
    let mut tmp_name = dst.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let result = (|| {
        let meta = input.metadata()?;
        let mut input = BufReader::with_capacity(1 << 16, &input);
        // Never readable by more than the original's owner while it is
        // written; the original's permissions once complete.
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(meta.permissions().mode() & 0o600);
        }
        let out = BufWriter::with_capacity(1 << 16, WithinLimit::new(options.open(&tmp)?));
        let mut enc = GzEncoder::new(out, Compression::default());
        io::copy(&mut input, &mut enc)?;
        let mut out = enc.finish()?;
        out.flush()?;
        let file = out.get_ref().get_ref();
        file.set_permissions(meta.permissions())?;
        file.sync_all()?;
        fs::rename(&tmp, dst)?;
        fs::remove_file(src)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
