//! The pack's memory, measured: the heap it holds when every table is full
//! of worst-case keys (longest names, every per-key cap reached), and that
//! a flood of further identities does not grow it. Natively (64-bit
//! pointers), so an upper bound for the 32-bit WebAssembly build.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use k8scop_correlation::Correlation;
use rule_sdk::EventKind;
use rule_sdk::native::NativePack;
use serde_json::json;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const IDENTITIES: usize = 150;

/// Every request of one worst-case identity `n`, at `base` seconds: nine
/// secret reads (one short of a burst), eight RBAC changes, eight user agents
/// and source IPs, 128 refusals; and 128 failed logins from its own IP.
fn identity_events(n: usize, base: f64) -> Vec<String> {
    let user = format!("{}-{n:06}@example.com", "u".repeat(230));
    let long = |tag: &str, i: usize| format!("{tag}-{i}-{}", "n".repeat(240));
    let ns = format!("{}-{n}", "x".repeat(55));
    let event = |i: usize,
                 verb: &str,
                 resource: &str,
                 group: &str,
                 name: &str,
                 code: i32,
                 ua: &str,
                 ip: &str| {
        let t = base + i as f64 * 0.001;
        let time = format!(
            "2024-03-01T{:02}:{:02}:{:06.3}Z",
            10 + (t as u64) / 3600,
            (t as u64) / 60 % 60,
            t % 60.0
        );
        json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata",
            "auditID":format!("{n}-{i}-{}", "a".repeat(28)),"stage":"ResponseComplete",
            "requestURI":format!("/apis/x/{resource}/{}", "q".repeat(200)),"verb":verb,
            "user":{"username":user},"sourceIPs":[ip],"userAgent":ua,
            "objectRef":{"resource":resource,"apiGroup":group,"namespace":ns,"name":name},
            "responseStatus":{"code":code},"stageTimestamp":time})
        .to_string()
    };
    let ip = |i: usize| format!("fd00:{n:x}:{i:x}:ffff:ffff:ffff:ffff:ffff");
    let ua = |i: usize| format!("agent{i}/{} ({})", "9".repeat(100), "p".repeat(150));
    let mut out = Vec::new();
    for i in 0..9 {
        out.push(event(
            i,
            "get",
            "secrets",
            "",
            &long("s", i),
            200,
            &ua(0),
            &ip(0),
        ));
    }
    for i in 0..8 {
        out.push(event(
            10 + i,
            "patch",
            "rolebindings",
            "rbac.authorization.k8s.io",
            &long("rb", i),
            200,
            &ua(i),
            &ip(i),
        ));
    }
    for i in 0..128 {
        out.push(event(
            20 + i,
            "get",
            "configmaps",
            "",
            &long("c", i),
            403,
            &ua(0),
            &ip(0),
        ));
    }
    for i in 0..128 {
        out.push(event(
            150 + i,
            "get",
            "pods",
            "",
            &long("p", i),
            401,
            &ua(0),
            &format!("fd01::{n:x}"),
        ));
    }
    out
}

fn feed(pack: &mut NativePack<Correlation>, from: usize, to: usize) {
    for n in from..to {
        // All within the windows: nothing expires while the tables fill.
        let events = identity_events(n, n as f64 * 0.01);
        pack.evaluate(events.iter().map(|e| (EventKind::Audit, e.as_str())));
    }
}

#[test]
fn full_tables_of_worst_case_keys_fit_the_budget_and_a_flood_does_not_grow_them() {
    let before = LIVE.load(Ordering::Relaxed);
    let cap = IDENTITIES.to_string();
    let mut pack = NativePack::<Correlation>::new(&[
        ("max_identities", cap.as_str()),
        // Learn forever: values are recorded, never reported.
        ("first_seen_learn_events", "1000000000"),
        ("auth_failure_threshold", "128"),
        ("secret_burst_window_seconds", "3600"),
        ("auth_failure_window_seconds", "3600"),
    ]);
    feed(&mut pack, 0, IDENTITIES);
    let full = LIVE.load(Ordering::Relaxed) - before;
    feed(&mut pack, IDENTITIES, 3 * IDENTITIES);
    let flooded = LIVE.load(Ordering::Relaxed) - before;
    let per_identity = full as f64 / IDENTITIES as f64;
    println!(
        "{IDENTITIES} worst-case identities: {:.1} KiB each, {:.1} MiB in all; after {} more: {:.1} MiB",
        per_identity / 1024.0,
        full as f64 / 1048576.0,
        2 * IDENTITIES,
        flooded as f64 / 1048576.0
    );
    // The documented budget: under 32 KiB per identity, so the default
    // 5000 identities stay under ~160 MiB even in this worst case.
    assert!(
        per_identity < 32.0 * 1024.0,
        "{per_identity} bytes per identity"
    );
    assert!(
        (flooded as f64) < full as f64 * 1.1,
        "flooding grew the heap from {full} to {flooded} bytes"
    );
}
