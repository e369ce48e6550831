//! The models in memory: one task per model, the single sequencer of that model.
//!
//! A model's task owns its [`Sequencer`] and the sessions that have it open. Commands reach it
//! through a channel, so everything about one model happens in one order. Submissions that
//! queue up while the task waits for storage are sequenced together and stored with one
//! `append_ops` call (group commit); only once stored are they broadcast, encoded once, to every
//! session with the model open — the submitter recognises its own operations in the broadcast
//! as acknowledgements. Idle models leave memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tandem_core::protocol::{
    encode_relay, Collaborator, ErrorCode, HistoricOp, ModelContent, OpenedModel, RelayMessage,
    RemoteReference, Response, SharedReference, UserInfo,
};
use tandem_core::server::{Accepted, Sequencer};
use tandem_core::{Model, Op, ReferenceKey, ReferenceValue};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::cluster::{self, Cluster, PeerBody};
use crate::error::RelayError;
use crate::metrics::Metrics;
use crate::permissions::Identity;
use crate::store::{ModelMeta, Store, StoredOp};
use crate::time::now_ms;

/// Frames queued for one session's socket.
pub type Outbox = mpsc::Sender<Bytes>;

/// How many operations of a model stay in memory for resyncs and bridges; older ones are read
/// from storage.
const HISTORY_IN_MEMORY: u64 = 2_000;
/// How many queued submissions one commit takes at most.
const MAX_BATCH: usize = 512;
/// How many missed operations an open answer carries inline; more follow as a resync.
const INLINE_OPS: u64 = 500;
/// How many operations one resync frame carries.
const RESYNC_CHUNK: u64 = 500;

/// A session as a model sees it.
#[derive(Clone, Debug)]
pub struct Member {
    /// The connection's number, unique in this relay process.
    pub key: u64,
    /// The session id others see.
    pub session_id: Arc<str>,
    /// The user.
    pub identity: Arc<Identity>,
    /// The element-id site the relay gave the session; what a submission's origin 0 means.
    pub site: u64,
    /// The origin the session last submitted under in this model (its site until then): its
    /// references are expressed on that origin's operations.
    pub origin: u64,
    /// Its socket's queue.
    pub outbox: Outbox,
    /// Told when a model dropped the session for being too slow to take its frames: the session
    /// then closes its connection, and the client reconnects and resyncs instead of silently
    /// missing operations.
    pub too_slow: Arc<tokio::sync::Notify>,
}

impl Member {
    fn user_info(&self) -> UserInfo {
        user_info(&self.identity)
    }

    /// Queues a frame; a session whose queue is full is too slow and is dropped from the
    /// model (its connection closes when its queue is gone, and it resyncs on reconnect).
    fn send(&self, frame: &Bytes) -> bool {
        self.outbox.try_send(frame.clone()).is_ok()
    }
}

/// The protocol's view of a user.
pub fn user_info(identity: &Identity) -> UserInfo {
    UserInfo {
        user_id: identity.user_id.clone(),
        username: identity.username.clone(),
        display_name: Some(identity.display_name.clone()),
        email: identity.email.clone(),
        anonymous: identity.anonymous,
        avatar_url: identity.avatar_url.clone(),
    }
}

/// A request to a model's task.
pub enum Command {
    /// A session opens the model; `known_version` asks for the operations since then instead
    /// of the data. The task queues the `Response` to `request_id` itself, so that it reaches
    /// the socket before any operation sequenced after the opening; `reply` only says whether
    /// it did.
    Open {
        member: Member,
        known_version: Option<u64>,
        request_id: u64,
        created: bool,
        reply: oneshot::Sender<Result<(), RelayError>>,
    },
    /// A session closes it (or disconnected).
    Close { key: u64 },
    /// Operations to sequence.
    Submit(Submission),
    /// A reference published (`Some`) or withdrawn (`None`; `cleared` keeps it shared).
    Reference {
        key: u64,
        reference: ReferenceKey,
        value: Option<ReferenceValue>,
        cleared: bool,
        context_version: u64,
    },
    /// Every operation after `from_version`, then `ResyncComplete`.
    Resync { key: u64, from_version: u64 },
    /// Deletes the model for real.
    Delete {
        reply: oneshot::Sender<Result<(), RelayError>>,
    },
    /// Another relay stored operations up to `version` (`u64::MAX`: maybe, read what there is):
    /// read them, apply them and pass them on.
    CatchUp { version: u64 },
    /// Another relay deleted the model.
    Deleted,
    /// News about the model from relay `from`: a session that opened or closed it, or moved a
    /// reference.
    Peer { from: u64, body: PeerBody },
    /// Another relay asks who has the model open here, with their references.
    Announce,
    /// Relay `relay` is gone: its sessions are no longer collaborators.
    PeerGone { relay: u64 },
    /// Finishes what is queued, then stops (shutdown).
    Drain { reply: oneshot::Sender<()> },
}

