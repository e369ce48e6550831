//! The native baseline of the npm package's trace benchmark (`npm/bench/traces.mjs`): each
//! trace's patches go through the same steps as `RealTimeString` edits in the package, natively.
//! The package composes touching edits into runs before they reach the engine
//! (`npm/src/typing.ts`, the same rule as [`compose_into`]); each run is then submitted to a
//! [`ClientModel`] as the WebAssembly engine does (undoable, composing unsent edits), nothing
//! acknowledged. Prints one line per trace: `NAME PATCHES_PER_SECOND` (the median of 7 runs).
//!
//! Run with `cargo run --release -p tandem-core --example replay`.

#[path = "../benches/common/mod.rs"]
mod common;

use tandem_core::client::{ClientModel, UndoRecord};
use tandem_core::compose::compose_into;
use tandem_core::op::Op;

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
                let mut run: Option<Op> = None;
                for op in ops {
                    if let Some(prev) = &mut run {
                        if compose_into(prev, &op) {
                            continue;
                        }
                    }
                    if let Some(prev) = run.replace(op) {
                        client
                            .submit_undoable(prev, UndoRecord::Merge)
                            .expect("valid run");
                    }
                }
                if let Some(last) = run {
                    client
                        .submit_undoable(last, UndoRecord::Merge)
                        .expect("valid run");
                }
                client
            },
        );
        println!("{name} {rate:.0}");
    }
}
