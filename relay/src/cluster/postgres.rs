//! The cluster's transport: PostgreSQL's LISTEN/NOTIFY on the database the relays share.
//!
//! The PostgreSQL store notifies `tandem_deleted` inside the transaction that deletes a model,
//! so it is sent exactly when the deletion is committed. Relays send their news (operations
//! they stored, and what is only in their memory) on `tandem_peer`:
//! batches in the core's codec, base64 in the payload, or, when too big for a notification
//! (8,000 bytes), in a row of `tandem_peer_messages` that the payload names.

use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::wire::{decode_batch, encode_batch, PeerMessage};
use crate::store::postgres::DELETED_CHANNEL;

/// The channel of relays' news.
pub const PEER_CHANNEL: &str = "tandem_peer";
/// The most bytes of encoded news sent inline in one notification (base64 makes 4 of 3).
const INLINE_BYTES: usize = 5_000;
/// How long news stored in the table is kept for relays to read.
const TABLE_KEEP_SECONDS: i64 = 60;

/// What the relay hands the transport.
#[derive(Debug)]
pub enum Outgoing {
    /// News to publish.
    News(Box<PeerMessage>),
    /// Answered once everything handed over before it is published (or failed to be).
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Something that happened on another relay, or in the shared database.
#[derive(Debug, PartialEq)]
pub enum Notice {
    /// A model was deleted.
    ModelDeleted {
        /// The model.
        model: String,
    },
    /// News from relays (this one's own included).
    Peer(Vec<PeerMessage>),
    /// The connection was lost and is back: notifications in between were missed.
    Reconnected,
}

/// Why the cluster could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The database refused or could not be reached.
    #[error("cluster connection: {0}")]
    Connection(String),
}

/// Connects, listens, and keeps doing so: news sent on the returned sender is published, and
/// notices arrive on the returned receiver. Returns once listening, so nothing committed
/// after that is missed.
pub async fn start(
    url: &str,
) -> Result<
    (
        mpsc::UnboundedSender<Outgoing>,
        mpsc::UnboundedReceiver<Notice>,
    ),
    ClusterError,
> {
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (notice_tx, notice_rx) = mpsc::unbounded_channel();
    let first = Listening::open(url)
        .await
        .map_err(|e| ClusterError::Connection(e.to_string()))?;
    tokio::spawn(run(url.to_owned(), first, out_rx, notice_tx));
    Ok((out_tx, notice_rx))
}

/// One live connection: its client, and the notifications its connection task forwards.
struct Listening {
    client: Client,
    /// Closes when the connection is lost.
    incoming: mpsc::UnboundedReceiver<(String, String)>,
}

impl Listening {
    async fn open(url: &str) -> Result<Listening, tokio_postgres::Error> {
        let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
        let (tx, incoming) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if tx
                            .send((n.channel().to_owned(), n.payload().to_owned()))
                            .is_err()
                        {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster connection lost");
                        break;
                    }
                }
            }
        });
        client
            .batch_execute(&format!(
                "SELECT pg_advisory_lock(7346127);
                 CREATE TABLE IF NOT EXISTS tandem_peer_messages (
                     id BIGSERIAL PRIMARY KEY,
                     body BYTEA NOT NULL,
                     at TIMESTAMPTZ NOT NULL DEFAULT now()
                 );
                 SELECT pg_advisory_unlock(7346127);
                 LISTEN {DELETED_CHANNEL};
                 LISTEN {PEER_CHANNEL};"
            ))
            .await?;
        Ok(Listening { client, incoming })
    }
}