/// Operations a session submitted in one frame: `first_seq ..` of `origin`, made on
/// `context_version`.
pub struct Submission {
    /// The submitting session's connection number.
    pub key: u64,
    /// The origin they were made under (0: the session's site).
    pub origin: u64,
    /// The sequence number of the first.
    pub first_seq: u64,
    /// The version they were made on (plus the origin's earlier operations).
    pub context_version: u64,
    /// The edits, in order.
    pub ops: Vec<Op>,
    /// When the frame arrived, for the latency metric.
    pub received: Instant,
}

/// Settings of model tasks.
#[derive(Clone, Debug)]
pub struct ModelSettings {
    /// How long a model nobody has open stays in memory.
    pub idle_unload: Duration,
    /// A snapshot is stored every this many operations, so loading stays fast.
    pub snapshot_every: u64,
}

struct Entry {
    handle: u32,
    tx: mpsc::Sender<Command>,
}

/// Every model in memory, by id.
pub struct Registry {
    store: Arc<dyn Store>,
    settings: ModelSettings,
    metrics: Arc<Metrics>,
    /// Set when other relays share the store: they are told about, and tell about, what is
    /// only in memory.
    cluster: Option<Arc<Cluster>>,
    models: Mutex<HashMap<String, Entry>>,
    next_handle: AtomicU32,
}

impl Registry {
    /// An empty registry.
    pub fn new(
        store: Arc<dyn Store>,
        settings: ModelSettings,
        metrics: Arc<Metrics>,
        cluster: Option<Arc<Cluster>>,
    ) -> Arc<Self> {
        Arc::new(Registry {
            store,
            settings,
            metrics,
            cluster,
            models: Mutex::new(HashMap::new()),
            next_handle: AtomicU32::new(1),
        })
    }

    /// The task of model `id` (loading it if needed) and its handle.
    pub async fn get(
        self: &Arc<Self>,
        id: &str,
    ) -> Result<(u32, mpsc::Sender<Command>), RelayError> {
        let mut models = self.models.lock().await;
        if let Some(entry) = models.get(id) {
            if !entry.tx.is_closed() {
                return Ok((entry.handle, entry.tx.clone()));
            }
        }
        let meta = self
            .store
            .model(id)
            .await?
            .ok_or_else(|| RelayError::ModelNotFound(id.to_owned()))?;
        let handle = self.next_handle.fetch_add(1, Ordering::Relaxed);
        let task = ModelTask::load(self.clone(), meta, handle).await?;
        let (tx, rx) = mpsc::channel(1024);
        models.insert(
            id.to_owned(),
            Entry {
                handle,
                tx: tx.clone(),
            },
        );
        self.metrics.open_models.inc();
        cluster::publish(&self.cluster, || PeerBody::ModelLoaded {
            model: id.to_owned(),
        });
        tokio::spawn(task.run(rx));
        Ok((handle, tx))
    }

    /// Sends a command to model `id` if it is in memory (news from other relays about models
    /// nobody here has open is not needed: loading reads what is stored). Never waits for a
    /// busy model: a full queue gets the command from a task of its own.
    pub async fn notify(&self, id: &str, command: impl FnOnce() -> Command) {
        let tx = match self.models.lock().await.get(id) {
            Some(entry) => entry.tx.clone(),
            None => return,
        };
        if let Err(mpsc::error::TrySendError::Full(command)) = tx.try_send(command()) {
            tokio::spawn(async move { tx.send(command).await });
        }
    }

    /// Sends a command to every model in memory.
    pub async fn notify_all(&self, command: impl Fn() -> Command) {
        let all: Vec<_> = self
            .models
            .lock()
            .await
            .values()
            .map(|e| e.tx.clone())
            .collect();
        for tx in all {
            if let Err(mpsc::error::TrySendError::Full(command)) = tx.try_send(command()) {
                tokio::spawn(async move { tx.send(command).await });
            }
        }
    }

    /// Sends a command to model `id`, loading it if needed.
    pub async fn send(self: &Arc<Self>, id: &str, command: Command) -> Result<u32, RelayError> {
        let (handle, tx) = self.get(id).await?;
        tx.send(command).await.map_err(|_| RelayError::GoingAway)?;
        Ok(handle)
    }

    /// Removes a stopped task's entry, unless a newer task took its place.
    async fn forget(&self, id: &str, handle: u32) {
        let mut models = self.models.lock().await;
        if models.get(id).is_some_and(|e| e.handle == handle) {
            models.remove(id);
            self.metrics.open_models.dec();
        }
    }

    /// Lets every model task finish what is queued (and stored), then stops them: shutdown.
    pub async fn drain(&self) {
        let entries: Vec<_> = self
            .models
            .lock()
            .await
            .drain()
            .map(|(_, e)| e.tx)
            .collect();
        for tx in entries {
            let (reply, done) = oneshot::channel();
            if tx.send(Command::Drain { reply }).await.is_ok() {
                let _ = done.await;
            }
        }
    }
}

