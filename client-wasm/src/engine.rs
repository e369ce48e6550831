//! The engine of one client: the session handshake, every frame in and out, and the open
//! models' replicas across reconnects.

use crate::json;
use crate::json::Json;
use tandem_core::client::{ClientModel, ReferenceUpdate};
use tandem_core::protocol::pieces::{self, Assembled, Reassembler};
use tandem_core::protocol::shape::Shaped;
use tandem_core::protocol::{
    encode_client, variant_tag, write_varint, Auth, ClientMessage, ErrorCode, Hello, HistoricOp,
    Limits, ModelContent, OpenedModel, RelayMessage, Request, Response, Welcome, FORMAT_VERSION,
    PROTOCOL_VERSION,
};
use tandem_core::{IdGenerator, Model};
use wasm_bindgen::prelude::*;

use crate::error::{EngineError, Result};
use crate::events::Events;
use crate::incoming::{self, Incoming};
use crate::interop::{collaborator_json, user_json};
use crate::models::LocalModel;
use crate::requests::{model_request, response_json};
use crate::small_map::SmallMap;
use crate::transcode;

/// The most operations sent in one frame; longer queues (after a long offline session) go out
/// in several frames.
const MAX_OPS_PER_FRAME: usize = 1000;

/// The most bytes of operations put in one frame, well under the relay's default 1 MiB frame limit.
const MAX_FRAME_BYTES: usize = 512 << 10;

/// The next fresh origin (or site) from a splitmix64 state: in `[2^32, 2^63)`, where the relay's
/// sites also lie, so that JavaScript's exact integers never matter and collisions are as
/// unlikely as between the relay's own.
fn fresh_origin(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (1u64 << 32) + z % ((1u64 << 63) - (1u64 << 32))
}

/// What a message from the relay (pieces reassembled) or a cache entry may hold: models are sent
/// and cached as large as they have grown (64 MiB and more), so these bound only what no model
/// reaches.
pub(crate) const INCOMING: Limits = Limits {
    max_frame_bytes: 1 << 30,
    max_string_bytes: 1 << 30,
    max_items: 1 << 26,
    ..Limits::DEFAULT
};

/// The relay's frame and message limits until its `Welcome` tells them (its defaults).
const RELAY_FRAME_BYTES: usize = 1 << 20;
const RELAY_MESSAGE_BYTES: usize = 16 << 20;

/// Appends `message` to `frames` (each after its length, 4 bytes little-endian), in pieces if it
/// is larger than a frame of `max_frame` bytes.
pub(crate) fn push_frames(frames: &mut Vec<u8>, message: Vec<u8>, max_frame: usize) {
    for frame in pieces::split(message, max_frame) {
        frames.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        frames.extend_from_slice(&frame);
    }
}

/// What the engine does with the answer to a request it sent.
enum Pending {
    /// An open request: the answer creates a local model, or brings `reopen` up to date.
    Open { reopen: Option<u32> },
}

/// One client's connection state and open models. JavaScript owns the socket and calls in with
/// every frame received; the engine answers with events (JSON text) and frames to send.
#[wasm_bindgen]
pub struct Engine {
    /// Announced in `Hello`, for the relay's logs and metrics.
    client_name: String,
    /// What a message from the relay may hold.
    limits: Limits,
    /// Puts the relay's pieced messages back together.
    reassembler: Reassembler,
    /// The largest frame the relay takes (from its `Welcome`): larger messages go in pieces.
    pub(crate) relay_frame_bytes: usize,
    /// The largest message the relay takes: a larger local edit is refused before it applies.
    pub(crate) relay_message_bytes: usize,
    /// The current connection's session, once welcomed.
    session: Option<Welcome>,
    /// Fresh element ids: under a random site until the relay hands out one, then under the
    /// session's site.
    pub(crate) ids: IdGenerator,
    /// The state of the generator of fresh origins (splitmix64, seeded from JavaScript's
    /// `crypto.getRandomValues`): every replica opened or restored makes its operations under
    /// an origin of its own (see `tandem_core::client` on identity).
    entropy: u64,
    /// Open models by local id (their index); `None` for closed ones.
    pub(crate) models: Vec<Option<LocalModel>>,
    /// Local id by the relay's handle, for the current connection.
    by_handle: SmallMap<u32, u32>,
    /// Requests whose answer the engine acts on, by request id.
    pending: SmallMap<u64, Pending>,
}

