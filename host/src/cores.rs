//! How many cores this process may keep busy: the container's CPU limit
//! (a cgroup quota), never more than the CPUs it may run on. A container
//! limited to 2 cores on a 64-core node sees 64 CPUs in
//! `available_parallelism` (Rust reads the cgroup quota too, but only on
//! some paths); threads beyond the quota only get throttled, so the quota
//! is read here, explicitly, and tested on fake cgroup trees. And how
//! many cores a run did keep busy: its CPU time over its wall time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The default thread count: the cgroup CPU limit rounded up, capped by
/// `std::thread::available_parallelism`, at least 1.
pub fn available() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let limit = cgroup_limit(Path::new("/sys/fs/cgroup"), &own);
    let cores = limit.map_or(cpus, |limit| limit.min(cpus));
    tracing::debug!(cpus, ?limit, cores, "cores available");
    cores.max(1)
}

/// The CPU time (user and system) this process has used so far, all its
/// threads together (`getrusage(RUSAGE_SELF)`).
pub fn process_cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given and reads nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// A span of the process's life, to say how many cores it kept busy.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    started: Instant,
    cpu: Duration,
}

impl Usage {
    pub fn start() -> Self {
        Usage {
            started: Instant::now(),
            cpu: process_cpu_time(),
        }
    }

    /// What the process used since `start`, with the threads it was given.
    pub fn finish(&self, threads: usize) -> CoresUsed {
        CoresUsed {
            cpu: process_cpu_time().saturating_sub(self.cpu),
            wall: self.started.elapsed(),
            threads,
        }
    }
}

/// CPU time over wall time: 1.0 is one core busy all along.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CoresUsed {
    pub cpu: Duration,
    pub wall: Duration,
    /// The `--threads` the run was given.
    pub threads: usize,
}

impl CoresUsed {
    pub fn cores(&self) -> f64 {
        if self.wall.is_zero() {
            return 0.0;
        }
        self.cpu.as_secs_f64() / self.wall.as_secs_f64()
    }
}

impl std::fmt::Display for CoresUsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} ({:.2} s CPU over {:.2} s; {} thread{})",
            self.cores(),
            self.cpu.as_secs_f64(),
            self.wall.as_secs_f64(),
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }
}

/// The CPU limit of the cgroup `own` (the text of `/proc/self/cgroup`)
/// under the cgroup mount `root`, in whole cores (rounded up): cgroup v2's
/// `cpu.max`, else v1's `cpu.cfs_quota_us` / `cpu.cfs_period_us`. `None`
/// when no limit is set (`max`, `-1`) or nothing can be read.
pub fn cgroup_limit(root: &Path, own: &str) -> Option<usize> {
    let quota = v2_quota(root, own).or_else(|| v1_quota(root, own))?;
    Some(quota.cores())
}

/// A CFS quota: `quota` microseconds of CPU every `period`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Quota {
    quota: u64,
    period: u64,
}

impl Quota {
    fn cores(self) -> usize {
        self.quota.div_ceil(self.period).max(1) as usize
    }

    fn per_period(self) -> f64 {
        self.quota as f64 / self.period as f64
    }
}

/// cgroup v2: `cpu.max` is `"<quota> <period>"` or `"max <period>"`. A
/// parent's limit applies to its children too, so the tightest one from
/// the process's cgroup up to the root counts (inside a container with its
/// own cgroup namespace the process's cgroup is the root itself).
fn v2_quota(root: &Path, own: &str) -> Option<Quota> {
    let relative = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mut tightest: Option<Quota> = None;
    for dir in up_to_root(root, relative) {
        let Ok(text) = std::fs::read_to_string(dir.join("cpu.max")) else {
            continue;
        };
        let mut words = text.split_whitespace();
        let (Some(quota), Some(period)) = (words.next(), words.next()) else {
            continue;
        };
        let (Ok(quota), Ok(period)) = (quota.parse::<u64>(), period.parse::<u64>()) else {
            continue; // "max": no limit at this level
        };
        if period == 0 {
            continue;
        }
        let here = Quota { quota, period };
        if tightest.is_none_or(|t| here.per_period() < t.per_period()) {
            tightest = Some(here);
        }
    }
    tightest
}

