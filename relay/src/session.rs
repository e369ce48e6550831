//! One WebSocket connection: the handshake, then every message of the session.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tandem_core::protocol::{
    decode_client, pieces, ActivityHandle, ActivityRights, Auth, ClientMessage, ErrorCode, Hello,
    ModelHandle, RelayMessage, Request, Welcome, PROTOCOL_VERSION,
};
use tandem_core::{Op, ReferenceKey, ReferenceValue};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// An upgraded client connection.
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

use crate::auth::{self, AuthError};
use crate::error::RelayError;
use crate::registry::{frame, user_info, Command, Member, Submission};
use crate::requests;
use crate::store::{Permissions, User};
use crate::time::now_ms;
use crate::Relay;

/// Close codes the relay uses (4000-4999 are the application's).
pub mod close {
    /// The relay is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame broke the protocol badly enough that the connection is unusable.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Flooding, or too many bad frames.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A frame over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// No heartbeat answer in time.
    pub const HEARTBEAT_TIMEOUT: u16 = 4000;
    /// Authentication failed.
    pub const AUTH_FAILED: u16 = 4001;
    /// The client speaks a protocol version the relay does not.
    pub const UNSUPPORTED_PROTOCOL: u16 = 4002;
    /// No `Hello` in time, or something else first.
    pub const NO_HELLO: u16 = 4003;
    /// The client did not take its frames fast enough; it must reconnect and resync.
    pub const TOO_SLOW: u16 = 4004;
}

/// How long a client has to say `Hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bad frames tolerated before the connection is closed.
const MAX_BAD_FRAMES: u32 = 20;
/// Rate-limited messages in a row tolerated before the connection is closed.
const MAX_FLOOD: u32 = 1_000;

/// A model this session has open.
pub struct OpenModel {
    /// The model's store key (see `store::model_key`).
    pub id: String,
    /// Its collection, for checking permissions again.
    pub collection: String,
    /// Its task.
    pub tx: mpsc::Sender<Command>,
    /// What the session may do on it.
    pub permissions: Permissions,
    /// The permission epoch `permissions` were read at; checked again when it moves.
    pub epoch: u64,
}

/// A session's state once authenticated.
pub struct Session {
    /// Shared relay state.
    pub relay: Arc<Relay>,
    /// How the session appears to models.
    pub member: Member,
    /// Models opened, by handle.
    pub open: HashMap<ModelHandle, OpenModel>,
    /// Activities joined, by number.
    pub activities: HashMap<ActivityHandle, JoinedActivity>,
}

/// An activity this session is in.
pub struct JoinedActivity {
    /// Its type, for checking the session's rights again.
    pub activity_type: String,
    /// Its id.
    pub activity_id: String,
    /// Whether the session lurks.
    pub lurking: bool,
    /// What the session may do in it (checked again when permissions change).
    pub rights: ActivityRights,
}

/// A token bucket: `rate` per second, up to `burst` saved up.
struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    fn new(rate: u32, burst: u32) -> Self {
        RateLimiter {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            at: Instant::now(),
        }
    }

    fn allow(&mut self, cost: usize) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + (now - self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= cost as f64 {
            self.tokens -= cost as f64;
            true
        } else {
            false
        }
    }
}

