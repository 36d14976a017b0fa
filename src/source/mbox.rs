//! mbox import (mboxo and mboxrd): messages split at `From ` lines, `>From ` unescaped, the
//! file streamed so memory stays flat whatever its size.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::message::{Inbound, Origin, Payload, Pending};

/// Stream the messages of an mbox file as pipeline inputs.
/// With `verify_senders`, a team From must be proven as in a live mailbox
/// (`normalize::sender`), unless the file is named like a Sent folder.
pub fn read(
    path: &Path,
    rep: Option<String>,
    verify_senders: bool,
) -> std::io::Result<impl Iterator<Item = Pending> + Send + 'static> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string();
    let verify = verify_senders && !super::is_sent_name(&stem);
    Ok(messages(path, rep)?.map(move |mut i| {
        i.origin.verify_sender = verify;
        Pending::ready(i)
    }))
}

/// The messages of an mbox file, read one after another.
pub fn messages(
    path: &Path,
    rep: Option<String>,
) -> std::io::Result<impl Iterator<Item = Inbound> + Send + 'static> {
    let path = std::fs::canonicalize(path)?;
    let file = File::open(&path)?;
    let fallback = file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or_else(crate::store::now_ms);
    Ok(MboxIter {
        reader: BufReader::with_capacity(1 << 20, file),
        pending_from: None,
        index: 0,
        mailbox: path.display().to_string(),
        rep,
        fallback,
        done: false,
    })
}

struct MboxIter {
    reader: BufReader<File>,
    /// The `From ` line that opened the next message, already read.
    pending_from: Option<Vec<u8>>,
    index: usize,
    mailbox: String,
    rep: Option<String>,
    fallback: i64,
    done: bool,
}

impl Iterator for MboxIter {
    type Item = Inbound;

    fn next(&mut self) -> Option<Inbound> {
        if self.done {
            return None;
        }
        let mut from_line = self.pending_from.take();
        let mut body: Vec<u8> = Vec::new();
        let mut line = Vec::new();
        let mut prev_blank = true;
        loop {
            line.clear();
            match self.reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    self.index += 1;
                    return Some(self.item(
                        from_line.as_deref(),
                        Payload::Unreadable(format!("cannot read {}: {e}", self.mailbox)),
                    ));
                }
            }
            if line.starts_with(b"From ") && prev_blank {
                if from_line.is_none() && body.iter().all(|b| b.is_ascii_whitespace()) {
                    from_line = Some(line.clone());
                    body.clear();
                    continue;
                }
                self.pending_from = Some(line.clone());
                break;
            }
            prev_blank = line == b"\n" || line == b"\r\n";
            // mboxrd: ">From " and ">>From " lose one '>'.
            let unescaped = {
                let n = line.iter().take_while(|b| **b == b'>').count();
                if n > 0 && line[n..].starts_with(b"From ") {
                    &line[1..]
                } else {
                    &line[..]
                }
            };
            body.extend_from_slice(unescaped);
        }
        // The blank line before the next "From " belongs to the separator.
        if body.ends_with(b"\r\n\r\n") {
            body.truncate(body.len() - 2);
        } else if body.ends_with(b"\n\n") {
            body.truncate(body.len() - 1);
        }
        if from_line.is_none() && body.iter().all(|b| b.is_ascii_whitespace()) {
            return None;
        }
        self.index += 1;
        Some(self.item(from_line.as_deref(), Payload::Email(body)))
    }
}

impl MboxIter {
    fn item(&self, from_line: Option<&[u8]>, payload: Payload) -> Inbound {
        let received_at = from_line
            .and_then(parse_from_line_date)
            .unwrap_or(self.fallback);
        Inbound {
            origin: Origin {
                source_key: format!("mbox:{}#{}", self.mailbox, self.index),
                mailbox: self.mailbox.clone(),
                rep: self.rep.clone(),
                received_at,
                verify_sender: false,
            },
            payload,
        }
    }
}

/// The asctime date of a `From sender Mon Jun  8 10:00:00 2026` line, as Unix ms (UTC).
pub fn parse_from_line_date(line: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(line).ok()?.trim();
    let parts: Vec<&str> = s.split_whitespace().collect();
    // From <sender> <wday> <mon> <day> <hh:mm:ss> [<zone>] <year>
    if parts.len() < 7 {
        return None;
    }
    let year: i32 = parts.last()?.parse().ok()?;
    let month = match parts[3].get(..3)?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let day: u32 = parts[4].parse().ok()?;
    let mut hms = parts[5].split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, sec) = (
        hms.next()??,
        hms.next()??,
        hms.next().flatten().unwrap_or(0),
    );
    let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
    let dt = date.and_hms_opt(h, m, sec)?;
    Some(dt.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_messages_and_unescapes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("box.mbox");
        std::fs::write(
            &p,
            "From a@x.example Mon Jun  8 10:00:00 2026\nFrom: a@x.example\nSubject: one\n\nhello\n>From the past\n\n\
             From b@y.example Tue Jun  9 11:30:00 2026\nFrom: b@y.example\nSubject: two\n\nbye\nFrom inside a line is fine\n",
        )
        .unwrap();
        let items: Vec<Inbound> = messages(&p, Some("li.wei".into())).unwrap().collect();
        assert_eq!(items.len(), 2);
        let Payload::Email(first) = &items[0].payload else {
            panic!()
        };
        assert_eq!(
            String::from_utf8_lossy(first),
            "From: a@x.example\nSubject: one\n\nhello\nFrom the past\n"
        );
        assert!(items[0].origin.source_key.ends_with("#1"));
        assert!(items[1].origin.source_key.ends_with("#2"));
        assert_eq!(items[1].origin.rep.as_deref(), Some("li.wei"));
        assert_eq!(items[0].origin.received_at, 1_780_912_800_000);
    }
}