/// One pass of sequencing a batch: what to store, and what to tell whom.
struct Pass {
    /// When it was sequenced.
    now: i64,
    /// The operations to store, in order.
    stored: Vec<StoredOp>,
    /// When each of them arrived, for the commit latency.
    received: Vec<Instant>,
    /// Resent operations to acknowledge again: session, sequence number, version.
    acks: Vec<(u64, u64, u64)>,
    /// Refused operations: session, sequence number, why.
    rejections: Vec<(u64, u64, ErrorCode, String)>,
}

/// One model's state, owned by its task.
struct ModelTask {
    registry: Arc<Registry>,
    meta: ModelMeta,
    handle: u32,
    sequencer: Sequencer,
    members: HashMap<u64, Member>,
    /// The session (connection number) and user that submit under each origin, while that
    /// session has the model open: no other user's session may make new operations under it
    /// meanwhile (they would take the owner's sequence numbers, and the owner's next operations
    /// would look like duplicates). Once the owner is gone, another session may take the origin
    /// over: that is how a tab re-sends the edits a crashed tab left in the cache, whoever is
    /// signed in there.
    origin_owners: HashMap<u64, (u64, Arc<str>)>,
    /// Sessions on other relays that have the model open, by session id, with their relay.
    remote: HashMap<String, (u64, Collaborator)>,
    last_snapshot: u64,
}

impl ModelTask {
    /// Loads the newest snapshot and replays the operations after it.
    async fn load(
        registry: Arc<Registry>,
        meta: ModelMeta,
        handle: u32,
    ) -> Result<ModelTask, RelayError> {
        let store = &registry.store;
        let (snapshot_version, node) = store
            .snapshot_at_or_before(&meta.id, meta.version)
            .await?
            .ok_or_else(|| RelayError::ModelNotFound(meta.id.clone()))?;
        let mut model = Model::new(node)
            .map_err(|e| RelayError::InvalidRequest(format!("stored snapshot: {e}")))?;
        let mut version = snapshot_version;
        while version < meta.version {
            let ops = store.ops(&meta.id, version, meta.version, 1_000).await?;
            if ops.is_empty() {
                break;
            }
            for stored in ops {
                model.apply(&stored.op).map_err(|e| {
                    RelayError::InvalidRequest(format!("stored op {}: {e}", stored.version))
                })?;
                version = stored.version;
            }
        }
        let mut sequencer = Sequencer::new(model, version);
        for (origin, seq) in store.last_seqs(&meta.id).await? {
            sequencer.remember_client(origin, seq);
        }
        Ok(ModelTask {
            registry,
            meta,
            handle,
            sequencer,
            members: HashMap::new(),
            origin_owners: HashMap::new(),
            remote: HashMap::new(),
            last_snapshot: snapshot_version,
        })
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let idle = self.registry.settings.idle_unload;
        let mut pending: Option<Command> = None;
        loop {
            let command = match pending.take() {
                Some(c) => c,
                None => match tokio::time::timeout(idle, rx.recv()).await {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(_) if self.members.is_empty() => {
                        // Idle: leave memory unless a command is on its way.
                        let mut models = self.registry.models.lock().await;
                        if rx.is_empty() {
                            if models
                                .get(&self.meta.id)
                                .is_some_and(|e| e.handle == self.handle)
                            {
                                models.remove(&self.meta.id);
                                self.registry.metrics.open_models.dec();
                            }
                            drop(models);
                            self.snapshot_if_due(1).await;
                            return;
                        }
                        continue;
                    }
                    Err(_) => {
                        self.sequencer.compact();
                        continue;
                    }
                },
            };
            match command {
                Command::Submit(submission) => {
                    let mut batch = vec![submission];
                    // Other relays' operations announced meanwhile: storing the batch reads
                    // those stored before it; any stored after are read once it is done.
                    let mut announced = 0;
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(Command::Submit(submission)) => batch.push(submission),
                            Ok(Command::CatchUp { version }) => announced = announced.max(version),
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.sequence(batch).await;
                    if announced > self.sequencer.version() {
                        self.catch_up(announced).await;
                    }
                }
                Command::Open {
                    member,
                    known_version,
                    request_id,
                    created,
                    reply,
                } => {
                    let outbox = member.outbox.clone();
                    let key = member.key;
                    if known_version.is_some_and(|v| v > self.sequencer.version()) {
                        // Seen on another relay, not yet here.
                        self.catch_up(u64::MAX).await;
                    }
                    let result = match self.open(member, known_version).await {
                        Ok(mut opened) => {
                            opened.created = created;
                            // A long gap is not inlined: it follows in `ResyncOps` chunks.
                            let streamed = match &opened.content {
                                ModelContent::OpsSince { from_version, ops }
                                    if ops.is_empty() && *from_version < opened.version =>
                                {
                                    Some(*from_version)
                                }
                                _ => None,
                            };
                            let response = RelayMessage::Response {
                                request_id,
                                response: Response::ModelOpened(opened),
                            };
                            let _ = outbox.try_send(frame(&response));
                            if let Some(from) = streamed {
                                self.resync(key, from).await;
                            }
                            Ok(())
                        }
                        Err(e) => Err(e),
                    };
                    let _ = reply.send(result);
                }
                Command::Close { key } => self.close(key),
                Command::Reference {
                    key,
                    reference,
                    value,
                    cleared,
                    context_version,
                } => self.reference(key, reference, value, cleared, context_version),
                Command::Resync { key, from_version } => self.resync(key, from_version).await,
                Command::Delete { reply } => {
                    let result = self.registry.store.delete_model(&self.meta.id).await;
                    let frame = frame(&RelayMessage::ModelDeleted { model: self.handle });
                    for member in self.members.values() {
                        member.send(&frame);
                    }
                    self.registry.forget(&self.meta.id, self.handle).await;
                    let _ = reply.send(result.map(drop).map_err(RelayError::from));
                    return;
                }
                Command::CatchUp { version } => self.catch_up(version).await,
                Command::Deleted => {
                    let frame = frame(&RelayMessage::ModelDeleted { model: self.handle });
                    for member in self.members.values() {
                        member.send(&frame);
                    }
                    self.registry.forget(&self.meta.id, self.handle).await;
                    return;
                }
                Command::Peer { from, body } => self.peer_news(from, body).await,
                Command::Announce => self.announce(),
                Command::PeerGone { relay } => {
                    let gone: Vec<String> = self
                        .remote
                        .iter()
                        .filter(|(_, (r, _))| *r == relay)
                        .map(|(session, _)| session.clone())
                        .collect();
                    for session in gone {
                        self.remote_closed(&session);
                    }
                }
                Command::Drain { reply } => {
                    // Everything sent before the drain has been handled (the channel is FIFO).
                    while let Ok(command) = rx.try_recv() {
                        if let Command::Submit(submission) = command {
                            self.sequence(vec![submission]).await;
                        }
                    }
                    self.snapshot_if_due(1).await;
                    let _ = reply.send(());
                    return;
                }
            }
        }
        self.registry.forget(&self.meta.id, self.handle).await;
    }

