//! Memory used by a model holding each editing trace's final text (see `benches/data/`).
//!
//! For each trace it reports the text's size in bytes, [`Model::mem_size`] (the model's own
//! estimate) and the heap bytes really held, counted by a global allocator wrapping the system
//! one: once for a model built directly from the final text, and once for a client replica that
//! replayed the whole trace (one operation per patch, acknowledged after every 64).
//!
//! Run with `cargo run --release -p tandem-core --example memory`.

#[path = "../benches/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use tandem_core::client::ClientModel;

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn ratio(bytes: isize, text: usize) -> f64 {
    bytes as f64 / text as f64
}

fn main() {
    println!(
        "Bytes, and in parentheses bytes per byte of final text. \"built\": a model made from"
    );
    println!("the final text; \"replayed\": a client replica that applied the whole trace.");
    println!("`mem_size` is Model::mem_size(); heap is counted by the global allocator.");
    println!();
    println!(
        "| trace | text | built: mem_size | built: heap | replayed: mem_size | replayed: heap | replayed, compacted: heap |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let (mut worst_built, mut worst_replay, mut worst_compact) = (0.0f64, 0.0f64, 0.0f64);
    for name in common::TRACES {
        let trace = common::load(name);
        let text_bytes = trace.end.len();

        // A model built from the final text: what it holds once built (the temporary copies
        // `text_model` makes are freed by then).
        let before = live();
        let (model, _) = common::text_model(&trace.end);
        let built_heap = live() - before;
        let built_est = model.mem_size();
        assert_eq!(common::text_of(&model), trace.end);
        drop(model);

        // A client replica that replayed the trace patch by patch, everything acknowledged. The
        // operations are built inside the count, but the replay consumes and frees them all.
        let before = live();
        let (model, id) = common::text_model(&trace.start);
        let ops: Vec<_> = trace
            .patches
            .iter()
            .map(|p| common::patch_op(id, p))
            .collect();
        let mut client = ClientModel::new(model, 0, 1);
        common::submit_all(&mut client, ops);
        let replay_heap = live() - before;
        assert_eq!(common::text_of(client.model()), trace.end);
        assert!(client.is_settled());
        let replay_est = client.model().mem_size();
        // The same replica once idle, its strings compacted.
        client.compact();
        let compact_heap = live() - before;
        assert_eq!(common::text_of(client.model()), trace.end);

        println!(
            "| {} | {} | {} ({:.2}x) | {} ({:.2}x) | {} ({:.2}x) | {} ({:.2}x) | {} ({:.2}x) |",
            name,
            text_bytes,
            built_est,
            ratio(built_est as isize, text_bytes),
            built_heap,
            ratio(built_heap, text_bytes),
            replay_est,
            ratio(replay_est as isize, text_bytes),
            replay_heap,
            ratio(replay_heap, text_bytes),
            compact_heap,
            ratio(compact_heap, text_bytes),
        );
        worst_built = worst_built.max(ratio(built_heap, text_bytes));
        worst_replay = worst_replay.max(ratio(replay_heap, text_bytes));
        worst_compact = worst_compact.max(ratio(compact_heap, text_bytes));
    }
    println!();
    println!(
        "worst heap/text for the model built from the final text: {worst_built:.2}x (target <= 4x: {})",
        if worst_built <= 4.0 { "met" } else { "MISSED" }
    );
    println!(
        "worst heap/text for the replica that replayed the trace:   {worst_replay:.2}x (target <= 4x: {})",
        if worst_replay <= 4.0 { "met" } else { "MISSED" }
    );
    println!(
        "worst heap/text for that replica once idle and compacted:  {worst_compact:.2}x (target <= 4x: {})",
        if worst_compact <= 4.0 { "met" } else { "MISSED" }
    );
}
