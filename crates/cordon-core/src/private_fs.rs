//! Files cordon writes on a shared jump host (the audit log, the debug log): private to
//! the user running it, and never written through a link another user planted. Each file
//! is opened without following a symlink, must be a regular file owned by this user, and
//! is made 0600 on the open descriptor (so an existing 0644 file is fixed, and a file
//! swapped in between a check and a chmod cannot be the one changed). Directories cordon
//! creates are 0700.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Create `dir` and its missing parents; the directories created are private (0700).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Open `path` for appending (creating it), private to this user. Refuses a symlink, a
/// file that is not a regular file, and a file owned by someone else.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
        // The last component must not be a symlink (ELOOP otherwise).
        options.custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits());
    }
    let file = options
        .open(path)
        .map_err(|e| explain_open_error(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} is not a regular file", path.display()),
            ));
        }
        if meta.uid() != nix::unistd::getuid().as_raw() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} belongs to another user (uid {}); cordon writes only its own files",
                    path.display(),
                    meta.uid()
                ),
            ));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            // fchmod on the open descriptor: the file checked is the file changed.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

#[cfg(unix)]
fn explain_open_error(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(nix::libc::ELOOP) {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is a symbolic link; cordon does not write through links (remove it)",
                path.display()
            ),
        )
    } else {
        e
    }
}

#[cfg(not(unix))]
fn explain_open_error(_path: &Path, e: io::Error) -> io::Error {
    e
}

/// Replace `path` with `bytes`, private to this user: written to a fresh 0600 file
/// beside it (never through a link) and renamed over it, so a reader sees the old
/// content or the new, never half.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
        options.custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits());
    }
    let _ = std::fs::remove_file(&tmp);
    let mut file = options
        .open(&tmp)
        .map_err(|e| explain_open_error(&tmp, e))?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Read a private file: refused (PermissionDenied) when it is a link, not a regular
/// file, another user's, or readable by group or others (a token cache someone else
/// could have read must not be trusted or extended). None when it does not exist.
pub fn read_private(path: &Path) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits());
    }
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(explain_open_error(path, e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = file.metadata()?;
        let refuse = |why: String| io::Error::new(io::ErrorKind::PermissionDenied, why);
        if !meta.file_type().is_file() {
            return Err(refuse(format!("{} is not a regular file", path.display())));
        }
        if meta.uid() != nix::unistd::getuid().as_raw() {
            return Err(refuse(format!(
                "{} belongs to another user",
                path.display()
            )));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(refuse(format!(
                "{} is readable by other users (mode {:04o}); delete it and sign in again",
                path.display(),
                meta.permissions().mode() & 0o777
            )));
        }
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// Keep secrets out of core dumps: no core file, and (Linux) not dumpable or
/// ptrace-attachable by other processes of the same user. Call before any secret or
/// token is held. Failures are returned for the debug log; they do not stop cordon.
pub fn disable_core_dumps() -> io::Result<()> {
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, setrlimit};
        setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(io::Error::from)?;
    }
    #[cfg(target_os = "linux")]
    nix::sys::prctl::set_dumpable(false).map_err(io::Error::from)?;
    Ok(())
}

/// The name of the OS account running cordon, from the process's real uid (not `$USER`,
/// which anyone can set): recorded in every audit line.
pub fn os_user() -> String {
    #[cfg(unix)]
    {
        let uid = nix::unistd::getuid();
        match nix::unistd::User::from_uid(uid) {
            Ok(Some(user)) => user.name,
            _ => format!("uid {}", uid.as_raw()),
        }
    }
    #[cfg(not(unix))]
    {
        std::env::var("USERNAME").unwrap_or_else(|_| "unknown".to_string())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_existing_world_readable_file_is_made_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, b"old\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        open_private_append(&path).expect("open");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_planted_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("bashrc");
        std::fs::write(&target, b"# rc\n").expect("write");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let link = dir.path().join("audit.jsonl");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let err = open_private_append(&link).expect_err("a symlink must be refused");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&target).expect("read"), b"# rc\n");
        let mode = std::fs::metadata(&target)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o644,
            "the link's target must not be chmodded"
        );
    }

    #[test]
    fn created_directories_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("a/cordon");
        create_private_dir(&data).expect("mkdir");
        let mode = std::fs::metadata(&data).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn the_os_user_comes_from_the_uid_not_the_environment() {
        let name = os_user();
        assert!(!name.is_empty());
        assert_ne!(name, "unknown");
    }
}