    /// Sequences a batch of submissions, stores the result durably in one call, then
    /// broadcasts it (the submitters' acknowledgement) or, if storage failed, rejects it and
    /// reloads the model from storage. With other relays on the same store, it is sequenced
    /// while this relay holds the model in the store (see [`ModelTask::sequence_exclusively`]).
    async fn sequence(&mut self, batch: Vec<Submission>) {
        if self.registry.cluster.is_some() {
            self.sequence_exclusively(&batch).await;
        } else {
            let pass = self.sequence_pass(&batch);
            if pass.stored.is_empty() {
                self.finish(pass);
            } else {
                let started = Instant::now();
                let result = self
                    .registry
                    .store
                    .append_ops(&self.meta.id, &pass.stored)
                    .await;
                self.registry
                    .metrics
                    .store_latency
                    .observe(started.elapsed());
                match result {
                    Ok(()) => self.committed(pass),
                    Err(e) => {
                        tracing::error!(model = %self.meta.id, error = %e, "storing operations failed; reloading the model");
                        self.failed(pass).await;
                    }
                }
            }
        }
        self.sequencer
            .forget_history_before(self.sequencer.version().saturating_sub(HISTORY_IN_MEMORY));
        self.snapshot_if_due(self.registry.settings.snapshot_every)
            .await;
    }

    /// Sequences a batch with other relays on the same store: the store locks the model
    /// (other relays' appends to it wait), hands over what they stored that this relay has not
    /// read yet, and appends the batch sequenced after that. So every batch follows
    /// everything stored before it, and no relay ever has to take a batch back.
    async fn sequence_exclusively(&mut self, batch: &[Submission]) {
        let store = self.registry.store.clone();
        let id = self.meta.id.clone();
        let known = self.sequencer.version();
        let mut missed: Vec<StoredOp> = Vec::new();
        let mut pass: Option<Pass> = None;
        let mut broken = None;
        let started = Instant::now();
        let result = store
            .append_ops_exclusive(&id, known, &mut |others| {
                for stored in &others {
                    if let Err(e) = self.sequencer.apply_external(sequenced(stored)) {
                        broken = Some(e);
                        return Vec::new();
                    }
                }
                missed = others;
                let this = self.sequence_pass(batch);
                let stored = this.stored.clone();
                pass = Some(this);
                stored
            })
            .await;
        self.registry
            .metrics
            .store_latency
            .observe(started.elapsed());
        if !missed.is_empty() {
            self.registry.metrics.interleaved_batches.add(1);
            self.passed_on(missed);
        }
        match (result, pass, broken) {
            (Ok(()), Some(pass), None) => {
                if pass.stored.is_empty() {
                    self.finish(pass);
                } else {
                    self.committed(pass);
                }
            }
            (result, pass, broken) => {
                tracing::error!(model = %self.meta.id, result = ?result.err(), broken = ?broken, "storing operations failed; reloading the model");
                match pass {
                    Some(pass) => self.failed(pass).await,
                    None => self.reload().await,
                }
            }
        }
    }

