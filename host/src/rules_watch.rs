//! Watching the rules folders (every one of `--rules`): deploying a rule is
//! dropping a `.wasm` pack or a `.yml` Sigma file into one, undeploying is
//! removing it. Events are debounced into one "look
//! again" signal: a copy written in pieces, an atomic rename, or a
//! Kubernetes ConfigMap update (which swaps the `..data` symlink) each end
//! as one rescan, and the rescan itself only reloads files whose content
//! changed.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

/// Keeps the watch alive; dropping it stops the signals.
pub struct RulesWatcher {
    _watcher: notify::RecommendedWatcher,
}

impl RulesWatcher {
    /// Watch `dir`; every burst of changes, once quiet for `debounce`,
    /// sends one `()` on the returned channel.
    pub fn start(dir: &Path, debounce: Duration) -> notify::Result<(Self, mpsc::Receiver<()>)> {
        Self::start_all(&[dir.to_path_buf()], debounce)
    }

    /// Watch every folder of `dirs`, one debounced signal for a burst of
    /// changes in any of them (a rescan looks at all of them).
    pub fn start_all(
        dirs: &[PathBuf],
        debounce: Duration,
    ) -> notify::Result<(Self, mpsc::Receiver<()>)> {
        let (raw_tx, raw_rx) = mpsc::channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| !e.kind.is_access()) {
                    let _ = raw_tx.send(());
                }
            })?;
        // Not recursive: ConfigMap volumes put the files one level down,
        // behind `..data`, whose swap is an event in this folder.
        for dir in dirs {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("k8scop-rules-watch".into())
            .spawn(move || debounce_loop(raw_rx, tx, debounce))
            .expect("spawn the rules watcher thread");
        Ok((RulesWatcher { _watcher: watcher }, rx))
    }
}

fn debounce_loop(raw: mpsc::Receiver<()>, out: mpsc::Sender<()>, quiet: Duration) {
    while raw.recv().is_ok() {
        // Wait until no event came for `quiet`.
        let mut last = Instant::now();
        loop {
            match raw.recv_timeout(quiet.saturating_sub(last.elapsed())) {
                Ok(()) => last = Instant::now(),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        if out.send(()).is_err() {
            return;
        }
    }
}
