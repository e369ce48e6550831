//! Seeded simulation of several clients and the relay: random operations of every type (nested
//! containers included), random delivery and acknowledgement orders, disconnects with lost
//! messages and resyncs, and random shared references. Clients also live every lifecycle a real
//! one does: a model closed and opened again (a fresh replica), a cache entry written at random
//! times, a crash before or after a flush followed by a restore from that entry, and a second
//! replica restoring the same entry (two tabs, or two processes sharing one cache). At
//! quiescence every replica must hold the relay's data, every edit must have been sequenced
//! exactly once (nothing stays unacknowledged, nothing diverges) and every remote reference must
//! equal its owner's local one.
//!
//! `cargo test -p tandem-core --test simulation` runs a fast sweep of seeds; the ignored
//! `simulate_forever` runs seeds until `TANDEM_SIM_SECONDS` (default 600) have passed.

use std::collections::VecDeque;

use tandem_core::client::{ClientModel, ReferenceUpdate, Unacked, UndoRecord};
use tandem_core::server::{Accepted, Sequencer};
use tandem_core::testing::{random_op, random_reference, Rng};
use tandem_core::{IdGenerator, Model, Op, ReferenceKey, ReferenceValue, Value};

/// Relay to client.
#[derive(Clone, Debug)]
enum Down {
    Ack {
        seq: u64,
        version: u64,
    },
    Remote {
        version: u64,
        origin: u64,
        seq: u64,
        op: Op,
    },
    Reference {
        session: String,
        key: ReferenceKey,
        value: Option<ReferenceValue>,
    },
    SessionLeft {
        session: String,
    },
}

/// Client to relay.
#[derive(Clone, Debug)]
enum Up {
    Submit(Unacked),
    Reference(ReferenceUpdate),
}

/// What a cache entry holds: the data, its version and the unacknowledged operations.
type CacheEntry = (Model, u64, Vec<Unacked>);

struct SimClient {
    replica: ClientModel,
    /// The replica's last cache entry, if it wrote one.
    cache: Option<CacheEntry>,
    ids: IdGenerator,
    session: String,
    /// Odd clients work as the WebAssembly client does: unsent string edits compose, edits are
    /// undoable (and randomly undone and redone), and remote operations arrive in batches.
    like_browser: bool,
    online: bool,
    up: VecDeque<Up>,
    down: VecDeque<Down>,
}

struct Simulation {
    rng: Rng,
    relay: Sequencer,
    clients: Vec<SimClient>,
    /// The next fresh origin (and element-id site) for a new replica.
    next_origin: u64,
    /// How many replicas were opened fresh, restored after a crash, and restored twice.
    lifecycles: [usize; 3],
}

/// The most replicas a simulation grows to by restoring one cache entry twice.
const MAX_REPLICAS: usize = 8;

fn initial_model() -> Model {
    let json = serde_json::json!({
        "text": "hello wörld 😀",
        "list": [1, "two", {"x": 3, "s": "abc"}, [true, null]],
        "n": 5,
        "flag": true,
        "when": {"$date": 1000},
        "nested": {"s": "nested text", "arr": ["a", "b", "c"]}
    });
    Model::from_value(Value::from_json(&json).unwrap(), &mut IdGenerator::new(1)).unwrap()
}

impl Simulation {
    fn new(seed: u64, clients: usize) -> Self {
        let model = initial_model();
        let clients = (0..clients)
            .map(|i| {
                let origin = 100 + i as u64;
                let mut replica = ClientModel::new(model.clone(), 0, origin);
                replica.set_composing(i % 2 == 1);
                SimClient {
                    replica,
                    cache: None,
                    like_browser: i % 2 == 1,
                    ids: IdGenerator::new(origin),
                    session: format!("session-{i}"),
                    online: true,
                    up: VecDeque::new(),
                    down: VecDeque::new(),
                }
            })
            .collect();
        Simulation {
            rng: Rng::new(seed),
            relay: Sequencer::new(model, 0),
            clients,
            next_origin: 1000,
            lifecycles: [0; 3],
        }
    }

    fn fresh_origin(&mut self) -> u64 {
        self.next_origin += 1;
        self.next_origin
    }

    /// A new replica with a fresh origin, site and session, offline until it reconnects.
    fn new_client(&mut self, replica: ClientModel, like_browser: bool) -> SimClient {
        let origin = replica.origin();
        SimClient {
            replica,
            cache: None,
            ids: IdGenerator::new(origin),
            session: format!("session-{origin}"),
            like_browser,
            online: false,
            up: VecDeque::new(),
            down: VecDeque::new(),
        }
    }

