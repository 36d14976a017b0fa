//! The state every task shares (`App`: the config, the database, the rules in force) and the
//! handle that reloads the rules while running: rule files are re-read on change or on SIGHUP,
//! and a broken file keeps the previous rules running. `daemon.rs` starts and stops the tasks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::config::Config;
use crate::rules::{RuleProblems, RuleSet};
use crate::store::{Db, StoreError};

/// The rules in force, swapped whole on reload; readers keep the version they started with.
#[derive(Debug, Clone)]
pub struct RulesHandle {
    dir: Option<PathBuf>,
    current: Arc<RwLock<Arc<RuleSet>>>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// New rules are in force (their version).
    Reloaded(String),
    /// The files produce the rules already in force.
    Unchanged,
    /// The built-in pack is in use: there is nothing to re-read.
    BuiltIn,
}

impl RulesHandle {
    /// Load the rules of `dir` (or the built-in pack); fails with every problem.
    pub fn load(dir: Option<&Path>) -> Result<RulesHandle, RuleProblems> {
        let set = crate::rules::load_or_explain(dir)?;
        Ok(RulesHandle {
            dir: dir.map(Path::to_path_buf),
            current: Arc::new(RwLock::new(Arc::new(set))),
        })
    }

    /// The rules in force now.
    pub fn current(&self) -> Arc<RuleSet> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-read the rule files. On any problem the rules in force stay, and the error lists every
    /// problem with file:line.
    pub fn reload(&self) -> Result<Reload, RuleProblems> {
        let Some(dir) = &self.dir else {
            return Ok(Reload::BuiltIn);
        };
        let set = crate::rules::load_or_explain(Some(dir))?;
        if set.version == self.current().version {
            return Ok(Reload::Unchanged);
        }
        let version = set.version.clone();
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
        Ok(Reload::Reloaded(version))
    }
}

/// Names, sizes and modification times of the `*.toml` files of a rules directory: a cheap
/// way to notice edits.
pub(crate) fn fingerprint(dir: &Path) -> Option<Vec<(PathBuf, u64, SystemTime)>> {
    let mut files: Vec<(PathBuf, u64, SystemTime)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path(), m.len(), m.modified().ok()?))
        })
        .collect();
    files.sort();
    Some(files)
}

/// Everything the daemon's tasks share.
#[derive(Debug, Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub db: Db,
    pub rules: RulesHandle,
}

/// Why the database or the rules could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Rules(#[from] RuleProblems),
}

impl App {
    /// Open the database (applying migrations) and load the rules.
    pub async fn start(config: Config) -> Result<App, AppError> {
        let db = Db::open(&config.database).await?;
        let rules = RulesHandle::load(config.rules.dir.as_deref())?;
        Ok(App {
            config: Arc::new(config),
            db,
            rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_file_keeps_the_rules_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        for f in ["common.toml", "urgent.toml"] {
            std::fs::copy(repo.join(f), dir.path().join(f)).unwrap();
        }
        let handle = RulesHandle::load(Some(dir.path())).unwrap();
        let before = handle.current().version.clone();
        assert_eq!(handle.reload(), Ok(Reload::Unchanged));

        let path = dir.path().join("urgent.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("[keywords]", "[keywords]\nxx = [\"zzz\"]"),
        )
        .unwrap();
        let err = handle.reload().unwrap_err().to_string();
        assert!(
            err.contains("urgent.toml:") && err.contains("unknown language"),
            "{err}"
        );
        assert_eq!(handle.current().version, before, "old rules stay in force");

        std::fs::write(&path, text.replace("\"hurry\",", "\"hurry\", \"pronto\",")).unwrap();
        let Ok(Reload::Reloaded(v)) = handle.reload() else {
            panic!("expected a reload")
        };
        assert_ne!(v, before);
        let hits = handle
            .current()
            .scan("pronto please", crate::rules::Field::Body);
        assert_eq!(hits[0].tag, "urgent");
        assert_eq!(
            RulesHandle::load(None).unwrap().reload(),
            Ok(Reload::BuiltIn)
        );
    }
}