#[wasm_bindgen]
impl Engine {
    /// A new engine; `client_name` (such as `tandem-js/0.1.0`) goes into the handshake, `seed`
    /// (64 random bits) makes its origins and its offline element ids unique.
    #[wasm_bindgen(constructor)]
    pub fn new(client_name: String, seed: u64) -> Engine {
        let mut entropy = seed;
        let site = fresh_origin(&mut entropy);
        Engine {
            client_name,
            entropy,
            limits: INCOMING,
            reassembler: Reassembler::new(INCOMING.max_frame_bytes),
            relay_frame_bytes: RELAY_FRAME_BYTES,
            relay_message_bytes: RELAY_MESSAGE_BYTES,
            session: None,
            ids: IdGenerator::new(site),
            models: Vec::new(),
            by_handle: SmallMap::default(),
            pending: SmallMap::default(),
        }
    }

    /// The opening frame of a connection. `auth` is JSON: `{"type": "anonymous", "displayName"}`,
    /// `{"type": "password", "username", "password"}`, `{"type": "jwt", "token"}` or
    /// `{"type": "reconnect", "token"}`.
    pub fn hello(&self, auth: &str) -> Result<Vec<u8>, JsValue> {
        let json = Json::parse(auth)?;
        let text = |key: &str| -> Result<String> {
            json[key]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| EngineError::invalid(format!("auth needs `{key}`")))
        };
        let auth = match json["type"].as_str() {
            Some("anonymous") => Auth::Anonymous {
                display_name: json["displayName"].as_str().unwrap_or_default().to_owned(),
            },
            Some("password") => Auth::Password {
                username: text("username")?,
                password: text("password")?,
            },
            Some("jwt") => Auth::Jwt {
                token: text("token")?,
            },
            Some("reconnect") => Auth::ReconnectToken {
                token: text("token")?,
            },
            _ => return Err(EngineError::invalid("unknown auth type").into()),
        };
        Ok(encode_client(&ClientMessage::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            auth,
            client_name: self.client_name.clone(),
        })))
    }

    /// Encodes a request (JSON, see `requests.rs`) with the id JavaScript correlates it by, as
    /// frames to send one after the other, each after its length (as `flush` returns them): a
    /// request larger than a frame (a model's initial data) goes in pieces.
    pub fn request(&mut self, request_id: f64, request: &str) -> Result<Vec<u8>, JsValue> {
        let message = self.request_message(request_id, request)?;
        if message.len() > self.relay_message_bytes {
            return Err(EngineError::too_large(message.len(), self.relay_message_bytes).into());
        }
        let mut frames = Vec::with_capacity(message.len() + 8);
        push_frames(&mut frames, message, self.relay_frame_bytes);
        Ok(frames)
    }
}

