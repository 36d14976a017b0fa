//! Syncing one folder: which UIDs are new since the checkpoint, fetching their bodies in
//! chunks, preparing them in parallel and committing each chunk with its checkpoint.

use super::*;

/// A folder: its readable name and its name on the wire (modified UTF-7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub wire: String,
    /// The account's Sent folder: what is in it we sent.
    pub sent: bool,
}

/// What one sync round did.
#[derive(Debug, Default, Clone)]
pub struct Synced {
    pub report: BatchReport,
    pub fetched: usize,
    pub bytes: u64,
    /// The folder is up to date (false when a stop cut the round short).
    pub complete: bool,
}

/// Bring one folder up to date: fetch every message after the checkpoint (the backfill window
/// on a first sync), in chunks, overlapping network, parsing and database work; each chunk's
/// messages and the checkpoint that covers them are committed together.
pub async fn sync_folder(
    app: &App,
    account: &Account,
    session: &mut ImapSession,
    folder: &Folder,
    stop: &Stop,
) -> Result<Synced, ImapError> {
    let limit = account.cfg.timeout();
    let name = account.name();
    let db = &app.db;
    let selected = timed(limit, "EXAMINE", session.examine(&folder.wire)).await?;
    let validity = selected.uid_validity.ok_or_else(|| {
        ImapError::Server(format!(
            "folder {} has no UIDVALIDITY: cannot sync it incrementally",
            folder.name
        ))
    })?;
    let mut cp = mailboxes::checkpoint(db, name, &folder.name).await?;
    if cp.uid_validity != Some(validity) {
        if let Some(old) = cp.uid_validity {
            warn!(account = %name, folder = %folder.name, old, new = validity,
                "UIDVALIDITY changed: reading the folder again (stored messages are not duplicated).");
        }
        cp = mailboxes::Checkpoint {
            uid_validity: Some(validity),
            last_uid: 0,
            backfill_since: account.cfg.backfill_ms().map(|ms| now_ms() - ms),
        };
    }
    let uid_next = selected.uid_next.unwrap_or(0);
    let mut synced = Synced {
        complete: true,
        ..Synced::default()
    };
    if uid_next != 0 && uid_next <= cp.last_uid + 1 && cp.backfill_since.is_none() {
        return Ok(synced);
    }
    let query = match cp.backfill_since {
        Some(since) => format!("UID {}:* SINCE {}", cp.last_uid + 1, imap_date(since)),
        None => format!("UID {}:*", cp.last_uid + 1),
    };
    let found = timed(limit, "UID SEARCH", session.uid_search(&query)).await?;
    // `N:*` always matches the highest UID, even below N.
    let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > cp.last_uid).collect();
    uids.sort_unstable();
    let sizes = if uids.is_empty() {
        HashMap::new()
    } else {
        timed(limit, "UID FETCH sizes", async {
            let mut stream = session
                .uid_fetch(uid_set(&uids), "(UID RFC822.SIZE)")
                .await?;
            let mut sizes = HashMap::new();
            while let Some(f) = stream.next().await {
                let f = f?;
                if let (Some(uid), Some(size)) = (f.uid, f.size) {
                    sizes.insert(uid, size);
                }
            }
            Ok(sizes)
        })
        .await?
    };
    // The checkpoint after the last chunk: everything below UIDNEXT is done, including what
    // the backfill window left out.
    let done_uid = uids
        .last()
        .copied()
        .unwrap_or(0)
        .max(uid_next.saturating_sub(1));
    let max_bytes = app.config.ingest.max_message_bytes as u64;
    let mut chunks: Vec<Vec<u32>> = Vec::new();
    let (mut current, mut bytes) = (Vec::new(), 0u64);
    for &uid in &uids {
        let size = u64::from(sizes.get(&uid).copied().unwrap_or(0)).min(max_bytes);
        if !current.is_empty() && (current.len() >= CHUNK_MESSAGES || bytes + size > CHUNK_BYTES) {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(uid);
        bytes += size;
    }
    if !current.is_empty() || uids.is_empty() {
        chunks.push(current);
    }
    let total = uids.len() as u32;
    mailboxes::set_behind(db, name, &folder.name, total).await?;
    info!(account = %name, folder = %folder.name, messages = total, uid_validity = validity,
        from_uid = cp.last_uid + 1, "Folder sync started.");

    let ingestor = Ingestor::load(db, app.rules.current(), Arc::clone(&app.config)).await?;
    let mailbox = format!("{name}/{}", folder.name);
    let rep = account.cfg.rep.clone();
    // Chunks go to the pipeline, which prepares one while the one before commits.
    let (fetched_tx, fetched_rx) = mpsc::channel::<Batch<mailboxes::Advance>>(1);

    // Stage 1: the network.
    let n_chunks = chunks.len();
    let mut all_sent = false;
    let mut fetched_bytes = 0u64;
    let fetcher = async {
        let mut done = 0u32;
        for (i, chunk) in chunks.into_iter().enumerate() {
            if stopping(stop) {
                return Ok(());
            }
            let last = i + 1 == n_chunks;
            let mut inbound = Vec::with_capacity(chunk.len());
            let mut chunk_bytes = 0u64;
            let (small, large): (Vec<u32>, Vec<u32>) = chunk
                .iter()
                .partition(|u| u64::from(sizes.get(u).copied().unwrap_or(0)) <= max_bytes);
            for uid in large {
                let size = sizes.get(&uid).copied().unwrap_or(0);
                inbound.push(Inbound {
                    origin: origin(name, folder, validity, uid, &mailbox, &rep, now_ms()),
                    payload: Payload::Unreadable(format!(
                        "message of {size} bytes exceeds ingest.max_message_bytes ({max_bytes}): not downloaded"
                    )),
                });
            }
            if !small.is_empty() {
                let mut got = fetch_bodies(session, &small, limit).await?;
                // A UID the server did not return (deleted meanwhile, or a server hiccup): ask
                // once more for just those; still missing, it is recorded, never skipped
                // silently.
                let missing = missing_uids(&small, &got);
                if !missing.is_empty() {
                    let again = fetch_bodies(session, &missing, limit).await?;
                    got.extend(again.into_iter().filter(|(u, _, _)| missing.contains(u)));
                    for uid in missing_uids(&small, &got) {
                        warn!(account = %name, folder = %folder.name, uid,
                            "The server returned nothing for a message it listed; recorded as a failure.");
                        got.push((
                            uid,
                            now_ms(),
                            Payload::Unreadable(format!(
                                "the server returned nothing for UID {uid} (twice): deleted while being read, or a server fault"
                            )),
                        ));
                    }
                }
                for (uid, received, payload) in got {
                    if let Payload::Email(raw) = &payload {
                        chunk_bytes += raw.len() as u64;
                    }
                    inbound.push(Inbound {
                        origin: origin(name, folder, validity, uid, &mailbox, &rep, received),
                        payload,
                    });
                }
            }
            done += chunk.len() as u32;
            let checkpoint = mailboxes::Checkpoint {
                uid_validity: Some(validity),
                last_uid: if last {
                    done_uid
                } else {
                    chunk.last().copied().unwrap_or(cp.last_uid)
                },
                backfill_since: if last { None } else { cp.backfill_since },
            };
            let item = Batch {
                inputs: inbound.into_iter().map(Pending::ready).collect(),
                hook: mailboxes::Advance {
                    account: name.to_string(),
                    folder: folder.name.clone(),
                    rep: rep.clone(),
                    checkpoint,
                    behind: total - done,
                },
            };
            if fetched_tx.send(item).await.is_err() {
                return Ok(());
            }
            fetched_bytes += chunk_bytes;
        }
        drop(fetched_tx);
        all_sent = true;
        Ok::<(), ImapError>(())
    };
    // Stages 2 and 3: parsing, matching and rules on every core; one transaction per chunk,
    // checkpoint included.
    let mut report = BatchReport::default();
    let mut fetched_count = 0usize;
    let mut committed = 0usize;
    let pipe = ingestor.pipe(fetched_rx, |c| {
        crate::metrics::latency("imap", c.took.as_secs_f64());
        report.add(c.report);
        fetched_count += c.inputs;
        committed += 1;
    });
    let (f, p) = tokio::join!(fetcher, pipe);
    // The database's error explains a stopped sync best, then the network's.
    p?;
    f?;
    synced.bytes = fetched_bytes;
    synced.complete = all_sent && committed == n_chunks;
    synced.report = report;
    synced.fetched = fetched_count;
    if synced.fetched > 0 {
        info!(account = %name, folder = %folder.name, fetched = synced.fetched,
            ingested = synced.report.ingested, sightings = synced.report.sightings,
            failed = synced.report.failed, "Folder synced.");
    }
    Ok(synced)
}

