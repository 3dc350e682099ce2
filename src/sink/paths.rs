//! Read-only checks of the paths sinks open or create, so that a
//! configuration check finds a path that cannot work without creating
//! anything: what does not exist and cannot be created, a symbolic link that
//! leads nowhere, and what the user privlog runs as may not write.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The most symbolic links followed (as Linux).
const MAX_LINKS: usize = 40;

/// What a sink does with a path, for the permission it needs.
#[derive(Clone, Copy)]
enum Use {
    /// Lists and creates files in a directory: read, write, search.
    Dir,
    /// Creates an entry in a directory: write, search.
    CreateIn,
    /// Appends to a file: write.
    Append,
}

/// Whether the user privlog runs as (its effective user and group) may use
/// `path` as `what` needs; the operating system's answer (`access(2)`), so
/// root passes except on a read-only file system.
#[cfg(unix)]
fn may(path: &Path, what: Use) -> io::Result<()> {
    use rustix::fs::{Access, AtFlags, CWD, accessat};
    let access = match what {
        Use::Dir => Access::READ_OK | Access::WRITE_OK | Access::EXEC_OK,
        Use::CreateIn => Access::WRITE_OK | Access::EXEC_OK,
        Use::Append => Access::WRITE_OK,
    };
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    accessat(CWD, path, access, AtFlags::EACCESS).map_err(io::Error::from)
}

#[cfg(not(unix))]
fn may(_path: &Path, _what: Use) -> io::Result<()> {
    Ok(())
}

/// Whether an error means that the path is not there: missing, or under
/// something that is not a directory.
fn missing(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// `path` with the symbolic links of its last component followed to where
/// opening it leads: the file opened, or created when it does not exist.
fn follow_links(path: &Path) -> Result<PathBuf, String> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&p).map_err(|e| format!("cannot read the link {}: {e}", p.display()))?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(format!(
        "{} leads through more than {MAX_LINKS} symbolic links (a loop?); name the file itself",
        path.display()
    ))
}

/// Where `path` is on the file system, to tell whether two paths name the
/// same file or directory: the links of its last component followed, then
/// its deepest existing ancestor made canonical (every link and `..`
/// resolved) and the missing rest appended as written.
pub(crate) fn real_location(path: &Path) -> PathBuf {
    let followed = follow_links(path).unwrap_or_else(|_| path.to_path_buf());
    let mut rest = Vec::new();
    let mut cur = followed.as_path();
    loop {
        let existing = if cur.as_os_str().is_empty() {
            Path::new(".")
        } else {
            cur
        };
        if let Ok(mut real) = fs::canonicalize(existing) {
            real.extend(rest.iter().rev());
            return real;
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                cur = parent;
            }
            _ => return followed.components().collect(),
        }
    }
}

/// `what` for messages: the path, and where it leads when that differs.
fn named(path: &Path, target: &Path) -> String {
    if path == target {
        path.display().to_string()
    } else {
        format!("{} (a symbolic link to {})", path.display(), target.display())
    }
}