impl Engine {
    fn request_message(&mut self, request_id: f64, request: &str) -> Result<Vec<u8>> {
        let request_id = request_id as u64;
        let json = Json::parse(request)?;
        let request = if json["type"] == "reopen" {
            let local = json["local"].as_u64().unwrap_or(u64::MAX) as u32;
            let model = self.model(local)?;
            let request = Request::OpenModel {
                collection: model.collection.clone(),
                id: model.id.clone(),
                known_version: Some(model.client.version()),
            };
            self.pending.insert(
                request_id,
                Pending::Open {
                    reopen: Some(local),
                },
            );
            request
        } else if let Some(request) = model_request(&json, &mut self.ids)? {
            if matches!(
                request,
                Request::OpenModel { .. } | Request::OpenOrCreateModel { .. }
            ) {
                self.pending
                    .insert(request_id, Pending::Open { reopen: None });
            }
            request
        } else {
            // Any other request goes by its shape: the frame's tag, the id, then the request.
            let mut frame = vec![FORMAT_VERSION];
            write_varint(&mut frame, variant_tag::<ClientMessage>("Request"));
            write_varint(&mut frame, request_id);
            transcode::from_json(&json, Request::shape(), "request", &mut frame)?;
            return Ok(frame);
        };
        Ok(encode_client(&ClientMessage::Request {
            request_id,
            request,
        }))
    }
}

#[wasm_bindgen]
impl Engine {
    /// The local ids of every open model, to reopen them after a reconnect (`reopen` requests).
    #[wasm_bindgen(js_name = openModels)]
    pub fn open_models(&self) -> Vec<u32> {
        (0..self.models.len() as u32)
            .filter(|i| self.models[*i as usize].is_some())
            .collect()
    }

    /// A heartbeat frame.
    pub fn ping(&self, nonce: f64) -> Vec<u8> {
        encode_client(&ClientMessage::Ping {
            nonce: nonce as u64,
        })
    }

    /// The answer to the relay's heartbeat `nonce` (as text, since it may exceed 2^53).
    pub fn pong(&self, nonce: &str) -> Vec<u8> {
        encode_client(&ClientMessage::Pong {
            nonce: nonce.parse().unwrap_or_default(),
        })
    }

    /// The connection is gone: every model goes offline (edits keep applying locally and are
    /// sent after the next reopen) and pending answers are forgotten.
    pub fn disconnected(&mut self) {
        self.session = None;
        self.by_handle.clear();
        self.pending.clear();
        for model in self.models.iter_mut().flatten() {
            model.handle = None;
            model.resyncing = false;
            model.client.on_disconnect();
            model.collaborators.clear();
        }
    }

    /// Handles one frame from the relay; returns the resulting events as a JSON array.
    pub fn receive(&mut self, frame: &[u8]) -> Result<String, JsValue> {
        let mut events = Events::default();
        let frame = match self
            .reassembler
            .push(frame)
            .map_err(|e| EngineError::invalid(e.to_string()))?
        {
            Assembled::Whole(frame) => std::borrow::Cow::Borrowed(frame),
            Assembled::Complete(message) => std::borrow::Cow::Owned(message),
            Assembled::Partial => return Ok(events.into_json()),
        };
        match incoming::decode(&frame, &self.limits).map_err(EngineError::from)? {
            Incoming::Typed(message) => self.handle(message, &mut events)?,
            Incoming::Answer { request_id, result } => {
                self.pending.remove(&request_id);
                events.push(json!({"type": "response", "requestId": request_id, "result": result}));
            }
            Incoming::Push(event) => events.push(event),
        }
        Ok(events.into_json())
    }

