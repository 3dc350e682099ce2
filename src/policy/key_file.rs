use std::fmt;
use std::path::{Path, PathBuf};

use super::{KeyError, MasterKey};

/// Why a key file could not be loaded. Never contains key material.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read.
    Read(PathBuf, std::io::Error),
    /// Group or others may read the file.
    Permissions(PathBuf, u32),
    /// The content is not a key.
    Format(PathBuf, KeyError),
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileError::Read(p, e) => write!(f, "cannot read key file {}: {e}", p.display()),
            KeyFileError::Permissions(p, mode) => write!(
                f,
                "key file {} is readable by others (mode {mode:o}); restrict it with `chmod 600 {}`",
                p.display(),
                p.display()
            ),
            KeyFileError::Format(p, e) => write!(f, "key file {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for KeyFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyFileError::Read(_, e) => Some(e),
            KeyFileError::Format(_, e) => Some(e),
            KeyFileError::Permissions(..) => None,
        }
    }
}

/// Loads a key file: 64 hex characters (surrounding whitespace ignored),
/// readable by its owner only.
///
/// # Errors
/// [`KeyFileError`] when the file is unreadable, readable by group or others,
/// or does not hold a key.
pub fn load_key_file(path: &Path) -> Result<MasterKey, KeyFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| KeyFileError::Read(path.to_owned(), e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions(path.to_owned(), mode));
        }
    }
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| KeyFileError::Read(path.to_owned(), e))?);
    MasterKey::from_hex(&text).map_err(|e| KeyFileError::Format(path.to_owned(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn world_readable_key_file_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("privlog-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("key");
        std::fs::write(&p, "cd".repeat(32)).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = load_key_file(&p).expect_err("refused");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert!(!e.to_string().contains("cdcd"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(load_key_file(&p).is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
