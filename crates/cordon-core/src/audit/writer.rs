//! The one owner of the audit file: a task fed by a channel, which hands each write
//! and fsync to tokio's blocking pool. Whatever has queued up meanwhile is written in
//! one go and fsynced once, then every waiting sender is told how it went. A tokio
//! worker thread never waits on the disk. (A blocking-pool job, unlike a thread of our
//! own, also holds paused test time still while the disk works, so the worker's
//! paused-time tests stay exact.)

use std::fs::File;
use std::io::Write;
use std::path::Path;

use tokio::sync::mpsc;

type Ack = tokio::sync::oneshot::Sender<std::io::Result<()>>;

struct Job {
    /// One JSON line, or empty for a flush barrier.
    line: Vec<u8>,
    ack: Option<Ack>,
}

#[derive(Debug)]
pub(super) struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Writer {
    /// Start the owner on the current tokio runtime.
    pub(super) fn start(file: File, path: &Path) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| std::io::Error::other("the audit log writer needs the async runtime"))?;
        let (jobs, rx) = mpsc::unbounded_channel::<Job>();
        runtime.spawn(run(file, rx, path.display().to_string()));
        Ok(Self { jobs })
    }

    /// Queue a line (and, with `ack`, be told once it is fsynced). Err: the owner has
    /// stopped.
    pub(super) fn queue(&self, line: Vec<u8>, ack: Option<Ack>) -> Result<(), ()> {
        self.jobs.send(Job { line, ack }).map_err(|_| ())
    }
}

/// Until every handle is dropped: take what has queued up, write it, fsync once.
async fn run(file: File, mut rx: mpsc::UnboundedReceiver<Job>, path: String) {
    let mut file = Some(file);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(job) = rx.try_recv() {
            batch.push(job);
        }
        let bytes: Vec<u8> = batch.iter().flat_map(|j| j.line.iter().copied()).collect();
        let result = match file.take() {
            Some(mut f) if !bytes.is_empty() => {
                let written = tokio::task::spawn_blocking(move || {
                    let r = f
                        .write_all(&bytes)
                        .and_then(|()| f.flush())
                        .and_then(|()| f.sync_data());
                    (f, r)
                })
                .await;
                match written {
                    Ok((f, r)) => {
                        file = Some(f);
                        r
                    }
                    // The blocking job panicked: the file is gone with it.
                    Err(e) => Err(std::io::Error::other(e.to_string())),
                }
            }
            Some(f) => {
                file = Some(f);
                Ok(())
            }
            None => Err(std::io::Error::other(
                "the audit file was lost after a failure",
            )),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, path, lines = batch.len(), "audit log write failed");
        }
        for job in batch {
            if let Some(ack) = job.ack {
                let answer = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                };
                // The waiter may have gone (its task was cancelled): nothing to tell.
                let _ = ack.send(answer);
            }
        }
    }
}