/// A directory a sink lists and creates files in, created (with its missing
/// parents) when missing: it must be a directory the user privlog runs as
/// may read and write when it exists; otherwise its nearest existing
/// ancestor must be a directory the user may create entries in, and no link
/// on the way may lead nowhere (creating the directory would fail).
pub(crate) fn check_dir(dir: &Path) -> Result<(), String> {
    if dir.as_os_str().is_empty() {
        return Err("the directory is empty; name a directory".to_owned());
    }
    let mut cur = dir;
    loop {
        let link = match fs::symlink_metadata(cur) {
            Ok(m) => m.file_type().is_symlink(),
            Err(e) if missing(&e) => match cur.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => {
                    cur = parent;
                    continue;
                }
                // A relative path whose first component is missing: it is
                // created in the working directory.
                _ => return may(Path::new("."), Use::CreateIn).map_err(|e| cannot_create(dir, Path::new("."), &e)),
            },
            Err(e) => return Err(format!("cannot check {}: {e}", cur.display())),
        };
        return match fs::metadata(cur) {
            Ok(m) if m.is_dir() && cur == dir => may(dir, Use::Dir).map_err(|e| {
                format!(
                    "privlog may not list and write files in {}: {e}; make it readable and writable by the user \
                     privlog runs as, or name another directory",
                    dir.display()
                )
            }),
            Ok(m) if m.is_dir() => may(cur, Use::CreateIn).map_err(|e| cannot_create(dir, cur, &e)),
            Ok(_) if cur == dir => Err(format!(
                "{} exists and is not a directory; name a directory (it is created when missing)",
                dir.display()
            )),
            Ok(_) => Err(format!(
                "{} cannot be created: {} is not a directory",
                dir.display(),
                cur.display()
            )),
            Err(_) if link => {
                let target = fs::read_link(cur).unwrap_or_default();
                Err(format!(
                    "{}{} is a symbolic link to {}, which does not exist; create {} or remove the link",
                    if cur == dir {
                        String::new()
                    } else {
                        format!("{} cannot be created: ", dir.display())
                    },
                    cur.display(),
                    target.display(),
                    target.display()
                ))
            }
            Err(e) => Err(format!("cannot check {}: {e}", cur.display())),
        };
    }
}

fn cannot_create(dir: &Path, parent: &Path, e: &io::Error) -> String {
    format!(
        "{} cannot be created: privlog may not create entries in {}: {e}; create it, or make {} writable by the \
         user privlog runs as",
        dir.display(),
        parent.display(),
        parent.display()
    )
}

/// Why `file` cannot name a file by its form alone: it ends with a path
/// separator, so it names a directory (`Path::parent` and `file_name` ignore
/// the separator, opening does not). `None` when it can.
pub(crate) fn directory_syntax(file: &Path) -> Option<String> {
    let ends_with_separator = file
        .as_os_str()
        .as_encoded_bytes()
        .last()
        .is_some_and(|&b| std::path::is_separator(char::from(b)));
    ends_with_separator.then(|| {
        format!(
            "{} ends with a path separator, so it names a directory, not a file; remove the trailing separator \
             or name a file in the directory",
            file.display()
        )
    })
}

