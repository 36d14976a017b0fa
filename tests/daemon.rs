//! `keepwarm run`: the daemon picks up edited rule files, keeps the old rules when a file is
//! broken, reloads on SIGHUP, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

struct Daemon {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Daemon {
    /// Wait for a log line containing every one of `needles`.
    fn expect(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if needles.iter().all(|n| line.contains(n)) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no log line with {needles:?} within 15 s; saw {seen:#?}");
    }

    fn signal(&self, sig: &str) {
        // The shell's own `kill`: no procps package needed.
        let ok = Command::new("sh")
            .args(["-c", &format!("kill {sig} {}", self.child.id())])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn rules_are_reloaded_on_change_and_sighup_and_sigterm_stops() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for f in ["common.toml", "urgent.toml", "sample-request.toml"] {
        std::fs::copy(repo.join(f), rules.join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("keepwarm.toml"),
        format!(
            "[database]\nurl = \"sqlite://kw.db\"\n[rules]\ndir = \"{}\"\nwatch_interval_secs = 1\n",
            rules.display()
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_keepwarm"));
    common::db::TestDb::fresh().apply(&mut command);
    let mut child = command
        .arg("run")
        .current_dir(dir.path())
        .env("KEEPWARM_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut daemon = Daemon { child, lines };
    daemon.expect(&["Daemon started."]);

    // An edit is picked up by the watcher.
    let urgent = rules.join("urgent.toml");
    let text = std::fs::read_to_string(&urgent).unwrap();
    std::fs::write(
        &urgent,
        text.replace("\"hurry\",", "\"hurry\", \"pronto\","),
    )
    .unwrap();
    daemon.expect(&["Rules reloaded.", "file change"]);

    // A broken file is reported with file and line; the rules in force stay.
    std::fs::write(rules.join("broken.toml"), "tag = \"x\"\nttl = 5\n").unwrap();
    let line = daemon.expect(&["Rules not reloaded"]);
    assert!(line.contains("broken.toml:2:"), "{line}");

    // Fixed by removing it; SIGHUP reloads at once.
    std::fs::remove_file(rules.join("broken.toml")).unwrap();
    daemon.signal("-HUP");
    daemon.expect(&["SIGHUP"]);

    daemon.signal("-TERM");
    daemon.expect(&["Stopping.", "SIGTERM"]);
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
