//! The bounded pool of threads that evaluates packs and decodes documents
//! side by side (`--threads`). One pool per engine, shared by the decode
//! stage: a step of work runs on its caller's thread and the pool's N-1,
//! so no step uses more threads than the setting (the decode and engine
//! stages, each calling from its own thread, may overlap by one). With one
//! thread there is no pool at all: the work runs on the caller's thread, as
//! it did before the pool existed.

use std::sync::{Arc, Mutex};

/// A handle to the pool; cheap to clone.
#[derive(Clone)]
pub struct Workers {
    pool: Option<Arc<rayon::ThreadPool>>,
    threads: usize,
}

impl Workers {
    /// `threads` threads (at least 1): the caller's and a pool of the rest.
    pub fn new(threads: usize) -> anyhow::Result<Self> {
        let threads = threads.max(1);
        let pool = if threads == 1 {
            None
        } else {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads - 1)
                .thread_name(|i| format!("k8scop-worker-{i}"))
                .build()?;
            Some(Arc::new(pool))
        };
        Ok(Workers { pool, threads })
    }

    /// One thread: work runs on the caller's.
    pub fn single() -> Self {
        Workers {
            pool: None,
            threads: 1,
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// `work` applied to every job, at most `threads` at a time, each thread
    /// taking the next job as it finishes one (so list the longest first);
    /// the results come back in the jobs' order, whatever order they ran in.
    /// The caller's thread takes jobs too: it is already running, where a
    /// pool thread may first have to be woken.
    pub fn map<J, R>(&self, jobs: Vec<J>, work: impl Fn(J) -> R + Sync) -> Vec<R>
    where
        J: Send,
        R: Send,
    {
        let Some(pool) = self.pool.as_ref().filter(|_| jobs.len() > 1) else {
            return jobs.into_iter().map(work).collect();
        };
        let count = jobs.len();
        let queue = Mutex::new(jobs.into_iter().enumerate());
        let results: Mutex<Vec<Option<R>>> = Mutex::new((0..count).map(|_| None).collect());
        let take = || queue.lock().unwrap_or_else(|e| e.into_inner()).next();
        let work_through = || {
            while let Some((i, job)) = take() {
                let result = work(job);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
            }
        };
        pool.in_place_scope(|scope| {
            for _ in 1..self.threads.min(count) {
                scope.spawn(|_| work_through());
            }
            work_through();
        });
        results
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|r| r.expect("every job ran"))
            .collect()
    }
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &self.threads)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn results_come_in_the_jobs_order_from_several_threads() {
        let workers = Workers::new(3).unwrap();
        let jobs: Vec<u64> = (0..200).collect();
        let out = workers.map(jobs, |j| {
            // Uneven work, so jobs finish out of order.
            std::thread::sleep(std::time::Duration::from_micros((j * 37) % 500));
            (j * 2, std::thread::current().name().map(String::from))
        });
        let values: Vec<u64> = out.iter().map(|(v, _)| *v).collect();
        assert_eq!(values, (0..200).map(|j| j * 2).collect::<Vec<_>>());
        let caller = std::thread::current().name().map(String::from);
        let threads: BTreeSet<_> = out.iter().map(|(_, n)| n.clone()).collect();
        assert!(threads.len() <= 3, "at most three threads: {threads:?}");
        assert!(
            threads.iter().all(
                |n| *n == caller || n.as_ref().is_some_and(|n| n.starts_with("k8scop-worker-"))
            ),
            "the caller's and the pool's: {threads:?}"
        );
    }

    #[test]
    fn one_thread_runs_on_the_callers_thread() {
        let workers = Workers::new(1).unwrap();
        let caller = std::thread::current().id();
        let out = workers.map(vec![1, 2, 3], |j| (j, std::thread::current().id()));
        assert!(out.iter().all(|(_, id)| *id == caller));
        assert_eq!(Workers::new(0).unwrap().threads(), 1);
    }
}
