//! What one `CallPolicies::decide` costs, with the 20 policies `guidepost bench
//! --policies 20` publishes.
//!
//! Run it in release mode, on an otherwise quiet machine:
//!
//! ```text
//! CARGO_TARGET_DIR=/var/tmp/policy-target \
//!     cargo run --release -p guidepost-policy --locked --example decide_cost
//! ```
//!
//! For two typical calls it prints the median, over several batches, of the µs one
//! decision takes and the heap allocations it makes (counted by a wrapping global
//! allocator), whole and in its two halves: building the Cedar request and entities
//! (`CallPolicies::question`), and Cedar's evaluation of the policies on them
//! (`CallPolicies::answer`). It does the same with a set of one `permit`, where nearly
//! all the cost is the building. A last line per set is one run of two threads deciding
//! at once with the same policies, as a server's workers do (noisier: run it twice).
//!
//! When it was written (2-core AMD EPYC VM), Person call, 20 policies: 42 µs and 267
//! allocations a decision (build 11.3 µs, evaluate 30.5) before the entities of a tool
//! were kept and the policies' source locations dropped; 32.5 µs and 211 after (build
//! 6.8, evaluate 25.5). What is left is Cedar's: parsing the name `datetime` for
//! `context.time` is about 2.5 µs of the build, and evaluating these policies about
//! 1.25 µs each.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use guidepost_policy::{CallFacts, CallPolicies, Caller, Decision, ToolFacts, ToolHints};
use serde_json::{Value, json};

/// Counts allocations, so that a change that saves time by saving allocations shows.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to `System` unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(pointer, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const BATCHES: usize = 15;
const PER_BATCH: usize = 2_000;

/// The benchmark's set: one `permit`, and `count - 1` forbids that never match.
fn bench_policies(count: usize) -> String {
    let mut source = String::from("permit(principal, action, resource);\n");
    for n in 1..count {
        source.push_str(&format!(
            "@id(\"bench-{n}\") @reason(\"benchmark policy {n}\")\n\
             forbid(principal, action, resource) when {{ resource.tool == \"never_{n}\" \
             || (resource.hints.destructive && principal is Guidepost::Person \
             && principal.email_domain == \"bench-{n}.invalid\") \
             || (context.arguments.hasTag(\"path\") \
             && context.arguments.getTag(\"path\") like \"/never-{n}/*\") }};\n"
        ));
    }
    source
}

fn call<'a>(caller: Caller<'a>, arguments: &'a Value) -> CallFacts<'a> {
    CallFacts {
        caller,
        server_id: "ms_01JBENCH0000000000000000",
        server_slug: "bench",
        tool: ToolFacts {
            name: "start_walkthrough",
            tool: "start_walkthrough",
            upstream: None,
            hints: ToolHints::from_annotations(Some(&json!({"readOnlyHint": true}))),
        },
        arguments,
        client: "bench",
        time: "2026-11-29T07:00:00.000Z",
    }
}

/// The median, over `BATCHES` batches, of the µs and the allocations one run of `run`
/// takes.
fn measure(mut run: impl FnMut()) -> (f64, u64) {
    let mut micros = Vec::with_capacity(BATCHES);
    let mut allocations = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let start = Instant::now();
        for _ in 0..PER_BATCH {
            run();
        }
        let elapsed = start.elapsed();
        micros.push(elapsed.as_secs_f64() * 1e6 / PER_BATCH as f64);
        allocations.push((ALLOCATIONS.load(Ordering::Relaxed) - before) / PER_BATCH as u64);
    }
    micros.sort_by(f64::total_cmp);
    allocations.sort_unstable();
    (micros[BATCHES / 2], allocations[BATCHES / 2])
}

/// One line: the whole decision, then its two halves (building the request and its
/// entities; Cedar's evaluation of the policies).
fn report(label: &str, policies: &CallPolicies, call: &CallFacts<'_>) {
    assert_eq!(
        policies.decide(call),
        Decision::Allow,
        "the bench call is allowed"
    );
    let question = match policies.question(call) {
        Ok(question) => question,
        Err(problem) => panic!("the bench call is put to the policies: {problem}"),
    };
    let (all, all_allocations) = measure(|| {
        black_box(policies.decide(black_box(call)));
    });
    let (build, build_allocations) = measure(|| {
        black_box(policies.question(black_box(call)).is_ok());
    });
    let (evaluate, evaluate_allocations) = measure(|| {
        black_box(policies.answer(black_box(&question), call));
    });
    println!(
        "{label:<34} {all:6.2} µs {all_allocations:4} allocs = build {build:6.2} µs \
         {build_allocations:4} allocs + evaluate {evaluate:6.2} µs {evaluate_allocations:4} allocs"
    );
}

/// µs per decision while `THREADS` threads decide at once with the same policies, as a
/// server's workers do: what sharing costs (reference counts and locks that two cores
/// pass back and forth) shows here and not in the lines above. One run, not a median.
fn report_threads(policies: &CallPolicies, call: &CallFacts<'_>) {
    const THREADS: usize = 2;
    const EACH: usize = 20_000;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..EACH {
                    black_box(policies.decide(black_box(call)));
                }
            });
        }
    });
    let micros = start.elapsed().as_secs_f64() * 1e6 / EACH as f64;
    println!("  {THREADS} threads at once, each:          {micros:6.2} µs");
}

fn main() {
    let walkthrough = json!({"walkthrough": "getting-started"});
    let path = json!({"path": "/workspace/x"});
    let groups = ["eng".to_owned(), "oncall".to_owned()];
    let person = Caller::Person {
        id: "eu_01JBENCH",
        email: "ada@example.com",
        identity_provider: "platform",
        groups: &groups,
        role: Some("editor"),
    };
    let end_user = Caller::EndUser { id: "eu_01JBENCH" };
    let calls = [
        ("Person, {walkthrough}", call(person, &walkthrough)),
        ("EndUser, {path}", call(end_user, &path)),
    ];
    println!("medians of {BATCHES} batches of {PER_BATCH}, per decision");
    for count in [20, 1] {
        let start = Instant::now();
        let policies = compiled(&bench_policies(count));
        println!(
            "{count} policies (compiled in {:.0} µs):",
            start.elapsed().as_secs_f64() * 1e6
        );
        for (label, call) in &calls {
            report(&format!("  {label}"), &policies, call);
        }
        report_threads(&policies, &calls[0].1);
    }
}

fn compiled(source: &str) -> CallPolicies {
    match CallPolicies::compile(source) {
        Ok(compiled) => compiled.policies,
        Err(rejected) => panic!("the bench policies compile: {rejected}"),
    }
}
