//! Helpers shared by the bad-input, auth and admin whole-system tests: a raw protocol client
//! (no client state machine, so a test can send exactly the frames it means to, well-formed or
//! not), a minimal HTTP/1.1 client over a plain `TcpStream`, and small model helpers. Everything
//! talks to a real relay over loopback sockets; nothing is mocked.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tandem_core::protocol::{
    decode_relay, encode_client, Auth, ClientMessage, ErrorCode, Hello, Limits, ModelContent,
    ModelHandle, OpenedModel, RelayMessage, Request, Response, Welcome, PROTOCOL_VERSION,
};
use tandem_core::{ElementId, IdGenerator, Node, NodeValue, Op, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected answer may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// The admin key `common::config` sets.
pub const ADMIN_KEY: &str = "test-admin-key";

/// Runs a whole test body with an overall time limit, so that no test can hang.
pub async fn bounded<F: Future>(limit: Duration, body: F) -> F::Output {
    tokio::time::timeout(limit, body)
        .await
        .expect("the test did not finish in time")
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What arrives on a raw connection.
#[derive(Debug)]
// Test support, read at once: boxing the message would only make every match noisier.
#[allow(clippy::large_enum_variant)]
pub enum Incoming {
    /// A decoded relay message.
    Message(RelayMessage),
    /// The connection closed, with the close frame's code if there was one.
    Closed(Option<u16>),
}

/// The errors a relay refused something with: `(request_id, code, message)`.
pub type Refusal = (Option<u64>, ErrorCode, String);

/// A protocol client that sends exactly what it is told to.
pub struct Raw {
    socket: Socket,
    next_request: u64,
    next_seq: u64,
    /// The handshake's answer (default until `hello` succeeded).
    pub welcome: Option<Welcome>,
    /// Ids for elements this client creates.
    pub ids: IdGenerator,
    /// Connection-level errors (no request id) seen while waiting for something else.
    pub errors: Vec<Refusal>,
}

impl Raw {
    /// Opens a WebSocket to `url` without saying anything.
    pub async fn connect(url: &str) -> Raw {
        let (socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("WebSocket upgrade");
        Raw {
            socket,
            next_request: 1,
            next_seq: 1,
            welcome: None,
            ids: IdGenerator::new(1),
            errors: Vec::new(),
        }
    }

    /// Connects and says `Hello` with `auth`; the relay's refusal (its error code and the close
    /// code) otherwise.
    pub async fn hello(url: &str, auth: Auth) -> Result<Raw, (ErrorCode, Option<u16>)> {
        Raw::hello_version(url, PROTOCOL_VERSION, auth).await
    }

    /// Like [`Raw::hello`] announcing `version`.
    pub async fn hello_version(
        url: &str,
        version: u32,
        auth: Auth,
    ) -> Result<Raw, (ErrorCode, Option<u16>)> {
        Raw::handshake(url, version, auth)
            .await
            .map_err(|(code, close, _)| (code, close))
    }

    /// Like [`Raw::hello`], with the refusal's message too.
    pub async fn hello_with_message(
        url: &str,
        auth: Auth,
    ) -> Result<Raw, (ErrorCode, Option<u16>, String)> {
        Raw::handshake(url, PROTOCOL_VERSION, auth).await
    }

    async fn handshake(
        url: &str,
        version: u32,
        auth: Auth,
    ) -> Result<Raw, (ErrorCode, Option<u16>, String)> {
        let mut raw = Raw::connect(url).await;
        let hello = ClientMessage::Hello(Hello {
            protocol_version: version,
            auth,
            client_name: "tandem-bad-input-test".into(),
        });
        raw.send(&hello).await;
        let mut refused = None;
        loop {
            match raw.next(WAIT).await {
                Some(Incoming::Message(RelayMessage::Welcome(welcome))) => {
                    assert!(refused.is_none(), "Welcome after an error");
                    raw.ids = IdGenerator::new(welcome.site);
                    raw.welcome = Some(welcome);
                    return Ok(raw);
                }
                Some(Incoming::Message(RelayMessage::Error { code, message, .. })) => {
                    refused = Some((code, message))
                }
                Some(Incoming::Message(_)) => {}
                Some(Incoming::Closed(close)) => {
                    let (code, message) = refused.expect("an error code before the close");
                    return Err((code, close, message));
                }
                None => panic!("no answer to Hello in time"),
            }
        }
    }

    /// Connects anonymously; panics if refused.
    pub async fn anonymous(url: &str, name: &str) -> Raw {
        Raw::hello(
            url,
            Auth::Anonymous {
                display_name: name.into(),
            },
        )
        .await
        .expect("anonymous session")
    }

    /// The welcome of an authenticated session.
    pub fn welcome(&self) -> &Welcome {
        self.welcome.as_ref().expect("authenticated")
    }

    /// The site (origin) of this session's operations.
    pub fn site(&self) -> u64 {
        self.welcome().site
    }

    /// Sends a protocol message (a send failure is ignored: the relay may have closed already,
    /// which the next read reports).
    pub async fn send(&mut self, message: &ClientMessage) {
        self.send_raw(Message::binary(encode_client(message))).await;
    }

    /// Sends any WebSocket message.
    pub async fn send_raw(&mut self, message: Message) {
        let _ = tokio::time::timeout(WAIT, self.socket.send(message)).await;
    }

    /// Queues a binary frame without flushing (for floods).
    pub async fn feed(&mut self, frame: Vec<u8>) {
        let _ = tokio::time::timeout(WAIT, self.socket.feed(Message::binary(frame))).await;
    }

    /// Flushes what [`Raw::feed`] queued.
    pub async fn flush(&mut self) {
        let _ = tokio::time::timeout(WAIT, self.socket.flush()).await;
    }

    /// The next message or close within `timeout`; `None` if nothing arrived.
    pub async fn next(&mut self, timeout: Duration) -> Option<Incoming> {
        let limits = Limits {
            max_frame_bytes: usize::MAX / 2,
            ..Limits::default()
        };
        let deadline = tokio::time::Instant::now() + timeout;
        // The relay sends a large message's pieces one after the other.
        let mut pieces = tandem_core::protocol::pieces::Reassembler::new(limits.max_frame_bytes);
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?;
            return Some(match next {
                Some(Ok(Message::Binary(bytes))) => {
                    use tandem_core::protocol::pieces::Assembled;
                    let message = match pieces.push(&bytes).expect("well-formed pieces") {
                        Assembled::Partial => continue,
                        Assembled::Whole(whole) => whole.to_vec(),
                        Assembled::Complete(message) => message,
                    };
                    Incoming::Message(
                        decode_relay(&message, &limits)
                            .expect("the relay sends frames that decode"),
                    )
                }
                Some(Ok(Message::Close(frame))) => {
                    Incoming::Closed(frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Incoming::Closed(None),
            });
        }
    }

    /// Waits for the first message `pick` accepts, remembering connection-level errors seen
    /// on the way; panics on a close or after [`WAIT`].
    pub async fn until<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&RelayMessage) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(Incoming::Message(message)) => {
                    if let Some(found) = pick(&message) {
                        return found;
                    }
                    if let RelayMessage::Error {
                        request_id: None,
                        code,
                        message,
                    } = message
                    {
                        self.errors.push((None, code, message));
                    }
                }
                Some(Incoming::Closed(code)) => panic!(
                    "closed ({code:?}) while waiting for {what}; errors {:?}",
                    self.errors
                ),
                None => panic!("timed out waiting for {what}; errors {:?}", self.errors),
            }
        }
    }

    /// Waits for a connection-level `Error` (no request id).
    pub async fn connection_error(&mut self) -> (ErrorCode, String) {
        self.until("a connection-level error", |m| match m {
            RelayMessage::Error {
                request_id: None,
                code,
                message,
            } => Some((*code, message.clone())),
            _ => None,
        })
        .await
    }

    /// Reads until the connection closes and returns the close code and every error seen
    /// before it; panics if it stays open for [`WAIT`].
    pub async fn closed(&mut self) -> (Option<u16>, Vec<ErrorCode>) {
        let mut codes: Vec<ErrorCode> = self.errors.iter().map(|e| e.1).collect();
        loop {
            match self.next(WAIT).await {
                Some(Incoming::Message(RelayMessage::Error { code, .. })) => codes.push(code),
                Some(Incoming::Message(_)) => {}
                Some(Incoming::Closed(close)) => return (close, codes),
                None => panic!("the connection was not closed in time; errors {codes:?}"),
            }
        }
    }

    /// Sends a request and waits for its answer.
    pub async fn request(&mut self, request: Request) -> Result<Response, ErrorCode> {
        let request_id = self.next_request;
        self.next_request += 1;
        self.send(&ClientMessage::Request {
            request_id,
            request,
        })
        .await;
        self.until("a response", |m| match m {
            RelayMessage::Response {
                request_id: id,
                response,
            } if *id == request_id => Some(Ok(response.clone())),
            RelayMessage::Error {
                request_id: Some(id),
                code,
                ..
            } if *id == request_id => Some(Err(*code)),
            _ => None,
        })
        .await
    }

    /// Sends a ping and waits for its pong.
    pub async fn ping(&mut self, nonce: u64) {
        self.send(&ClientMessage::Ping { nonce }).await;
        self.until("a pong", |m| {
            matches!(m, RelayMessage::Pong { nonce: n } if *n == nonce).then_some(())
        })
        .await
    }

    /// Opens (or creates with `initial`) a model.
    pub async fn open_or_create(
        &mut self,
        collection: &str,
        id: &str,
        initial: serde_json::Value,
    ) -> Result<OpenedModel, ErrorCode> {
        let data = node(&initial, &mut self.ids);
        match self
            .request(Request::OpenOrCreateModel {
                collection: collection.into(),
                id: id.into(),
                data,
            })
            .await?
        {
            Response::ModelOpened(opened) => Ok(opened),
            other => panic!("unexpected answer {other:?}"),
        }
    }

    /// Opens an existing model.
    pub async fn open(&mut self, collection: &str, id: &str) -> Result<OpenedModel, ErrorCode> {
        match self
            .request(Request::OpenModel {
                collection: collection.into(),
                id: id.into(),
                known_version: None,
            })
            .await?
        {
            Response::ModelOpened(opened) => Ok(opened),
            other => panic!("unexpected answer {other:?}"),
        }
    }

    /// Creates a model.
    pub async fn create(
        &mut self,
        collection: &str,
        id: &str,
        initial: serde_json::Value,
    ) -> Result<(), ErrorCode> {
        let data = node(&initial, &mut self.ids);
        let request = Request::CreateModel {
            collection: collection.into(),
            id: Some(id.into()),
            data,
        };
        self.request(request).await.map(drop)
    }

    /// The next sequence number this client's operations use.
    pub fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Submits one operation made on `context_version` and waits for the verdict: the version
    /// it was stored as (seen in the broadcast that acknowledges it), or the rejection's code.
    pub async fn submit(
        &mut self,
        model: ModelHandle,
        context_version: u64,
        op: Op,
    ) -> Result<u64, ErrorCode> {
        let seq = self.take_seq();
        self.submit_as(model, 0, seq, context_version, op).await
    }

    /// Like [`Raw::submit`], under `origin` (0: the session's site) with sequence number `seq`.
    pub async fn submit_as(
        &mut self,
        model: ModelHandle,
        origin: u64,
        seq: u64,
        context_version: u64,
        op: Op,
    ) -> Result<u64, ErrorCode> {
        let site = if origin == 0 { self.site() } else { origin };
        self.send(&ClientMessage::SubmitOp {
            model,
            origin,
            seq,
            context_version,
            op,
        })
        .await;
        self.until("the verdict on an operation", |m| match m {
            RelayMessage::OpRejected {
                model: h,
                seq: s,
                code,
                ..
            } if *h == model && *s == seq => Some(Err(*code)),
            RelayMessage::OpAck {
                model: h,
                seq: s,
                version,
                ..
            } if *h == model && *s == seq => Some(Ok(*version)),
            RelayMessage::OpsAcked {
                model: h,
                first_seq,
                first_version,
                count,
                ..
            } if *h == model && (*first_seq..*first_seq + *count).contains(&seq) => {
                Some(Ok(first_version + (seq - first_seq)))
            }
            RelayMessage::RemoteOps { model: h, ops } if *h == model => ops
                .iter()
                .find(|op| op.origin == site && op.seq == seq)
                .map(|op| Ok(op.version)),
            RelayMessage::RemoteOp {
                model: h,
                version,
                origin,
                seq: s,
                ..
            } if *h == model && *origin == site && *s == seq => Some(Ok(*version)),
            _ => None,
        })
        .await
    }

    /// Closes the socket properly.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(WAIT, self.socket.close(None)).await;
    }
}