    /// A pass was stored: its operations go to every session (the submitters' acknowledgement).
    fn committed(&mut self, mut pass: Pass) {
        let done = Instant::now();
        for at in &pass.received {
            self.registry.metrics.commit_latency.observe(done - *at);
        }
        self.registry.metrics.ops.add(pass.stored.len() as u64);
        self.meta.version = self.sequencer.version();
        self.meta.modified_ms = pass.now;
        cluster::publish(&self.registry.cluster, || PeerBody::OpsStored {
            model: self.meta.id.clone(),
            version: self.meta.version,
        });
        let ops = std::mem::take(&mut pass.stored)
            .into_iter()
            .map(historic)
            .collect();
        self.broadcast(
            &frame(&RelayMessage::RemoteOps {
                model: self.handle,
                ops,
            }),
            None,
        );
        self.finish(pass);
    }

    /// A pass could not be stored: its operations are refused, and the model is reloaded.
    async fn failed(&mut self, mut pass: Pass) {
        for op in &pass.stored {
            let key = self
                .members
                .iter()
                .find(|(_, m)| m.origin == op.origin)
                .map(|(k, _)| *k);
            if let Some(key) = key {
                pass.rejections.push((
                    key,
                    op.seq,
                    ErrorCode::Internal,
                    "the operation could not be stored".into(),
                ));
            }
        }
        self.reload().await;
        self.finish(pass);
    }

    /// Operations other relays stored, applied here: they go to every session here.
    fn passed_on(&mut self, ops: Vec<StoredOp>) {
        self.meta.version = self.sequencer.version();
        if let Some(last) = ops.last() {
            self.meta.modified_ms = last.timestamp_ms;
        }
        self.registry.metrics.ops_from_peers.add(ops.len() as u64);
        let ops = ops.into_iter().map(historic).collect();
        self.broadcast(
            &frame(&RelayMessage::RemoteOps {
                model: self.handle,
                ops,
            }),
            None,
        );
    }

    /// Sequences every submission of a batch in memory: what to store, and what to tell
    /// whom once it is stored (or once storing failed).
    fn sequence_pass(&mut self, batch: &[Submission]) -> Pass {
        let now = now_ms();
        let mut pass = Pass {
            now,
            stored: Vec::new(),
            received: Vec::new(),
            acks: Vec::new(),
            rejections: Vec::new(),
        };
        for submission in batch {
            let Submission {
                key,
                first_seq,
                context_version,
                ops,
                received: at,
                ..
            } = submission;
            let Some(member) = self.members.get(key) else {
                continue;
            };
            // 0 stands for the session's site.
            let origin = match submission.origin {
                0 => member.site,
                origin => origin,
            };
            let user = &member.identity.user_id;
            // A resend is harmless whoever sends it (it is acknowledged, not sequenced again);
            // new operations need the origin to be the user's.
            let resend = ops
                .iter()
                .enumerate()
                .all(|(i, _)| self.sequencer.is_duplicate(origin, first_seq + i as u64));
            let owner = self
                .origin_owners
                .get(&origin)
                .filter(|(session, _)| self.members.contains_key(session));
            let mut refused = match owner {
                _ if resend => false,
                Some((_, owner)) if **owner != **user => {
                    for i in 0..ops.len() as u64 {
                        pass.rejections.push((
                            *key,
                            first_seq + i,
                            ErrorCode::OriginTaken,
                            format!("origin {origin} belongs to another user"),
                        ));
                    }
                    continue;
                }
                Some(_) => false,
                None => {
                    self.origin_owners
                        .insert(origin, (*key, Arc::from(user.as_str())));
                    false
                }
            };
            // Taken: the origin a session last submitted under is also the one its references
            // are expressed on.
            if let Some(member) = self.members.get_mut(key) {
                member.origin = origin;
            }
            let member = &self.members[key];
            for (i, op) in ops.iter().enumerate() {
                let seq = first_seq + i as u64;
                if refused {
                    // Later operations were made on top of the refused one.
                    pass.rejections.push((
                        *key,
                        seq,
                        ErrorCode::InvalidOperation,
                        "an earlier operation of this batch was refused".into(),
                    ));
                    continue;
                }
                match self
                    .sequencer
                    .submit(origin, seq, *context_version, op.clone())
                {
                    Ok(Accepted::Sequenced(done)) => {
                        pass.stored.push(StoredOp {
                            version: done.version,
                            origin: done.origin,
                            seq: done.seq,
                            user_id: member.identity.user_id.clone(),
                            session_id: member.session_id.to_string(),
                            timestamp_ms: now,
                            op: done.op,
                        });
                        pass.received.push(*at);
                    }
                    Ok(Accepted::Duplicate { version }) => {
                        pass.acks.push((*key, seq, version.unwrap_or(0)));
                    }
                    Err(e) => {
                        let e = RelayError::from(e);
                        pass.rejections.push((*key, seq, e.code(), e.to_string()));
                        refused = true;
                    }
                }
            }
        }
        pass
    }