    /// Every frame to send now: each online model's pending operations (a frame's worth of
    /// typing goes out together) and reference changes. Call it once per animation frame. The
    /// frames come one after the other, each after its length (4 bytes, little-endian).
    pub fn flush(&mut self) -> Vec<u8> {
        let mut frames = Vec::new();
        let max_frame = self.relay_frame_bytes;
        let mut push = |frame: Vec<u8>| push_frames(&mut frames, frame, max_frame);
        for model in self.models.iter_mut().flatten() {
            let Some(handle) = model.handle else {
                continue;
            };
            if model.resyncing {
                continue;
            }
            let version = model.client.version();
            let out = model.client.take_outgoing();
            let mut batch: Vec<tandem_core::Op> = Vec::new();
            let mut first_seq = 0;
            let mut origin = 0;
            let mut context_version = 0;
            let mut bytes = 0;
            let mut send =
                |ops: &mut Vec<tandem_core::Op>, origin, first_seq: u64, context_version| {
                    if !ops.is_empty() {
                        push(encode_client(&ClientMessage::SubmitOps {
                            model: handle,
                            origin,
                            first_seq,
                            context_version,
                            ops: std::mem::take(ops),
                        }));
                    }
                };
            for u in out.ops {
                let contiguous = first_seq + batch.len() as u64 == u.seq && u.origin == origin;
                if batch.is_empty()
                    || !contiguous
                    || u.context_version != context_version
                    || batch.len() >= MAX_OPS_PER_FRAME
                    || bytes >= MAX_FRAME_BYTES
                {
                    send(&mut batch, origin, first_seq, context_version);
                    origin = u.origin;
                    first_seq = u.seq;
                    context_version = u.context_version;
                    bytes = 0;
                }
                bytes += u.op.primitive_count() * 16 + op_text_bytes(&u.op);
                batch.push(u.op.clone());
            }
            send(&mut batch, origin, first_seq, context_version);
            for update in out.references {
                let message = match update {
                    ReferenceUpdate::Set {
                        key,
                        value,
                        context_version,
                    } => ClientMessage::SetReference {
                        model: handle,
                        key,
                        value,
                        context_version,
                    },
                    ReferenceUpdate::Unset { key } => ClientMessage::UnshareReference {
                        model: handle,
                        key,
                        context_version: version,
                    },
                };
                push(encode_client(&message));
            }
        }
        frames
    }

    /// Whether every local edit of every model has been acknowledged by the relay.
    #[wasm_bindgen(js_name = isSettled)]
    pub fn is_settled(&self) -> bool {
        self.models.iter().flatten().all(|m| m.client.is_settled())
    }
}

/// The text bytes an operation carries (to keep frames small).
fn op_text_bytes(op: &tandem_core::Op) -> usize {
    use tandem_core::Op;
    match op {
        Op::StringInsert { text, .. } | Op::StringSplice { text, .. } => text.len(),
        Op::StringSet { value, .. } => value.len(),
        Op::Compound(ops) => ops.iter().map(op_text_bytes).sum(),
        _ => 64,
    }
}

impl Engine {
    /// The open model with local id `local`.
    pub(crate) fn model(&self, local: u32) -> Result<&LocalModel> {
        self.models
            .get(local as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| EngineError::not_open(local))
    }

    /// The open model with local id `local`, to change it.
    pub(crate) fn model_mut(&mut self, local: u32) -> Result<&mut LocalModel> {
        self.models
            .get_mut(local as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| EngineError::not_open(local))
    }

    /// Adds a model, returning its local id.
    pub(crate) fn add_model(&mut self, model: LocalModel) -> u32 {
        if let Some(free) = self.models.iter().position(Option::is_none) {
            self.models[free] = Some(model);
            free as u32
        } else {
            self.models.push(Some(model));
            (self.models.len() - 1) as u32
        }
    }

    /// Forgets a model (closed, deleted or lost).
    pub(crate) fn drop_model(&mut self, local: u32) {
        if let Some(slot) = self.models.get_mut(local as usize) {
            if let Some(model) = slot.take() {
                if let Some(handle) = model.handle {
                    self.by_handle.remove(&handle);
                }
            }
        }
    }

    /// An origin for a new replica, never used before.
    pub(crate) fn fresh_origin(&mut self) -> u64 {
        fresh_origin(&mut self.entropy)
    }

    fn local_of(&self, handle: u32) -> Option<u32> {
        self.by_handle.get(&handle).copied()
    }