/// A tree with element ids made by `ids`, rooted at the root id.
pub fn node(json: &serde_json::Value, ids: &mut IdGenerator) -> Node {
    let mut data = Value::from_json(json)
        .expect("valid initial data")
        .into_node(ids);
    data.id = ElementId::ROOT;
    data
}

/// The data of an opened model.
pub fn data(opened: &OpenedModel) -> &Node {
    match &opened.content {
        ModelContent::Data(node) => node,
        other => panic!("expected data, got {other:?}"),
    }
}

/// The id of property `key` of an object node.
pub fn prop(node: &Node, key: &str) -> ElementId {
    match &node.value {
        NodeValue::Object(props) => props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, n)| n.id)
            .expect("property exists"),
        other => panic!("not an object: {other:?}"),
    }
}

/// A node as plain JSON.
pub fn json_of(node: &Node) -> serde_json::Value {
    node.to_value().to_json()
}

/// A deterministic pseudo-random byte source (xorshift64*), so failures reproduce.
pub struct Bytes(u64);

impl Bytes {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Bytes(seed.max(1))
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `len` random bytes.
    pub fn fill(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next_u64() >> 56) as u8).collect()
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The `code` field of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// One HTTP/1.1 request over a fresh loopback connection (`Connection: close`).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&str>,
) -> HttpResponse {
    tokio::time::timeout(
        WAIT,
        http_unbounded(addr, method, path, authorization, body),
    )
    .await
    .expect("HTTP answer in time")
}

