//! Tandem's relay: the server every client talks to. It authenticates sessions, sequences
//! every model's operations (one task per model, see [`registry`]), stores them durably before
//! acknowledging them, keeps history, and fans out operations and references.
//!
//! [`run`] takes a bound listener, a configuration, a store and a shutdown signal, so tests
//! start real relays on `127.0.0.1:0`.

pub mod activities;
pub mod auth;
pub mod chat;
pub mod cluster;
pub mod config;
pub mod error;
pub mod http;
pub mod ids;
pub mod listener;
pub mod metrics;
pub mod permissions;
pub mod presence;
pub mod registry;
pub mod requests;
pub mod session;
pub mod store;
pub mod test_client;
pub mod time;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tandem_core::protocol::Limits;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::JwtKeys;
use crate::cluster::{Cluster, ClusterLink};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::permissions::Identity;
use crate::registry::{ModelSettings, Registry};
use crate::store::{Store, StoreResult, User};

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A JWT key file could not be read or parsed.
    #[error("JWT key {path}: {reason}")]
    JwtKey { path: String, reason: String },
}

/// What every connection shares.
pub struct Relay {
    /// The configuration it runs with.
    pub config: Config,
    /// Where everything is stored.
    pub store: Arc<dyn Store>,
    /// The models in memory.
    pub registry: Arc<Registry>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Keys JWTs may be signed with.
    pub jwt: JwtKeys,
    /// Numbers connections.
    pub next_session: AtomicU64,
    /// Becomes true when the relay stops reading from sessions (shutdown has begun).
    pub shutdown: watch::Receiver<bool>,
    /// Becomes true once every model has stored what was in flight: sessions may close.
    pub drained: watch::Receiver<bool>,
    /// Moves whenever a permission or group membership changes, so that sessions check the
    /// permissions of the models they have open again.
    pub permission_epochs: watch::Sender<u64>,
    /// Held while a collection is created on first use, with its grant to the world.
    pub creating_collections: tokio::sync::Mutex<()>,
    /// Who is available, their published state, and who follows whom.
    pub presence: presence::PresenceHub,
    /// Who is in which activity, with their state.
    pub activities: activities::ActivityHub,
    /// Which sessions chat events go to: every session by user, and who is in which room.
    pub chat: chat::ChatHub,
    /// The other relays on the same database, when there are any.
    pub cluster: Option<Arc<Cluster>>,
}

impl Relay {
    /// The current permission epoch.
    pub fn permission_epoch(&self) -> u64 {
        *self.permission_epochs.borrow()
    }

    /// Records that permissions or group memberships changed.
    pub fn permissions_changed(&self) {
        self.permission_epochs.send_modify(|epoch| *epoch += 1);
    }

    /// The decoding limits for client messages (whole, or reassembled from pieces).
    pub fn limits(&self) -> Limits {
        Limits {
            max_frame_bytes: self.config.max_message_bytes,
            max_string_bytes: self.config.max_message_bytes,
            ..Limits::default()
        }
    }

    /// A session identity for a stored user, with the groups the store knows plus `extra`
    /// (from a JWT).
    pub async fn identity(&self, user: User, extra: Vec<String>) -> StoreResult<Identity> {
        let mut groups = self.store.groups_of_user(&user.id).await?;
        for group in extra {
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        Ok(Identity {
            anonymous: user.id.starts_with(ids::ANONYMOUS_PREFIX),
            user_id: user.id,
            username: user.username,
            display_name: user.display_name,
            email: user.email,
            avatar_url: user.avatar_url,
            groups,
        })
    }
}

/// Deletes expired reconnect tokens now and every hour, so the table does not grow forever.
async fn purge_expired_tokens(store: Arc<dyn Store>) {
    let mut every_hour = tokio::time::interval(Duration::from_secs(3_600));
    loop {
        every_hour.tick().await;
        match store.purge_reconnect_tokens(time::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(tokens = n, "purged expired reconnect tokens"),
            Err(e) => tracing::warn!(error = %e, "purging reconnect tokens failed"),
        }
    }
}

fn jwt_keys(config: &Config) -> Result<JwtKeys, StartError> {
    let mut keys = JwtKeys::default();
    if let Some(secret) = &config.jwt_hs256_secret {
        keys.add_hs256(secret.as_bytes());
    }
    for path in &config.jwt_rs256_public_keys {
        let error = |reason: String| StartError::JwtKey {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
        keys.add_rs256_pem(&pem).map_err(|e| error(e.to_string()))?;
    }
    Ok(keys)
}

/// Serves on `listener` until `shutdown` resolves, then shuts down gracefully: stops
/// accepting, stops reading from sessions, lets every model store what was in flight, sends
/// what is queued, and closes every socket with "going away".
pub async fn run(
    listener: TcpListener,
    config: Config,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_with(listener, config, store, None, shutdown).await
}

/// [`run`], as one relay of a cluster when `cluster` is given: the relays share `store` (a
/// PostgreSQL database) and tell each other, through `cluster`, what only they know.
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    store: Arc<dyn Store>,
    cluster: Option<ClusterLink>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let jwt = jwt_keys(&config)?;
    let metrics = Arc::new(Metrics::default());
    let settings = ModelSettings {
        idle_unload: Duration::from_secs(config.idle_unload_seconds.max(1)),
        snapshot_every: config.snapshot_every.max(1),
    };
    let (cluster, notices) = match cluster {
        Some(link) => (Some(link.cluster), Some(link.notices)),
        None => (None, None),
    };
    let registry = Registry::new(store.clone(), settings, metrics.clone(), cluster.clone());
    let (stop, stop_rx) = watch::channel(false);
    let (drained, drained_rx) = watch::channel(false);
    let relay = Arc::new(Relay {
        config,
        store,
        registry: registry.clone(),
        metrics: metrics.clone(),
        jwt,
        next_session: AtomicU64::new(1),
        shutdown: stop_rx,
        drained: drained_rx,
        permission_epochs: watch::channel(0).0,
        creating_collections: tokio::sync::Mutex::new(()),
        presence: presence::PresenceHub::new(cluster.clone()),
        activities: activities::ActivityHub::new(cluster.clone()),
        chat: chat::ChatHub::new(cluster.clone()),
        cluster: cluster.clone(),
    });
    let peers = match (cluster, notices) {
        (Some(cluster), Some(notices)) => {
            tracing::info!(relay = format!("{:016x}", cluster.id), "joined the cluster");
            Some(tokio::spawn(cluster::run(relay.clone(), cluster, notices)))
        }
        _ => None,
    };
    tracing::info!(address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "relay listening");
    let purger = tokio::spawn(purge_expired_tokens(relay.store.clone()));
    listener::serve(listener, relay.clone(), shutdown).await;
    purger.abort();
    tracing::info!("shutting down: finishing what is in flight");
    let _ = stop.send(true);
    registry.drain().await;
    let _ = drained.send(true);
    for _ in 0..500 {
        if metrics.connections.get() <= 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(peers) = peers {
        // Everything in flight is stored and announced: the other relays may forget this one.
        peers.abort();
        if let Some(cluster) = &relay.cluster {
            cluster.leave().await;
        }
    }
    tracing::info!("relay stopped");
    Ok(())
}