    fn handle(&mut self, message: RelayMessage, events: &mut Events) -> Result<()> {
        match message {
            RelayMessage::Welcome(welcome) => self.welcomed(welcome, events),
            RelayMessage::Response {
                request_id,
                response,
            } => self.answered(request_id, response, events)?,
            RelayMessage::Error {
                request_id,
                code,
                message,
            } => {
                let reopened = request_id
                    .and_then(|id| self.pending.remove(&id))
                    .and_then(|Pending::Open { reopen }| reopen);
                if let Some(local) = reopened {
                    self.drop_model(local);
                }
                events.push(json!({
                    "type": "error",
                    "requestId": request_id,
                    "local": reopened,
                    "code": code.as_str(),
                    "message": message,
                }));
            }
            RelayMessage::OpAck {
                model,
                seq,
                version,
                ..
            } => {
                // Also sent for a resend the relay had already sequenced, which this client
                // learned about from the resync: then it matches nothing and is ignored.
                if let Some(local) = self.local_of(model) {
                    let _ = self.model_mut(local)?.client.on_ack(seq, version);
                }
            }
            RelayMessage::OpsAcked {
                model,
                first_seq,
                first_version,
                count,
                ..
            } => {
                if let Some(local) = self.local_of(model) {
                    let client = &mut self.model_mut(local)?.client;
                    for i in 0..count {
                        let _ = client.on_ack(first_seq + i, first_version + i);
                    }
                }
            }
            RelayMessage::OpRejected {
                code: ErrorCode::RateLimited,
                ..
            } => {
                // Dropped, not refused: reconnecting re-sends everything after a resync, in
                // order (sending the dropped operations again while later ones may have been
                // accepted would reorder them).
                events.push(json!({"type": "slow_down"}));
            }
            RelayMessage::OpRejected {
                model,
                code,
                message,
                ..
            } => {
                // A local edit that applied here was refused: the replica no longer matches the
                // relay. The package reopens the model from scratch.
                if let Some(local) = self.local_of(model) {
                    self.drop_model(local);
                    events.push(json!({
                        "type": "model_lost", "local": local,
                        "code": code.as_str(), "message": message,
                    }));
                }
            }
            RelayMessage::RemoteOp {
                model,
                version,
                origin,
                seq,
                session_id,
                user_id,
                timestamp_ms,
                op,
            } => {
                let op = HistoricOp {
                    version,
                    op,
                    user_id,
                    session_id,
                    origin,
                    seq,
                    timestamp_ms,
                };
                self.remote_ops(model, vec![op], events)?;
            }
            RelayMessage::RemoteOps { model, ops } | RelayMessage::ResyncOps { model, ops } => {
                self.remote_ops(model, ops, events)?
            }
            RelayMessage::ResyncComplete { model, .. } => {
                if let Some(local) = self.local_of(model) {
                    let m = self.model_mut(local)?;
                    m.resyncing = false;
                    m.client.on_resynced();
                    events.push(json!({"type": "model_online", "local": local}));
                }
            }
            RelayMessage::ModelDeleted { model } => {
                if let Some(local) = self.local_of(model) {
                    self.drop_model(local);
                    events.push(json!({"type": "model_deleted", "local": local}));
                }
            }
            RelayMessage::ModelForceClosed {
                model,
                code,
                message,
            } => {
                if let Some(local) = self.local_of(model) {
                    self.drop_model(local);
                    events.push(json!({
                        "type": "model_lost", "local": local,
                        "code": code.as_str(), "message": message,
                    }));
                }
            }
            RelayMessage::CollaboratorOpened {
                model,
                collaborator,
            } => {
                if let Some(local) = self.local_of(model) {
                    events.push(json!({
                        "type": "collaborator_opened", "local": local,
                        "collaborator": collaborator_json(&collaborator),
                    }));
                    self.model_mut(local)?.collaborators.push(collaborator);
                }
            }
            RelayMessage::CollaboratorClosed { model, session_id } => {
                if let Some(local) = self.local_of(model) {
                    let m = self.model_mut(local)?;
                    m.collaborators.retain(|c| c.session_id != session_id);
                    m.client.on_session_left(&session_id);
                    events.push(json!({
                        "type": "collaborator_closed", "local": local, "sessionId": session_id,
                    }));
                }
            }
            RelayMessage::RemoteReference(reference) => self.remote_reference(reference, events),
            // Converted by their shapes instead (see `incoming`).
            RelayMessage::Presence(_) | RelayMessage::Activity(_) | RelayMessage::Chat(_) => {}
            RelayMessage::Ping { nonce } => {
                events.push(json!({"type": "ping", "nonce": nonce.to_string()}));
            }
            RelayMessage::Pong { nonce } => {
                events.push(json!({"type": "pong", "nonce": nonce.to_string()}));
            }
        }
        Ok(())
    }