/// A file a sink appends to (created when missing, its directory not): it
/// must not be a directory, the user privlog runs as must be able to write
/// it, or, when it does not exist, create it in its directory, which must
/// exist. A symbolic link is followed to the file it leads to, as opening it
/// does.
pub(crate) fn check_file(file: &Path) -> Result<(), String> {
    if file.as_os_str().is_empty() {
        return Err("the file name is empty; name a file".to_owned());
    }
    if let Some(e) = directory_syntax(file) {
        return Err(e);
    }
    let target = follow_links(file)?;
    match fs::metadata(&target) {
        Ok(m) if m.is_dir() => Err(format!("{} is a directory; name a file in it", named(file, &target))),
        Ok(_) => may(&target, Use::Append).map_err(|e| {
            format!(
                "privlog may not write to {}: {e}; make it writable by the user privlog runs as, or name another \
                 file",
                named(file, &target)
            )
        }),
        Err(e) if missing(&e) => {
            let parent = target.parent().unwrap_or(Path::new(""));
            let shown_parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            match fs::metadata(shown_parent) {
                Ok(m) if m.is_dir() => may(parent, Use::CreateIn).map_err(|e| {
                    format!(
                        "{} cannot be created: privlog may not create files in {}: {e}; make it writable by the \
                         user privlog runs as, or name a file in another directory",
                        named(file, &target),
                        shown_parent.display()
                    )
                }),
                _ => Err(format!(
                    "the directory of {} does not exist; create {} first",
                    named(file, &target),
                    shown_parent.display()
                )),
            }
        }
        Err(e) => Err(format!("cannot check {}: {e}", named(file, &target))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_cannot_work_are_found_without_creating_anything() {
        let d = std::env::temp_dir().join(format!("privlog-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        let file = d.join("a-file");
        std::fs::write(&file, "x").expect("write");
        assert!(check_dir(&d).is_ok());
        assert!(check_dir(&d.join("new/deeper")).is_ok());
        assert!(check_dir(&file).expect_err("a file").contains("is not a directory"));
        assert!(
            check_dir(&file.join("sub"))
                .expect_err("under a file")
                .contains("cannot be created")
        );
        assert!(check_dir(Path::new("")).is_err());
        assert!(check_file(&file).is_ok());
        assert!(check_file(&d.join("new.ndjson")).is_ok());
        assert!(check_file(Path::new("relative.ndjson")).is_ok());
        assert!(check_file(&d).expect_err("a dir").contains("is a directory"));
        let slash = std::path::PathBuf::from(format!("{}/", d.join("new.ndjson").display()));
        assert!(
            check_file(&slash)
                .expect_err("a dir by its form")
                .contains("names a directory")
        );
        assert!(
            check_file(&d.join("missing/x.ndjson"))
                .expect_err("no dir")
                .contains("does not exist")
        );
        assert!(!d.join("new").exists(), "nothing was created");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A directory with links that lead to a file to create, a directory,
    /// nowhere, and in a circle.
    #[cfg(unix)]
    fn links(tag: &str) -> std::path::PathBuf {
        use std::os::unix::fs::symlink;
        let d = std::env::temp_dir().join(format!("privlog-paths-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("real")).expect("dir");
        symlink(d.join("nowhere/x"), d.join("dangling")).expect("link");
        symlink(d.join("real/later.ndjson"), d.join("to-new-file")).expect("link");
        symlink(d.join("real"), d.join("to-dir")).expect("link");
        symlink("to-dir", d.join("to-link-to-dir")).expect("link");
        symlink(d.join("loop-b"), d.join("loop-a")).expect("link");
        symlink(d.join("loop-a"), d.join("loop-b")).expect("link");
        d
    }

    /// (the path in [`links`], whether a directory and whether a file can be made there)
    const CASES: [(&str, bool, bool); 7] = [
        ("dangling", false, false),
        ("dangling/sub", false, false),
        ("to-new-file", false, true),
        ("to-dir", true, false),
        ("to-link-to-dir", true, false),
        ("to-dir/new", true, true),
        ("loop-a", false, false),
    ];

    #[cfg(unix)]
    #[test]
    fn links_are_followed_as_opening_and_creating_follow_them() {
        let d = links("links");
        for (path, dir_ok, file_ok) in CASES {
            let checked = check_dir(&d.join(path));
            assert_eq!(checked.is_ok(), dir_ok, "check_dir {path}: {checked:?}");
            let checked = check_file(&d.join(path));
            assert_eq!(checked.is_ok(), file_ok, "check_file {path}: {checked:?}");
        }
        let e = check_dir(&d.join("dangling")).expect_err("dangling");
        assert!(e.contains("symbolic link") && e.contains("does not exist"), "{e}");
        let e = check_file(&d.join("dangling")).expect_err("dangling");
        assert!(e.contains("symbolic link") && e.contains("nowhere"), "{e}");
        assert!(
            !d.join("real/later.ndjson").exists() && !d.join("real/new").exists(),
            "nothing was created"
        );
        // Building agrees with each answer: creating the directory (with
        // its parents), opening the file to append, creating it.
        for (path, dir_ok, _) in CASES {
            let built = std::fs::create_dir_all(d.join(path));
            assert_eq!(built.is_ok(), dir_ok, "create_dir_all {path}: {built:?}");
        }
        let files = links("links-files");
        for (path, _, file_ok) in CASES {
            let built = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(files.join(path));
            assert_eq!(built.is_ok(), file_ok, "open {path}: {built:?}");
        }
        let _ = std::fs::remove_dir_all(d);
        let _ = std::fs::remove_dir_all(files);
    }
}
