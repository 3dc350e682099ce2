use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::{Epoch, EpochKeys, KeyError, KeyId, MasterKey, Pseudonymizer, RatchetError, RatchetKey};

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
    ratchets: Vec<RingRatchet>,
    /// Whether the key loaded last is a ratchet key.
    newest_is_ratchet: bool,
}

/// A ratchet key of a ring and the file it was read from (where
/// [`KeyRing::advance`] writes it back).
#[derive(Clone)]
struct RingRatchet {
    key: RatchetKey,
    file: Option<PathBuf>,
}

/// The key new records should be written with: a master key or a
/// forward-secure ratchet key ([`KeyRing::newest`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RingKey {
    /// A master key: every epoch's pseudonyms can be computed from it, forever.
    Master(MasterKey),
    /// A ratchet key: only the epochs from its oldest on.
    Ratchet(RatchetKey),
}

/// What [`KeyRing::advance`] did to one key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Advanced {
    /// A ratchet key moved forward: the states of the epochs before `oldest`
    /// were destroyed in its file.
    Ratchet {
        /// The key's fingerprint.
        kid: KeyId,
        /// Its file.
        file: PathBuf,
        /// The oldest epoch it held before.
        was: Epoch,
        /// The oldest epoch it holds now.
        oldest: Epoch,
    },
    /// A ratchet key already held nothing older than the window.
    Unchanged {
        /// The key's fingerprint.
        kid: KeyId,
        /// The oldest epoch it holds.
        oldest: Epoch,
    },
    /// A master key: it can compute every epoch's pseudonyms, also those
    /// older than the window, until it is deleted.
    Master {
        /// The key's fingerprint.
        kid: KeyId,
    },
}