    fn welcomed(&mut self, welcome: Welcome, events: &mut Events) {
        self.relay_frame_bytes = (welcome.max_frame_bytes as usize).max(pieces::MIN_FRAME_BYTES);
        self.relay_message_bytes = welcome.max_message_bytes as usize;
        if welcome.site != self.ids.site() {
            // Every session has a site of its own; the replicas keep their origins.
            self.ids = IdGenerator::new(welcome.site);
        }
        // An edit this relay would refuse (its limit is lower than when the edit was made) would
        // be sent, refused and sent again forever: its model is lost instead, loudly, and its
        // cache entry is kept; every other model goes on.
        let limit = self.relay_message_bytes;
        let poisoned: Vec<(u32, usize)> = self
            .models
            .iter()
            .enumerate()
            .filter_map(|(local, m)| {
                let largest = m.as_ref()?.largest_unacked();
                (largest > limit).then_some((local as u32, largest))
            })
            .collect();
        for (local, size) in poisoned {
            self.drop_model(local);
            let error = EngineError::too_large(size, limit);
            events.push(json!({
                "type": "model_lost", "local": local, "code": error.code(),
                "message": format!("an unsent edit is too large for this relay: {error}"),
            }));
        }
        events.push(json!({
            "type": "welcome",
            "sessionId": welcome.session_id,
            "user": user_json(&welcome.user),
            "reconnectToken": welcome.reconnect_token,
            "serverTime": welcome.server_time_ms,
        }));
        self.session = Some(welcome);
    }

    fn answered(&mut self, request_id: u64, response: Response, events: &mut Events) -> Result<()> {
        let pending = self.pending.remove(&request_id);
        let result = match (pending, response) {
            (Some(Pending::Open { reopen }), Response::ModelOpened(opened)) => {
                self.opened(reopen, opened, events)?
            }
            (_, response) => response_json(&response),
        };
        events.push(json!({"type": "response", "requestId": request_id, "result": result}));
        Ok(())
    }

