//! `keepwarm run`: the daemon picks up edited rule files, keeps the old rules when a file is
//! broken, reloads on SIGHUP, and stops cleanly on SIGTERM.

use std::path::Path;
use std::time::Duration;

mod common;

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn rules_are_reloaded_on_change_and_sighup_and_sigterm_stops() {
    let env = common::Workspace::bare("");
    let rules = env.path("rules");
    std::fs::create_dir(&rules).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for f in ["common.toml", "urgent.toml", "sample-request.toml"] {
        std::fs::copy(repo.join(f), rules.join(f)).unwrap();
    }
    env.write_bare_config(&format!(
        "[rules]\ndir = {}\nwatch_interval_secs = 1\n",
        common::toml_path(&rules)
    ));
    let mut daemon = env.spawn_with_env(&["run"], &[("KEEPWARM_LOG", "info")]);
    daemon.expect(&["Daemon started."], WAIT);

    // An edit is picked up by the watcher.
    let urgent = rules.join("urgent.toml");
    let text = std::fs::read_to_string(&urgent).unwrap();
    std::fs::write(
        &urgent,
        text.replace("\"hurry\",", "\"hurry\", \"pronto\","),
    )
    .unwrap();
    daemon.expect(&["Rules reloaded.", "file change"], WAIT);

    // A broken file is reported with file and line; the rules in force stay.
    std::fs::write(rules.join("broken.toml"), "tag = \"x\"\nttl = 5\n").unwrap();
    let line = daemon.expect(&["Rules not reloaded"], WAIT);
    assert!(line.contains("broken.toml:2:"), "{line}");

    // Fixed by removing it; SIGHUP reloads at once.
    std::fs::remove_file(rules.join("broken.toml")).unwrap();
    daemon.signal("-HUP");
    daemon.expect(&["SIGHUP"], WAIT);

    daemon.signal("-TERM");
    daemon.expect(&["Stopping.", "SIGTERM"], WAIT);
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
