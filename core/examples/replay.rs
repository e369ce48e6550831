//! The native baseline of the npm package's trace benchmark (`npm/bench/traces.mjs`): each
//! trace's patches submitted to a [`ClientModel`] exactly as the WebAssembly engine does for a
//! `RealTimeString` edit (undoable, composing unsent edits), nothing acknowledged. Prints one
//! line per trace: `NAME PATCHES_PER_SECOND` (the median of 7 runs).
//!
//! Run with `cargo run --release -p tandem-core --example replay`.

#[path = "../benches/common/mod.rs"]
mod common;

use tandem_core::client::{ClientModel, UndoRecord};

use common::{load, median_rate, patch_op, text_model, TRACES};

fn main() {
    for name in TRACES {
        let trace = load(name);
        let rate = median_rate(
            7,
            trace.patches.len(),
            || {
                let (model, id) = text_model(&trace.start);
                let ops: Vec<_> = trace.patches.iter().map(|p| patch_op(id, p)).collect();
                let mut client = ClientModel::new(model, 0, 1);
                client.set_composing(true);
                (client, ops)
            },
            |(mut client, ops)| {
                for op in ops {
                    client
                        .submit_undoable(op, UndoRecord::Merge)
                        .expect("valid patch");
                }
                client
            },
        );
        println!("{name} {rate:.0}");
    }
}