    /// The replica writes its cache entry (sealing what it holds, as the client does).
    fn write_cache(&mut self, c: usize) {
        let client = &mut self.clients[c];
        client.replica.seal();
        let unacked = client.replica.unacked().cloned().collect();
        client.cache = Some((
            client.replica.model().clone(),
            client.replica.version(),
            unacked,
        ));
    }

    /// The replica goes away: the relay reads all it sent (a clean close) or a random part of
    /// it (a crash, before or after a flush), and its session leaves.
    fn end_replica(&mut self, c: usize, clean: bool) {
        if self.clients[c].online {
            let pending = self.clients[c].up.len();
            let read = if clean {
                pending
            } else {
                self.rng.below(pending + 1)
            };
            for _ in 0..read {
                self.relay_receives(c);
            }
        }
        let session = self.clients[c].session.clone();
        self.relay.remove_session(&session);
        self.broadcast(c, Down::SessionLeft { session });
    }

    /// Closes the model and opens it again: a fresh replica of the relay's data (edits not sent
    /// yet went with the old one, as with a cache-less close).
    fn close_and_reopen(&mut self, c: usize) {
        self.flush(c);
        self.end_replica(c, true);
        let origin = self.fresh_origin();
        let mut replica =
            ClientModel::new(self.relay.model().clone(), self.relay.version(), origin);
        let like_browser = self.clients[c].like_browser;
        replica.set_composing(like_browser);
        self.clients[c] = self.new_client(replica, like_browser);
        // Opened: it receives every shared reference, as a reconnect does.
        self.reconnect(c);
        self.lifecycles[0] += 1;
    }

    /// Crashes the replica (the relay may have read part of what it sent) and restores it from
    /// its cache entry; sometimes a second replica restores the same entry too.
    fn crash_and_restore(&mut self, c: usize) {
        let Some((model, version, unacked)) = self.clients[c].cache.clone() else {
            return;
        };
        self.end_replica(c, false);
        let like_browser = self.clients[c].like_browser;
        let restore = |sim: &mut Simulation| {
            let origin = sim.fresh_origin();
            let mut replica = ClientModel::restore(model.clone(), version, origin, unacked.clone());
            replica.set_composing(like_browser);
            let mut client = sim.new_client(replica, like_browser);
            client.cache = Some((model.clone(), version, unacked.clone()));
            client
        };
        self.clients[c] = restore(self);
        self.lifecycles[1] += 1;
        if self.clients.len() < MAX_REPLICAS && self.rng.chance(0.5) {
            let twin = restore(self);
            self.clients.push(twin);
            self.lifecycles[2] += 1;
        }
    }

    fn step(&mut self) {
        let c = self.rng.below(self.clients.len());
        match self.rng.below(100) {
            0..=29 => self.local_edit(c),
            30..=39 => self.local_reference(c),
            40..=64 => self.relay_receives(c),
            65..=96 => self.client_receives(c),
            97 => self.disconnect(c),
            98 => self.reconnect(c),
            _ => match self.rng.below(3) {
                0 => self.close_and_reopen(c),
                _ => self.crash_and_restore(c),
            },
        }
    }

    fn local_edit(&mut self, c: usize) {
        let client = &mut self.clients[c];
        if client.like_browser && self.rng.chance(0.15) {
            let result = if self.rng.chance(0.6) {
                client.replica.undo(&mut client.ids)
            } else {
                client.replica.redo(&mut client.ids)
            };
            result.expect("undo and redo apply");
            self.maybe_flush(c);
            return;
        }
        let Some(op) = random_op(client.replica.model(), &mut self.rng, &mut client.ids) else {
            return;
        };
        if client.like_browser {
            let record = match self.rng.below(3) {
                0 => UndoRecord::Skip,
                1 => UndoRecord::Step,
                _ => UndoRecord::Merge,
            };
            client.replica.submit_undoable(op, record)
        } else {
            client.replica.submit(op)
        }
        .expect("generated operations are valid");
        self.maybe_flush(c);
        // The client writes its cache entry a little after a change.
        if self.rng.chance(0.1) {
            self.write_cache(c);
        }
    }

    fn local_reference(&mut self, c: usize) {
        let client = &mut self.clients[c];
        let Some((key, value)) = random_reference(client.replica.model(), &mut self.rng) else {
            return;
        };
        match self.rng.below(10) {
            0 => client.replica.unshare_reference(&key),
            1 => client.replica.clear_reference(&key),
            2 => client.replica.dispose_reference(&key),
            _ => {
                client.replica.set_reference(key.clone(), value);
                client.replica.share_reference(key);
            }
        }
        self.maybe_flush(c);
    }