/// Publishes and listens until the relay drops its sender; reconnects when the connection is
/// lost.
async fn run(
    url: String,
    mut live: Listening,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    notices: mpsc::UnboundedSender<Notice>,
) {
    let mut cleanup = tokio::time::interval(Duration::from_secs(30));
    loop {
        let lost = loop {
            tokio::select! {
                incoming = live.incoming.recv() => match incoming {
                    Some((channel, payload)) => {
                        if let Some(notice) = parse(&live.client, &channel, &payload).await {
                            if notices.send(notice).is_err() {
                                return;
                            }
                        }
                    }
                    None => break true,
                },
                first = outgoing.recv() => {
                    let Some(first) = first else { return };
                    let mut batch = Vec::new();
                    let mut flushes = Vec::new();
                    let mut next = Some(first);
                    while let Some(item) = next.take() {
                        match item {
                            Outgoing::News(message) => batch.push(*message),
                            Outgoing::Flush(done) => flushes.push(done),
                        }
                        next = outgoing.try_recv().ok();
                    }
                    let result = publish(&live.client, batch).await;
                    for done in flushes {
                        let _ = done.send(());
                    }
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "publishing to the cluster failed");
                        break true;
                    }
                }
                _ = cleanup.tick() => {
                    let _ = live.client.execute(
                        "DELETE FROM tandem_peer_messages WHERE at < now() - make_interval(secs => $1)",
                        &[&(TABLE_KEEP_SECONDS as f64)],
                    ).await;
                }
            }
        };
        if lost {
            let mut wait = Duration::from_millis(100);
            live = loop {
                // News queued while the connection is down is stale by the time it is back
                // (the relay announces everything again then): it is dropped, not kept.
                while let Ok(item) = outgoing.try_recv() {
                    if let Outgoing::Flush(done) = item {
                        let _ = done.send(());
                    }
                }
                tokio::time::sleep(wait).await;
                match Listening::open(&url).await {
                    Ok(live) => break live,
                    Err(e) => {
                        tracing::warn!(error = %e, "reconnecting to the cluster failed");
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            };
            tracing::info!("cluster connection back");
            if notices.send(Notice::Reconnected).is_err() {
                return;
            }
        }
    }
}

/// Sends news in as few notifications as fit.
async fn publish(client: &Client, batch: Vec<PeerMessage>) -> Result<(), tokio_postgres::Error> {
    let mut group: Vec<PeerMessage> = Vec::new();
    let mut size = 0;
    for message in batch {
        let len = encode_batch(std::slice::from_ref(&message)).len();
        if !group.is_empty() && size + len > INLINE_BYTES {
            send(client, &std::mem::take(&mut group)).await?;
            size = 0;
        }
        size += len;
        group.push(message);
    }
    if !group.is_empty() {
        send(client, &group).await?;
    }
    Ok(())
}

async fn send(client: &Client, group: &[PeerMessage]) -> Result<(), tokio_postgres::Error> {
    let bytes = encode_batch(group);
    let payload = if bytes.len() <= INLINE_BYTES {
        format!(
            "b{}",
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        )
    } else {
        let row = client
            .query_one(
                "INSERT INTO tandem_peer_messages (body) VALUES ($1) RETURNING id",
                &[&bytes],
            )
            .await?;
        let id: i64 = row.get(0);
        format!("t{id}")
    };
    client
        .execute("SELECT pg_notify($1, $2)", &[&PEER_CHANNEL, &payload])
        .await?;
    Ok(())
}

/// A notification as a notice; `None` (logged) for one that does not parse.
async fn parse(client: &Client, channel: &str, payload: &str) -> Option<Notice> {
    let notice = match channel {
        DELETED_CHANNEL => Some(Notice::ModelDeleted {
            model: payload.to_owned(),
        }),
        PEER_CHANNEL => peer_news(client, payload).await.map(Notice::Peer),
        _ => None,
    };
    if notice.is_none() {
        tracing::warn!(
            channel,
            payload,
            "ignoring a notification that does not parse"
        );
    }
    notice
}

async fn peer_news(client: &Client, payload: &str) -> Option<Vec<PeerMessage>> {
    let bytes = match payload.split_at_checked(1)? {
        ("b", text) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        ("t", id) => {
            let id: i64 = id.parse().ok()?;
            let row = client
                .query_opt(
                    "SELECT body FROM tandem_peer_messages WHERE id = $1",
                    &[&id],
                )
                .await
                .ok()??;
            row.try_get(0).ok()?
        }
        _ => return None,
    };
    decode_batch(&bytes).ok()
}
