//! Who may write a directory privlog trusts (a key directory, a spool
//! directory): its owner must be the user privlog runs as or root, and no
//! group or other user may write it.

/// Why a directory cannot be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Untrusted {
    /// Group or others can write it; the mode's permission bits.
    Writable(u32),
    /// Another user than the effective user and root owns it; that user's id.
    Owner(u32),
}

/// Whether `uid` may own a file or directory privlog trusts: the user
/// privlog runs as (effective user id), or root.
#[cfg(unix)]
pub(crate) fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == rustix::process::geteuid().as_raw()
}

/// Checks a directory's mode and owner: group or others must not be able
/// to write it (not even with the sticky bit: they could add a file), and
/// its owner must be [trusted](trusted_owner).
#[cfg(unix)]
pub(crate) fn check_private_dir(mode: u32, uid: u32) -> Result<(), Untrusted> {
    let mode = mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Untrusted::Writable(mode));
    }
    if !trusted_owner(uid) {
        return Err(Untrusted::Owner(uid));
    }
    Ok(())
}