    /// Sends what the client has queued now or, half the time, leaves it for a later batch.
    fn maybe_flush(&mut self, c: usize) {
        if self.rng.chance(0.5) {
            self.flush(c);
        }
    }

    fn flush(&mut self, c: usize) {
        let client = &mut self.clients[c];
        let out = client.replica.take_outgoing();
        let ops: Vec<Up> = out.ops.into_iter().map(|u| Up::Submit(u.clone())).collect();
        let refs = out.references;
        client.up.extend(ops);
        client.up.extend(refs.into_iter().map(Up::Reference));
    }

    fn broadcast(&mut self, except: usize, message: Down) {
        for (i, other) in self.clients.iter_mut().enumerate() {
            if i != except && other.online {
                other.down.push_back(message.clone());
            }
        }
    }

    fn relay_receives(&mut self, c: usize) {
        let Some(message) = self.clients[c].up.pop_front() else {
            return;
        };
        let origin = self.clients[c].replica.origin();
        let session = self.clients[c].session.clone();
        match message {
            Up::Submit(s) => match self.relay.submit(s.origin, s.seq, s.context_version, s.op) {
                Ok(Accepted::Sequenced(done)) => {
                    self.clients[c].down.push_back(Down::Ack {
                        seq: done.seq,
                        version: done.version,
                    });
                    let remote = Down::Remote {
                        version: done.version,
                        origin: done.origin,
                        seq: done.seq,
                        op: done.op,
                    };
                    self.broadcast(c, remote);
                }
                Ok(Accepted::Duplicate { version }) => {
                    // Only a copy restored from one cache entry is ever sent twice: another
                    // replica's copy was sequenced first.
                    self.clients[c].down.push_back(Down::Ack {
                        seq: s.seq,
                        version: version.unwrap_or(0),
                    });
                }
                Err(e) => panic!("relay refused a valid operation: {e}"),
            },
            Up::Reference(ReferenceUpdate::Set {
                key,
                value,
                context_version,
            }) => {
                let now = self
                    .relay
                    .set_reference(origin, &session, key.clone(), value, context_version)
                    .expect("valid reference");
                self.broadcast(
                    c,
                    Down::Reference {
                        session,
                        key,
                        value: Some(now),
                    },
                );
            }
            Up::Reference(ReferenceUpdate::Unset { key }) => {
                self.relay.unset_reference(&session, &key);
                self.broadcast(
                    c,
                    Down::Reference {
                        session,
                        key,
                        value: None,
                    },
                );
            }
        }
    }

    fn client_receives(&mut self, c: usize) {
        let client = &mut self.clients[c];
        let Some(message) = client.down.pop_front() else {
            return;
        };
        match message {
            Down::Ack { seq, version } => {
                client.replica.on_ack(seq, version).expect("ack in order");
                self.maybe_flush(c);
            }
            Down::Remote {
                version,
                origin,
                seq,
                op,
            } if client.like_browser => {
                let mut batch = vec![(version, origin, seq, op)];
                while let Some(Down::Remote { .. }) = client.down.front() {
                    if let Some(Down::Remote {
                        version,
                        origin,
                        seq,
                        op,
                    }) = client.down.pop_front()
                    {
                        batch.push((version, origin, seq, op));
                    }
                }
                client
                    .replica
                    .on_remote_batch(batch)
                    .expect("remote ops apply");
            }
            Down::Remote {
                version,
                origin,
                seq,
                op,
            } => {
                client
                    .replica
                    .on_remote(version, origin, seq, op)
                    .expect("remote op applies");
            }
            Down::Reference {
                session,
                key,
                value,
            } => client.replica.on_remote_reference(session, key, value),
            Down::SessionLeft { session } => client.replica.on_session_left(&session),
        }
    }

    /// The socket drops: what the relay has not sent is lost, and of what the client sent, the
    /// relay may or may not have read a random part before noticing.
    fn disconnect(&mut self, c: usize) {
        if !self.clients[c].online {
            return;
        }
        let read = self.rng.below(self.clients[c].up.len() + 1);
        for _ in 0..read {
            self.relay_receives(c);
        }
        let client = &mut self.clients[c];
        client.up.clear();
        client.down.clear();
        client.online = false;
        client.replica.on_disconnect();
        let session = client.session.clone();
        self.relay.remove_session(&session);
        self.broadcast(c, Down::SessionLeft { session });
    }