/// cgroup v1: the `cpu` controller's `cpu.cfs_quota_us` (`-1`: no limit)
/// and `cpu.cfs_period_us`, in the process's cgroup when the host's tree is
/// mounted, else at the controller's mount root (a container's own).
fn v1_quota(root: &Path, own: &str) -> Option<Quota> {
    let relative = own
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':').skip(1);
            Some((parts.next()?, parts.next()?))
        })
        .find(|(controllers, _)| controllers.split(',').any(|c| c == "cpu"))
        .map_or("/", |(_, path)| path);
    let read = |dir: &Path, file: &str| -> Option<i64> {
        std::fs::read_to_string(dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    for mount in ["cpu,cpuacct", "cpu", "cpuacct,cpu"] {
        let base = root.join(mount);
        for dir in [base.join(relative.trim_start_matches('/')), base.clone()] {
            let (Some(quota), Some(period)) = (
                read(&dir, "cpu.cfs_quota_us"),
                read(&dir, "cpu.cfs_period_us"),
            ) else {
                continue;
            };
            if quota <= 0 || period <= 0 {
                return None; // -1: no limit
            }
            return Some(Quota {
                quota: quota as u64,
                period: period as u64,
            });
        }
    }
    None
}

/// `root/relative`, then each parent up to `root` itself.
fn up_to_root(root: &Path, relative: &str) -> Vec<PathBuf> {
    let mut dirs = vec![root.join(relative.trim_start_matches('/'))];
    while let Some(parent) = dirs.last().and_then(|d| d.parent()) {
        if !parent.starts_with(root) {
            break;
        }
        dirs.push(parent.to_path_buf());
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn cgroup_v2_quota_is_rounded_up_to_whole_cores() {
        let root = tree(&[("cpu.max", "150000 100000\n")]);
        assert_eq!(cgroup_limit(root.path(), "0::/\n"), Some(2));
        let root = tree(&[("cpu.max", "200000 100000\n")]);
        assert_eq!(cgroup_limit(root.path(), "0::/\n"), Some(2));
        let root = tree(&[("cpu.max", "10000 100000\n")]);
        assert_eq!(cgroup_limit(root.path(), "0::/\n"), Some(1));
    }

    #[test]
    fn cgroup_v2_max_is_no_limit() {
        let root = tree(&[("cpu.max", "max 100000\n")]);
        assert_eq!(cgroup_limit(root.path(), "0::/\n"), None);
    }

    #[test]
    fn cgroup_v2_takes_the_tightest_limit_up_to_the_root() {
        let root = tree(&[
            ("kubepods/cpu.max", "300000 100000\n"),
            ("kubepods/pod1/cpu.max", "max 100000\n"),
            ("kubepods/pod1/k8scop/cpu.max", "400000 100000\n"),
        ]);
        let own = "0::/kubepods/pod1/k8scop\n";
        assert_eq!(cgroup_limit(root.path(), own), Some(3));
    }

    #[test]
    fn cgroup_v1_quota_and_period() {
        let files = [
            ("cpu,cpuacct/cpu.cfs_quota_us", "250000\n"),
            ("cpu,cpuacct/cpu.cfs_period_us", "100000\n"),
        ];
        let own = "4:cpu,cpuacct:/\n3:memory:/x\n";
        assert_eq!(cgroup_limit(tree(&files).path(), own), Some(3));
        // The host's tree mounted: the process's own cgroup is read.
        let files = [
            ("cpu/docker/abc/cpu.cfs_quota_us", "50000\n"),
            ("cpu/docker/abc/cpu.cfs_period_us", "100000\n"),
            ("cpu/cpu.cfs_quota_us", "-1\n"),
            ("cpu/cpu.cfs_period_us", "100000\n"),
        ];
        let own = "2:cpuacct:/docker/abc\n1:cpu:/docker/abc\n";
        assert_eq!(cgroup_limit(tree(&files).path(), own), Some(1));
    }

    #[test]
    fn cgroup_v1_minus_one_is_no_limit() {
        let files = [
            ("cpu/cpu.cfs_quota_us", "-1\n"),
            ("cpu/cpu.cfs_period_us", "100000\n"),
        ];
        assert_eq!(cgroup_limit(tree(&files).path(), "1:cpu:/\n"), None);
    }

    #[test]
    fn cores_used_is_cpu_time_over_wall_time() {
        let used = CoresUsed {
            cpu: Duration::from_millis(3000),
            wall: Duration::from_millis(2000),
            threads: 2,
        };
        assert_eq!(used.cores(), 1.5);
        assert_eq!(used.to_string(), "1.50 (3.00 s CPU over 2.00 s; 2 threads)");
        assert_eq!(CoresUsed::default().cores(), 0.0);
        // Work done on this thread shows in the process's CPU time (the
        // clock ticks coarsely: spin until it moves, giving up after 10 s).
        let before = process_cpu_time();
        let started = Instant::now();
        let mut x = 0u64;
        while process_cpu_time() <= before && started.elapsed() < Duration::from_secs(10) {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        assert!(process_cpu_time() > before, "CPU time did not move");
    }

    #[test]
    fn no_cgroup_files_is_no_limit() {
        let root = tree(&[]);
        assert_eq!(cgroup_limit(root.path(), "0::/\n"), None);
        assert_eq!(cgroup_limit(root.path(), "1:cpu:/\n"), None);
        assert_eq!(cgroup_limit(root.path(), ""), None);
        assert!(available() >= 1);
    }
}
