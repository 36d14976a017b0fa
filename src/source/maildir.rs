//! Maildir import: `cur/` and `new/` of a Maildir and of its Maildir++ subfolders (`.Sent`,
//! `.Archive`, ...; drafts, trash and junk are skipped). Files are only read, never renamed.

use std::path::{Path, PathBuf};

use crate::message::{Inbound, Origin, Payload, Pending};

/// A mailbox folder found under the Maildir root.
#[derive(Debug, Clone)]
pub struct Folder {
    pub path: PathBuf,
    pub name: String,
}

fn is_maildir(p: &Path) -> bool {
    p.join("cur").is_dir() || p.join("new").is_dir()
}

/// The folders to import: the root (INBOX) and Maildir++ subfolders worth reading.
pub fn folders(root: &Path) -> std::io::Result<Vec<Folder>> {
    let mut out = Vec::new();
    if is_maildir(root) {
        out.push(Folder {
            path: root.to_path_buf(),
            name: "INBOX".into(),
        });
    }
    let mut subs: Vec<PathBuf> = std::fs::read_dir(root)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with('.') && name.len() > 1 && p.is_dir() && is_maildir(p)
        })
        .collect();
    subs.sort();
    for p in subs {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .trim_start_matches('.')
            .to_string();
        let lower = name.to_lowercase();
        let skipped = [
            "drafts",
            "draft",
            "trash",
            "deleted",
            "junk",
            "spam",
            "bulk mail",
            "草稿",
            "垃圾",
            "已删除",
        ];
        if skipped.iter().any(|s| {
            lower
                .split(['.', '/'])
                .any(|part| part == *s || part.starts_with(s))
        }) {
            continue;
        }
        out.push(Folder { path: p, name });
    }
    if out.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "{} is not a Maildir (no cur/ or new/ folder)",
                root.display()
            ),
        ));
    }
    Ok(out)
}

/// Message files of one folder (`cur/` then `new/`), streamed in directory order so memory
/// does not grow with the size of the mailbox. Order does not matter: timers only move forward.
pub fn message_files(folder: &Path) -> impl Iterator<Item = PathBuf> + Send + use<> {
    let dirs = [folder.join("cur"), folder.join("new")];
    dirs.into_iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(".")
                .starts_with('.')
        })
}

/// The Maildir unique name: the file name without the `:2,FLAGS` info, so a flag change
/// (a rename by the mail client) is still the same message.
pub fn unique_name(file: &Path) -> String {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let cut = name
        .find(":2,")
        .or_else(|| name.find("!2,"))
        .unwrap_or(name.len());
    name[..cut].to_string()
}

/// Delivery time: the leading seconds of a standard unique name, else the file's mtime.
fn received_at(file: &Path) -> i64 {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if let Some(secs) = name.split('.').next().and_then(|s| s.parse::<i64>().ok())
        && (631_152_000..4_102_444_800).contains(&secs)
    {
        return secs * 1000;
    }
    std::fs::metadata(file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or_else(crate::store::now_ms)
}

/// Every message of the Maildir (all folders) as a lazy stream of inputs. With
/// `verify_senders`, a team From in a folder other than Sent must be proven as in a live
/// mailbox (`normalize::sender`); an archive the operator imports is trusted otherwise.
pub fn read(
    root: &Path,
    rep: Option<String>,
    verify_senders: bool,
) -> std::io::Result<impl Iterator<Item = Pending> + Send + 'static> {
    let root = std::fs::canonicalize(root)?;
    let folders = folders(&root)?;
    Ok(folders.into_iter().flat_map(move |f| {
        let mailbox = format!("{}#{}", root.display(), f.name);
        let base = f.path.display().to_string();
        let rep = rep.clone();
        let verify = verify_senders && !super::is_sent_name(&f.name);
        message_files(&f.path).map(move |file| {
            let source_key = format!("maildir:{base}/{}", unique_name(&file));
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            let origin = Origin {
                received_at: 0,
                source_key,
                mailbox: mailbox.clone(),
                rep: rep.clone(),
                verify_sender: verify,
            };
            Pending {
                size,
                load: Box::new(move || load(file, origin)),
            }
        })
    }))
}

fn load(file: PathBuf, mut origin: Origin) -> Inbound {
    let payload = match std::fs::read(&file) {
        Ok(raw) => Payload::Email(raw),
        Err(e) => Payload::Unreadable(format!("cannot read {}: {e}", file.display())),
    };
    origin.received_at = received_at(&file);
    Inbound { origin, payload }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_ignore_flags() {
        assert_eq!(
            unique_name(Path::new("cur/1780416890.M511706P2100Q1.mx1,S=2280:2,RS")),
            "1780416890.M511706P2100Q1.mx1,S=2280"
        );
        assert_eq!(
            unique_name(Path::new("new/1794150035.M210323P2262Q163.mx1,S=833")),
            "1794150035.M210323P2262Q163.mx1,S=833"
        );
    }

    #[test]
    fn folders_skip_drafts_and_trash() {
        let dir = tempfile::tempdir().unwrap();
        for sub in [
            "cur",
            "new",
            "tmp",
            ".Sent/cur",
            ".Drafts/cur",
            ".Trash/new",
            ".Archive.2025/cur",
        ] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let names: Vec<String> = folders(dir.path())
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, vec!["INBOX", "Archive.2025", "Sent"]);
        assert!(folders(&dir.path().join("cur")).is_err());
    }
}