    /// Tells submitters of resent operations and of refused ones.
    fn finish(&self, pass: Pass) {
        for (key, seq, version) in pass.acks {
            if let Some(member) = self.members.get(&key) {
                member.send(&frame(&RelayMessage::OpAck {
                    model: self.handle,
                    seq,
                    version,
                    timestamp_ms: pass.now,
                }));
            }
        }
        for (key, seq, code, message) in pass.rejections {
            if let Some(member) = self.members.get(&key) {
                member.send(&frame(&RelayMessage::OpRejected {
                    model: self.handle,
                    seq,
                    code,
                    message,
                }));
            }
        }
    }

    /// Reads the operations other relays stored after this relay's version (up to `version`),
    /// applies them, and passes them on to the sessions here.
    async fn catch_up(&mut self, version: u64) {
        while self.sequencer.version() < version {
            let after = self.sequencer.version();
            let page = match self
                .registry
                .store
                .ops(&self.meta.id, after, version, RESYNC_CHUNK)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(model = %self.meta.id, error = %e, "reading other relays' operations failed");
                    return;
                }
            };
            if page.is_empty() {
                break;
            }
            for stored in &page {
                if let Err(e) = self.sequencer.apply_external(sequenced(stored)) {
                    tracing::error!(model = %self.meta.id, error = %e, "another relay's operation does not apply; reloading the model");
                    self.reload().await;
                    return;
                }
            }
            self.passed_on(page);
        }
    }

    /// Replaces the in-memory state by what storage holds (after a failed commit). Operations
    /// stored meanwhile by other relays go to the sessions here, which would otherwise miss
    /// them.
    async fn reload(&mut self) {
        let meta = match self.registry.store.model(&self.meta.id).await {
            Ok(Some(meta)) => meta,
            _ => return,
        };
        let known = self.meta.version;
        if let Ok(task) = ModelTask::load(self.registry.clone(), meta, self.handle).await {
            self.sequencer = task.sequencer;
            self.meta = task.meta;
            if self.meta.version > known {
                match self.ops_since(known, self.meta.version).await {
                    Ok(ops) => self.broadcast(
                        &frame(&RelayMessage::RemoteOps {
                            model: self.handle,
                            ops,
                        }),
                        None,
                    ),
                    Err(e) => {
                        tracing::error!(model = %self.meta.id, error = %e, "reading operations after a reload failed");
                    }
                }
            }
        }
    }

    /// Stores a snapshot if at least `every` operations happened since the last one. The write
    /// runs beside the model's task, which goes on sequencing meanwhile.
    async fn snapshot_if_due(&mut self, every: u64) {
        let version = self.sequencer.version();
        if version >= self.last_snapshot + every.max(1) {
            let node = self.sequencer.model().to_node();
            self.last_snapshot = version;
            let store = self.registry.store.clone();
            let id = self.meta.id.clone();
            tokio::spawn(async move {
                if let Err(e) = store.put_snapshot(&id, version, &node).await {
                    tracing::warn!(model = %id, error = %e, "snapshot failed");
                }
            });
        }
    }

    /// Sends a frame to every member but `except`; drops members whose queue is full.
    fn broadcast(&mut self, frame: &Bytes, except: Option<u64>) {
        let mut slow = Vec::new();
        for (key, member) in &self.members {
            if Some(*key) != except && !member.send(frame) {
                slow.push(*key);
            }
        }
        for key in slow {
            tracing::warn!(model = %self.meta.id, session = key, "session too slow; dropping it from the model");
            if let Some(member) = self.members.get(&key) {
                member.too_slow.notify_one();
            }
            self.close(key);
        }
    }

    async fn open(
        &mut self,
        member: Member,
        known_version: Option<u64>,
    ) -> Result<OpenedModel, RelayError> {
        let version = self.sequencer.version();
        // A known version from before a compaction gets the data: the operations are gone.
        let floor = match known_version {
            Some(_) => self.registry.store.history_floor(&self.meta.id).await?,
            None => 0,
        };
        let content = match known_version {
            Some(from) if from < floor => ModelContent::Data(self.sequencer.model().to_node()),
            Some(from) if from <= version && version - from <= INLINE_OPS => {
                ModelContent::OpsSince {
                    from_version: from,
                    ops: self.ops_since(from, version).await?,
                }
            }
            // Too many to inline: the caller streams them after the response.
            Some(from) if from <= version => ModelContent::OpsSince {
                from_version: from,
                ops: Vec::new(),
            },
            _ => ModelContent::Data(self.sequencer.model().to_node()),
        };
        let collaborators = self
            .members
            .values()
            .map(|m| Collaborator {
                session_id: m.session_id.to_string(),
                user: m.user_info(),
            })
            .chain(self.remote.values().map(|(_, c)| c.clone()))
            .collect();
        let references = self
            .sequencer
            .references()
            .map(|(session, key, value)| SharedReference {
                session_id: session.to_owned(),
                key: key.clone(),
                value: Some(value.clone()),
            })
            .collect();
        let announce = RelayMessage::CollaboratorOpened {
            model: self.handle,
            collaborator: Collaborator {
                session_id: member.session_id.to_string(),
                user: member.user_info(),
            },
        };
        let key = member.key;
        if let Some(previous) = self.members.insert(key, member) {
            // Reopened by the same session: its old references go.
            self.sequencer.remove_session(&previous.session_id);
        }
        if let RelayMessage::CollaboratorOpened { collaborator, .. } = &announce {
            cluster::publish(&self.registry.cluster, || PeerBody::ModelMember {
                model: self.meta.id.clone(),
                collaborator: collaborator.clone(),
                open: true,
            });
        }
        self.broadcast(&frame(&announce), Some(key));
        Ok(OpenedModel {
            model: self.handle,
            collection: self.meta.collection.clone(),
            id: self.meta.name.clone(),
            version,
            created_ms: self.meta.created_ms,
            modified_ms: self.meta.modified_ms,
            created: false,
            content,
            collaborators,
            references,
        })
    }

    fn close(&mut self, key: u64) {
        let Some(member) = self.members.remove(&key) else {
            return;
        };
        self.origin_owners.retain(|_, (session, _)| *session != key);
        self.sequencer.remove_session(&member.session_id);
        cluster::publish(&self.registry.cluster, || PeerBody::ModelMember {
            model: self.meta.id.clone(),
            collaborator: Collaborator {
                session_id: member.session_id.to_string(),
                user: member.user_info(),
            },
            open: false,
        });
        let gone = RelayMessage::CollaboratorClosed {
            model: self.handle,
            session_id: member.session_id.to_string(),
        };
        self.broadcast(&frame(&gone), None);
    }

    /// A session on another relay closed the model (or its relay went).
    fn remote_closed(&mut self, session_id: &str) {
        if self.remote.remove(session_id).is_none() {
            return;
        }
        self.sequencer.remove_session(session_id);
        let gone = RelayMessage::CollaboratorClosed {
            model: self.handle,
            session_id: session_id.to_owned(),
        };
        self.broadcast(&frame(&gone), None);
    }

    /// Acts on another relay's news about this model.
    async fn peer_news(&mut self, from: u64, body: PeerBody) {
        match body {
            PeerBody::ModelMember {
                collaborator,
                open: true,
                ..
            } => {
                let session_id = collaborator.session_id.clone();
                let known = self
                    .remote
                    .insert(session_id, (from, collaborator.clone()))
                    .is_some();
                if !known {
                    let opened = RelayMessage::CollaboratorOpened {
                        model: self.handle,
                        collaborator,
                    };
                    self.broadcast(&frame(&opened), None);
                }
            }
            PeerBody::ModelMember {
                collaborator,
                open: false,
                ..
            } => self.remote_closed(&collaborator.session_id),
            PeerBody::ModelReference {
                session_id,
                key,
                value,
                cleared,
                version,
                ..
            } => {
                if !self.remote.contains_key(&session_id) {
                    return;
                }
                if version > self.sequencer.version() {
                    self.catch_up(version).await;
                }
                let now = self.sequencer.version();
                let event = match value {
                    Some(value) => {
                        match self.sequencer.set_external_reference(
                            &session_id,
                            key.clone(),
                            value,
                            version,
                        ) {
                            Some(value) => RemoteReference::Set {
                                model: self.handle,
                                session_id,
                                key,
                                value,
                                version: now,
                            },
                            None => return,
                        }
                    }
                    None => {
                        self.sequencer.unset_reference(&session_id, &key);
                        if cleared {
                            RemoteReference::Cleared {
                                model: self.handle,
                                session_id,
                                key,
                                version: now,
                            }
                        } else {
                            RemoteReference::Unshared {
                                model: self.handle,
                                session_id,
                                key,
                                version: now,
                            }
                        }
                    }
                };
                self.broadcast(&frame(&RelayMessage::RemoteReference(event)), None);
            }
            _ => {}
        }
    }

    /// Tells the other relays who has the model open here, with their references, and how
    /// far it is stored (for news of operations that may have been lost).
    fn announce(&self) {
        let Some(cluster) = &self.registry.cluster else {
            return;
        };
        cluster.publish(PeerBody::OpsStored {
            model: self.meta.id.clone(),
            version: self.meta.version,
        });
        for member in self.members.values() {
            cluster.publish(PeerBody::ModelMember {
                model: self.meta.id.clone(),
                collaborator: Collaborator {
                    session_id: member.session_id.to_string(),
                    user: member.user_info(),
                },
                open: true,
            });
        }
        let version = self.sequencer.version();
        for (session, key, value) in self.sequencer.references() {
            if self.members.values().any(|m| &*m.session_id == session) {
                cluster.publish(PeerBody::ModelReference {
                    model: self.meta.id.clone(),
                    session_id: session.to_owned(),
                    key: key.clone(),
                    value: Some(value.clone()),
                    cleared: false,
                    version,
                });
            }
        }
    }

    fn reference(
        &mut self,
        key: u64,
        reference: ReferenceKey,
        value: Option<ReferenceValue>,
        cleared: bool,
        context_version: u64,
    ) {
        let Some(member) = self.members.get(&key) else {
            return;
        };
        let session_id = member.session_id.to_string();
        let version = self.sequencer.version();
        let event = match value {
            Some(value) => {
                let origin = member.origin;
                match self.sequencer.set_reference(
                    origin,
                    &session_id,
                    reference.clone(),
                    value,
                    context_version,
                ) {
                    Ok(now) => RemoteReference::Set {
                        model: self.handle,
                        session_id,
                        key: reference,
                        value: now,
                        version,
                    },
                    Err(e) => {
                        let e = RelayError::from(e);
                        let error = RelayMessage::Error {
                            request_id: None,
                            code: e.code(),
                            message: e.to_string(),
                        };
                        member.send(&frame(&error));
                        return;
                    }
                }
            }
            None => {
                self.sequencer.unset_reference(&session_id, &reference);
                if cleared {
                    RemoteReference::Cleared {
                        model: self.handle,
                        session_id,
                        key: reference,
                        version,
                    }
                } else {
                    RemoteReference::Unshared {
                        model: self.handle,
                        session_id,
                        key: reference,
                        version,
                    }
                }
            }
        };
        cluster::publish(&self.registry.cluster, || {
            let (session_id, key, value, cleared) = match &event {
                RemoteReference::Set {
                    session_id,
                    key,
                    value,
                    ..
                }
                | RemoteReference::Shared {
                    session_id,
                    key,
                    value,
                    ..
                } => (session_id, key, Some(value.clone()), false),
                RemoteReference::Cleared {
                    session_id, key, ..
                } => (session_id, key, None, true),
                RemoteReference::Unshared {
                    session_id, key, ..
                } => (session_id, key, None, false),
            };
            PeerBody::ModelReference {
                model: self.meta.id.clone(),
                session_id: session_id.clone(),
                key: key.clone(),
                value,
                cleared,
                version,
            }
        });
        self.broadcast(&frame(&RelayMessage::RemoteReference(event)), Some(key));
    }

    /// The operations in `(from, to]` with who made them and when, from storage (where the
    /// metadata lives).
    async fn ops_since(&self, from: u64, to: u64) -> Result<Vec<HistoricOp>, RelayError> {
        let mut out = Vec::new();
        let mut after = from;
        while after < to {
            let page = self
                .registry
                .store
                .ops(&self.meta.id, after, to, 1_000)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.version;
            out.extend(page.into_iter().map(historic));
        }
        Ok(out)
    }

    async fn resync(&mut self, key: u64, from_version: u64) {
        let version = self.sequencer.version();
        let Some(member) = self.members.get(&key).cloned() else {
            return;
        };
        let floor = match self.registry.store.history_floor(&self.meta.id).await {
            Ok(floor) => floor,
            Err(e) => {
                member.send(&frame(&RelayMessage::Error {
                    request_id: None,
                    code: ErrorCode::Internal,
                    message: e.to_string(),
                }));
                return;
            }
        };
        if from_version < floor {
            member.send(&frame(&RelayMessage::Error {
                request_id: None,
                code: ErrorCode::VersionConflict,
                message: format!(
                    "the history before version {floor} was compacted: reopen the model"
                ),
            }));
            return;
        }
        let mut after = from_version.min(version);
        while after < version {
            match self
                .registry
                .store
                .ops(
                    &self.meta.id,
                    after,
                    version.min(after + RESYNC_CHUNK),
                    RESYNC_CHUNK,
                )
                .await
            {
                Ok(page) if !page.is_empty() => {
                    after = page.last().map_or(version, |op| op.version);
                    let ops = page.into_iter().map(historic).collect();
                    member.send(&frame(&RelayMessage::ResyncOps {
                        model: self.handle,
                        ops,
                    }));
                }
                Ok(_) => break,
                Err(e) => {
                    let error = RelayMessage::Error {
                        request_id: None,
                        code: ErrorCode::Internal,
                        message: e.to_string(),
                    };
                    member.send(&frame(&error));
                    return;
                }
            }
        }
        member.send(&frame(&RelayMessage::ResyncComplete {
            model: self.handle,
            version,
        }));
    }
}

/// Encodes a relay message once, to be queued for any number of sockets.
pub fn frame(message: &RelayMessage) -> Bytes {
    Bytes::from(encode_relay(message))
}

/// A stored operation as the sequencer keeps it.
fn sequenced(stored: &StoredOp) -> tandem_core::server::Sequenced {
    tandem_core::server::Sequenced {
        version: stored.version,
        origin: stored.origin,
        seq: stored.seq,
        op: stored.op.clone(),
    }
}

/// The wire form of a stored operation.
pub fn historic(op: StoredOp) -> HistoricOp {
    HistoricOp {
        version: op.version,
        op: op.op,
        user_id: op.user_id,
        session_id: op.session_id,
        origin: op.origin,
        seq: op.seq,
        timestamp_ms: op.timestamp_ms,
    }
}