/// Why a ring cannot give the keys of an epoch ([`KeyRing::epoch_keys`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EpochKeysError {
    /// No key of the ring has this fingerprint.
    UnknownKey,
    /// The label is not an epoch (of the key's rotation).
    NotAnEpoch,
    /// The key is a ratchet key whose state for the epoch was destroyed.
    Destroyed {
        /// The oldest epoch the key still holds.
        oldest: Epoch,
    },
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("ids", &self.ids().collect::<Vec<_>>())
            .field("ratchets", &self.ratchets().map(RatchetKey::id).collect::<Vec<_>>())
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
        self.newest_is_ratchet = false;
    }

    /// Adds a ratchet key; it becomes the current key. A key with the same
    /// fingerprint already in the ring is replaced.
    pub fn push_ratchet(&mut self, key: RatchetKey) {
        self.push_ratchet_from(key, None);
    }

    fn push_ratchet_from(&mut self, key: RatchetKey, file: Option<PathBuf>) {
        let id = key.id();
        self.ratchets.retain(|r| r.key.id() != id);
        self.ratchets.push(RingRatchet { key, file });
        self.newest_is_ratchet = true;
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
        self.add_text_from(text, path, None)
    }

    /// Adds the keys of `text`; a ratchet key remembers `file`, the file it
    /// was read from.
    fn add_text_from(&mut self, text: &str, path: &Path, file: Option<&Path>) -> Result<(), KeyRingError> {
        if RatchetKey::is_ratchet_text(text) {
            let key = RatchetKey::parse(text).map_err(|source| KeyRingError::BadRatchet {
                path: path.to_owned(),
                source,
            })?;
            self.push_ratchet_from(key, file.map(Path::to_owned));
            return Ok(());
        }
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
    /// Symbolic links are followed, and what is checked is where the keys
    /// really are: every key file and the key directory must be owned by the
    /// user privlog runs as or by root, a key file must not be readable or
    /// writable by group or others, a key directory not writable by them, and
    /// no directory on the way to a key file or to a link to it (each
    /// directory whose entry is looked up) may let anyone but its owner and
    /// root replace that entry: owned by the user or root, and not writable by
    /// group or others unless it has the sticky bit (as `/tmp`).
    ///
    /// # Errors
    /// [`KeyRingError::SecretPath`] when `path` looks like a key or another
    /// secret rather than a path (it is not shown),
    /// [`KeyRingError::Permissions`] when a key file can be read or written by
    /// group or others, [`KeyRingError::DirPermissions`] when the key
    /// directory can be written by group or others, or a directory on the way
    /// lets them replace a file or link in it, [`KeyRingError::Owner`] when a
    /// key file or one of those directories belongs to another user (each
    /// message says which `chmod` or `chown` fixes it), [`KeyRingError::Io`]
    /// when a file cannot be read, [`KeyRingError::BadKey`] for a line that is
    /// not a key, [`KeyRingError::Empty`] when no key was found.
    pub fn load(path: &Path) -> Result<KeyRing, KeyRingError> {
        refuse_secret_path(path)?;
        let io_err = |source| KeyRingError::Io {
            path: path.to_owned(),
            source,
        };
        let (real, on_the_way) = resolve(path).map_err(io_err)?;
        check_directories_on_the_way(&on_the_way)?;
        let meta = fs::metadata(&real).map_err(io_err)?;
        // (the path shown in messages, the real location)
        let mut files = Vec::new();
        if meta.is_dir() {
            // Whoever can add a file here can add the key new records use.
            check_key_dir(&real, &meta)?;
            for entry in fs::read_dir(&real).map_err(io_err)? {
                let p = path.join(entry.map_err(io_err)?.file_name());
                if p.extension().is_some_and(|e| e == "key") && p.is_file() {
                    let (file, on_the_way) = resolve(&p).map_err(|source| KeyRingError::Io {
                        path: p.clone(),
                        source,
                    })?;
                    // A link in the ring may lead anywhere: the way to its
                    // file is checked as the way to the ring was.
                    check_directories_on_the_way(&on_the_way)?;
                    files.push((p, file));
                }
            }
            files.sort();
        } else {
            files.push((path.to_owned(), real));
        }
        let mut ring = KeyRing::new();
        for (shown, file) in &files {
            let text = read_private(shown, file)?;
            ring.add_text_from(&text, shown, Some(file))?;
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

    /// The master key added last. New records should be written with
    /// [`KeyRing::newest`], which may be a ratchet key.
    pub fn current(&self) -> Option<&MasterKey> {
        self.keys.last()
    }

    /// The key added last, master or ratchet key: the one new records should
    /// be written with.
    pub fn newest(&self) -> Option<RingKey> {
        match (self.newest_is_ratchet, self.ratchets.last(), self.keys.last()) {
            (true, Some(r), _) => Some(RingKey::Ratchet(r.key.clone())),
            (_, _, Some(k)) => Some(RingKey::Master(k.clone())),
            (_, Some(r), None) => Some(RingKey::Ratchet(r.key.clone())),
            (_, None, None) => None,
        }
    }

    /// The ratchet keys, oldest first.
    pub fn ratchets(&self) -> impl Iterator<Item = &RatchetKey> {
        self.ratchets.iter().map(|r| &r.key)
    }

    /// The keys of `epoch` under the key whose fingerprint is `kid`, master
    /// or ratchet key, as written in a record's `kid` and `epoch` fields.
    ///
    /// # Errors
    /// [`EpochKeysError::Destroyed`] when `kid` is a ratchet key that no
    /// longer holds `epoch`, [`EpochKeysError::UnknownKey`] when no key has
    /// that fingerprint, [`EpochKeysError::NotAnEpoch`] when the label is no
    /// epoch of the key.
    pub fn epoch_keys(&self, kid: &str, epoch: &str) -> Result<EpochKeys, EpochKeysError> {
        if let Some(key) = self.get(kid) {
            let epoch = Epoch::from_label(epoch).ok_or(EpochKeysError::NotAnEpoch)?;
            return Ok(Pseudonymizer::new(key).epoch_keys(&epoch));
        }
        let r = self
            .ratchets
            .iter()
            .find(|r| r.key.id().as_str() == kid)
            .ok_or(EpochKeysError::UnknownKey)?;
        let epoch = Epoch::from_label(epoch).ok_or(EpochKeysError::NotAnEpoch)?;
        match r.key.epoch_keys(&epoch) {
            Ok(keys) => Ok(keys),
            Err(RatchetError::Destroyed { .. }) => Err(EpochKeysError::Destroyed {
                oldest: r.key.oldest_epoch(),
            }),
            Err(_) => Err(EpochKeysError::NotAnEpoch),
        }
    }

    /// Destroys, in every ratchet key file of the ring, the states of the
    /// epochs that ended before the retention window `keep` (back from
    /// `now`): each key moves forward to the epoch `now - keep` falls in,
    /// never past `now`'s own epoch, so the keys of the current and later
    /// epochs do not change and a running service needs no reload.
    ///
    /// Each file is rewritten atomically and durably: the new text is
    /// written to a temporary file in the same directory and synced, renamed
    /// over the key file, the directory synced, and then the old file's bytes
    /// are overwritten with zeros, synced and truncated, so no copy of the
    /// old state stays in the directory. Master keys are only reported: they
    /// compute every epoch until their file is deleted.
    ///
    /// # Errors
    /// [`KeyRingError::NotFromFile`] for a ratchet key that was not loaded
    /// from a file, [`KeyRingError::Io`] when a file cannot be written (the
    /// key file then still holds its old state, whole).
    pub fn advance(&mut self, keep: time::Duration, now: OffsetDateTime) -> Result<Vec<Advanced>, KeyRingError> {
        let mut out = Vec::new();
        for k in &self.keys {
            out.push(Advanced::Master { kid: k.id() });
        }
        for r in &mut self.ratchets {
            let rotation = r.key.rotation();
            let edge = now.checked_sub(keep.max(time::Duration::ZERO)).unwrap_or(now);
            let (Some(target), Some(current)) = (rotation.epoch_index(edge), rotation.epoch_index(now)) else {
                continue;
            };
            // Another advance may have rewritten the file since it was read:
            // under the directory's lock, the key moves on from whichever
            // state is newer, the file's or the one read, so the file never
            // goes back to a state that was destroyed.
            let _lock = match &r.file {
                Some(file) => {
                    let lock = lock_key_dir(file)?;
                    let on_disk = read_ratchet_again(file, &r.key)?;
                    if on_disk.oldest_index() > r.key.oldest_index() {
                        r.key = on_disk;
                    }
                    Some(lock)
                }
                None => None,
            };
            let was = r.key.oldest_epoch();
            let mut moved = r.key.clone();
            if !moved.advance_to_index(target.min(current)) {
                out.push(Advanced::Unchanged {
                    kid: r.key.id(),
                    oldest: was,
                });
                continue;
            }
            let file = r
                .file
                .clone()
                .ok_or_else(|| KeyRingError::NotFromFile { kid: r.key.id() })?;
            rewrite_key_file(&file, &moved.to_text())?;
            out.push(Advanced::Ratchet {
                kid: moved.id(),
                file,
                was,
                oldest: moved.oldest_epoch(),
            });
            r.key = moved;
        }
        Ok(out)
    }

    /// The keys, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &MasterKey> {
        self.keys.iter()
    }

    /// The fingerprints of the keys, oldest first.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(MasterKey::id)
    }

    /// How many keys (master and ratchet keys) the ring holds.
    pub fn len(&self) -> usize {
        self.keys.len() + self.ratchets.len()
    }

    /// Whether the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.ratchets.is_empty()
    }
}

