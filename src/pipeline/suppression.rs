//! The worker's copy of the suppression file: read at start, read again
//! when the file changes (its modification time or size, looked at most
//! once a second, off the request path).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::policy::{SuppressionList, SuppressionMark};

/// How often the worker looks at the file.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The suppression file and what was last read of it.
#[derive(Debug)]
pub(crate) struct SuppressionFile {
    path: PathBuf,
    kid: String,
    /// The file's (modification time, size) when last read.
    seen: Option<(SystemTime, u64)>,
    checked: Option<Instant>,
    /// Whether a failure to read the file was reported since the last good read.
    warned: bool,
}

impl SuppressionFile {
    /// The file at `path`, whose entries of key `kid` count.
    pub(crate) fn new(path: PathBuf, kid: &str) -> Self {
        SuppressionFile {
            path,
            kid: kid.to_owned(),
            seen: None,
            checked: None,
            warned: false,
        }
    }

    /// The new list when the file changed since it was last read, looking
    /// at it at most once a [`CHECK_EVERY`]; `None` when it did not change
    /// or cannot be read (the last good list stays, with one warning).
    pub(crate) fn poll(&mut self, now: Instant) -> Option<HashSet<SuppressionMark>> {
        if self
            .checked
            .is_some_and(|at| now.saturating_duration_since(at) < CHECK_EVERY)
        {
            return None;
        }
        self.checked = Some(now);
        self.read()
    }

    /// Reads the file if it changed since it was last read.
    pub(crate) fn read(&mut self) -> Option<HashSet<SuppressionMark>> {
        let stamp = std::fs::metadata(&self.path).and_then(|m| Ok((m.modified()?, m.len())));
        let stamp = match stamp {
            Ok(s) => s,
            Err(e) => {
                self.warn(&e);
                return None;
            }
        };
        if self.seen == Some(stamp) {
            return None;
        }
        let text = match read_regular(&self.path) {
            Ok(t) => t,
            Err(e) => {
                self.warn(&e);
                return None;
            }
        };
        self.seen = Some(stamp);
        self.warned = false;
        let list = SuppressionList::parse(&text, &self.kid);
        if list.bad_lines > 0 {
            tracing::warn!(
                target: "privlog",
                path = %self.path.display(),
                bad_lines = list.bad_lines,
                "privlog suppression file has lines that are not entries; they are skipped \
                 (add entries with `privlog subject erase --suppress FILE`)"
            );
        }
        Some(list.marks)
    }

    fn warn(&mut self, e: &std::io::Error) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(
                target: "privlog",
                path = %self.path.display(),
                error = %e,
                "privlog cannot read the suppression file; the last list read stays in force \
                 (create it with `privlog subject erase --suppress FILE`, readable by this process)"
            );
        }
    }
}

/// The most bytes of a suppression file read (about 200 000 entries).
const MAX_BYTES: u64 = 16 << 20;

/// The text of `path` if it is a regular file of at most [`MAX_BYTES`]: a
/// FIFO or a device put in its place would block or flood the worker.
fn read_regular(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Opening a FIFO without a writer would wait for one.
        options.custom_flags(libc_o_nonblock());
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file; point suppression_file at the file `privlog subject erase --suppress` writes",
        ));
    }
    if meta.len() > MAX_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the file holds {} bytes, more than the {MAX_BYTES} read; remove the entries of accounts whose \
                 records are gone",
                meta.len()
            ),
        ));
    }
    let mut text = String::new();
    file.take(MAX_BYTES).read_to_string(&mut text)?;
    Ok(text)
}

/// `O_NONBLOCK` on Linux and the BSDs (no `libc` dependency for one flag).
#[cfg(unix)]
const fn libc_o_nonblock() -> i32 {
    if cfg!(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd"
    )) {
        0x0004
    } else {
        0o4000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{MasterKey, SuppressionKey};

    #[test]
    fn a_changed_file_is_read_again_and_a_missing_one_keeps_the_last_list() {
        let dir = std::env::temp_dir().join(format!("privlog-suppression-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("suppressed");
        let key = SuppressionKey::new(&MasterKey::from_bytes([3; 32]));
        let mut file = SuppressionFile::new(path.clone(), key.kid());
        assert_eq!(file.read(), None, "missing: nothing new");
        std::fs::write(&path, format!("{}\n", key.entry("a"))).expect("write");
        let first = file.read().expect("read");
        assert!(first.contains(&key.mark("a")));
        assert_eq!(file.read(), None, "unchanged");
        std::fs::write(&path, format!("{}\n{}\n", key.entry("a"), key.entry("bb"))).expect("write");
        assert_eq!(file.read().expect("changed").len(), 2);
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(file.read(), None, "gone: the last list stays");
        let t = Instant::now();
        assert!(file.poll(t).is_none());
        std::fs::write(&path, format!("{}\n", key.entry("c"))).expect("write");
        assert!(file.poll(t).is_none(), "looked at most once a second");
        assert!(file.poll(t + CHECK_EVERY).is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_in_place_of_the_file_is_refused_without_blocking_the_worker() {
        let dir = std::env::temp_dir().join(format!("privlog-suppression-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("suppressed");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let mut file = SuppressionFile::new(p, "k_test");
            let _ = tx.send(file.read());
        });
        // Without a writer, opening the FIFO for reading never returns.
        let got = rx.recv_timeout(Duration::from_secs(30)).expect("the read returned");
        assert_eq!(got, None);
        // Unblock the reader thread should it still wait.
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc_o_nonblock())
                .open(&path);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
