//! The accept loop: every TCP connection served by hyper, `/ws` upgraded to a WebSocket here,
//! everything else handed to the warp routes.
//!
//! The relay accepts connections itself rather than through `warp::serve` for two reasons that
//! decide its figures: every socket gets `TCP_NODELAY` (small frames must not wait for the
//! previous one's acknowledgement), and WebSockets get 4 KiB read buffers instead of the library
//! default of 128 KiB per connection, which keeps ten thousand idle connections in well under
//! 200 MB.

use std::future::Future;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tower_service::Service;

use crate::Relay;

/// Read buffer of each WebSocket.
const WS_READ_BUFFER: usize = 4 * 1024;
/// Write buffer of each WebSocket (frames are flushed in batches).
const WS_WRITE_BUFFER: usize = 16 * 1024;

/// Accepts connections until `shutdown` resolves; then stops accepting (connections already
/// upgraded to WebSockets are the sessions', which close them).
pub async fn serve(listener: TcpListener, relay: Arc<Relay>, shutdown: impl Future<Output = ()>) {
    let routes = warp::service(crate::http::routes(relay.clone()));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off a little.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let relay = relay.clone();
        let routes = routes.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let relay = relay.clone();
                let mut routes = routes.clone();
                async move {
                    if request.uri().path() == "/ws" {
                        Ok(upgrade(request, relay))
                    } else {
                        routes.call(request).await
                    }
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// Answers a WebSocket handshake and hands the upgraded connection to a session.
fn upgrade(mut request: Request<Incoming>, relay: Arc<Relay>) -> warp::reply::Response {
    let headers = request.headers();
    let wants_upgrade = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let version_ok = headers
        .get(SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v == "13");
    let Some(key) = headers
        .get(SEC_WEBSOCKET_KEY)
        .filter(|_| wants_upgrade && version_ok)
    else {
        let mut response =
            warp::reply::Response::new("expected a WebSocket upgrade (version 13)".into());
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return response;
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut request);
    let limit = relay.config.max_frame_bytes;
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let config = WebSocketConfig::default()
                    .read_buffer_size(WS_READ_BUFFER)
                    .write_buffer_size(WS_WRITE_BUFFER)
                    .max_message_size(Some(limit))
                    .max_frame_size(Some(limit));
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                crate::session::serve(relay, socket).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut response = warp::reply::Response::new(Default::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(value) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, value);
    }
    response
}