impl From<MasterKey> for KeyRing {
    fn from(key: MasterKey) -> Self {
        let mut ring = KeyRing::new();
        ring.push(key);
        ring
    }
}

impl From<RatchetKey> for KeyRing {
    fn from(key: RatchetKey) -> Self {
        let mut ring = KeyRing::new();
        ring.push_ratchet(key);
        ring
    }
}

/// Writes `text` as a ratchet key file, creating it (mode `0600`); an
/// existing file is never overwritten.
///
/// # Errors
/// As [`write_key_file`].
pub fn write_ratchet_key_file(path: &Path, key: &RatchetKey) -> Result<(), KeyRingError> {
    write_new_private(path, &key.to_text())
}

/// An exclusive lock on the directory of the key file `file`, held while
/// its ratchet key is read again and rewritten, so that two advances of one
/// key run one after the other.
fn lock_key_dir(file: &Path) -> Result<fs::File, KeyRingError> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let io_err = |source| KeyRingError::Io {
        path: dir.clone(),
        source,
    };
    let handle = fs::File::open(&dir).map_err(io_err)?;
    handle.lock().map_err(io_err)?;
    Ok(handle)
}

/// The ratchet key in `file` now, which must still be `key`'s (same
/// fingerprint).
fn read_ratchet_again(file: &Path, key: &RatchetKey) -> Result<RatchetKey, KeyRingError> {
    let text = read_private(file, file)?;
    let bad = |source| KeyRingError::BadRatchet {
        path: file.to_owned(),
        source,
    };
    let on_disk = RatchetKey::parse(&text).map_err(bad)?;
    if on_disk.id() != key.id() || on_disk.rotation() != key.rotation() {
        return Err(bad(RatchetError::Format {
            line: "kid (the file now holds another key than the one read; run the command again)",
        }));
    }
    Ok(on_disk)
}

