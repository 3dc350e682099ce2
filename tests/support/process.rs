//! Running an example as a real child process.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use privlog::MasterKey;

/// Builds the example `name` (a no-op when it is fresh) and returns its path.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target profile dir");
    let target_dir = profile_dir.parent().expect("target dir");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--example", name, "--all-features", "--target-dir"])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build for the example");
    assert!(status.success(), "cargo build --example {name} failed");
    let bin = profile_dir.join("examples").join(name);
    assert!(bin.exists(), "{} missing after the build", bin.display());
    bin
}

/// A running example that printed `<name>: listening on http://ADDR` on stderr.
pub struct Example {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: Arc<Mutex<String>>,
    pub stdout: Arc<Mutex<String>>,
}

impl Example {
    /// Starts example `name` with `args` and `PRIVLOG_KEY` set to the test key.
    pub fn start(name: &str, args: &[&std::ffi::OsStr]) -> Example {
        Example::start_with_key(
            name,
            args,
            Some(MasterKey::from_bytes(super::addon::KEY).to_hex().as_str()),
        )
    }

    /// Starts example `name` with `args` and `PRIVLOG_KEY` set to `key`, or unset.
    pub fn start_with_key(name: &str, args: &[&std::ffi::OsStr], key: Option<&str>) -> Example {
        let mut cmd = Command::new(example_binary(name));
        cmd.args(args);
        Example::spawn(name, cmd, key)
    }

    /// Starts example `name` with `args` and the test key under a file-size
    /// limit (`ulimit -f`) of `blocks` KiB, set by `bash` before it execs the
    /// example (so the example runs as the same process).
    pub fn start_under_file_size_limit(name: &str, args: &[&std::ffi::OsStr], blocks: u64) -> Example {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("ulimit -f {blocks} && exec \"$0\" \"$@\""))
            .arg(example_binary(name))
            .args(args);
        Example::spawn(
            name,
            cmd,
            Some(MasterKey::from_bytes(super::addon::KEY).to_hex().as_str()),
        )
    }

    /// Runs `cmd` (example `name`) with the test key and no
    /// `CONNECT_SHARED_SECRET`.
    pub fn spawn_without_shared_secret(name: &str, mut cmd: Command) -> Example {
        cmd.env_remove("CONNECT_SHARED_SECRET");
        Example::spawn_with(
            name,
            cmd,
            Some(MasterKey::from_bytes(super::addon::KEY).to_hex().as_str()),
        )
    }

    fn spawn(name: &str, mut cmd: Command, key: Option<&str>) -> Example {
        // The add-on installation's shared secret, so signed Connect JWTs sign in.
        cmd.env("CONNECT_SHARED_SECRET", super::jwt::CONNECT_SECRET);
        Example::spawn_with(name, cmd, key)
    }

    fn spawn_with(name: &str, mut cmd: Command, key: Option<&str>) -> Example {
        cmd.env_remove("PRIVLOG_KEY");
        if let Some(key) = key {
            cmd.env("PRIVLOG_KEY", key);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr");
        let collected = stderr.clone();
        let prefix = format!("{name}: listening on http://");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix(prefix.as_str()) {
                    let _ = tx.send(addr.parse::<SocketAddr>().expect("bound address"));
                }
                let mut all = collected.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let mut out = child.stdout.take().expect("stdout");
        let collected = stdout.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                collected.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("{name} did not start: {}", stderr.lock().unwrap());
            }
        };
        Example {
            child,
            addr,
            stderr,
            stdout,
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        // The shell's built-in `kill`: no extra package needed.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .expect("run sh -c kill");
        assert!(status.success());
    }

    /// Waits for the process to exit (failing after a minute).
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the pipe readers see the end of output.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the example did not exit after SIGTERM: {}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