/// `UID FETCH` the bodies of `uids`: (uid, INTERNALDATE, payload) of each message the server
/// returned among those asked for, once each (unsolicited FETCH responses are dropped).
async fn fetch_bodies(
    session: &mut ImapSession,
    uids: &[u32],
    limit: Duration,
) -> Result<Vec<(u32, i64, Payload)>, ImapError> {
    timed(limit, "UID FETCH", async {
        let mut stream = session
            .uid_fetch(uid_set(uids), "(UID INTERNALDATE BODY.PEEK[])")
            .await?;
        let mut got: Vec<(u32, i64, Payload)> = Vec::with_capacity(uids.len());
        while let Some(f) = stream.next().await {
            let f = f?;
            let Some(uid) = f.uid else { continue };
            if uids.binary_search(&uid).is_err() || got.iter().any(|(u, _, _)| *u == uid) {
                continue;
            }
            let received = f
                .internal_date()
                .map(|d| d.timestamp_millis())
                .unwrap_or_else(now_ms);
            let payload = match f.body() {
                Some(body) => Payload::Email(body.to_vec()),
                None => Payload::Unreadable("the server sent no message body".into()),
            };
            got.push((uid, received, payload));
        }
        Ok(got)
    })
    .await
}

/// The UIDs asked for (sorted) that are not among those fetched.
fn missing_uids(asked: &[u32], got: &[(u32, i64, Payload)]) -> Vec<u32> {
    let have: std::collections::HashSet<u32> = got.iter().map(|(u, _, _)| *u).collect();
    asked
        .iter()
        .copied()
        .filter(|u| !have.contains(u))
        .collect()
}