/// Replaces the key file `path` with `text` atomically and durably, leaving
/// no copy of the old bytes in the directory (see [`KeyRing::advance`]).
fn rewrite_key_file(path: &Path, text: &str) -> Result<(), KeyRingError> {
    use std::io::{Seek as _, SeekFrom};
    let io_err = |p: &Path| {
        let p = p.to_owned();
        move |source| KeyRingError::Io { path: p, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.advance-{}", std::process::id()));
    // The old file stays open: its bytes are overwritten once the new file
    // has replaced it, wherever other links to it are.
    let mut old = fs::OpenOptions::new().write(true).open(path).map_err(io_err(path))?;
    let _ = fs::remove_file(&temp);
    let written = write_new_private(&temp, text);
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    if let Err(source) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(KeyRingError::Io {
            path: path.to_owned(),
            source,
        });
    }
    fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io_err(&dir))?;
    let len = old.metadata().map_err(io_err(path))?.len();
    let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
    old.seek(SeekFrom::Start(0))
        .and_then(|_| old.write_all(&zeros))
        .and_then(|()| old.sync_all())
        .and_then(|()| old.set_len(0))
        .and_then(|()| old.sync_all())
        .map_err(io_err(path))
}

/// Refuses a key path that looks like a key or another secret, without
/// showing it: every later message would print it.
fn refuse_secret_path(path: &Path) -> Result<(), KeyRingError> {
    match crate::secret_shape::path_secret_shape(path) {
        Some(shape) => Err(KeyRingError::SecretPath {
            looks_like: shape.describe(),
        }),
        None => Ok(()),
    }
}

/// The most symbolic links followed while resolving one path (as Linux).
const MAX_LINKS: usize = 40;

/// Where `path` really is, with every symbolic link followed, and each
/// directory whose entry was looked up on the way there: the directories of
/// the real location, and those of every link passed.
fn resolve(path: &Path) -> io::Result<(PathBuf, Vec<PathBuf>)> {
    use std::collections::VecDeque;
    use std::path::Component;
    let mut pending: VecDeque<PathBuf> = VecDeque::new();
    let mut cur = if path.is_absolute() {
        PathBuf::new()
    } else {
        fs::canonicalize(".")?
    };
    let add = |pending: &mut VecDeque<PathBuf>, p: &Path| {
        for c in p.components().rev() {
            pending.push_front(PathBuf::from(c.as_os_str()));
        }
    };
    add(&mut pending, path);
    let mut way: Vec<PathBuf> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        match part.components().next() {
            Some(Component::RootDir | Component::Prefix(_)) => cur = part,
            Some(Component::CurDir) | None => {}
            Some(Component::ParentDir) => {
                // `cur` holds no link: its parent is the physical one.
                cur.pop();
            }
            Some(Component::Normal(name)) => {
                if !way.contains(&cur) {
                    way.push(cur.clone());
                }
                let next = cur.join(name);
                if fs::symlink_metadata(&next)?.file_type().is_symlink() {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::other("too many levels of symbolic links"));
                    }
                    let target = fs::read_link(&next)?;
                    add(&mut pending, &target);
                } else {
                    cur = next;
                }
            }
        }
    }
    Ok((cur, way))
}

