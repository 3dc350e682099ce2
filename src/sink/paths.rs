//! Read-only checks of the paths sinks open or create, so that a
//! configuration check finds a path that cannot work without creating
//! anything.

use std::path::Path;

/// A directory a sink creates when missing: it must be a directory when it
/// exists, and its nearest existing ancestor must be one.
pub(crate) fn check_dir(dir: &Path) -> Result<(), String> {
    if dir.as_os_str().is_empty() {
        return Err("the directory is empty; name a directory".to_owned());
    }
    match dir.metadata() {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{} exists and is not a directory; name a directory (it is created when missing)",
            dir.display()
        )),
        Err(_) => match dir.ancestors().skip(1).find(|a| a.as_os_str().is_empty() || a.exists()) {
            Some(a) if !a.as_os_str().is_empty() && !a.is_dir() => Err(format!(
                "{} cannot be created: {} is not a directory",
                dir.display(),
                a.display()
            )),
            _ => Ok(()),
        },
    }
}

/// A file a sink appends to (created when missing, its directory not): it
/// must not be a directory, and its directory must exist.
pub(crate) fn check_file(file: &Path) -> Result<(), String> {
    if file.as_os_str().is_empty() {
        return Err("the file name is empty; name a file".to_owned());
    }
    if file.is_dir() {
        return Err(format!("{} is a directory; name a file in it", file.display()));
    }
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() && !parent.is_dir() => Err(format!(
            "the directory of {} does not exist; create {} first",
            file.display(),
            parent.display()
        )),
        _ => Ok(()),
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
        assert!(
            check_file(&d.join("missing/x.ndjson"))
                .expect_err("no dir")
                .contains("does not exist")
        );
        assert!(!d.join("new").exists(), "nothing was created");
        let _ = std::fs::remove_dir_all(&d);
    }
}
