//! The only IndexWriter: a dedicated thread that applies changes in batches and
//! commits whenever its inbox runs dry, so commits coalesce under load.

use tantivy::indexer::LogMergePolicy;
use tantivy::{IndexWriter, Term};
use tokio::sync::{mpsc, oneshot};

use super::{IndexDoc, IndexError, SearchIndex};

/// Most changes folded into one commit; bounds the latency of a large burst.
const MAX_BATCH: usize = 5_000;

/// Merged segments stay around this size or below: a deletion rewrites the
/// segment that held the entry (`purge`), so this bounds what it rewrites.
const MAX_SEGMENT_DOCS: usize = 100_000;

/// How often a purge retries segments that a background merge holds.
const PURGE_ATTEMPTS: u32 = 100;

enum Op {
    Upsert(Vec<IndexDoc>),
    /// Like `Upsert`, but answered once applied, before any commit: a bulk
    /// load commits when it chooses (`Commit`), not once per page.
    Bulk(Vec<IndexDoc>),
    Commit,
    Delete(Vec<i64>),
    Clear,
    /// After the commit, rewrite every segment holding deleted documents, so
    /// their content leaves the disk (tantivy only marks them deleted).
    Purge,
}

struct Request {
    op: Op,
    done: oneshot::Sender<Result<(), String>>,
}

/// Cheap to clone; every clone feeds the same writer thread.
#[derive(Clone)]
pub struct IndexHandle {
    tx: mpsc::UnboundedSender<Request>,
}

impl IndexHandle {
    /// Adds or replaces documents; resolves once they are committed and visible
    /// to searches.
    pub async fn upsert(&self, docs: Vec<IndexDoc>) -> Result<(), IndexError> {
        self.send(Op::Upsert(docs)).await
    }

    /// Adds or replaces documents; resolves once they are applied, in order
    /// with every other change, but not yet committed (see `commit`).
    pub async fn add_bulk(&self, docs: Vec<IndexDoc>) -> Result<(), IndexError> {
        self.send(Op::Bulk(docs)).await
    }

    /// Resolves once everything sent before is committed and visible.
    pub async fn commit(&self) -> Result<(), IndexError> {
        self.send(Op::Commit).await
    }

    /// Removes entries; resolves once the removal is committed and visible.
    pub async fn delete(&self, entry_ids: Vec<i64>) -> Result<(), IndexError> {
        self.send(Op::Delete(entry_ids)).await
    }

    /// Removes every document (the first step of a reindex).
    pub async fn clear(&self) -> Result<(), IndexError> {
        self.send(Op::Clear).await
    }

    /// Resolves once no segment on disk holds a deleted document any more.
    pub async fn purge(&self) -> Result<(), IndexError> {
        self.send(Op::Purge).await
    }

    async fn send(&self, op: Op) -> Result<(), IndexError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Request { op, done })
            .map_err(|_| IndexError::WriterGone)?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(IndexError::Tantivy(tantivy::TantivyError::InternalError(e))),
            Err(_) => Err(IndexError::WriterGone),
        }
    }
}

pub struct IndexWriterTask {
    thread: std::thread::JoinHandle<()>,
}

impl IndexWriterTask {
    /// Starts the writer thread. It stops, after a last commit, once every
    /// `IndexHandle` is dropped.
    pub fn spawn(
        index: &SearchIndex,
        memory_bytes: usize,
    ) -> Result<(IndexHandle, Self), IndexError> {
        let writer: IndexWriter = index.index.writer(memory_bytes).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => {
                IndexError::Locked(format!("{:?}", index.index.directory()))
            }
            e => e.into(),
        })?;
        // A log merge joins the segments of one size level once there are 8
        // (more when a bulk commit adds many at once), each below its limit.
        let mut policy = LogMergePolicy::default();
        policy.set_min_num_segments(8);
        policy.set_max_docs_before_merge(MAX_SEGMENT_DOCS / 8);
        writer.set_merge_policy(Box::new(policy));
        let (tx, rx) = mpsc::unbounded_channel();
        let index = index.clone();
        let thread = std::thread::Builder::new()
            .name("index-writer".into())
            .spawn(move || writer_loop(index, writer, rx))?;
        Ok((IndexHandle { tx }, IndexWriterTask { thread }))
    }

    pub fn join(self) {
        let _ = self.thread.join();
    }
}

