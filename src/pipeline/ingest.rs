//! The one write path every source uses. Sources only read: they hand inputs to an
//! [`Ingestor`] (bulk files, an IMAP folder) or to a [`GroupCommit`] (HTTP deliveries), which
//! prepare them on every core and commit them through [`commit_with`], overlapping the two.

use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use tokio::sync::{mpsc, oneshot};

use super::{Context, RunReport, commit, commit_with, prepare};
use crate::config::Config;
use crate::message::{Pending, Prepared};
use crate::rules::RuleSet;
use crate::store::batch::{BatchReport, InTransaction};
use crate::store::{Db, StoreError};

/// Why an ingest stopped.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A worker preparing messages panicked (a bug: one message's fault is a failure record).
    #[error("preparing messages failed: {0}")]
    Prepare(String),
}

/// Inputs that go into one transaction, with the hook run in it (an IMAP checkpoint; `()`
/// for none).
pub struct Batch<H> {
    pub inputs: Vec<Pending>,
    pub hook: H,
}

/// What `Ingestor::pipe` tells of each batch it committed.
pub struct Committed<'a, H> {
    pub report: &'a BatchReport,
    pub hook: &'a H,
    /// Inputs in the batch.
    pub inputs: usize,
    /// How long the commit took.
    pub took: std::time::Duration,
}

/// Up to this many inputs are prepared on the calling task; more go to every core.
const INLINE: usize = 4;

/// Read and prepare `inputs` (in parallel on the blocking pool unless there are only a few).
pub async fn prepare_all(
    ctx: &Arc<Context>,
    inputs: Vec<Pending>,
) -> Result<Vec<Prepared>, IngestError> {
    if inputs.len() <= INLINE {
        return Ok(inputs
            .into_iter()
            .map(|p| prepare(ctx, (p.load)()))
            .collect());
    }
    let ctx = Arc::clone(ctx);
    tokio::task::spawn_blocking(move || {
        inputs
            .into_par_iter()
            .map(|p| prepare(&ctx, (p.load)()))
            .collect()
    })
    .await
    .map_err(|e| IngestError::Prepare(e.to_string()))
}

/// Prepares and commits batches for one writer: the directory snapshot and rules it was given,
/// the database it writes to.
pub struct Ingestor {
    db: Db,
    ctx: Arc<Context>,
}

impl Ingestor {
    pub fn new(db: &Db, ctx: Arc<Context>) -> Ingestor {
        Ingestor {
            db: db.clone(),
            ctx,
        }
    }

    /// An ingestor with the directory as the database holds it now and the rules given.
    pub async fn load(
        db: &Db,
        rules: Arc<RuleSet>,
        config: Arc<Config>,
    ) -> Result<Ingestor, StoreError> {
        Ok(Ingestor::new(
            db,
            Arc::new(Context::load(db, rules, config).await?),
        ))
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// Prepare and commit one batch with its hook.
    pub async fn ingest<H: InTransaction>(
        &self,
        batch: Batch<H>,
    ) -> Result<BatchReport, IngestError> {
        let prepared = prepare_all(&self.ctx, batch.inputs).await?;
        Ok(self.commit(&prepared, &batch.hook).await?)
    }

    /// Commit prepared messages, running `hook` in the transaction.
    pub async fn commit(
        &self,
        prepared: &[Prepared],
        hook: &dyn InTransaction,
    ) -> Result<BatchReport, StoreError> {
        commit_with(&self.db, prepared, &self.ctx.rules, &self.ctx.config, hook).await
    }

    /// Batches as they arrive on `batches`, in order: the next is prepared while one commits.
    /// `committed` hears each commit. Ends when
    /// the sender is dropped, or at the first error (the rest are not committed: the caller
    /// starts again from its last checkpoint).
    pub async fn pipe<H: InTransaction + Send + 'static>(
        &self,
        mut batches: mpsc::Receiver<Batch<H>>,
        mut committed: impl FnMut(Committed<'_, H>),
    ) -> Result<(), IngestError> {
        let (ready, prepared) = mpsc::channel::<(Vec<Prepared>, H)>(1);
        let preparer = async {
            while let Some(batch) = batches.recv().await {
                let n = batch.inputs.len();
                let t = Instant::now();
                let p = prepare_all(&self.ctx, batch.inputs).await?;
                tracing::debug!(
                    messages = n,
                    ms = t.elapsed().as_millis() as u64,
                    "Batch prepared."
                );
                if ready.send((p, batch.hook)).await.is_err() {
                    break;
                }
            }
            drop(ready);
            Ok::<(), IngestError>(())
        };
        let committer = async {
            // Owned here, so that a failed commit drops it and the preparer (and through it
            // the sender of `batches`) stops instead of waiting for room forever.
            let mut prepared = prepared;
            while let Some((p, hook)) = prepared.recv().await {
                let t = Instant::now();
                let report = self.commit(&p, &hook).await?;
                let took = t.elapsed();
                tracing::debug!(
                    messages = p.len(),
                    ms = took.as_millis() as u64,
                    "Batch committed."
                );
                committed(Committed {
                    report: &report,
                    hook: &hook,
                    inputs: p.len(),
                    took,
                });
            }
            Ok::<(), IngestError>(())
        };
        let (p, c) = tokio::join!(preparer, committer);
        // The database's error explains a stopped pipe best.
        c?;
        p
    }

    /// Bulk ingestion: a reader thread pulls inputs from `source` and batches them (by count
    /// and bytes); each batch is read and prepared on every core while the one before commits.
    /// Memory is bounded by a few batches in flight.
    pub async fn stream<I>(
        &self,
        source: I,
        batch_size: usize,
        mut progress: impl FnMut(&RunReport),
    ) -> Result<RunReport, IngestError>
    where
        I: Iterator<Item = Pending> + Send + 'static,
    {
        const MAX_BATCH_BYTES: u64 = 32 << 20;
        let started = Instant::now();
        let (tx, rx) = mpsc::channel::<Batch<()>>(1);
        let reader = std::thread::spawn(move || {
            let mut source = source.peekable();
            while source.peek().is_some() {
                let mut inputs = Vec::with_capacity(batch_size);
                let mut bytes = 0u64;
                while inputs.len() < batch_size && bytes < MAX_BATCH_BYTES {
                    let Some(item) = source.next() else { break };
                    bytes += item.size;
                    inputs.push(item);
                }
                if tx.blocking_send(Batch { inputs, hook: () }).is_err() {
                    return;
                }
            }
        });
        let mut report = RunReport::default();
        let result = self
            .pipe(rx, |c| {
                report.batch.add(c.report);
                report.elapsed_secs = started.elapsed().as_secs_f64();
                progress(&report);
            })
            .await;
        let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        report.elapsed_secs = started.elapsed().as_secs_f64();
        result.map(|_| report)
    }
}

/// Why a delivery was not committed: the sender retries.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotCommitted {
    #[error(transparent)]
    Store(Arc<StoreError>),
    #[error("the committer stopped")]
    Stopped,
}

