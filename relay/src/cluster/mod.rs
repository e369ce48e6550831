//! Several relays on one database.
//!
//! Each relay sequences the models its sessions use; the database is the arbiter: a relay
//! stores a batch in a transaction that locks the model's row, reads what other relays stored
//! since it last looked, and sequences its batch after that (see `registry` and
//! `Store::append_ops_exclusive`); the unique (model, version) key refuses any duplicate
//! version even so. Deletions are announced by the store's own notification, sent in the
//! deleting transaction. The rest (operations stored, who has which model open, shared
//! references, presence, activities, chat events to push) each relay announces itself as
//! [`PeerMessage`]s. Relays say hello when they start, send a heartbeat every [`HEARTBEAT`],
//! and a relay silent for [`PEER_TIMEOUT`] (killed, cut off) is taken for gone: everything it
//! announced is dropped, what it may have stored unannounced is read, and its clients
//! reconnect elsewhere.

pub mod postgres;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::registry::Command;
use crate::Relay;
use postgres::Outgoing;
pub use postgres::{ClusterError, Notice};
pub use wire::{PeerBody, PeerMessage};

/// How often a relay says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a relay may stay silent before the others take it for gone.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(8);

/// This relay's place in the cluster: its id and the way out for its news.
pub struct Cluster {
    /// This relay's id, random per process.
    pub id: u64,
    /// News to publish.
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

/// A cluster connection before the relay runs: the handle, and what arrives.
pub struct ClusterLink {
    /// The handle the relay publishes through.
    pub cluster: Arc<Cluster>,
    /// What other relays and the database say.
    pub notices: mpsc::UnboundedReceiver<Notice>,
}

impl Cluster {
    /// Joins the cluster of relays on the PostgreSQL database at `url`.
    pub async fn connect(url: &str) -> Result<ClusterLink, ClusterError> {
        let (outgoing, notices) = postgres::start(url).await?;
        let id = loop {
            let id = rand::random::<u64>();
            if id != 0 {
                break id;
            }
        };
        Ok(ClusterLink {
            cluster: Arc::new(Cluster { id, outgoing }),
            notices,
        })
    }

    /// Publishes news to the other relays.
    pub fn publish(&self, body: PeerBody) {
        let _ = self.outgoing.send(Outgoing::News(Box::new(PeerMessage {
            from: self.id,
            body,
        })));
    }

    /// Tells the other relays this one is going (after everything published so far), and
    /// waits (at most a second) until that is sent.
    pub async fn leave(&self) {
        self.publish(PeerBody::Gone);
        self.flush().await;
    }

    /// Waits (at most a second) until everything published so far is sent.
    pub async fn flush(&self) {
        let (done, sent) = tokio::sync::oneshot::channel();
        if self.outgoing.send(Outgoing::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), sent).await;
        }
    }
}

/// Publishes `body` if the relay is in a cluster.
pub fn publish(cluster: &Option<Arc<Cluster>>, body: impl FnOnce() -> PeerBody) {
    if let Some(cluster) = cluster {
        cluster.publish(body());
    }
}

