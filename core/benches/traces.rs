//! Replays real editing traces (see `benches/data/README.md`) through the text path.
//!
//! - `bare_rope`: every patch applied to a bare [`Utf16Rope`] (remove, then insert).
//! - `client_state_machine`: every patch submitted as one string operation to a
//!   [`ClientModel`], acknowledged in order after every 64 submissions as a relay would.
//!
//! Throughput is in patches. Before criterion starts, both paths are checked against the trace's
//! final text and a quick summary (median of 7 runs each, after a warm-up run) prints the
//! client/rope ratio.
//!
//! Run with `cargo bench -p tandem-core --bench traces`.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tandem_core::client::ClientModel;
use tandem_core::rope::Utf16Rope;
use tandem_core::Op;

use common::{apply_to_rope, patch_op, submit_all, text_model, text_of, Trace};

/// Runs per path for the summary line.
const REPS: usize = 7;

fn rope_run(trace: &Trace) -> Utf16Rope {
    let mut rope = Utf16Rope::from_text(&trace.start);
    apply_to_rope(&mut rope, &trace.patches);
    rope
}

/// A fresh client on the trace's start content, and the trace's patches as operations.
fn client_setup(trace: &Trace) -> (ClientModel, Vec<Op>) {
    let (model, id) = text_model(&trace.start);
    let ops = trace.patches.iter().map(|p| patch_op(id, p)).collect();
    (ClientModel::new(model, 0, 1), ops)
}

fn client_run((mut client, ops): (ClientModel, Vec<Op>)) -> ClientModel {
    submit_all(&mut client, ops);
    client
}

/// Checks both paths against the final text and prints the summary line.
fn verify_and_summarize(trace: &Trace) {
    let rope = rope_run(trace);
    assert_eq!(
        rope.to_string(),
        trace.end,
        "{}: bare rope result",
        trace.name
    );
    let client = client_run(client_setup(trace));
    assert_eq!(
        text_of(client.model()),
        trace.end,
        "{}: client result",
        trace.name
    );
    assert!(client.is_settled());

    let n = trace.patches.len();
    let rope_rate = common::median_rate(
        REPS,
        n,
        || Utf16Rope::from_text(&trace.start),
        |mut rope| {
            apply_to_rope(&mut rope, &trace.patches);
            rope
        },
    );
    let client_rate = common::median_rate(REPS, n, || client_setup(trace), client_run);
    eprintln!(
        "summary {:<16} {n:>6} patches: bare rope {:>6.2} M patches/s, client {:>6.2} M patches/s, \
         client/rope = {:.2} (rope is {:.2}x faster)",
        trace.name,
        rope_rate / 1e6,
        client_rate / 1e6,
        client_rate / rope_rate,
        rope_rate / client_rate,
    );
}

fn traces(c: &mut Criterion) {
    let traces: Vec<Trace> = common::TRACES
        .iter()
        .map(|name| common::load(name))
        .collect();
    for trace in &traces {
        verify_and_summarize(trace);
    }
    for trace in &traces {
        let mut group = c.benchmark_group(format!("traces/{}", trace.name));
        group.throughput(Throughput::Elements(trace.patches.len() as u64));
        group.bench_function("bare_rope", |b| {
            b.iter_batched(
                || Utf16Rope::from_text(&trace.start),
                |mut rope| {
                    apply_to_rope(&mut rope, black_box(&trace.patches));
                    rope
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function("client_state_machine", |b| {
            b.iter_batched(
                || client_setup(trace),
                |input| client_run(black_box(input)),
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = traces
}
criterion_main!(benches);