async fn http_unbounded(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&str>,
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n");
    if let Some(auth) = authorization {
        request.push_str(&format!("Authorization: {auth}\r\n"));
    }
    match body {
        Some(body) => request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => request.push_str("\r\n"),
    }
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete header");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = input.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&input[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
        let Some(size) = size else { break };
        if size == 0 || input.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&input[end + 2..end + 2 + size]);
        input = &input[(end + 4 + size).min(input.len())..];
    }
    out
}

/// An admin API call with the test admin key and an optional JSON body.
pub async fn admin(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> HttpResponse {
    let body = body.map(|b| b.to_string());
    http(
        addr,
        method,
        path,
        Some(&format!("Bearer {ADMIN_KEY}")),
        body.as_deref(),
    )
    .await
}

/// Creates a password user through the admin API and returns its id.
pub async fn create_user(addr: SocketAddr, username: &str, password: &str) -> String {
    let answer = admin(
        addr,
        "POST",
        "/admin/users",
        Some(serde_json::json!({"username": username, "password": password})),
    )
    .await;
    assert_eq!(
        answer.status,
        201,
        "creating user {username}: {}",
        answer.text()
    );
    answer.json()["id"].as_str().expect("user id").to_owned()
}

/// Sets a permission entry through the admin API.
pub async fn grant(
    addr: SocketAddr,
    collection: &str,
    model: Option<&str>,
    grantee: &str,
    rights: &str,
) {
    let body = serde_json::json!({
        "collection": collection,
        "model": model,
        "grantee": grantee,
        "read": rights.contains('r'),
        "write": rights.contains('w'),
        "remove": rights.contains('d'),
        "manage": rights.contains('m'),
    });
    let answer = admin(addr, "PUT", "/admin/permissions", Some(body)).await;
    assert_eq!(
        answer.status,
        204,
        "granting {rights} on {collection}/{model:?} to {grantee}: {}",
        answer.text()
    );
}

/// Checks that the relay still serves a brand-new client: it connects, creates and opens a
/// model, and gets an edit acknowledged.
pub async fn still_serves(url: &str) {
    let mut client = Raw::anonymous(url, "latecomer").await;
    let id = format!("after-{}", client.site());
    let opened = client
        .open_or_create("health", &id, serde_json::json!({"text": "ok"}))
        .await
        .expect("open");
    let text = prop(data(&opened), "text");
    let version = client
        .submit(
            opened.model,
            opened.version,
            Op::StringInsert {
                id: text,
                index: 2,
                text: "!".into(),
            },
        )
        .await;
    assert_eq!(
        version,
        Ok(opened.version + 1),
        "a new client's edit is stored"
    );
    client.ping(7).await;
    client.close().await;
}
