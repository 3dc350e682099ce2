use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{KeyError, KeyId, MasterKey};

/// Every master key an operator still holds, so records written under an older
/// key can still be found after the key was rotated.
///
/// Records carry the fingerprint of the key that made their pseudonyms (`kid`);
/// [`KeyRing::get`] finds that key again. The last key loaded is the
/// [`current`](KeyRing::current) one, the key new records should use.
///
/// A ring is loaded from a key file (one hex key per line, `#` comments) or a
/// directory of `*.key` files read in name order, so naming files by date
/// (`2026-11.key`, `2026-12.key`) makes the newest key the current one. Key
/// files must not be readable or writable by group or others, and a key
/// directory not writable by them.
///
/// ```
/// use privlog::policy::KeyRing;
/// let ring = KeyRing::parse(
///     "# retired 2026-12-01\n\
///      000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\
///      1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100\n",
/// )?;
/// assert_eq!(ring.len(), 2);
/// let current = ring.current().expect("two keys");
/// assert_eq!(ring.get(current.id().as_str()).map(|k| k.id()), Some(current.id()));
/// # Ok::<(), privlog::policy::KeyRingError>(())
/// ```
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: Vec<MasterKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("ids", &self.ids().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        KeyRing::default()
    }

    /// Adds a key; it becomes the current key. A key already in the ring is
    /// moved to the end instead of being held twice.
    pub fn push(&mut self, key: MasterKey) {
        let id = key.id();
        self.keys.retain(|k| k.id() != id);
        self.keys.push(key);
    }

    /// A ring from key text: one key of 64 hex characters per line; blank lines
    /// and lines starting with `#` are ignored.
    ///
    /// # Errors
    /// [`KeyRingError::BadKey`] naming the line (never its content), or
    /// [`KeyRingError::Empty`] when there is no key at all.
    pub fn parse(text: &str) -> Result<KeyRing, KeyRingError> {
        let mut ring = KeyRing::new();
        ring.add_text(text, Path::new("<text>"))?;
        if ring.is_empty() {
            return Err(KeyRingError::Empty {
                path: PathBuf::from("<text>"),
            });
        }
        Ok(ring)
    }

    fn add_text(&mut self, text: &str, path: &Path) -> Result<(), KeyRingError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = MasterKey::from_hex(line).map_err(|source| KeyRingError::BadKey {
                path: path.to_owned(),
                line: i + 1,
                source,
            })?;
            self.push(key);
        }
        Ok(())
    }

    /// Loads a key file, or every `*.key` file of a directory in name order.
    ///
    /// # Errors
    /// [`KeyRingError::Permissions`] when a key file can be read or written by
    /// group or others, [`KeyRingError::DirPermissions`] when the key
    /// directory can be written by group or others, or a key file's directory
    /// lets them replace it (each message says which `chmod` fixes it),
    /// [`KeyRingError::Io`]
    /// when a file cannot be read, [`KeyRingError::BadKey`] for a line that is
    /// not a key, [`KeyRingError::Empty`] when no key was found.
    pub fn load(path: &Path) -> Result<KeyRing, KeyRingError> {
        let io_err = |source| KeyRingError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = fs::metadata(path).map_err(io_err)?;
        let mut files = Vec::new();
        if meta.is_dir() {
            // Whoever can add a file here can add the key new records use.
            check_not_writable_by_others(path, true)?;
            for entry in fs::read_dir(path).map_err(io_err)? {
                let p = entry.map_err(io_err)?.path();
                if p.extension().is_some_and(|e| e == "key") && p.is_file() {
                    files.push(p);
                }
            }
            files.sort();
        } else {
            // Whoever can replace the file can replace the key.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                check_not_writable_by_others(dir, false)?;
            }
            files.push(path.to_owned());
        }
        let mut ring = KeyRing::new();
        for file in &files {
            check_private(file)?;
            let text = zeroize::Zeroizing::new(fs::read_to_string(file).map_err(|source| KeyRingError::Io {
                path: file.clone(),
                source,
            })?);
            ring.add_text(&text, file)?;
        }
        if ring.is_empty() {
            return Err(KeyRingError::Empty { path: path.to_owned() });
        }
        Ok(ring)
    }

    /// The key whose fingerprint is `kid`, as written in a record.
    pub fn get(&self, kid: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id().as_str() == kid)
    }

    /// The key added last: the one new records should be written with.
    pub fn current(&self) -> Option<&MasterKey> {
        self.keys.last()
    }

    /// The keys, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &MasterKey> {
        self.keys.iter()
    }

    /// The fingerprints of the keys, oldest first.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(MasterKey::id)
    }

    /// How many keys the ring holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl From<MasterKey> for KeyRing {
    fn from(key: MasterKey) -> Self {
        KeyRing { keys: vec![key] }
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), KeyRingError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = fs::metadata(path).map_err(|source| KeyRingError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyRingError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), KeyRingError> {
    Ok(())
}

