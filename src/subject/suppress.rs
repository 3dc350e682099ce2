//! Adding accounts to a suppression file (`privlog subject erase --suppress`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::policy::{KeyRing, SUPPRESSION_HEADER, SuppressionKey};

/// Adds an entry for each of `accounts` under each key of `ring` to the
/// suppression file at `path` (created when missing), keeping the entries
/// it holds. The file is replaced atomically: a new file is written beside
/// it (mode 0600), synced, and renamed over it. Returns the entries added
/// (those already present are not added again).
///
/// # Errors
/// The file cannot be read, or the new one written or renamed; the file is
/// then unchanged.
pub fn add_to_suppression_file(path: &Path, ring: &KeyRing, accounts: &[String]) -> io::Result<usize> {
    let old = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut text = old.clone();
    if text.is_empty() {
        text.push_str(SUPPRESSION_HEADER);
        text.push('\n');
    } else if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut added = 0;
    for key in ring.iter().map(SuppressionKey::new) {
        for account in accounts {
            let entry = key.entry(account);
            if !old.lines().any(|l| l.trim() == entry) && !text.lines().any(|l| l == entry) {
                text.push_str(&entry);
                text.push('\n');
                added += 1;
            }
        }
    }
    if added == 0 && !old.is_empty() {
        return Ok(0);
    }
    replace(path, text.as_bytes())?;
    Ok(added)
}

/// Writes `bytes` to a new file beside `path`, syncs it and renames it over `path`.
fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file; give the suppression file's path", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp_name = name.to_os_string();
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp = dir.join(temp_name);
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let written = opts.open(&temp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| fs::rename(&temp, path));
    if let Err(e) = renamed {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    #[cfg(unix)]
    File::open(&dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{MasterKey, SuppressionList};

    #[test]
    fn entries_are_added_once_per_key_and_the_file_is_owner_only() {
        let dir = std::env::temp_dir().join(format!("privlog-suppress-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("suppressed");
        let mut ring = KeyRing::new();
        ring.push(MasterKey::from_bytes([1; 32]));
        ring.push(MasterKey::from_bytes([2; 32]));
        let ids = vec!["557058:jane".to_owned()];
        assert_eq!(add_to_suppression_file(&path, &ring, &ids).expect("add"), 2);
        assert_eq!(add_to_suppression_file(&path, &ring, &ids).expect("again"), 0);
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(SUPPRESSION_HEADER) && !text.contains("jane"), "{text}");
        for key in ring.iter() {
            let k = SuppressionKey::new(key);
            assert!(SuppressionList::parse(&text, k.kid()).contains(&k.mark("557058:jane")));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
