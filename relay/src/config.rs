//! The relay's configuration: flags, each also an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything an operator can set. `tandem-relay` with no arguments serves on
/// 127.0.0.1:8080 with the embedded store in `./tandem-data`.
#[derive(Clone, Debug, clap::Parser)]
#[command(
    name = "tandem-relay",
    version,
    about = "Tandem's relay: real-time collaboration server"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "TANDEM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the embedded store.
    #[arg(long, env = "TANDEM_DATA_DIR", default_value = "tandem-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://...); without it the embedded store in --data-dir is used.
    #[arg(long, env = "TANDEM_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The most connections to PostgreSQL (every model storing at the same moment needs one;
    /// the relays together must stay under the server's `max_connections`).
    #[arg(long, env = "TANDEM_DATABASE_POOL", default_value_t = 32)]
    pub database_pool: usize,
    /// Directory served at `/` (the demo, as scripts/build-www.sh builds it).
    #[arg(long, env = "TANDEM_WWW_DIR", default_value = "www/dist")]
    pub www_dir: PathBuf,
    /// Shared secret for HS256-signed JWTs.
    #[arg(long, env = "TANDEM_JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<String>,
    /// PEM files with RS256 public keys for JWTs (comma-separated in the environment).
    #[arg(long, env = "TANDEM_JWT_RS256_PUBLIC_KEYS", value_delimiter = ',')]
    pub jwt_rs256_public_keys: Vec<PathBuf>,
    /// Whether sessions without an account (a display name only) are allowed.
    #[arg(long, env = "TANDEM_ALLOW_ANONYMOUS", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_anonymous: bool,
    /// Key for the admin HTTP API (`Authorization: Bearer KEY`); without it the API is off.
    #[arg(long, env = "TANDEM_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Whether a collection is created on first use, granting the world read, write and remove.
    #[arg(long, env = "TANDEM_AUTO_CREATE_COLLECTIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_create_collections: bool,
    /// Largest accepted WebSocket message, in bytes; larger messages travel in pieces of this
    /// size, both ways.
    #[arg(long, env = "TANDEM_MAX_FRAME_BYTES", default_value_t = 1 << 20)]
    pub max_frame_bytes: usize,
    /// Largest message a client may send, pieces included (an edit, a batch, a model's initial
    /// data), in bytes. Models may grow larger than this; they are sent to clients in pieces.
    #[arg(long, env = "TANDEM_MAX_MESSAGE_BYTES", default_value_t = 16 << 20)]
    pub max_message_bytes: usize,
    /// Sustained messages (an operation counts as one) per second per session.
    #[arg(long, env = "TANDEM_RATE_LIMIT", default_value_t = 5_000)]
    pub rate_limit: u32,
    /// Burst allowance above the sustained rate.
    #[arg(long, env = "TANDEM_RATE_BURST", default_value_t = 20_000)]
    pub rate_burst: u32,
    /// Seconds a model nobody has open stays in memory.
    #[arg(long, env = "TANDEM_IDLE_UNLOAD_SECONDS", default_value_t = 60)]
    pub idle_unload_seconds: u64,
    /// A snapshot is stored every this many operations of a model.
    #[arg(long, env = "TANDEM_SNAPSHOT_EVERY", default_value_t = 1_000)]
    pub snapshot_every: u64,
    /// Lifetime of reconnect tokens, in hours.
    #[arg(long, env = "TANDEM_RECONNECT_TOKEN_HOURS", default_value_t = 24)]
    pub reconnect_token_hours: u64,
    /// Seconds between heartbeats; a socket silent for three is considered dead (its session
    /// then leaves its activities and its user may become unavailable).
    #[arg(long, env = "TANDEM_HEARTBEAT_SECONDS", default_value_t = 5)]
    pub heartbeat_seconds: u64,
    /// Frames a slow socket may have queued before it is dropped.
    #[arg(long, env = "TANDEM_OUTBOX_FRAMES", default_value_t = 4_096)]
    pub outbox_frames: usize,
    /// Log format.
    #[arg(long, env = "TANDEM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Config {
    /// The defaults, as `tandem-relay` with no arguments and no environment gets them; for
    /// tests and embedding.
    pub fn defaults() -> Config {
        <Config as clap::Parser>::parse_from(["tandem-relay"])
    }
}