fn origin(
    account: &str,
    folder: &Folder,
    validity: u32,
    uid: u32,
    mailbox: &str,
    rep: &Option<String>,
    received_at: i64,
) -> Origin {
    Origin {
        source_key: format!("imap:{account}/{}/{validity}/{uid}", folder.name),
        mailbox: mailbox.to_string(),
        rep: rep.clone(),
        received_at,
        verify_sender: !folder.sent,
    }
}

/// `1:5,7,9:12`: a sorted UID list as an IMAP sequence set.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// An IMAP SEARCH date (`1-Sep-2026`) for a Unix ms time.
fn imap_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%-d-%b-%Y")
        .to_string()
}

/// `keepwarm sync --once` for one account: discover its folders, bring each up to date (one
/// connection per folder, folders in parallel), log out.
pub async fn sync_account_once(
    app: &App,
    account: &Account,
    stop: &Stop,
) -> Vec<(Folder, Result<Synced, ImapError>)> {
    let name = account.name();
    let folders = match account.connect().await {
        Ok(mut session) => {
            let folders = account.folders(&mut session).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
            folders
        }
        Err(e) => Err(e),
    };
    let folders = match folders {
        Ok(f) => {
            let _ = mailboxes::clear(&app.db, name, "*").await;
            f
        }
        Err(e) => {
            let _ = mailboxes::failed(
                &app.db,
                name,
                "*",
                account.cfg.rep.as_deref(),
                &e.to_string(),
            )
            .await;
            return vec![(
                Folder {
                    name: "*".into(),
                    wire: "*".into(),
                    sent: false,
                },
                Err(e),
            )];
        }
    };
    let runs = folders.iter().map(|folder| async move {
        let result = async {
            let mut session = account.connect().await?;
            let synced = sync_folder(app, account, &mut session, folder, stop).await?;
            let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
            Ok::<_, ImapError>(synced)
        }
        .await;
        let rep = account.cfg.rep.as_deref();
        match &result {
            Ok(s) if !s.complete => {}
            Ok(_) => {
                let _ = mailboxes::synced(&app.db, name, &folder.name, rep, 0, "once").await;
            }
            Err(e) => {
                let _ = mailboxes::failed(&app.db, name, &folder.name, rep, &e.to_string()).await;
            }
        }
        (folder.clone(), result)
    });
    futures::future::join_all(runs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8, 10]), "1:3,5,7:8,10");
        assert_eq!(uid_set(&[42]), "42");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn search_dates() {
        assert_eq!(imap_date(1_788_220_800_000), "1-Sep-2026");
    }
}