/// Serves one WebSocket until it closes or the relay shuts down.
pub async fn serve(relay: Arc<Relay>, socket: WebSocket) {
    relay.metrics.connections.inc();
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut queued) = mpsc::channel::<Bytes>(relay.config.outbox_frames);
    let (stop, mut stopped) = oneshot::channel::<(u16, String)>();
    let max_frame = relay.config.max_frame_bytes;
    // The writer: sends queued frames, coalescing whatever is queued into one flush.
    let writer = tokio::spawn(async move {
        let reason = loop {
            tokio::select! {
                biased;
                reason = &mut stopped => {
                    // Send what is already queued first.
                    while let Ok(frame) = queued.try_recv() {
                        if !feed(&mut sink, frame, max_frame).await {
                            return;
                        }
                    }
                    break reason.unwrap_or((1000, String::new()));
                }
                frame = queued.recv() => {
                    let Some(frame) = frame else {
                        break (&mut stopped).await.unwrap_or((1000, String::new()));
                    };
                    let mut ok = feed(&mut sink, frame, max_frame).await;
                    while ok {
                        match queued.try_recv() {
                            Ok(frame) => ok = feed(&mut sink, frame, max_frame).await,
                            Err(_) => break,
                        }
                    }
                    if !ok || sink.flush().await.is_err() {
                        return;
                    }
                }
            }
        };
        let close = CloseFrame {
            code: CloseCode::from(reason.0),
            reason: reason.1.into(),
        };
        let _ = sink.send(Message::Close(Some(close))).await;
        let _ = sink.close().await;
    });

    let reason = match handshake(&relay, &mut stream, &outbox).await {
        Ok(member) => {
            relay.metrics.sessions.inc();
            relay.presence.connected(&member);
            relay.chat.connected(&member);
            let mut session = Session {
                relay: relay.clone(),
                member,
                open: HashMap::new(),
                activities: HashMap::new(),
            };
            let reason = session.run(&mut stream).await;
            for number in session.activities.keys() {
                relay.activities.leave(&session.member, *number);
            }
            relay.presence.disconnected(&session.member);
            crate::chat::session_gone(&relay, &session.member).await;
            if reason.0 == close::GOING_AWAY {
                // Let the models store and acknowledge what this session sent before closing.
                let mut drained = relay.drained.clone();
                let wait = async move {
                    while !*drained.borrow_and_update() {
                        if drained.changed().await.is_err() {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
            }
            session.close_all().await;
            relay.metrics.sessions.dec();
            reason
        }
        Err(reason) => reason,
    };
    let _ = stop.send(reason);
    drop(outbox);
    let _ = writer.await;
    relay.metrics.connections.dec();
}

/// Queues one frame on the socket: as it is or, larger than a frame, in pieces (each flushed as
/// it goes, so that a big model is not buffered twice). False once the socket is gone.
async fn feed(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    frame: Bytes,
    max_frame: usize,
) -> bool {
    if frame.len() <= max_frame {
        return sink.feed(Message::Binary(frame)).await.is_ok();
    }
    for piece in pieces::split(frame.to_vec(), max_frame) {
        if sink.send(Message::Binary(piece.into())).await.is_err() {
            return false;
        }
    }
    true
}

/// Sends an error frame.
fn send_error(
    outbox: &mpsc::Sender<Bytes>,
    request_id: Option<u64>,
    code: ErrorCode,
    message: impl Into<String>,
) {
    let _ = outbox.try_send(frame(&RelayMessage::Error {
        request_id,
        code,
        message: message.into(),
    }));
}

/// Waits for `Hello`, authenticates, and answers `Welcome`; or says why not.
async fn handshake(
    relay: &Arc<Relay>,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    outbox: &mpsc::Sender<Bytes>,
) -> Result<Member, (u16, String)> {
    let first = tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await;
    let message = match first {
        Ok(Some(Ok(Message::Binary(m)))) => m,
        Ok(Some(Ok(_))) => {
            return Err(refuse(
                outbox,
                close::NO_HELLO,
                ErrorCode::MalformedMessage,
                "frames must be binary",
            ))
        }
        Ok(Some(Err(_))) => return Err((close::TOO_BIG, "unreadable frame".into())),
        Ok(None) => return Err((1000, String::new())),
        Err(_) => {
            return Err(refuse(
                outbox,
                close::NO_HELLO,
                ErrorCode::Timeout,
                "no Hello in time",
            ))
        }
    };
    let hello = match decode_client(&message, &relay.limits()) {
        Ok(ClientMessage::Hello(hello)) => hello,
        Ok(_) => {
            return Err(refuse(
                outbox,
                close::NO_HELLO,
                ErrorCode::Unauthenticated,
                "the first message must be Hello",
            ))
        }
        Err(e) => {
            relay.metrics.bad_frames.add(1);
            return Err(refuse(
                outbox,
                close::PROTOCOL_ERROR,
                (&e).into(),
                e.to_string(),
            ));
        }
    };
    if hello.protocol_version != PROTOCOL_VERSION {
        let message = format!(
            "protocol version {} is not supported; this relay speaks {PROTOCOL_VERSION}",
            hello.protocol_version
        );
        return Err(refuse(
            outbox,
            close::UNSUPPORTED_PROTOCOL,
            ErrorCode::UnsupportedProtocolVersion,
            message,
        ));
    }
    let (identity, site) = match authenticate(relay, &hello).await {
        Ok(found) => found,
        Err(e) => return Err(refuse(outbox, close::AUTH_FAILED, e.code(), e.to_string())),
    };
    let key = relay.next_session.fetch_add(1, Ordering::Relaxed);
    let session_id: Arc<str> = Arc::from(crate::ids::session_id());
    let token = auth::new_reconnect_token();
    let expires = now_ms() + (relay.config.reconnect_token_hours * 3_600_000) as i64;
    if let Err(e) = relay
        .store
        .put_reconnect_token(&auth::token_hash(&token), &identity.user_id, expires)
        .await
    {
        return Err(refuse(outbox, 1011, ErrorCode::Internal, e.to_string()));
    }
    let welcome = Welcome {
        session_id: session_id.to_string(),
        user: user_info(&identity),
        site,
        reconnect_token: token,
        server_time_ms: now_ms(),
        max_frame_bytes: relay.config.max_frame_bytes as u64,
        max_message_bytes: relay.config.max_message_bytes as u64,
    };
    let _ = outbox.try_send(frame(&RelayMessage::Welcome(welcome)));
    tracing::info!(session = %session_id, user = %identity.user_id, client = %hello.client_name, "session opened");
    Ok(Member {
        key,
        session_id,
        identity: Arc::new(identity),
        site,
        origin: site,
        outbox: outbox.clone(),
        too_slow: Arc::new(tokio::sync::Notify::new()),
    })
}

fn refuse(
    outbox: &mpsc::Sender<Bytes>,
    code: u16,
    error: ErrorCode,
    message: impl Into<String>,
) -> (u16, String) {
    let message = message.into();
    send_error(outbox, None, error, message.clone());
    (code, error.as_str().to_owned())
}

/// Finds out who the session is and which site its client uses.
async fn authenticate(
    relay: &Relay,
    hello: &Hello,
) -> Result<(crate::permissions::Identity, u64), RelayError> {
    let store = &relay.store;
    let user = match &hello.auth {
        Auth::Anonymous { display_name } => {
            if !relay.config.allow_anonymous {
                return Err(AuthError::Disabled("anonymous").into());
            }
            let name = auth::check_display_name(display_name)?;
            let id = format!(
                "{}{}",
                crate::ids::ANONYMOUS_PREFIX,
                crate::ids::random_id()
            );
            let user = User {
                id: id.clone(),
                username: id,
                display_name: name.to_owned(),
                email: None,
                avatar_url: None,
                password_hash: None,
            };
            store.create_user(&user).await?;
            return Ok((
                relay.identity(user, Vec::new()).await?,
                crate::ids::new_site(),
            ));
        }
        Auth::Password { username, password } => {
            let user = store.user_by_username(username).await?;
            let hash = user.as_ref().and_then(|u| u.password_hash.clone());
            let password = password.clone();
            // Hashing is deliberately slow: keep it off the async workers.
            let checked = tokio::task::spawn_blocking(move || match hash {
                Some(hash) => auth::verify_password(&password, &hash),
                None => {
                    // Same cost whether or not the user exists.
                    let _ = auth::hash_password(&password);
                    Err(AuthError::WrongPassword)
                }
            })
            .await
            .map_err(|_| AuthError::WrongPassword)?;
            checked?;
            user.ok_or(AuthError::WrongPassword)?
        }
        Auth::Jwt { token } => {
            let claims = relay.jwt.verify(token)?;
            let username = claims
                .preferred_username
                .clone()
                .unwrap_or_else(|| claims.sub.clone());
            let display_name = claims.name.clone().unwrap_or_else(|| username.clone());
            let user = User {
                id: claims.sub.clone(),
                username,
                display_name,
                email: claims.email.clone(),
                avatar_url: None,
                password_hash: None,
            };
            // The JWT is the source of truth for its users: keep the store's copy current so
            // that lookups and search find them.
            match store.user_by_id(&user.id).await? {
                Some(existing) => {
                    let updated = User {
                        password_hash: existing.password_hash.clone(),
                        avatar_url: existing.avatar_url.clone(),
                        ..user
                    };
                    let updated = if updated == existing {
                        updated
                    } else {
                        match store.update_user(&updated).await {
                            Ok(()) => updated,
                            // A new username taken by another account: keep the old one.
                            Err(crate::store::StoreError::Exists(_)) => {
                                let kept = User {
                                    username: existing.username.clone(),
                                    ..updated
                                };
                                store.update_user(&kept).await?;
                                kept
                            }
                            Err(e) => return Err(e.into()),
                        }
                    };
                    return Ok((
                        relay.identity(updated, claims.groups).await?,
                        crate::ids::new_site(),
                    ));
                }
                None => {
                    let user = match store.create_user(&user).await {
                        Ok(()) => user,
                        // The token's username belongs to another account: the JWT user is
                        // known by its id instead.
                        Err(crate::store::StoreError::Exists(_)) => {
                            let user = User {
                                username: user.id.clone(),
                                ..user
                            };
                            store.create_user(&user).await.map_err(|_| {
                                AuthError::InvalidToken(
                                    "the token's user collides with another account".into(),
                                )
                            })?;
                            user
                        }
                        Err(e) => return Err(e.into()),
                    };
                    return Ok((
                        relay.identity(user, claims.groups).await?,
                        crate::ids::new_site(),
                    ));
                }
            }
        }
        Auth::ReconnectToken { token } => {
            let user_id = store
                .reconnect_token_user(&auth::token_hash(token), now_ms())
                .await?
                .ok_or_else(|| {
                    AuthError::InvalidToken("unknown or expired reconnect token".into())
                })?;
            let user = store
                .user_by_id(&user_id)
                .await?
                .ok_or_else(|| AuthError::InvalidToken("the user is gone".into()))?;
            // A fresh site even so: several sessions may resume from one token, and each
            // makes element ids of its own.
            return Ok((
                relay.identity(user, Vec::new()).await?,
                crate::ids::new_site(),
            ));
        }
    };
    Ok((
        relay.identity(user, Vec::new()).await?,
        crate::ids::new_site(),
    ))
}

impl Session {
    /// Reads messages until the socket closes, the relay shuts down or the session misbehaves.
    async fn run(
        &mut self,
        stream: &mut futures_util::stream::SplitStream<WebSocket>,
    ) -> (u16, String) {
        let config = &self.relay.config;
        let heartbeat = Duration::from_secs(config.heartbeat_seconds.max(1));
        let mut ticker = tokio::time::interval(heartbeat);
        ticker.tick().await;
        let mut last_seen = Instant::now();
        let mut limiter = RateLimiter::new(config.rate_limit, config.rate_burst);
        let mut bad_frames = 0;
        let mut flood = 0;
        let mut shutdown = self.relay.shutdown.clone();
        let mut epochs = self.relay.permission_epochs.subscribe();
        let limits = self.relay.limits();
        let mut reassembler = pieces::Reassembler::new(self.relay.config.max_message_bytes);
        loop {
            let message = tokio::select! {
                m = stream.next() => m,
                _ = ticker.tick() => {
                    if last_seen.elapsed() > heartbeat * 3 {
                        return (close::HEARTBEAT_TIMEOUT, "heartbeat timeout".into());
                    }
                    let _ = self.member.outbox.try_send(frame(&RelayMessage::Ping { nonce: now_ms() as u64 }));
                    continue;
                }
                _ = epochs.changed() => {
                    self.recheck_all().await;
                    self.recheck_activities().await;
                    continue;
                }
                _ = shutdown.changed() => return (close::GOING_AWAY, "going_away".into()),
                _ = self.member.too_slow.notified() => return (close::TOO_SLOW, "too slow".into()),
            };
            let message = match message {
                None => return (1000, String::new()),
                Some(Err(e)) => {
                    // Oversized frames surface here, as do broken connections.
                    self.relay.metrics.bad_frames.add(1);
                    send_error(
                        &self.member.outbox,
                        None,
                        ErrorCode::FrameTooLarge,
                        e.to_string(),
                    );
                    return (close::TOO_BIG, "frame_too_large".into());
                }
                Some(Ok(m)) => m,
            };
            last_seen = Instant::now();
            let bytes = match message {
                Message::Close(_) => return (1000, String::new()),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                Message::Binary(bytes) => bytes,
                Message::Text(_) => {
                    bad_frames += 1;
                    send_error(
                        &self.member.outbox,
                        None,
                        ErrorCode::MalformedMessage,
                        "frames must be binary",
                    );
                    if bad_frames > MAX_BAD_FRAMES {
                        return (close::POLICY_VIOLATION, "too many bad frames".into());
                    }
                    continue;
                }
            };
            let whole = match reassembler.push(&bytes) {
                Ok(pieces::Assembled::Whole(whole)) => std::borrow::Cow::Borrowed(whole),
                Ok(pieces::Assembled::Complete(message)) => std::borrow::Cow::Owned(message),
                Ok(pieces::Assembled::Partial) => continue,
                Err(e) => {
                    // The client refuses such edits itself; one that sends them anyway has
                    // lost track of the limit, and the connection's state with it.
                    self.relay.metrics.bad_frames.add(1);
                    let code = match e {
                        pieces::PieceError::TooLarge { .. } => ErrorCode::FrameTooLarge,
                        pieces::PieceError::Malformed => ErrorCode::MalformedMessage,
                    };
                    send_error(&self.member.outbox, None, code, e.to_string());
                    return (close::TOO_BIG, code.as_str().into());
                }
            };
            match decode_client(&whole, &limits) {
                Ok(decoded) => {
                    let cost = match &decoded {
                        ClientMessage::SubmitOps { ops, .. } => ops.len().max(1),
                        _ => 1,
                    };
                    if limiter.allow(cost) {
                        flood = 0;
                        self.handle(decoded).await;
                    } else {
                        flood += 1;
                        self.relay.metrics.rate_limited.add(1);
                        self.reject_limited(decoded);
                        if flood > MAX_FLOOD {
                            return (close::POLICY_VIOLATION, "rate_limited".into());
                        }
                    }
                }
                Err(e) => {
                    bad_frames += 1;
                    self.relay.metrics.bad_frames.add(1);
                    send_error(&self.member.outbox, None, (&e).into(), e.to_string());
                }
            }
            if bad_frames > MAX_BAD_FRAMES {
                return (close::POLICY_VIOLATION, "too many bad frames".into());
            }
        }
    }

    /// Answers a message refused by rate limiting, so the client knows what was dropped.
    fn reject_limited(&self, message: ClientMessage) {
        let outbox = &self.member.outbox;
        match message {
            ClientMessage::Request { request_id, .. } => send_error(
                outbox,
                Some(request_id),
                ErrorCode::RateLimited,
                "too many messages; slow down",
            ),
            ClientMessage::SubmitOp { model, seq, .. } => self.reject_ops(
                model,
                seq,
                1,
                ErrorCode::RateLimited,
                "too many operations; slow down",
            ),
            ClientMessage::SubmitOps {
                model,
                first_seq,
                ops,
                ..
            } => self.reject_ops(
                model,
                first_seq,
                ops.len(),
                ErrorCode::RateLimited,
                "too many operations; slow down",
            ),
            _ => send_error(
                outbox,
                None,
                ErrorCode::RateLimited,
                "too many messages; slow down",
            ),
        }
    }

    fn reject_ops(
        &self,
        model: ModelHandle,
        first_seq: u64,
        count: usize,
        code: ErrorCode,
        message: &str,
    ) {
        for i in 0..count as u64 {
            let rejected = RelayMessage::OpRejected {
                model,
                seq: first_seq + i,
                code,
                message: message.to_owned(),
            };
            let _ = self.member.outbox.try_send(frame(&rejected));
        }
    }

    async fn handle(&mut self, message: ClientMessage) {
        match message {
            ClientMessage::Hello(_) => send_error(
                &self.member.outbox,
                None,
                ErrorCode::InvalidRequest,
                "already authenticated",
            ),
            ClientMessage::Request {
                request_id,
                request,
            } => {
                let answer = match requests::handle(self, request_id, request).await {
                    Ok(requests::Reply::Send(response)) => RelayMessage::Response {
                        request_id,
                        response,
                    },
                    Ok(requests::Reply::Sent) => return,
                    Err(e) => RelayMessage::Error {
                        request_id: Some(request_id),
                        code: e.code(),
                        message: e.to_string(),
                    },
                };
                let _ = self.member.outbox.try_send(frame(&answer));
            }
            ClientMessage::SubmitOp {
                model,
                origin,
                seq,
                context_version,
                op,
            } => {
                self.submit(model, origin, seq, context_version, vec![op])
                    .await
            }
            ClientMessage::SubmitOps {
                model,
                origin,
                first_seq,
                context_version,
                ops,
            } => {
                self.submit(model, origin, first_seq, context_version, ops)
                    .await
            }
            ClientMessage::ResyncRequest {
                model,
                from_version,
            } => {
                if let Some(open) = self.open_model(model) {
                    let _ = open
                        .tx
                        .send(Command::Resync {
                            key: self.member.key,
                            from_version,
                        })
                        .await;
                }
            }
            ClientMessage::ShareReference {
                model,
                key,
                value,
                context_version,
            }
            | ClientMessage::SetReference {
                model,
                key,
                value,
                context_version,
            } => {
                self.reference(model, key, Some(value), false, context_version)
                    .await
            }
            ClientMessage::ClearReference {
                model,
                key,
                context_version,
            } => {
                self.reference(model, key, None, true, context_version)
                    .await
            }
            ClientMessage::UnshareReference {
                model,
                key,
                context_version,
            } => {
                self.reference(model, key, None, false, context_version)
                    .await
            }
            ClientMessage::Ping { nonce } => {
                let _ = self
                    .member
                    .outbox
                    .try_send(frame(&RelayMessage::Pong { nonce }));
            }
            ClientMessage::Pong { .. } => {}
        }
    }

    /// The open model behind a handle, or a `not_open` error to the client.
    fn open_model(&self, model: ModelHandle) -> Option<&OpenModel> {
        let open = self.open.get(&model);
        if open.is_none() {
            send_error(
                &self.member.outbox,
                None,
                ErrorCode::NotOpen,
                RelayError::NotOpen(model).to_string(),
            );
        }
        open
    }

    async fn submit(
        &mut self,
        model: ModelHandle,
        origin: u64,
        first_seq: u64,
        context_version: u64,
        ops: Vec<Op>,
    ) {
        self.recheck(model).await;
        let Some(open) = self.open.get(&model) else {
            self.reject_ops(
                model,
                first_seq,
                ops.len(),
                ErrorCode::NotOpen,
                "the model is not open in this session",
            );
            return;
        };
        if !open.permissions.write {
            self.reject_ops(
                model,
                first_seq,
                ops.len(),
                ErrorCode::PermissionDenied,
                "no write permission on this model",
            );
            return;
        }
        let count = ops.len();
        let command = Command::Submit(Submission {
            key: self.member.key,
            origin,
            first_seq,
            context_version,
            ops,
            received: Instant::now(),
        });
        if open.tx.send(command).await.is_err() {
            // The model was deleted (or the relay is stopping): the handle is dead.
            self.open.remove(&model);
            self.reject_ops(
                model,
                first_seq,
                count,
                ErrorCode::NotOpen,
                "the model is no longer open",
            );
        }
    }

    /// Reads the session's permissions on `model` again if they may have changed; a session
    /// that may no longer read it is closed out of it.
    async fn recheck(&mut self, model: ModelHandle) {
        let epoch = self.relay.permission_epoch();
        let Some(open) = self.open.get(&model) else {
            return;
        };
        if open.epoch == epoch {
            return;
        }
        let (collection, id) = (open.collection.clone(), open.id.clone());
        let granted = crate::permissions::effective(
            self.relay.store.as_ref(),
            &self.member.identity,
            &collection,
            Some(&id),
        )
        .await;
        let Some(open) = self.open.get_mut(&model) else {
            return;
        };
        match granted {
            Ok(granted) if granted.read => {
                open.permissions = granted;
                open.epoch = epoch;
            }
            Ok(_) => {
                let open = self.open.remove(&model).expect("present");
                let _ = open
                    .tx
                    .send(Command::Close {
                        key: self.member.key,
                    })
                    .await;
                let closed = RelayMessage::ModelForceClosed {
                    model,
                    code: ErrorCode::PermissionDenied,
                    message: "read permission on this model was revoked".into(),
                };
                let _ = self.member.outbox.try_send(frame(&closed));
            }
            Err(e) => tracing::warn!(error = %e, "permission check failed"),
        }
    }

    /// Checks the session's rights in its activities again (after a permission change): new
    /// rights apply at once, and a session that may no longer be there leaves (and is told, by
    /// its own `Left`).
    async fn recheck_activities(&mut self) {
        let numbers: Vec<ActivityHandle> = self.activities.keys().copied().collect();
        for number in numbers {
            let Some(joined) = self.activities.get(&number) else {
                continue;
            };
            let rights = match crate::permissions::activity_rights(
                self.relay.store.as_ref(),
                &self.member.identity,
                &joined.activity_type,
                Some(&joined.activity_id),
            )
            .await
            {
                Ok(rights) => rights,
                Err(e) => {
                    tracing::warn!(error = %e, "activity permission check failed");
                    continue;
                }
            };
            let lurking = joined.lurking;
            if (lurking && rights.lurk) || (!lurking && rights.join) {
                self.relay
                    .activities
                    .update_rights(&self.member, number, rights);
                if let Some(joined) = self.activities.get_mut(&number) {
                    joined.rights = rights;
                }
            } else {
                self.activities.remove(&number);
                self.relay.activities.leave(&self.member, number);
                let left = RelayMessage::Activity(tandem_core::protocol::ActivityEvent::Left {
                    activity: number,
                    session_id: self.member.session_id.to_string(),
                });
                let _ = self.member.outbox.try_send(frame(&left));
            }
        }
    }

    /// Checks every open model's permissions again (after a permission change).
    async fn recheck_all(&mut self) {
        let handles: Vec<ModelHandle> = self.open.keys().copied().collect();
        for handle in handles {
            self.recheck(handle).await;
        }
    }

    async fn reference(
        &mut self,
        model: ModelHandle,
        reference: ReferenceKey,
        value: Option<ReferenceValue>,
        cleared: bool,
        context_version: u64,
    ) {
        self.recheck(model).await;
        if let Some(open) = self.open_model(model) {
            let command = Command::Reference {
                key: self.member.key,
                reference,
                value,
                cleared,
                context_version,
            };
            let _ = open.tx.send(command).await;
        }
    }

    /// Closes every model this session has open (the session is ending).
    async fn close_all(&mut self) {
        for (_, open) in self.open.drain() {
            let _ = open
                .tx
                .send(Command::Close {
                    key: self.member.key,
                })
                .await;
        }
    }
}

/// A request not supported by this relay yet gets a clear error (and changes nothing).
pub fn unsupported(request: &Request) -> RelayError {
    use tandem_core::protocol::WireEnum;
    RelayError::InvalidRequest(format!(
        "{} is not available on this relay yet",
        request.variant_name()
    ))
}