fn writer_loop(
    index: SearchIndex,
    mut writer: IndexWriter,
    mut rx: mpsc::UnboundedReceiver<Request>,
) {
    let s = &index.schema;
    while let Some(first) = rx.blocking_recv() {
        let mut waiting = Vec::new();
        let mut applied = 0usize;
        let mut purge = false;
        let mut next = Some(first);
        while let Some(req) = next.take() {
            purge |= matches!(req.op, Op::Purge);
            let bulk = matches!(req.op, Op::Bulk(_));
            let result = apply(&writer, s, req.op, &mut applied);
            if bulk {
                let _ = req.done.send(result);
            } else {
                waiting.push((req.done, result));
            }
            if applied < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if waiting.is_empty() {
            continue;
        }
        let mut committed = writer
            .commit()
            .map(|_| ())
            .and_then(|_| index.reader.reload())
            .map_err(|e| e.to_string());
        if purge && committed.is_ok() {
            committed = purge_deleted(&index, &mut writer);
        }
        if let Err(e) = &committed {
            tracing::error!(error = %e, "index commit failed");
        }
        for (done, applied) in waiting {
            let _ = done.send(applied.and(committed.clone()));
        }
    }
    // Merges under way finish, so the index left behind is as merged as the
    // policy wants (after a reindex: not hundreds of small segments).
    if let Err(e) = writer.wait_merging_threads() {
        tracing::warn!(error = %e, "index merges did not finish");
    }
    tracing::debug!("index writer stopped");
}

/// Merges each committed segment that has deleted documents on its own (a
/// one-segment merge drops them), then removes the old files.
fn purge_deleted(index: &SearchIndex, writer: &mut IndexWriter) -> Result<(), String> {
    for attempt in 0..PURGE_ATTEMPTS {
        let dirty: Vec<_> = index
            .index
            .searchable_segment_metas()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|m| m.has_deletes())
            .map(|m| m.id())
            .collect();
        if dirty.is_empty() {
            writer
                .garbage_collect_files()
                .wait()
                .map_err(|e| e.to_string())?;
            return index.reader.reload().map_err(|e| e.to_string());
        }
        let mut blocked = false;
        for id in dirty {
            // Fails when a background merge holds the segment; that merge
            // drops the deleted documents too, so wait for it and look again.
            if writer.merge(&[id]).wait().is_err() {
                blocked = true;
            }
        }
        if blocked {
            std::thread::sleep(std::time::Duration::from_millis(
                10 * u64::from(attempt + 1),
            ));
        }
    }
    Err("segments with deleted documents are still being merged".into())
}

fn apply(
    writer: &IndexWriter,
    s: &super::Schema,
    op: Op,
    applied: &mut usize,
) -> Result<(), String> {
    match op {
        Op::Upsert(docs) | Op::Bulk(docs) => {
            for d in docs {
                writer.delete_term(Term::from_field_u64(s.entry_id, d.entry_id as u64));
                writer
                    .add_document(d.to_document(s))
                    .map_err(|e| e.to_string())?;
                *applied += 1;
            }
        }
        Op::Clear => {
            writer.delete_all_documents().map_err(|e| e.to_string())?;
        }
        Op::Purge | Op::Commit => {}
        Op::Delete(ids) => {
            for id in ids {
                writer.delete_term(Term::from_field_u64(s.entry_id, id as u64));
                *applied += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::SearchIndex;

    fn doc(id: i64, body: &str) -> IndexDoc {
        IndexDoc {
            entry_id: id,
            card_id: 1,
            kind: "note".into(),
            subject: String::new(),
            body: body.into(),
            from: None,
            to: vec![],
            cc: vec![],
            attachments: vec![],
            attachment_text: vec![],
            forwarded_by: vec![],
            occurred_at: 0,
            date: None,
            comm_type_id: None,
        }
    }

    /// Terms of the body field in every segment, deleted documents included.
    fn body_terms(index: &SearchIndex) -> (Vec<String>, bool) {
        index.reader.reload().unwrap();
        let searcher = index.reader.searcher();
        let mut terms = Vec::new();
        let mut deletes = false;
        for seg in searcher.segment_readers() {
            deletes |= seg.has_deletes();
            let inv = seg.inverted_index(index.schema.body).unwrap();
            let mut s = inv.terms().stream().unwrap();
            while s.advance() {
                terms.push(String::from_utf8_lossy(s.key()).into_owned());
            }
        }
        (terms, deletes)
    }

    #[tokio::test]
    async fn purge_rewrites_segments_so_deleted_terms_leave_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(dir.path()).unwrap();
        let (handle, task) = IndexWriterTask::spawn(&index, 20_000_000).unwrap();
        // One commit: the three documents share a segment.
        handle
            .upsert(vec![
                doc(1, "alpaca"),
                doc(2, "secretword"),
                doc(3, "llama"),
            ])
            .await
            .unwrap();
        handle.delete(vec![2]).await.unwrap();
        let (terms, deletes) = body_terms(&index);
        assert!(
            deletes && terms.contains(&"secretword".to_owned()),
            "a delete only marks"
        );
        handle.purge().await.unwrap();
        let (terms, deletes) = body_terms(&index);
        assert!(!deletes);
        assert!(!terms.contains(&"secretword".to_owned()), "{terms:?}");
        assert!(terms.contains(&"alpaca".to_owned()) && terms.contains(&"llama".to_owned()));
        drop(handle);
        tokio::task::spawn_blocking(move || task.join())
            .await
            .unwrap();
    }
}