    /// A model was opened (or reopened after a reconnect): set up or catch up its replica.
    fn opened(
        &mut self,
        reopen: Option<u32>,
        opened: OpenedModel,
        events: &mut Events,
    ) -> Result<Json> {
        let origin = self.fresh_origin();
        let mut streamed = false;
        let local = match (reopen, opened.content) {
            (Some(local), ModelContent::OpsSince { from_version, ops }) => {
                streamed = ops.is_empty() && from_version < opened.version;
                self.by_handle.insert(opened.model, local);
                self.model_mut(local)?.handle = Some(opened.model);
                self.remote_ops(opened.model, ops, events)?;
                local
            }
            (reopen, ModelContent::Data(node)) => {
                let model = Model::new(node)?;
                let mut client = ClientModel::new(model, opened.version, origin);
                client.set_composing(true);
                let replaced = reopen.and_then(|local| self.model(local).ok().map(|m| (local, m)));
                let local = match replaced {
                    Some((local, old)) => {
                        // The relay no longer has the operations since the cached version: the
                        // cached copy is replaced, and its unsent edits are lost.
                        let dropped = old.client.unacked().len();
                        events.push(json!({
                            "type": "model_reset", "local": local, "droppedEdits": dropped,
                        }));
                        let m = self.model_mut(local)?;
                        m.client = client;
                        m.handle = Some(opened.model);
                        local
                    }
                    None => self.add_model(LocalModel::new(
                        opened.collection.clone(),
                        opened.id.clone(),
                        client,
                        Some(opened.model),
                    )),
                };
                self.by_handle.insert(opened.model, local);
                local
            }
            (None, ModelContent::OpsSince { .. }) => {
                return Err(EngineError::invalid(
                    "the relay sent operations for a model opened without a cached copy",
                ))
            }
        };
        let m = self.model_mut(local)?;
        m.collaborators = opened.collaborators;
        m.resyncing = streamed;
        if !streamed {
            m.client.on_resynced();
        }
        for shared in opened.references {
            m.client
                .on_remote_reference(shared.session_id, shared.key, shared.value);
        }
        let collaborators: Vec<Json> = m.collaborators.iter().map(collaborator_json).collect();
        Ok(json!({
            "type": "model_opened",
            "local": local,
            "collection": opened.collection,
            "id": opened.id,
            "version": opened.version,
            "created": opened.created,
            "createdTime": opened.created_ms,
            "modifiedTime": opened.modified_ms,
            "collaborators": collaborators,
            "online": !streamed,
        }))
    }

    /// Operations the relay sequenced (own ones acknowledge): apply them and report the changes.
    fn remote_ops(&mut self, handle: u32, ops: Vec<HistoricOp>, events: &mut Events) -> Result<()> {
        let Some(local) = self.local_of(handle) else {
            return Ok(());
        };
        if ops.is_empty() {
            return Ok(());
        }
        // Authors by version, in version order (the relay sends operations in its order).
        let mut who = Vec::with_capacity(ops.len());
        let mut feed = Vec::with_capacity(ops.len());
        for op in ops {
            who.push((op.version, (op.user_id, op.session_id, op.timestamp_ms)));
            feed.push((op.version, op.origin, op.seq, op.op));
        }
        let model = self.model_mut(local)?;
        let applied = match model.client.on_remote_batch(feed) {
            Ok(applied) => applied,
            Err(e) => {
                // The replica cannot follow the relay any more: reopen it from scratch.
                self.drop_model(local);
                events.push(json!({
                    "type": "model_lost", "local": local, "code": e.code(), "message": e.to_string(),
                }));
                return Ok(());
            }
        };
        events.remote_changes(local, model, &applied, &who);
        Ok(())
    }

    fn remote_reference(
        &mut self,
        reference: tandem_core::protocol::RemoteReference,
        events: &mut Events,
    ) {
        use tandem_core::protocol::RemoteReference as R;
        let (handle, session_id, key, value, kind) = match reference {
            R::Shared {
                model,
                session_id,
                key,
                value,
                ..
            } => (model, session_id, key, Some(value), "shared"),
            R::Set {
                model,
                session_id,
                key,
                value,
                ..
            } => (model, session_id, key, Some(value), "set"),
            R::Cleared {
                model,
                session_id,
                key,
                ..
            } => (model, session_id, key, None, "cleared"),
            R::Unshared {
                model,
                session_id,
                key,
                ..
            } => (model, session_id, key, None, "unshared"),
        };
        let Some(local) = self.local_of(handle) else {
            return;
        };
        let Ok(model) = self.model_mut(local) else {
            return;
        };
        let element = key.element.map(|e| model.handle_of(e));
        let user_id = model
            .collaborators
            .iter()
            .find(|c| c.session_id == session_id)
            .map(|c| c.user.user_id.clone());
        model
            .client
            .on_remote_reference(session_id.clone(), key.clone(), value);
        events.push(json!({
            "type": "reference", "local": local, "event": kind,
            "sessionId": session_id, "userId": user_id,
            "element": element, "key": key.key,
        }));
    }
}