/// Refuses a directory of keys (`ring`) that group or others can write, and
/// the directory of a key file when they can replace files in it (writable
/// without the sticky bit).
#[cfg(unix)]
fn check_not_writable_by_others(dir: &Path, ring: bool) -> Result<(), KeyRingError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = fs::metadata(dir).map_err(|source| KeyRingError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && (ring || !sticky) {
        return Err(KeyRingError::DirPermissions {
            path: dir.to_owned(),
            mode,
            ring,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_not_writable_by_others(_dir: &Path, _ring: bool) -> Result<(), KeyRingError> {
    Ok(())
}

/// Writes `key` as hex to a new file only its owner can read (mode `0600`).
/// An existing file is never overwritten.
///
/// # Errors
/// [`KeyRingError::Exists`] when the file exists,
/// [`KeyRingError::FileSizeLimit`] when the process's file-size limit is
/// smaller than the key's line (nothing is created then), [`KeyRingError::Io`]
/// when it cannot be created or written.
pub fn write_key_file(path: &Path, key: &MasterKey) -> Result<(), KeyRingError> {
    // 64 hex digits and a newline; a write past the limit would kill the process.
    const LINE: u64 = 65;
    if let Some(limit) = file_size_limit()
        && limit < LINE
    {
        return Err(KeyRingError::FileSizeLimit {
            path: path.to_owned(),
            limit,
        });
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            KeyRingError::Exists { path: path.to_owned() }
        } else {
            KeyRingError::Io {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let hex = key.to_hex();
    let written = file
        .write_all(hex.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    written.map_err(|source| KeyRingError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Why a key ring or key file could not be loaded or written. Never contains
/// key material.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyRingError {
    /// The file or directory could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The key file can be read or written by group or others.
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key directory group or others can write to (they could add a key
    /// that becomes the current one), or the directory of a key file in which
    /// they can replace the file.
    DirPermissions {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// Whether it is a directory of keys (rather than the directory of a key file).
        ring: bool,
    },
    /// A line of a key file is not a key.
    BadKey {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it.
        source: KeyError,
    },
    /// No key was found.
    Empty {
        /// The file or directory.
        path: PathBuf,
    },
    /// The key file to write exists already.
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The process's file-size limit (`RLIMIT_FSIZE`) is smaller than the
    /// key file would be.
    FileSizeLimit {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
}

impl fmt::Display for KeyRingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRingError::Io { path, .. } => write!(f, "cannot access key file {}", path.display()),
            KeyRingError::Permissions { path, mode } => write!(
                f,
                "key file {} can be read or written by group or others (mode {mode:04o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            ),
            KeyRingError::DirPermissions { path, mode, ring: true } => write!(
                f,
                "key directory {} can be written by group or others (mode {mode:04o}), so anyone who can write \
                 there can add a key that becomes the current one; run `chmod go-w {}` (or `chmod 700 {}`)",
                path.display(),
                path.display(),
                path.display()
            ),
            KeyRingError::DirPermissions {
                path,
                mode,
                ring: false,
            } => write!(
                f,
                "the directory {} of the key file can be written by group or others (mode {mode:04o}), so \
                 anyone who can write there can replace the key; run `chmod go-w {}` or move the key file \
                 to a directory only its owner can write",
                path.display(),
                path.display()
            ),
            KeyRingError::BadKey { path, line, .. } => {
                write!(f, "line {line} of key file {} is not a key", path.display())
            }
            KeyRingError::Empty { path } => write!(
                f,
                "no key found in {}; create one with `privlog keygen -o FILE`",
                path.display()
            ),
            KeyRingError::Exists { path } => write!(
                f,
                "{} exists already; refusing to overwrite a key (choose another file name)",
                path.display()
            ),
            KeyRingError::FileSizeLimit { path, limit } => write!(
                f,
                "cannot write key file {}: the key (65 bytes) would pass the file-size limit of {limit} bytes, \
                 so no file was created; raise the file-size limit (`ulimit -f`, systemd `LimitFSIZE=`)",
                path.display()
            ),
        }
    }
}

/// The soft limit on the size of a file this process writes
/// (`RLIMIT_FSIZE`, `ulimit -f`), `None` when unlimited: a write past it
/// kills the process with `SIGXFSZ`.
fn file_size_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Fsize).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

impl std::error::Error for KeyRingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyRingError::Io { source, .. } => Some(source),
            KeyRingError::BadKey { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("privlog-keyring-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("dir");
        // Only its owner may write a key directory, whatever the umask.
        #[cfg(unix)]
        chmod(&d, 0o700);
        d
    }

    #[test]
    fn written_key_file_is_private_and_loads_back() {
        let d = tempdir("write");
        let p = d.join("a.key");
        let key = MasterKey::from_bytes([3; 32]);
        write_key_file(&p, &key).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&p).expect("meta").permissions().mode() & 0o777, 0o600);
        }
        let ring = KeyRing::load(&p).expect("load");
        assert_eq!(ring.current().map(MasterKey::id), Some(key.id()));
        let again = write_key_file(&p, &MasterKey::from_bytes([4; 32]));
        assert!(matches!(again, Err(KeyRingError::Exists { .. })));
        assert_eq!(
            KeyRing::load(&p).expect("load").current().map(MasterKey::id),
            Some(key.id())
        );
        let _ = fs::remove_dir_all(d);
    }

    #[cfg(unix)]
    #[test]
    fn readable_key_file_is_refused_with_the_chmod_fix() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempdir("perm");
        let p = d.join("open.key");
        fs::write(&p, MasterKey::from_bytes([5; 32]).to_hex().as_str()).expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = KeyRing::load(&p).expect_err("refused").to_string();
        assert!(e.contains("chmod 600"), "{e}");
        assert!(e.contains("open.key"), "{e}");
        assert!(e.contains("0644"), "{e}");
        let _ = fs::remove_dir_all(d);
    }

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_directory_others_can_write_is_refused_with_the_chmod_fix() {
        let d = tempdir("open-dir");
        let ring = d.join("keys");
        fs::create_dir(&ring).expect("dir");
        write_key_file(&ring.join("2026-11.key"), &MasterKey::from_bytes([1; 32])).expect("write");
        for mode in [0o777, 0o1777, 0o770, 0o702] {
            chmod(&ring, mode);
            let e = KeyRing::load(&ring).expect_err("refused");
            assert!(
                matches!(e, KeyRingError::DirPermissions { ring: true, .. }),
                "{mode:o}: {e}"
            );
            let msg = e.to_string();
            assert!(msg.contains(&format!("key directory {}", ring.display())), "{msg}");
            assert!(msg.contains(&format!("(mode {mode:04o})")), "{msg}");
            assert!(msg.contains(&format!("chmod go-w {}", ring.display())), "{msg}");
        }
        for mode in [0o700, 0o750, 0o755] {
            chmod(&ring, mode);
            assert_eq!(KeyRing::load(&ring).expect("accepted").len(), 1, "{mode:o}");
        }
        let _ = fs::remove_dir_all(d);
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_replace_is_refused() {
        let d = tempdir("open-parent");
        let key = d.join("privlog.key");
        write_key_file(&key, &MasterKey::from_bytes([2; 32])).expect("write");
        chmod(&d, 0o777);
        let e = KeyRing::load(&key).expect_err("refused");
        assert!(matches!(e, KeyRingError::DirPermissions { ring: false, .. }), "{e}");
        assert!(e.to_string().contains(&format!("chmod go-w {}", d.display())), "{e}");
        // With the sticky bit (as /tmp) others cannot replace the file.
        chmod(&d, 0o1777);
        assert!(KeyRing::load(&key).is_ok());
        chmod(&d, 0o755);
        // A key file others can write is refused like one they can read.
        chmod(&key, 0o620);
        let e = KeyRing::load(&key).expect_err("refused").to_string();
        assert!(e.contains("(mode 0620)") && e.contains("chmod 600"), "{e}");
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn directory_ring_loads_keys_in_name_order() {
        let d = tempdir("dir");
        let old = MasterKey::from_bytes([1; 32]);
        let new = MasterKey::from_bytes([2; 32]);
        write_key_file(&d.join("2026-12.key"), &new).expect("write");
        write_key_file(&d.join("2026-11.key"), &old).expect("write");
        fs::write(d.join("notes.txt"), "not a key").expect("write");
        let ring = KeyRing::load(&d).expect("load");
        assert_eq!(ring.ids().collect::<Vec<_>>(), vec![old.id(), new.id()]);
        assert_eq!(ring.current().map(MasterKey::id), Some(new.id()));
        assert!(ring.get(old.id().as_str()).is_some());
        assert!(ring.get("k_00000000").is_none());
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn bad_line_is_named_without_its_content() {
        let text = format!(
            "# keys\n{}\nnot-a-key-secretish\n",
            MasterKey::from_bytes([1; 32]).to_hex().as_str()
        );
        let e = KeyRing::parse(&text).expect_err("bad");
        let msg = e.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(!msg.contains("secretish"), "{msg}");
        assert!(matches!(KeyRing::parse("# nothing\n"), Err(KeyRingError::Empty { .. })));
    }

    #[test]
    fn debug_lists_fingerprints_only() {
        let key = MasterKey::from_bytes([0xab; 32]);
        let dbg = format!("{:?}", KeyRing::from(key.clone()));
        assert!(dbg.contains(key.id().as_str()));
        assert!(!dbg.contains(&"ab".repeat(8)));
    }
}
