//! Throughput of operational transformation and of the relay's sequencing.
//!
//! - `transform/string_pairs`: 10,000 seeded pairs of concurrent string edits (insert, remove,
//!   splice) on a 1,000-character string, each pair transformed once.
//! - `transform/array_pairs`: 10,000 pairs of array edits (insert, remove, replace, move) on a
//!   100-item array.
//! - `sequencer/...`: ten real [`ClientModel`]s type into one shared string (each inserts at its
//!   own cursor), a [`Sequencer`] sequences their submissions, and every sequenced operation is
//!   delivered to each client after a random delay of 0 to 3 ticks, so that submissions are made
//!   a few versions behind and the sequencer transforms them against the other clients' recent
//!   operations. `submit_only` times just the `Sequencer::submit` calls; `whole_loop` times
//!   everything (clients typing, acknowledging, transforming remote operations, the network
//!   simulation). Throughput is in operations sequenced.
//!
//! Run with `cargo bench -p tandem-core --bench transform`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tandem_core::client::ClientModel;
use tandem_core::server::{Accepted, Sequenced, Sequencer};
use tandem_core::testing::Rng;
use tandem_core::{transform, ElementId, IdGenerator, Model, Node, NodeValue, Op, Value};

const PAIRS: usize = 10_000;
const STRING_LEN: usize = 1_000;
const ARRAY_LEN: usize = 100;
const CLIENTS: usize = 10;

/// The id the generated operations target.
const TARGET: ElementId = ElementId::new(1, 1);

fn random_text(rng: &mut Rng) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz ";
    (0..rng.below(4) + 1)
        .map(|_| *rng.pick(LETTERS) as char)
        .collect()
}

fn random_string_op(rng: &mut Rng) -> Op {
    let id = TARGET;
    let index = rng.below(STRING_LEN);
    let len = 1 + rng.below(16.min(STRING_LEN - index));
    match rng.below(3) {
        0 => Op::StringInsert {
            id,
            index: rng.below(STRING_LEN + 1),
            text: random_text(rng),
        },
        1 => Op::StringRemove { id, index, len },
        _ => Op::StringSplice {
            id,
            index,
            remove: len,
            text: random_text(rng),
        },
    }
}

fn random_array_op(rng: &mut Rng, ids: &mut IdGenerator) -> Op {
    let id = TARGET;
    let mut node =
        |rng: &mut Rng| Node::new(ids.next_id(), NodeValue::Number(rng.below(100) as f64));
    match rng.below(4) {
        0 => Op::ArrayInsert {
            id,
            index: rng.below(ARRAY_LEN + 1),
            value: node(rng),
        },
        1 => Op::ArrayRemove {
            id,
            index: rng.below(ARRAY_LEN),
        },
        2 => Op::ArrayReplace {
            id,
            index: rng.below(ARRAY_LEN),
            value: node(rng),
        },
        _ => Op::ArrayMove {
            id,
            from: rng.below(ARRAY_LEN),
            to: rng.below(ARRAY_LEN),
        },
    }
}

fn transform_pairs(c: &mut Criterion) {
    let mut rng = Rng::new(0x5eed);
    let strings: Vec<(Op, Op)> = (0..PAIRS)
        .map(|_| (random_string_op(&mut rng), random_string_op(&mut rng)))
        .collect();
    let mut ids = IdGenerator::new(2);
    let arrays: Vec<(Op, Op)> = (0..PAIRS)
        .map(|_| {
            (
                random_array_op(&mut rng, &mut ids),
                random_array_op(&mut rng, &mut ids),
            )
        })
        .collect();

    let mut group = c.benchmark_group("transform");
    group.throughput(Throughput::Elements(PAIRS as u64));
    for (name, pairs) in [("string_pairs", &strings), ("array_pairs", &arrays)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                for (a, b) in black_box(pairs) {
                    black_box(transform(a, b));
                }
            })
        });
    }
    group.finish();
}

/// What the relay sends a client.
enum Message {
    Ack { seq: u64, version: u64 },
    Remote(Sequenced),
}

struct SimClient {
    client: ClientModel,
    /// Where this client types, in UTF-16 units (the text is ASCII).
    cursor: usize,
    /// Messages on their way, with the tick they arrive at (non-decreasing: a connection keeps
    /// order).
    downlink: VecDeque<(u64, Message)>,
}

/// Ten clients and a relay, in lock step.
struct Simulation {
    sequencer: Sequencer,
    clients: Vec<SimClient>,
    text: ElementId,
    /// Submissions on their way to the relay, in arrival order: (origin, seq, context, op).
    inbound: VecDeque<(u64, u64, u64, Op)>,
    rng: Rng,
    tick: u64,
    sequenced: u64,
    /// Sum over submissions of how many versions behind the relay their context was.
    lag: u64,
    /// When to drop old history from the sequencer next.
    next_forget: u64,
}

impl Simulation {
    fn new(seed: u64) -> Self {
        let start: String = (0..STRING_LEN)
            .map(|i| (b'a' + (i % 26) as u8) as char)
            .collect();
        let value = Value::Object(vec![("text".to_owned(), Value::String(start))]);
        let model = Model::from_value(value, &mut IdGenerator::new(1)).expect("model");
        let text = model.element_at(&["text".into()]).expect("text");
        let clients = (0..CLIENTS)
            .map(|i| SimClient {
                client: ClientModel::new(model.clone(), 0, i as u64 + 1),
                cursor: i * STRING_LEN / CLIENTS,
                downlink: VecDeque::new(),
            })
            .collect();
        Simulation {
            sequencer: Sequencer::new(model, 0),
            clients,
            text,
            inbound: VecDeque::new(),
            rng: Rng::new(seed),
            tick: 0,
            sequenced: 0,
            lag: 0,
            next_forget: 1024,
        }
    }