/// Acts on what other relays and the database say, sends heartbeats and drops relays that
/// went silent, until the notices end or `shutdown` turns true (the relay says goodbye with
/// [`Cluster::leave`] once it has stored what was in flight).
pub async fn run(
    relay: Arc<Relay>,
    cluster: Arc<Cluster>,
    mut notices: mpsc::UnboundedReceiver<Notice>,
) {
    let mut shutdown = relay.shutdown.clone();
    let mut peers: HashMap<u64, Instant> = HashMap::new();
    let mut beat = tokio::time::interval(HEARTBEAT);
    cluster.publish(PeerBody::Hello);
    loop {
        tokio::select! {
            notice = notices.recv() => {
                let Some(notice) = notice else { break };
                handle(&relay, &cluster, &mut peers, notice).await;
            }
            _ = beat.tick() => {
                cluster.publish(PeerBody::Heartbeat);
                let now = Instant::now();
                let silent: Vec<u64> = peers
                    .iter()
                    .filter(|(_, seen)| now.duration_since(**seen) > PEER_TIMEOUT)
                    .map(|(id, _)| *id)
                    .collect();
                for id in silent {
                    tracing::warn!(relay = format!("{id:016x}"), "a relay went silent; dropping what it announced");
                    peers.remove(&id);
                    peer_gone(&relay, id).await;
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
        }
    }
}

async fn handle(
    relay: &Arc<Relay>,
    cluster: &Arc<Cluster>,
    peers: &mut HashMap<u64, Instant>,
    notice: Notice,
) {
    match notice {
        Notice::ModelDeleted { model } => {
            relay.registry.notify(&model, || Command::Deleted).await;
        }
        Notice::Reconnected => {
            // Whatever was committed meanwhile was not announced: catch up, ask again, and tell
            // again (the others may have taken this relay for gone).
            relay
                .registry
                .notify_all(|| Command::CatchUp { version: u64::MAX })
                .await;
            cluster.publish(PeerBody::Hello);
            announce(relay, cluster).await;
        }
        Notice::Peer(messages) => {
            for message in messages {
                if message.from == cluster.id {
                    continue;
                }
                peers.insert(message.from, Instant::now());
                from_peer(relay, cluster, peers, message).await;
            }
        }
    }
}

async fn from_peer(
    relay: &Arc<Relay>,
    cluster: &Arc<Cluster>,
    peers: &mut HashMap<u64, Instant>,
    message: PeerMessage,
) {
    let from = message.from;
    match message.body {
        PeerBody::Heartbeat => {}
        PeerBody::Hello => announce(relay, cluster).await,
        PeerBody::Gone => {
            peers.remove(&from);
            peer_gone(relay, from).await;
        }
        PeerBody::OpsStored { model, version } => {
            relay
                .registry
                .notify(&model, || Command::CatchUp { version })
                .await;
        }
        PeerBody::ModelLoaded { model } => {
            relay.registry.notify(&model, || Command::Announce).await;
        }
        body @ (PeerBody::ModelMember { .. } | PeerBody::ModelReference { .. }) => {
            let model = match &body {
                PeerBody::ModelMember { model, .. } | PeerBody::ModelReference { model, .. } => {
                    model.clone()
                }
                _ => return,
            };
            relay
                .registry
                .notify(&model, || Command::Peer { from, body })
                .await;
        }
        PeerBody::UserSession { user_id, key, up } => {
            relay.presence.remote_session(from, &user_id, key, up);
        }
        PeerBody::UserState(event) => relay.presence.remote_state(event),
        PeerBody::ActivityJoined {
            activity_type,
            activity_id,
            participant,
        } => relay
            .activities
            .remote_joined(from, activity_type, activity_id, participant),
        PeerBody::ActivityChanged {
            activity_type,
            activity_id,
            event,
        } => relay
            .activities
            .remote_changed(&activity_type, &activity_id, event),
        PeerBody::ChatDelivered { event, users } => relay.chat.deliver_from_peer(event, &users),
    }
}

/// Tells the other relays everything this one holds in memory.
async fn announce(relay: &Arc<Relay>, cluster: &Arc<Cluster>) {
    relay.registry.notify_all(|| Command::Announce).await;
    for body in relay.presence.announce() {
        cluster.publish(body);
    }
    for body in relay.activities.announce() {
        cluster.publish(body);
    }
}

/// Drops everything relay `id` announced, and reads what it may have stored without saying.
async fn peer_gone(relay: &Arc<Relay>, id: u64) {
    relay
        .registry
        .notify_all(|| Command::CatchUp { version: u64::MAX })
        .await;
    relay
        .registry
        .notify_all(|| Command::PeerGone { relay: id })
        .await;
    relay.presence.peer_gone(id);
    relay.activities.peer_gone(id);
}