#[cfg(unix)]
use crate::ownership::trusted_owner;

/// Reads a key file, checking the file it opened: a regular file, owned by
/// the user or root, not readable or writable by group or others.
fn read_private(shown: &Path, real: &Path) -> Result<zeroize::Zeroizing<String>, KeyRingError> {
    use std::io::Read as _;
    let io_err = |source| KeyRingError::Io {
        path: shown.to_owned(),
        source,
    };
    let mut file = fs::File::open(real).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file; name a key file or a directory of *.key files",
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyRingError::Permissions {
                path: real.to_owned(),
                mode,
            });
        }
        if !trusted_owner(meta.uid()) {
            return Err(KeyRingError::Owner {
                path: real.to_owned(),
                uid: meta.uid(),
                dir: false,
            });
        }
    }
    let mut text = zeroize::Zeroizing::new(String::new());
    file.read_to_string(&mut text).map_err(io_err)?;
    Ok(text)
}

/// Refuses a directory of keys that group or others can write (even with the
/// sticky bit: they could add a file), or that another user owns.
#[cfg(unix)]
fn check_key_dir(dir: &Path, meta: &fs::Metadata) -> Result<(), KeyRingError> {
    use crate::ownership::{Untrusted, check_private_dir};
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    match check_private_dir(meta.permissions().mode(), meta.uid()) {
        Ok(()) => Ok(()),
        Err(Untrusted::Writable(mode)) => Err(KeyRingError::DirPermissions {
            path: dir.to_owned(),
            mode,
            ring: true,
        }),
        Err(Untrusted::Owner(uid)) => Err(KeyRingError::Owner {
            path: dir.to_owned(),
            uid,
            dir: true,
        }),
    }
}

#[cfg(not(unix))]
fn check_key_dir(_dir: &Path, _meta: &fs::Metadata) -> Result<(), KeyRingError> {
    Ok(())
}