    /// Runs until `target` more operations are sequenced; returns the time spent in
    /// `Sequencer::submit`.
    fn run(&mut self, target: u64) -> Duration {
        let goal = self.sequenced + target;
        let mut in_submit = Duration::ZERO;
        while self.sequenced < goal {
            self.tick += 1;
            self.type_some();
            while self.sequenced < goal {
                let Some((origin, seq, context, op)) = self.inbound.pop_front() else {
                    break;
                };
                self.lag += self.sequencer.version() - context;
                let started = Instant::now();
                let accepted = self.sequencer.submit(origin, seq, context, op);
                in_submit += started.elapsed();
                let Ok(Accepted::Sequenced(sequenced)) = accepted else {
                    panic!("not sequenced: {accepted:?}");
                };
                self.sequenced += 1;
                self.broadcast(sequenced, false);
            }
            self.deliver(false);
            if self.sequenced >= self.next_forget {
                self.next_forget += 1024;
                // Keep the relay's in-memory history bounded, as a relay persisting it would.
                let oldest = self.clients.iter().map(|c| c.client.version()).min();
                self.sequencer.forget_history_before(oldest.unwrap_or(0));
            }
        }
        in_submit
    }

    /// Each client types one character at its cursor with probability 0.3.
    fn type_some(&mut self) {
        for c in &mut self.clients {
            if !self.rng.chance(0.3) {
                continue;
            }
            let len = c
                .client
                .model()
                .string(self.text)
                .expect("text")
                .len_utf16();
            let index = c.cursor.min(len);
            let letter = (b'a' + self.rng.below(26) as u8) as char;
            let op = Op::StringInsert {
                id: self.text,
                index,
                text: letter.to_string(),
            };
            c.client.submit(op).expect("submit");
            c.cursor = index + 1;
            let origin = c.client.origin();
            for sent in c.client.take_outgoing().ops {
                self.inbound
                    .push_back((origin, sent.seq, sent.context_version, sent.op.clone()));
            }
        }
    }

    /// Sends a sequenced operation to everyone: an acknowledgement to its origin, the operation
    /// to the others, each after 0 to 3 ticks (or at once when `now`).
    fn broadcast(&mut self, sequenced: Sequenced, now: bool) {
        for c in &mut self.clients {
            let delay = if now { 0 } else { self.rng.below(4) as u64 };
            let last = c.downlink.back().map_or(0, |(t, _)| *t);
            let at = last.max(self.tick + delay);
            let message = if c.client.origin() == sequenced.origin {
                Message::Ack {
                    seq: sequenced.seq,
                    version: sequenced.version,
                }
            } else {
                Message::Remote(sequenced.clone())
            };
            c.downlink.push_back((at, message));
        }
    }

    /// Feeds every client the messages that have arrived (all of them when `all`).
    fn deliver(&mut self, all: bool) {
        for c in &mut self.clients {
            while c
                .downlink
                .front()
                .is_some_and(|(t, _)| all || *t <= self.tick)
            {
                let Some((_, message)) = c.downlink.pop_front() else {
                    break;
                };
                match message {
                    Message::Ack { seq, version } => {
                        c.client.on_ack(seq, version).expect("ack");
                    }
                    Message::Remote(s) => {
                        let applied = c
                            .client
                            .on_remote(s.version, s.origin, s.seq, s.op)
                            .expect("remote");
                        for op in applied.into_primitives() {
                            if let Op::StringInsert { index, text, .. } = op {
                                if index <= c.cursor {
                                    c.cursor += text.len();
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Sequences and delivers everything in flight, then checks that every replica agrees.
    fn settle_and_check(&mut self) {
        while let Some((origin, seq, context, op)) = self.inbound.pop_front() {
            let accepted = self.sequencer.submit(origin, seq, context, op);
            let Ok(Accepted::Sequenced(sequenced)) = accepted else {
                panic!("not sequenced: {accepted:?}");
            };
            self.broadcast(sequenced, true);
        }
        self.deliver(true);
        let expected = self.sequencer.model().string(self.text).expect("text");
        for c in &self.clients {
            assert!(c.client.is_settled());
            assert_eq!(c.client.version(), self.sequencer.version());
            assert_eq!(c.client.model().string(self.text), Some(expected));
        }
    }
}

fn sequencing(c: &mut Criterion) {
    // Check once that the simulation is sound and say how far behind submissions are.
    let mut check = Simulation::new(1);
    check.run(20_000);
    check.settle_and_check();
    eprintln!(
        "sequencer simulation: {CLIENTS} clients, {} ops sequenced, every replica converged, \
         final text {} units, mean context lag {:.1} versions",
        check.sequenced,
        check
            .sequencer
            .model()
            .string(check.text)
            .map_or(0, |s| s.len_utf16()),
        check.lag as f64 / check.sequenced as f64,
    );

    let mut group = c.benchmark_group(format!("sequencer/{CLIENTS}_clients_typing"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("submit_only", |b| {
        b.iter_custom(|iters| Simulation::new(2).run(iters))
    });
    group.bench_function("whole_loop", |b| {
        b.iter_custom(|iters| {
            let mut sim = Simulation::new(2);
            let started = Instant::now();
            sim.run(iters);
            started.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, transform_pairs, sequencing);
criterion_main!(benches);