/// A prepared delivery and where to report its commit: the source keys of its inputs the
/// database refused (stored as failures), or why nothing was committed.
type Delivery = (
    Vec<Prepared>,
    oneshot::Sender<Result<Vec<String>, NotCommitted>>,
);

/// Deliveries committed together at most.
pub const GROUP_COMMIT_MAX: usize = 512;

/// Group commit for concurrent deliveries (HTTP): every delivery waiting is stored in one
/// transaction, then each hears the outcome (a 200 only after that commit), so many
/// connections do not queue for SQLite's write lock one by one. Cloned by every handler.
#[derive(Clone)]
pub struct GroupCommit {
    deliveries: mpsc::Sender<Delivery>,
}

impl GroupCommit {
    /// Start the committer task; each group is committed with the rules `rules` gives then
    /// (the ones in force).
    pub fn start(
        db: Db,
        config: Arc<Config>,
        rules: impl Fn() -> Arc<RuleSet> + Send + 'static,
    ) -> GroupCommit {
        let (deliveries, rx) = mpsc::channel(4 * GROUP_COMMIT_MAX);
        tokio::spawn(group_committer(db, config, rules, rx));
        GroupCommit { deliveries }
    }

    /// Commit `prepared` with whatever else is waiting; the source keys of its inputs the
    /// database refused (each stored as a failure), or why nothing was stored.
    pub async fn submit(&self, prepared: Vec<Prepared>) -> Result<Vec<String>, NotCommitted> {
        let (reply, done) = oneshot::channel();
        if self.deliveries.send((prepared, reply)).await.is_err() {
            return Err(NotCommitted::Stopped);
        }
        done.await.unwrap_or(Err(NotCommitted::Stopped))
    }
}

async fn group_committer(
    db: Db,
    config: Arc<Config>,
    rules: impl Fn() -> Arc<RuleSet>,
    mut rx: mpsc::Receiver<Delivery>,
) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < GROUP_COMMIT_MAX {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let keys: Vec<Vec<String>> = group
            .iter()
            .map(|(p, _)| p.iter().map(|p| p.origin().source_key.clone()).collect())
            .collect();
        let batch: Vec<Prepared> = group
            .iter_mut()
            .flat_map(|(p, _)| std::mem::take(p))
            .collect();
        // An input the database refuses is stored as a failure and fails only its own
        // delivery; the others are committed and answered.
        let result = commit(&db, &batch, &rules(), &config)
            .await
            .map_err(Arc::new);
        for ((_, reply), keys) in group.into_iter().zip(keys) {
            let answer = match &result {
                Ok(report) => Ok(keys
                    .into_iter()
                    .filter(|k| report.refused.contains(k))
                    .collect()),
                Err(e) => Err(NotCommitted::Store(Arc::clone(e))),
            };
            let _ = reply.send(answer);
        }
    }
}
