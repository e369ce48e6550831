//! A native client built on the core's client state machine and tokio-tungstenite: what the
//! relay's whole-system tests and the load generator drive. It speaks the real protocol over a
//! real socket; nothing of the relay is mocked.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tandem_core::client::ClientModel;
use tandem_core::protocol::{
    decode_relay, encode_client, ActivityEvent, Auth, ChatEvent, ClientMessage, ErrorCode, Hello,
    Limits, ModelContent, ModelHandle, OpenedModel, PresenceEvent, RelayMessage, RemoteReference,
    Request, Response, Welcome, PROTOCOL_VERSION,
};
use tandem_core::{IdGenerator, Model, Op, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Why a test client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientFailure {
    /// The socket failed or closed (with its close code, if any).
    #[error("connection closed ({0:?})")]
    Closed(Option<u16>),
    /// The relay answered with an error.
    #[error("relay error {code:?}: {message}")]
    Relay { code: ErrorCode, message: String },
    /// Nothing arrived in time.
    #[error("timed out")]
    Timeout,
    /// The relay said something unexpected.
    #[error("unexpected: {0}")]
    Unexpected(String),
}

impl ClientFailure {
    /// The relay's error code, if the relay refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientFailure::Relay { code, .. } => Some(*code),
            _ => None,
        }
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One open model on the client: its replica and where it lives.
pub struct ClientSideModel {
    /// Collection and id, for reopening after a reconnect.
    pub collection: String,
    /// The model id.
    pub id: String,
    /// The replica.
    pub replica: ClientModel,
}

/// A connected test client.
pub struct TestClient {
    socket: Socket,
    url: String,
    /// What the relay said at the handshake.
    pub welcome: Welcome,
    /// Ids for elements this client creates.
    pub ids: IdGenerator,
    next_request: u64,
    responses: HashMap<u64, Result<Response, ClientFailure>>,
    /// Open models by handle.
    pub models: HashMap<ModelHandle, ClientSideModel>,
    /// `OpRejected` and `Error` messages received, in order.
    pub errors: Vec<(ErrorCode, String)>,
    /// Remote reference events received.
    pub reference_events: usize,
    /// When the last remote operation was applied, for latency measurements.
    pub last_remote_at: Option<Instant>,
    /// Remote operations applied (other sessions' only).
    pub remote_ops: u64,
    /// Presence events received, in order.
    pub presence_events: Vec<PresenceEvent>,
    /// Activity events received, in order, with when each arrived (for latency figures).
    pub activity_events: Vec<(Instant, ActivityEvent)>,
    /// Chat events received, in order.
    pub chat_events: Vec<ChatEvent>,
    /// Models reopened whose missed operations are still arriving as a resync.
    resyncing: std::collections::HashSet<ModelHandle>,
}

/// How long a request may take in tests before it counts as lost.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl TestClient {
    /// Connects to `url` (e.g. `ws://127.0.0.1:PORT/ws`) and authenticates.
    pub async fn connect(url: &str, auth: Auth) -> Result<TestClient, ClientFailure> {
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|_| ClientFailure::Closed(None))?;
        let hello = ClientMessage::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            auth,
            client_name: "tandem-test-client".into(),
        });
        socket
            .send(Message::binary(encode_client(&hello)))
            .await
            .map_err(|_| ClientFailure::Closed(None))?;
        let welcome = loop {
            match read(&mut socket, Duration::from_secs(10)).await? {
                RelayMessage::Welcome(w) => break w,
                RelayMessage::Error { code, message, .. } => {
                    return Err(ClientFailure::Relay { code, message })
                }
                RelayMessage::Ping { .. } => continue,
                other => return Err(ClientFailure::Unexpected(format!("{other:?}"))),
            }
        };
        let ids = IdGenerator::new(welcome.site);
        Ok(TestClient {
            socket,
            url: url.to_owned(),
            welcome,
            ids,
            next_request: 1,
            responses: HashMap::new(),
            models: HashMap::new(),
            errors: Vec::new(),
            reference_events: 0,
            last_remote_at: None,
            remote_ops: 0,
            presence_events: Vec::new(),
            activity_events: Vec::new(),
            chat_events: Vec::new(),
            resyncing: std::collections::HashSet::new(),
        })
    }

    /// Connects anonymously.
    pub async fn anonymous(url: &str, name: &str) -> Result<TestClient, ClientFailure> {
        TestClient::connect(
            url,
            Auth::Anonymous {
                display_name: name.into(),
            },
        )
        .await
    }

    /// Sends a message.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), ClientFailure> {
        self.socket
            .send(Message::binary(encode_client(message)))
            .await
            .map_err(|_| ClientFailure::Closed(None))
    }

    /// Sends raw bytes (for bad-input tests).
    pub async fn send_raw(&mut self, frame: Message) -> Result<(), ClientFailure> {
        self.socket
            .send(frame)
            .await
            .map_err(|_| ClientFailure::Closed(None))
    }

    /// Sends a request and waits for its answer, handling everything else that arrives.
    pub async fn request(&mut self, request: Request) -> Result<Response, ClientFailure> {
        let request_id = self.next_request;
        self.next_request += 1;
        self.send(&ClientMessage::Request {
            request_id,
            request,
        })
        .await?;
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            if let Some(answer) = self.responses.remove(&request_id) {
                return answer;
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or(ClientFailure::Timeout)?;
            let message = read(&mut self.socket, left).await?;
            self.handle(message).await?;
        }
    }

    /// Opens (or creates with `initial`) a model and keeps a replica of it.
    pub async fn open_or_create(
        &mut self,
        collection: &str,
        id: &str,
        initial: serde_json::Value,
    ) -> Result<ModelHandle, ClientFailure> {
        let value =
            Value::from_json(&initial).map_err(|e| ClientFailure::Unexpected(e.to_string()))?;
        let mut data = value.into_node(&mut self.ids);
        data.id = tandem_core::ElementId::ROOT;
        let request = Request::OpenOrCreateModel {
            collection: collection.into(),
            id: id.into(),
            data,
        };
        let opened = match self.request(request).await? {
            Response::ModelOpened(opened) => opened,
            other => return Err(ClientFailure::Unexpected(format!("{other:?}"))),
        };
        self.adopt(collection, id, opened, None)
    }

    /// Opens an existing model.
    pub async fn open(&mut self, collection: &str, id: &str) -> Result<ModelHandle, ClientFailure> {
        let request = Request::OpenModel {
            collection: collection.into(),
            id: id.into(),
            known_version: None,
        };
        match self.request(request).await? {
            Response::ModelOpened(opened) => self.adopt(collection, id, opened, None),
            other => Err(ClientFailure::Unexpected(format!("{other:?}"))),
        }
    }

    fn adopt(
        &mut self,
        collection: &str,
        id: &str,
        opened: OpenedModel,
        previous: Option<ClientModel>,
    ) -> Result<ModelHandle, ClientFailure> {
        let handle = opened.model;
        let replica = match (opened.content, previous) {
            (ModelContent::Data(node), _) => {
                let model =
                    Model::new(node).map_err(|e| ClientFailure::Unexpected(e.to_string()))?;
                ClientModel::new(model, opened.version, self.welcome.site)
            }
            (ModelContent::OpsSince { ops, .. }, Some(mut replica)) => {
                for op in ops {
                    replica
                        .on_remote(op.version, op.origin, op.seq, op.op)
                        .map_err(|e| ClientFailure::Unexpected(e.to_string()))?;
                }
                replica.on_resynced();
                replica
            }
            (ModelContent::OpsSince { .. }, None) => {
                return Err(ClientFailure::Unexpected("ops without a replica".into()))
            }
        };
        let mut replica = replica;
        for shared in opened.references {
            replica.on_remote_reference(shared.session_id, shared.key, shared.value);
        }
        self.models.insert(
            handle,
            ClientSideModel {
                collection: collection.into(),
                id: id.into(),
                replica,
            },
        );
        Ok(handle)
    }

    /// The replica of an open model.
    pub fn replica(&self, handle: ModelHandle) -> &ClientModel {
        &self.models[&handle].replica
    }

    /// Applies a local operation (sent with the next [`TestClient::flush`]).
    pub fn submit(
        &mut self,
        handle: ModelHandle,
        op: Op,
    ) -> Result<(), tandem_core::client::ClientError> {
        self.models
            .get_mut(&handle)
            .expect("open model")
            .replica
            .submit(op)
            .map(drop)
    }

    /// Sends every queued operation (as one batch per model) and reference update.
    pub async fn flush(&mut self) -> Result<(), ClientFailure> {
        let mut frames = Vec::new();
        for (handle, model) in self.models.iter_mut() {
            let out = model.replica.take_outgoing();
            if let Some(first) = out.ops.first() {
                frames.push(ClientMessage::SubmitOps {
                    model: *handle,
                    origin: first.origin,
                    first_seq: first.seq,
                    context_version: first.context_version,
                    ops: out.ops.iter().map(|u| u.op.clone()).collect(),
                });
            }
            for update in out.references {
                frames.push(match update {
                    tandem_core::client::ReferenceUpdate::Set {
                        key,
                        value,
                        context_version,
                    } => ClientMessage::SetReference {
                        model: *handle,
                        key,
                        value,
                        context_version,
                    },
                    tandem_core::client::ReferenceUpdate::Unset { key } => {
                        ClientMessage::UnshareReference {
                            model: *handle,
                            key,
                            context_version: model.replica.version(),
                        }
                    }
                });
            }
        }
        for frame in frames {
            self.socket
                .feed(Message::binary(encode_client(&frame)))
                .await
                .map_err(|_| ClientFailure::Closed(None))?;
        }
        self.socket
            .flush()
            .await
            .map_err(|_| ClientFailure::Closed(None))
    }

    /// Handles whatever arrives for `duration`.
    pub async fn pump(&mut self, duration: Duration) -> Result<(), ClientFailure> {
        let deadline = Instant::now() + duration;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match read(&mut self.socket, left).await {
                Ok(message) => self.handle(message).await?,
                Err(ClientFailure::Timeout) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads and handles one message, waiting at most `timeout`.
    pub async fn pump_one(&mut self, timeout: Duration) -> Result<(), ClientFailure> {
        let message = read(&mut self.socket, timeout).await?;
        self.handle(message).await
    }

    /// Flushes and handles messages until every open model's operations are acknowledged and
    /// the model has reached at least `version`, or `timeout` passes.
    pub async fn settle(&mut self, version: u64, timeout: Duration) -> Result<(), ClientFailure> {
        let deadline = Instant::now() + timeout;
        loop {
            self.flush().await?;
            if self
                .models
                .values()
                .all(|m| m.replica.is_settled() && m.replica.version() >= version)
            {
                return Ok(());
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or(ClientFailure::Timeout)?;
            let message = read(&mut self.socket, left.min(Duration::from_millis(200))).await;
            match message {
                Ok(m) => self.handle(m).await?,
                Err(ClientFailure::Timeout) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Reconnects with the reconnect token after the socket was lost (or cut), reopening every
    /// model from its version: the relay replays what was missed, the replica recognises its
    /// own operations among them, and what is left is sent again.
    pub async fn reconnect(&mut self, url: Option<&str>) -> Result<(), ClientFailure> {
        let url = url.unwrap_or(&self.url).to_owned();
        let token = self.welcome.reconnect_token.clone();
        let models: Vec<_> = self.models.drain().map(|(_, m)| m).collect();
        let fresh = TestClient::connect(&url, Auth::ReconnectToken { token }).await?;
        self.socket = fresh.socket;
        self.welcome = fresh.welcome;
        self.url = url;
        for mut model in models {
            model.replica.on_disconnect();
            let request = Request::OpenModel {
                collection: model.collection.clone(),
                id: model.id.clone(),
                known_version: Some(model.replica.version()),
            };
            match self.request(request).await? {
                Response::ModelOpened(opened) => {
                    let (collection, id) = (model.collection.clone(), model.id.clone());
                    self.adopt(&collection, &id, opened, Some(model.replica))?;
                }
                other => return Err(ClientFailure::Unexpected(format!("{other:?}"))),
            }
        }
        self.flush().await
    }

    /// Closes the socket abruptly (no close handshake), as a lost network does.
    pub async fn cut(self) {
        drop(self.socket);
    }

    /// Closes the socket properly.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }

    async fn handle(&mut self, message: RelayMessage) -> Result<(), ClientFailure> {
        match message {
            RelayMessage::Response {
                request_id,
                response,
            } => {
                self.responses.insert(request_id, Ok(response));
            }
            RelayMessage::Error {
                request_id: Some(id),
                code,
                message,
            } => {
                self.responses
                    .insert(id, Err(ClientFailure::Relay { code, message }));
            }
            RelayMessage::Error {
                request_id: None,
                code,
                message,
            } => self.errors.push((code, message)),
            RelayMessage::OpRejected { code, message, .. } => self.errors.push((code, message)),
            RelayMessage::RemoteOps { model, ops } | RelayMessage::ResyncOps { model, ops } => {
                if let Some(m) = self.models.get_mut(&model) {
                    for op in ops {
                        let own = op.origin == m.replica.origin();
                        m.replica
                            .on_remote(op.version, op.origin, op.seq, op.op)
                            .map_err(|e| ClientFailure::Unexpected(e.to_string()))?;
                        if !own {
                            self.remote_ops += 1;
                        }
                    }
                    self.last_remote_at = Some(Instant::now());
                }
            }
            RelayMessage::RemoteOp {
                model,
                version,
                origin,
                seq,
                op,
                ..
            } => {
                if let Some(m) = self.models.get_mut(&model) {
                    m.replica
                        .on_remote(version, origin, seq, op)
                        .map_err(|e| ClientFailure::Unexpected(e.to_string()))?;
                }
            }
            RelayMessage::OpAck {
                model,
                seq,
                version,
                ..
            } => {
                if let Some(m) = self.models.get_mut(&model) {
                    m.replica
                        .on_ack(seq, version)
                        .map_err(|e| ClientFailure::Unexpected(e.to_string()))?;
                }
            }
            RelayMessage::RemoteReference(event) => {
                self.reference_events += 1;
                let (model, session, key, value) = match event {
                    RemoteReference::Shared {
                        model,
                        session_id,
                        key,
                        value,
                        ..
                    }
                    | RemoteReference::Set {
                        model,
                        session_id,
                        key,
                        value,
                        ..
                    } => (model, session_id, key, Some(value)),
                    RemoteReference::Cleared {
                        model,
                        session_id,
                        key,
                        ..
                    }
                    | RemoteReference::Unshared {
                        model,
                        session_id,
                        key,
                        ..
                    } => (model, session_id, key, None),
                };
                if let Some(m) = self.models.get_mut(&model) {
                    m.replica.on_remote_reference(session, key, value);
                }
            }
            RelayMessage::CollaboratorClosed { model, session_id } => {
                if let Some(m) = self.models.get_mut(&model) {
                    m.replica.on_session_left(&session_id);
                }
            }
            RelayMessage::ResyncComplete { model, .. } if self.resyncing.remove(&model) => {
                if let Some(m) = self.models.get_mut(&model) {
                    m.replica.on_resynced();
                }
            }
            RelayMessage::ModelDeleted { model } | RelayMessage::ModelForceClosed { model, .. } => {
                self.models.remove(&model);
            }
            RelayMessage::Presence(event) => self.presence_events.push(event),
            RelayMessage::Activity(event) => self.activity_events.push((Instant::now(), event)),
            RelayMessage::Chat(event) => self.chat_events.push(event),
            RelayMessage::Ping { nonce } => self.send(&ClientMessage::Pong { nonce }).await?,
            _ => {}
        }
        Ok(())
    }
}

/// Reads the next relay message, answering nothing, within `timeout`.
async fn read(socket: &mut Socket, timeout: Duration) -> Result<RelayMessage, ClientFailure> {
    let limits = Limits {
        max_frame_bytes: usize::MAX / 2,
        ..Limits::default()
    };
    // The relay sends a large message's pieces one after the other.
    let mut pieces = tandem_core::protocol::pieces::Reassembler::new(limits.max_frame_bytes);
    loop {
        let next = tokio::time::timeout(timeout, socket.next())
            .await
            .map_err(|_| ClientFailure::Timeout)?;
        match next {
            Some(Ok(Message::Binary(bytes))) => {
                use tandem_core::protocol::pieces::Assembled;
                let message = match pieces.push(&bytes) {
                    Ok(Assembled::Partial) => continue,
                    Ok(Assembled::Whole(whole)) => decode_relay(whole, &limits),
                    Ok(Assembled::Complete(message)) => decode_relay(&message, &limits),
                    Err(e) => return Err(ClientFailure::Unexpected(e.to_string())),
                };
                return message.map_err(|e| ClientFailure::Unexpected(e.to_string()));
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(ClientFailure::Closed(frame.map(|f| f.code.into())))
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(ClientFailure::Closed(None)),
        }
    }
}
