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
        let text = match std::fs::read_to_string(&self.path) {
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
}