    /// Reconnects: the relay replays what the client missed, the client re-sends the rest,
    /// and it receives every shared reference again.
    fn reconnect(&mut self, c: usize) {
        if self.clients[c].online {
            return;
        }
        let from = self.clients[c].replica.resync_from();
        let missed: Vec<_> = self
            .relay
            .ops_since(from)
            .expect("history in memory")
            .cloned()
            .collect();
        let refs: Vec<_> = self
            .relay
            .references()
            .map(|(s, k, v)| (s.to_owned(), k.clone(), v.clone()))
            .collect();
        let client = &mut self.clients[c];
        let missed_one_by_one = if client.like_browser {
            Vec::new()
        } else {
            missed.clone()
        };
        if client.like_browser {
            client
                .replica
                .on_remote_batch(
                    missed
                        .into_iter()
                        .map(|s| (s.version, s.origin, s.seq, s.op)),
                )
                .expect("replay applies");
        }
        for s in missed_one_by_one {
            client
                .replica
                .on_remote(s.version, s.origin, s.seq, s.op)
                .expect("replay applies");
        }
        for (session, key, value) in refs {
            if session != client.session {
                client
                    .replica
                    .on_remote_reference(session, key, Some(value));
            }
        }
        client.replica.on_resynced();
        client.online = true;
        self.flush(c);
    }

    /// Reconnects everyone and delivers everything.
    fn quiesce(&mut self) {
        for c in 0..self.clients.len() {
            self.reconnect(c);
        }
        loop {
            let mut moved = false;
            for c in 0..self.clients.len() {
                self.flush(c);
                while !self.clients[c].up.is_empty() {
                    self.relay_receives(c);
                    moved = true;
                }
            }
            for c in 0..self.clients.len() {
                while !self.clients[c].down.is_empty() {
                    self.client_receives(c);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn check_converged(&self, seed: u64) {
        let truth = self.relay.model().to_node();
        let truth_has = |e| self.relay.model().contains(e);
        for client in &self.clients {
            assert!(
                client.replica.is_settled(),
                "seed {seed}: unacknowledged ops remain"
            );
            assert_eq!(
                client.replica.version(),
                self.relay.version(),
                "seed {seed}"
            );
            assert_eq!(
                client.replica.model().to_node(),
                truth,
                "seed {seed}: {} diverged",
                client.session
            );
        }
        for owner in &self.clients {
            for viewer in self.clients.iter().filter(|v| v.session != owner.session) {
                for (key, value) in owner.replica.shared_references() {
                    let on_live_element = key.element.is_none_or(truth_has);
                    if on_live_element {
                        assert_eq!(
                            viewer
                                .replica
                                .remote_reference(&owner.session, key)
                                .as_ref(),
                            Some(value),
                            "seed {seed}: {} does not see {}'s {key:?}",
                            viewer.session,
                            owner.session
                        );
                    }
                }
                for (session, key, value) in viewer.replica.remote_references() {
                    if session != owner.session {
                        continue;
                    }
                    let local = owner.replica.local_reference(key);
                    assert_eq!(
                        Some(&value),
                        local,
                        "seed {seed}: {}'s view of {}'s {key:?}",
                        viewer.session,
                        owner.session
                    );
                }
            }
        }
    }
}

/// Runs one seed; returns the versions sequenced and how many replicas lived each lifecycle.
fn run(seed: u64, clients: usize, steps: usize) -> (u64, [usize; 3]) {
    let mut sim = Simulation::new(seed, clients);
    for _ in 0..steps {
        sim.step();
    }
    sim.quiesce();
    sim.check_converged(seed);
    (sim.relay.version(), sim.lifecycles)
}

#[test]
fn random_concurrent_editing_converges() {
    let mut versions = 0;
    let mut lifecycles = [0; 3];
    for seed in 0..150 {
        eprintln!("SEED {seed}");
        let (v, l) = run(seed, 2 + (seed as usize % 4), 400);
        versions += v;
        for (sum, n) in lifecycles.iter_mut().zip(l) {
            *sum += n;
        }
    }
    assert!(
        versions > 10_000,
        "the simulation must actually sequence operations: {versions}"
    );
    let [reopened, restored, twins] = lifecycles;
    assert!(
        reopened > 100 && restored > 100 && twins > 50,
        "every lifecycle must be lived: {lifecycles:?}"
    );
}

#[test]
#[ignore = "runs for TANDEM_SIM_SECONDS (default 600); start it by hand"]
fn simulate_forever() {
    let seconds = std::env::var("TANDEM_SIM_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let start = std::time::Instant::now();
    let mut seed = std::env::var("TANDEM_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    while start.elapsed().as_secs() < seconds {
        run(seed, 2 + (seed as usize % 6), 2_000);
        seed += 1;
    }
    eprintln!("simulated seeds up to {seed}");
}