/// Refuses a directory on the way to a key in which someone other than the
/// user and root can replace an entry: one another user owns, or one group
/// or others can write without the sticky bit.
#[cfg(unix)]
fn check_directories_on_the_way(dirs: &[PathBuf]) -> Result<(), KeyRingError> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    for dir in dirs {
        let meta = fs::metadata(dir).map_err(|source| KeyRingError::Io {
            path: dir.clone(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(KeyRingError::DirPermissions {
                path: dir.clone(),
                mode,
                ring: false,
            });
        }
        if !trusted_owner(meta.uid()) {
            return Err(KeyRingError::Owner {
                path: dir.clone(),
                uid: meta.uid(),
                dir: true,
            });
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_directories_on_the_way(_dirs: &[PathBuf]) -> Result<(), KeyRingError> {
    Ok(())
}

/// Writes `key` as hex to a new file only its owner can read (mode `0600`).
/// An existing file is never overwritten.
///
/// # Errors
/// [`KeyRingError::SecretPath`] when `path` looks like a key rather than a
/// path, [`KeyRingError::Exists`] when the file exists,
/// [`KeyRingError::FileSizeLimit`] when the process's file-size limit is
/// smaller than the key's line (nothing is created then), [`KeyRingError::Io`]
/// when it cannot be created or written.
pub fn write_key_file(path: &Path, key: &MasterKey) -> Result<(), KeyRingError> {
    let mut text = key.to_hex();
    text.push('\n');
    write_new_private(path, &text)
}

/// Writes `text` to a new file only its owner can read (mode `0600`) and
/// syncs it; an existing file is never overwritten.
fn write_new_private(path: &Path, text: &str) -> Result<(), KeyRingError> {
    refuse_secret_path(path)?;
    // A write past the limit would kill the process.
    let size = u64::try_from(text.len()).unwrap_or(u64::MAX);
    if let Some(limit) = file_size_limit()
        && limit < size
    {
        return Err(KeyRingError::FileSizeLimit {
            path: path.to_owned(),
            limit,
            size,
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
    let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
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
    /// that becomes the current one), or a directory on the way to a key file
    /// (or to a link to it) in which they can replace the file or the link.
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
        /// The size of the key file, in bytes.
        size: u64,
    },
    /// A ratchet key file is not one.
    BadRatchet {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: RatchetError,
    },
    /// A ratchet key to advance was not read from a file, so there is no
    /// file to destroy its old state in.
    NotFromFile {
        /// The key's fingerprint.
        kid: KeyId,
    },
    /// A key file, a key directory or a directory on the way to one belongs
    /// to a user other than the one privlog runs as and root: that user can
    /// change the key.
    Owner {
        /// The file or directory.
        path: PathBuf,
        /// Its owner's user id.
        uid: u32,
        /// Whether it is a directory.
        dir: bool,
    },
    /// The path given for a key file looks like a key or another secret, so
    /// it is not shown (a key written where its file's path belongs).
    SecretPath {
        /// What it looks like (`a key (hex digits)`).
        looks_like: &'static str,
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
                "the directory {} on the way to the key file can be written by group or others (mode \
                 {mode:04o}), so anyone who can write there can replace the key; run `chmod go-w {}` or move \
                 the key file to a directory only its owner can write",
                path.display(),
                path.display()
            ),
            KeyRingError::Owner { path, uid, dir } => write!(
                f,
                "{} {} belongs to user {uid}, neither the user privlog runs as nor root, so that user can \
                 change the key; run `chown USER {}` with the user privlog runs as (or root), or move the key \
                 to files and directories of that user",
                if *dir { "the directory" } else { "the key file" },
                path.display(),
                path.display()
            ),
            KeyRingError::SecretPath { looks_like } => write!(
                f,
                "the key file path looks like {looks_like}, not a path: write the path of the key file or \
                 key directory, e.g. /etc/privlog/privlog.key, and put the key in that file (the value is not \
                 shown; a path that only looks like this can be written starting with ./ or /)"
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
            KeyRingError::BadRatchet { path, .. } => {
                write!(f, "key file {} is not a valid ratchet key", path.display())
            }
            KeyRingError::NotFromFile { kid } => write!(
                f,
                "ratchet key {kid} was not read from a file, so its old states cannot be destroyed; load the \
                 ring with --key-file FILE|DIR"
            ),
            KeyRingError::FileSizeLimit { path, limit, size } => write!(
                f,
                "cannot write key file {}: the key ({size} bytes) would pass the file-size limit of {limit} bytes, \
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
            KeyRingError::BadRatchet { source, .. } => Some(source),
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
    fn a_key_written_where_its_path_belongs_is_refused_and_never_shown() {
        let hex = "8348a1f09c2b7e4d".repeat(4);
        for given in [
            hex.clone(),
            hex.to_uppercase(),
            format!("{hex}\n"),
            "dGhpcyBpcyBhIHNlY3JldCB0b2tlbg==".to_owned(),
        ] {
            let path = Path::new(&given);
            let e = KeyRing::load(path).expect_err("refused");
            assert!(matches!(e, KeyRingError::SecretPath { .. }), "{e}");
            let text = format!("{e} {e:?}");
            assert!(text.contains("not a path") && text.contains("privlog.key"), "{text}");
            assert!(!text.contains(&given[..16]) && !text.contains(&hex[..16]), "{text}");
            let e = write_key_file(path, &MasterKey::from_bytes([7; 32])).expect_err("refused");
            assert!(matches!(e, KeyRingError::SecretPath { .. }), "{e}");
            assert!(!path.exists(), "no file named after the key was written");
        }
        // A path that only looks like a token is written as one.
        let d = tempdir("token-like");
        let ring = d.join("Keys2026RingHolder42ab");
        fs::create_dir(&ring).expect("dir");
        #[cfg(unix)]
        chmod(&ring, 0o700);
        write_key_file(&ring.join("a.key"), &MasterKey::from_bytes([8; 32])).expect("write");
        assert!(KeyRing::load(&ring).is_ok(), "absolute");
        let _ = fs::remove_dir_all(d);
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_reached_through_a_link_is_checked_where_it_really_is() {
        let d = tempdir("link");
        let open = d.join("open");
        fs::create_dir(&open).expect("dir");
        let real = open.join("real.key");
        write_key_file(&real, &MasterKey::from_bytes([9; 32])).expect("write");
        chmod(&open, 0o777);
        // The link sits in a private directory; the key it leads to does not.
        let link = d.join("privlog.key");
        std::os::unix::fs::symlink(&real, &link).expect("link");
        let e = KeyRing::load(&link).expect_err("refused");
        assert!(
            matches!(&e, KeyRingError::DirPermissions { path, ring: false, .. } if *path == open),
            "{e}"
        );
        assert!(e.to_string().contains(&format!("chmod go-w {}", open.display())), "{e}");
        // A relative link, and a chain of two links, lead to the same place.
        let relative = d.join("relative.key");
        std::os::unix::fs::symlink("open/real.key", &relative).expect("link");
        let chain = d.join("chain.key");
        std::os::unix::fs::symlink(&relative, &chain).expect("link");
        for p in [&relative, &chain] {
            assert!(
                matches!(KeyRing::load(p), Err(KeyRingError::DirPermissions { .. })),
                "{}",
                p.display()
            );
        }
        // With the sticky bit others cannot replace the file: accepted.
        chmod(&open, 0o1777);
        for p in [&link, &relative, &chain] {
            assert_eq!(KeyRing::load(p).expect("accepted").len(), 1, "{}", p.display());
        }
        // A link in a directory others can write can itself be replaced.
        chmod(&open, 0o700);
        let shared = d.join("shared");
        fs::create_dir(&shared).expect("dir");
        std::os::unix::fs::symlink(&real, shared.join("privlog.key")).expect("link");
        chmod(&shared, 0o777);
        let e = KeyRing::load(&shared.join("privlog.key")).expect_err("refused");
        assert!(
            matches!(&e, KeyRingError::DirPermissions { path, .. } if *path == shared),
            "{e}"
        );
        let _ = fs::remove_dir_all(d);
    }

    #[cfg(unix)]
    #[test]
    fn a_ring_holding_a_link_into_a_directory_others_can_write_is_refused() {
        let d = tempdir("ring-link");
        let ring = d.join("keys");
        let sub = d.join("keys/incoming");
        fs::create_dir_all(&sub).expect("dirs");
        chmod(&ring, 0o700);
        write_key_file(&ring.join("2026-11.key"), &MasterKey::from_bytes([1; 32])).expect("write");
        write_key_file(&sub.join("k"), &MasterKey::from_bytes([2; 32])).expect("write");
        std::os::unix::fs::symlink("incoming/k", ring.join("2026-12.key")).expect("link");
        chmod(&sub, 0o777);
        let e = KeyRing::load(&ring).expect_err("refused");
        assert!(
            matches!(&e, KeyRingError::DirPermissions { path, ring: false, .. } if *path == sub),
            "{e}"
        );
        chmod(&sub, 0o700);
        assert_eq!(KeyRing::load(&ring).expect("accepted").len(), 2);
        // A file the link leads to that others can read is refused as a file in the ring is.
        chmod(&sub.join("k"), 0o644);
        let e = KeyRing::load(&ring).expect_err("refused");
        assert!(matches!(e, KeyRingError::Permissions { mode: 0o644, .. }), "{e}");
        let _ = fs::remove_dir_all(d);
    }

    /// Gives `path` (not following a link) to `nobody`.
    #[cfg(unix)]
    fn give_to_nobody(path: &Path) {
        std::os::unix::fs::lchown(path, Some(65_534), None).expect("chown");
    }

    #[cfg(unix)]
    #[test]
    fn key_files_and_directories_of_another_user_are_refused() {
        let d = tempdir("owner");
        let file = d.join("privlog.key");
        write_key_file(&file, &MasterKey::from_bytes([3; 32])).expect("write");
        assert!(KeyRing::load(&file).is_ok(), "the user's own file");
        if !rustix::process::geteuid().is_root() {
            // Giving files away needs root (as the tests run in CI).
            let _ = fs::remove_dir_all(d);
            return;
        }
        give_to_nobody(&file);
        let e = KeyRing::load(&file).expect_err("refused");
        assert!(
            matches!(&e, KeyRingError::Owner { path, uid: 65_534, dir: false } if *path == file),
            "{e}"
        );
        assert!(e.to_string().contains(&format!("chown USER {}", file.display())), "{e}");
        std::os::unix::fs::lchown(&file, Some(0), None).expect("chown");
        let ring = d.join("ring");
        fs::create_dir(&ring).expect("dir");
        chmod(&ring, 0o700);
        write_key_file(&ring.join("a.key"), &MasterKey::from_bytes([4; 32])).expect("write");
        give_to_nobody(&ring);
        let e = KeyRing::load(&ring).expect_err("refused");
        assert!(
            matches!(&e, KeyRingError::Owner { path, dir: true, .. } if *path == ring),
            "{e}"
        );
        // A directory on the way, 0755 but another user's: they can rename
        // the key file's directory and put their own in its place.
        std::os::unix::fs::lchown(&ring, Some(0), None).expect("chown");
        let way = d.join("way");
        fs::create_dir(&way).expect("dir");
        chmod(&way, 0o755);
        let inner = way.join("keys");
        fs::create_dir(&inner).expect("dir");
        chmod(&inner, 0o700);
        write_key_file(&inner.join("b.key"), &MasterKey::from_bytes([5; 32])).expect("write");
        assert!(KeyRing::load(&inner.join("b.key")).is_ok());
        give_to_nobody(&way);
        for p in [inner.join("b.key"), inner.clone()] {
            let e = KeyRing::load(&p).expect_err("refused");
            assert!(
                matches!(&e, KeyRingError::Owner { path, dir: true, .. } if *path == way),
                "{}: {e}",
                p.display()
            );
        }
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

#[cfg(test)]
mod advance_race_tests {
    use super::*;
    use crate::Rotation;
    use time::macros::datetime;

    #[test]
    fn an_advance_from_a_stale_load_never_moves_the_key_file_back() {
        let d = std::env::temp_dir().join(format!("privlog-keyring-stale-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        let p = d.join("r.key");
        let first = Rotation::Daily.epoch_at(20_000).expect("epoch");
        let key = RatchetKey::from_first_state(Rotation::Daily, &first, [9; 32]).expect("key");
        write_ratchet_key_file(&p, &key).expect("write");
        // Two operators load the ring at the same time; one keeps 7 days,
        // the other 30 days and writes last.
        let mut short = KeyRing::load(&d).expect("load");
        let mut long = KeyRing::load(&d).expect("load");
        let now = datetime!(2024-12-31 12:00 UTC); // day 20_088
        short.advance(time::Duration::days(7), now).expect("advance 7d");
        let after_short = KeyRing::load(&d)
            .expect("load")
            .ratchets()
            .next()
            .expect("ratchet")
            .oldest_epoch();
        long.advance(time::Duration::days(30), now).expect("advance 30d");
        let on_disk = KeyRing::load(&d).expect("load");
        let oldest = on_disk.ratchets().next().expect("ratchet").oldest_epoch();
        assert_eq!(oldest, after_short, "the file went back to an epoch already destroyed");
        let destroyed = Rotation::Daily.epoch_at(20_088 - 30).expect("epoch");
        assert!(
            on_disk
                .ratchets()
                .next()
                .expect("ratchet")
                .epoch_keys(&destroyed)
                .is_err()
        );
        let _ = fs::remove_dir_all(d);
    }
}
