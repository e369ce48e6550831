//! A long offline session meets a long stretch of others' work: 10,000 local operations made
//! offline against 10,000 operations another user made meanwhile, in the same string.
//!
//! The document is the svelte trace's start followed by the rust trace's start. Offline, the
//! local client replays the first 10,000 svelte patches (the start of the string); meanwhile
//! another client's first 10,000 rust patches (the end of the string) were sequenced by the
//! relay. Timed: the reconnect — the client catching up on the 10,000 remote operations
//! ([`ClientModel::on_remote_batch`]), handing out its pending operations, and the relay's
//! [`Sequencer`] sequencing them — until both hold the same text (checked).
//!
//! Plain pairwise transformation is 10,000 × 10,000 pairs. Typing composes into runs (the client
//! composes unsent edits as they are made, and remote runs while it catches up), so the merge
//! transforms runs against runs. The summary also times the uncomposed merge once.
//!
//! Run with `cargo bench -p tandem-core --bench offline_merge`.

mod common;

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use tandem_core::client::ClientModel;
use tandem_core::rope::utf16_len;
use tandem_core::server::{Accepted, Sequencer};
use tandem_core::Op;

use common::{load, patch_op, text_model, text_of, Patch};

/// Operations on each side.
const OPS: usize = 10_000;

/// The relay's state after the other user's work, and the offline client before it reconnects.
struct Scenario {
    relay: Sequencer,
    missed: Vec<(u64, u64, u64, Op)>,
    client: ClientModel,
}

fn scenario(compose: bool) -> Scenario {
    let svelte = load("sveltecomponent");
    let rust = load("rustcode");
    let (model, id) = text_model(&format!("{}{}", svelte.start, rust.start));
    let offset = utf16_len(&svelte.start);

    let mut relay = Sequencer::new(model.clone(), 0);
    for (i, p) in rust.patches.iter().take(OPS).enumerate() {
        let shifted = Patch {
            index: p.index + offset,
            ..p.clone()
        };
        let seq = i as u64 + 1;
        let context = relay.version();
        match relay.submit(2, seq, context, patch_op(id, &shifted)) {
            Ok(Accepted::Sequenced(_)) => {}
            other => panic!("remote patch {i}: {other:?}"),
        }
    }
    let missed = relay
        .ops_since(0)
        .expect("history in memory")
        .map(|s| (s.version, s.origin, s.seq, s.op.clone()))
        .collect();

    let mut client = ClientModel::new(model, 0, 3);
    client.set_composing(compose);
    client.on_disconnect();
    for p in svelte.patches.iter().take(OPS) {
        client.submit(patch_op(id, p)).expect("offline patch");
    }
    Scenario {
        relay,
        missed,
        client,
    }
}

/// The reconnect: catch up, resend, sequence, acknowledge. Returns how many operations went up.
fn merge(s: &mut Scenario, batched: bool) -> usize {
    if batched {
        s.client
            .on_remote_batch(s.missed.drain(..))
            .expect("catch up");
    } else {
        for (version, origin, seq, op) in s.missed.drain(..) {
            s.client
                .on_remote(version, origin, seq, op)
                .expect("catch up");
        }
    }
    s.client.on_resynced();
    let out: Vec<_> = s.client.take_outgoing().ops.into_iter().cloned().collect();
    for u in &out {
        match s.relay.submit(3, u.seq, u.context_version, u.op.clone()) {
            Ok(Accepted::Sequenced(done)) => s.client.on_ack(done.seq, done.version).expect("ack"),
            other => panic!("resent operation: {other:?}"),
        }
    }
    out.len()
}

fn check(s: &Scenario) {
    assert!(s.client.is_settled());
    assert_eq!(text_of(s.client.model()), text_of(s.relay.model()));
}

fn summarize() {
    let mut times = Vec::new();
    let mut sent = 0;
    for _ in 0..5 {
        let mut s = scenario(true);
        let start = Instant::now();
        sent = merge(&mut s, true);
        times.push(start.elapsed());
        check(&s);
    }
    times.sort();
    let mut plain = scenario(false);
    let start = Instant::now();
    merge(&mut plain, false);
    let plain_time = start.elapsed();
    check(&plain);
    println!(
        "offline merge of {OPS} local against {OPS} remote operations: {:.1} ms composed \
         ({sent} operations sent; median of 5), {:.1} ms uncomposed (one run)",
        times[2].as_secs_f64() * 1e3,
        plain_time.as_secs_f64() * 1e3
    );
}

fn bench(c: &mut Criterion) {
    summarize();
    let mut group = c.benchmark_group("offline_merge");
    group.sample_size(10);
    group.bench_function("10k_vs_10k_composed", |b| {
        b.iter_batched(
            || scenario(true),
            |mut s| merge(&mut s, true),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
