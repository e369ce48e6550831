//! The PostgreSQL store: several relays can share one database.
//!
//! Every call takes a connection from a pool (deadpool-postgres over tokio-postgres, without
//! TLS: the database is expected on a private network or behind a TLS-terminating proxy) and
//! runs in one transaction where it writes more than one row. What makes relays sharing a
//! database safe is the log's primary key `(model, version)` together with the model row lock
//! `append_ops` takes: two relays appending the same version to one model cannot both succeed,
//! the second gets `VersionConflict`.
//!
//! A deletion, which other relays must hear about, sends a notification in its transaction
//! ([`DELETED_CHANNEL`], `tandem_deleted`, payload `"<model id>"`), which PostgreSQL delivers
//! to listeners only once it commits. Appends do not: relays announce them (see `cluster`).
//!
//! Bodies (snapshots, operations, chat events) are stored as BYTEA in the core's binary codec,
//! exactly as the SQLite store keeps them; integers are BIGINT, converted with checks.
//! Text columns use the "C" collation, so that ordering is by code point (as SQLite's BINARY)
//! whatever the database's locale. The schema is brought up to date on [`PostgresStore::connect`]
//! under an advisory lock, so relays starting together migrate once.
//!
//! Durability: a call returns after its COMMIT, which waits for the WAL flush under the
//! server's default `synchronous_commit = on`.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::tokio_postgres::error::SqlState;
use deadpool_postgres::tokio_postgres::types::ToSql;
use deadpool_postgres::tokio_postgres::{self, NoTls, Row};
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use tandem_core::protocol::{
    decode_frame, encode_frame, ChatEvent, ChatEventBody, ChatEventKind, Decode, Limits,
    MAX_DEPTH_CAP,
};
use tandem_core::{Node, Op};

use super::keys::{grantee_from_key, grantee_key, scope_key, target_key};
use super::{
    ChatRecord, GrantScope, Grantee, ModelMeta, ModelOrder, PermissionTarget, Permissions, Store,
    StoreError, StoreResult, StoredOp, User,
};

#[path = "postgres_chat.rs"]
mod chat;

/// The notification channel of deleted models: payload `"<model id>"`.
pub const DELETED_CHANNEL: &str = "tandem_deleted";

/// The table recording which migrations were applied (one row per schema version).
pub const MIGRATIONS_TABLE: &str = "tandem_schema_migrations";

/// The most connections one relay keeps open to the database, unless told otherwise.
pub const POOL_SIZE: usize = 32;

/// How long a call waits for a free pooled connection before failing.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening a new connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long checking a returned connection may take.
const RECYCLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The key of the advisory lock migrations hold ("tandem" in ASCII): relays starting at once
/// migrate one after the other.
const MIGRATION_LOCK: i64 = 0x7461_6e64_656d;

/// Stored records were written by us, so they are decoded with limits far above the wire's.
const STORED_LIMITS: Limits = Limits {
    max_frame_bytes: usize::MAX / 2,
    max_depth: MAX_DEPTH_CAP,
    max_string_bytes: usize::MAX / 2,
    max_items: usize::MAX / 2,
};

/// Migrations, in order: entry `i` brings the schema from version `i` to `i + 1`. Applied
/// ones are never edited; a change is a new entry.
/// Public so that a test can build a database of any earlier schema.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id              TEXT COLLATE "C" PRIMARY KEY,
    username        TEXT COLLATE "C" NOT NULL UNIQUE,
    display_name    TEXT COLLATE "C" NOT NULL,
    email           TEXT COLLATE "C",
    avatar_url      TEXT COLLATE "C",
    password_hash   TEXT COLLATE "C",
    search_display  TEXT COLLATE "C" NOT NULL,
    search_username TEXT COLLATE "C" NOT NULL,
    search_email    TEXT COLLATE "C" NOT NULL
);
CREATE TABLE groups (
    id          TEXT COLLATE "C" PRIMARY KEY,
    description TEXT COLLATE "C" NOT NULL
);
CREATE TABLE group_members (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id, group_id);
CREATE TABLE collections (
    id TEXT COLLATE "C" PRIMARY KEY
);
CREATE TABLE permissions (
    target_kind  TEXT COLLATE "C" NOT NULL,
    target_id    TEXT COLLATE "C" NOT NULL,
    grantee_kind TEXT COLLATE "C" NOT NULL,
    grantee_id   TEXT COLLATE "C" NOT NULL,
    can_read     BOOLEAN NOT NULL,
    can_write    BOOLEAN NOT NULL,
    can_remove   BOOLEAN NOT NULL,
    can_manage   BOOLEAN NOT NULL,
    PRIMARY KEY (target_kind, target_id, grantee_kind, grantee_id)
);
CREATE TABLE grants (
    scope_kind   TEXT COLLATE "C" NOT NULL,
    scope_id     TEXT COLLATE "C" NOT NULL,
    grantee_kind TEXT COLLATE "C" NOT NULL,
    grantee_id   TEXT COLLATE "C" NOT NULL,
    flags        BIGINT NOT NULL,
    PRIMARY KEY (scope_kind, scope_id, grantee_kind, grantee_id)
);
CREATE TABLE models (
    id            TEXT COLLATE "C" PRIMARY KEY,
    collection    TEXT COLLATE "C" NOT NULL REFERENCES collections(id),
    version       BIGINT NOT NULL,
    created_ms    BIGINT NOT NULL,
    modified_ms   BIGINT NOT NULL,
    history_floor BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX models_by_created ON models (collection, created_ms, id);
CREATE INDEX models_by_modified ON models (collection, modified_ms, id);
CREATE TABLE ops (
    model        TEXT COLLATE "C" NOT NULL REFERENCES models(id),
    version      BIGINT NOT NULL,
    origin       BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    user_id      TEXT COLLATE "C" NOT NULL,
    session_id   TEXT COLLATE "C" NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    op           BYTEA NOT NULL,
    PRIMARY KEY (model, version)
);
CREATE INDEX ops_by_time ON ops (model, timestamp_ms, version);
CREATE TABLE origin_seqs (
    model  TEXT COLLATE "C" NOT NULL REFERENCES models(id),
    origin BIGINT NOT NULL,
    seq    BIGINT NOT NULL,
    PRIMARY KEY (model, origin)
);
CREATE TABLE snapshots (
    model   TEXT COLLATE "C" NOT NULL REFERENCES models(id),
    version BIGINT NOT NULL,
    data    BYTEA NOT NULL,
    PRIMARY KEY (model, version)
);
CREATE TABLE reconnect_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX reconnect_tokens_by_expiry ON reconnect_tokens (expires_ms);
"#,
    chat::CHAT_SCHEMA,
    // Model ids were global across collections: a model is now known by its collection and
    // name together (`store::model_key`), in every table that names it. The foreign keys are
    // not deferrable, so they go while the keys change.
    r#"
ALTER TABLE ops DROP CONSTRAINT ops_model_fkey;
ALTER TABLE origin_seqs DROP CONSTRAINT origin_seqs_model_fkey;
ALTER TABLE snapshots DROP CONSTRAINT snapshots_model_fkey;
ALTER TABLE models ADD COLUMN name TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE models SET name = id;
UPDATE ops SET model = length(m.collection) || ':' || m.collection || m.name
    FROM models m WHERE m.id = ops.model;
UPDATE origin_seqs SET model = length(m.collection) || ':' || m.collection || m.name
    FROM models m WHERE m.id = origin_seqs.model;
UPDATE snapshots SET model = length(m.collection) || ':' || m.collection || m.name
    FROM models m WHERE m.id = snapshots.model;
UPDATE permissions SET target_id = length(m.collection) || ':' || m.collection || m.name
    FROM models m WHERE permissions.target_kind = 'model' AND m.id = permissions.target_id;
UPDATE models SET id = length(collection) || ':' || collection || name;
ALTER TABLE ops ADD CONSTRAINT ops_model_fkey FOREIGN KEY (model) REFERENCES models(id);
ALTER TABLE origin_seqs ADD CONSTRAINT origin_seqs_model_fkey FOREIGN KEY (model) REFERENCES models(id);
ALTER TABLE snapshots ADD CONSTRAINT snapshots_model_fkey FOREIGN KEY (model) REFERENCES models(id);
"#,
];

// ---------------------------------------------------------------------------------------------
// Conversions and errors
// ---------------------------------------------------------------------------------------------

/// A query parameter.
type Param<'a> = &'a (dyn ToSql + Sync);

/// Maps any driver error to `Backend`.
fn backend(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(format!("postgres: {e}"))
}

/// Maps a driver error, turning uniqueness violations (SQLSTATE 23505) into `Exists(what)`.
fn unique_or_backend(e: tokio_postgres::Error, what: impl FnOnce() -> String) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return StoreError::Exists(what());
    }
    backend(e)
}

/// Maps a failure to get a pooled connection to `Backend`.
fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Backend(format!("postgres pool: {e}"))
}

/// A version, sequence number or limit as stored: BIGINT is signed 64-bit.
fn to_sql_u64(value: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Backend(format!("{what} {value} exceeds 2^63-1")))
}

/// A bound in a query: values above what can be stored clamp to the largest storable one.
fn clamp_u64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored unsigned integer read back.
fn from_sql_u64(value: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative {what} {value}")))
}

/// Origins are opaque 64-bit ids, stored bit for bit.
fn origin_to_sql(origin: u64) -> i64 {
    origin as i64
}

/// The inverse of [`origin_to_sql`].
fn origin_from_sql(origin: i64) -> u64 {
    origin as u64
}

/// Decodes a stored BYTEA.
fn decode_blob<T: Decode>(bytes: &[u8], what: &str) -> StoreResult<T> {
    decode_frame(bytes, &STORED_LIMITS).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Reads a column, reporting a type mismatch or NULL where none is allowed as `Backend`.
fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, index: usize) -> StoreResult<T> {
    row.try_get(index).map_err(backend)
}

/// The lowercase fields `search_users` matches against: display name, username, email (empty
/// if none). Lowercased here, with Rust's Unicode rules as the SQLite store does, so that the
/// result does not depend on the database's locale.
fn search_fields(user: &User) -> (String, String, String) {
    (
        user.display_name.to_lowercase(),
        user.username.to_lowercase(),
        user.email.as_deref().unwrap_or("").to_lowercase(),
    )
}

/// The condition `search_users` and `count_users_matching` select with (`$1`: the needle).
const SEARCH_MATCH: &str = "(strpos(search_display, $1) > 0 OR strpos(search_username, $1) > 0 \
                            OR strpos(search_email, $1) > 0)";

/// The columns of a user row, in `user_from_row` order.
const USER_COLUMNS: &str = "id, username, display_name, email, avatar_url, password_hash";

/// Reads a user row selected with `USER_COLUMNS`.
fn user_from_row(row: &Row) -> StoreResult<User> {
    Ok(User {
        id: col(row, 0)?,
        username: col(row, 1)?,
        display_name: col(row, 2)?,
        email: col(row, 3)?,
        avatar_url: col(row, 4)?,
        password_hash: col(row, 5)?,
    })
}

/// The columns of a model row, in `model_from_row` order.
const MODEL_COLUMNS: &str = "id, collection, version, created_ms, modified_ms, name";

/// Reads a model row selected with `MODEL_COLUMNS`.
fn model_from_row(row: &Row) -> StoreResult<ModelMeta> {
    Ok(ModelMeta {
        id: col(row, 0)?,
        collection: col(row, 1)?,
        version: from_sql_u64(col(row, 2)?, "model version")?,
        created_ms: col(row, 3)?,
        modified_ms: col(row, 4)?,
        name: col(row, 5)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Statements on any client (pooled connection or transaction), prepared once per connection
// ---------------------------------------------------------------------------------------------

/// Runs a statement; returns the number of rows it changed.
async fn execute<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[Param<'_>],
) -> Result<u64, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.execute(&statement, params).await
}

/// Runs a query; returns its rows.
async fn query<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query(&statement, params).await
}

/// Runs a query returning at most one row.
async fn query_opt<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query_opt(&statement, params).await
}

/// Runs a query returning exactly one row.
async fn query_one<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Row, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query_one(&statement, params).await
}

/// Whether a row matching `sql` (one text parameter) exists.
async fn exists<C: GenericClient>(client: &C, sql: &str, param: &str) -> StoreResult<bool> {
    Ok(query_opt(client, sql, &[&param])
        .await
        .map_err(backend)?
        .is_some())
}

/// Locks a model's row until the transaction ends (ordering appends to it across relays;
/// snapshots are not blocked) and returns its stored version.
async fn lock_model_version<C: GenericClient>(tx: &C, model: &str) -> StoreResult<u64> {
    let row = query_opt(
        tx,
        "SELECT version FROM models WHERE id = $1 FOR NO KEY UPDATE",
        &[&model],
    )
    .await
    .map_err(backend)?
    .ok_or_else(|| StoreError::NotFound(format!("model {model}")))?;
    from_sql_u64(col(&row, 0)?, "model version")
}

/// Inserts operations that must directly follow version `current` (else `VersionConflict`),
/// and moves the model's version and modification time. (No notification: a NOTIFY takes a
/// server-wide lock at commit, which cost four times the latency of appends under load; relays
/// announce stored operations themselves.)
async fn insert_ops<C: GenericClient>(
    tx: &C,
    model: &str,
    current: u64,
    ops: &[StoredOp],
) -> StoreResult<()> {
    let (Some(first), Some(last)) = (ops.first(), ops.last()) else {
        return Ok(());
    };
    let first_version = first.version;
    let last_timestamp = last.timestamp_ms;
    let mut rows = Vec::with_capacity(ops.len());
    let mut consecutive = true;
    for (i, op) in ops.iter().enumerate() {
        if op.version != first_version.wrapping_add(i as u64) {
            consecutive = false;
        }
        rows.push((
            to_sql_u64(op.version, "version")?,
            origin_to_sql(op.origin),
            to_sql_u64(op.seq, "sequence number")?,
            encode_frame(&op.op),
            op,
        ));
    }
    if !consecutive || Some(first_version) != current.checked_add(1) {
        return Err(StoreError::VersionConflict {
            model: model.to_string(),
            expected: first_version.saturating_sub(1),
            current,
        });
    }
    // The highest sequence number per origin in this append.
    let mut seqs: Vec<(i64, i64)> = Vec::new();
    for row in &rows {
        match seqs.iter_mut().find(|(origin, _)| *origin == row.1) {
            Some(entry) => entry.1 = entry.1.max(row.2),
            None => seqs.push((row.1, row.2)),
        }
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO ops (model, version, origin, seq, user_id, session_id, \
             timestamp_ms, op) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await
        .map_err(backend)?;
    let upsert = tx
        .prepare_cached(
            "INSERT INTO origin_seqs (model, origin, seq) VALUES ($1, $2, $3) \
             ON CONFLICT (model, origin) \
             DO UPDATE SET seq = GREATEST(origin_seqs.seq, excluded.seq)",
        )
        .await
        .map_err(backend)?;
    let last_version = rows.last().map_or(0, |row| row.0);
    // Pipelined: every statement is sent before the first answer is awaited, so the whole
    // append is one round trip (and the commit another).
    let inserts = rows.iter().map(|(version, origin, seq, bytes, op)| {
        let params: [Param<'_>; 8] = [
            &model,
            version,
            origin,
            seq,
            &op.user_id,
            &op.session_id,
            &op.timestamp_ms,
            bytes,
        ];
        let insert = &insert;
        async move { tx.execute(insert, &params).await }
    });
    let inserts = async {
        futures_util::future::try_join_all(inserts)
            .await
            .map_err(|e| {
                // Only a writer bypassing the row lock could get here first.
                if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    StoreError::VersionConflict {
                        model: model.to_string(),
                        expected: first_version.saturating_sub(1),
                        current,
                    }
                } else {
                    backend(e)
                }
            })
    };
    let upserts = seqs.iter().map(|(origin, seq)| {
        let upsert = &upsert;
        async move { tx.execute(upsert, &[&model, origin, seq]).await }
    });
    let upserts = async {
        futures_util::future::try_join_all(upserts)
            .await
            .map_err(backend)
    };
    let moved = async {
        execute(
            tx,
            "UPDATE models SET version = $2, modified_ms = $3 WHERE id = $1",
            &[&model, &last_version, &last_timestamp],
        )
        .await
        .map_err(backend)
    };
    futures_util::future::try_join3(inserts, upserts, moved).await?;
    Ok(())
}

/// The operations of a model with versions in `(after, up_to]`, in order, at most `limit`.
async fn read_ops<C: GenericClient>(
    client: &C,
    model: &str,
    after: u64,
    up_to: u64,
    limit: u64,
) -> StoreResult<Vec<StoredOp>> {
    if limit == 0 || up_to <= after {
        return Ok(Vec::new());
    }
    query(
        client,
        "SELECT version, origin, seq, user_id, session_id, timestamp_ms, op FROM ops \
         WHERE model = $1 AND version > $2 AND version <= $3 ORDER BY version LIMIT $4",
        &[
            &model,
            &clamp_u64(after),
            &clamp_u64(up_to),
            &clamp_u64(limit),
        ],
    )
    .await
    .map_err(backend)?
    .iter()
    .map(|row| {
        Ok(StoredOp {
            version: from_sql_u64(col(row, 0)?, "version")?,
            origin: origin_from_sql(col(row, 1)?),
            seq: from_sql_u64(col(row, 2)?, "sequence number")?,
            user_id: col(row, 3)?,
            session_id: col(row, 4)?,
            timestamp_ms: col(row, 5)?,
            op: decode_blob::<Op>(col(row, 6)?, "operation")?,
        })
    })
    .collect()
}

/// Sends a notification on `channel`; delivered to listeners when the transaction commits.
async fn notify<C: GenericClient>(client: &C, channel: &str, payload: &str) -> StoreResult<()> {
    execute(client, "SELECT pg_notify($1, $2)", &[&channel, &payload])
        .await
        .map_err(backend)?;
    Ok(())
}

/// A count read back.
fn count_from_row(row: &Row) -> StoreResult<u64> {
    from_sql_u64(col(row, 0)?, "count")
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

/// A [`Store`] in a PostgreSQL database, which several relays may share.
pub struct PostgresStore {
    pool: Pool,
}

/// Brings the schema to the newest migration, under an advisory lock held by the transaction
/// (so that relays starting together apply each migration once).
async fn migrate(client: &mut Object) -> StoreResult<()> {
    let migration_error = |e| StoreError::Backend(format!("postgres migration: {e}"));
    let tx = client.transaction().await.map_err(migration_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(migration_error)?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (\
         version BIGINT PRIMARY KEY, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    ))
    .await
    .map_err(migration_error)?;
    let row = tx
        .query_one(
            &format!("SELECT COALESCE(max(version), 0)::BIGINT FROM {MIGRATIONS_TABLE}"),
            &[],
        )
        .await
        .map_err(migration_error)?;
    let current: i64 = col(&row, 0)?;
    let newest = MIGRATIONS.len() as i64;
    if current > newest {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this relay's {newest}"
        )));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let to = from as i64 + 1;
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::Backend(format!("postgres migration to schema version {to}: {e}"))
        })?;
        tx.execute(
            &format!("INSERT INTO {MIGRATIONS_TABLE} (version) VALUES ($1)"),
            &[&to],
        )
        .await
        .map_err(migration_error)?;
    }
    tx.commit().await.map_err(migration_error)
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, or
    /// libpq's `key=value` form), builds the connection pool and migrates the schema.
    pub async fn connect(url: &str) -> StoreResult<PostgresStore> {
        PostgresStore::connect_with_pool(url, POOL_SIZE).await
    }

    /// [`PostgresStore::connect`] with at most `pool_size` connections: every model storing at
    /// the same moment needs one.
    pub async fn connect_with_pool(url: &str, pool_size: usize) -> StoreResult<PostgresStore> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_application_name().is_none() {
            config.application_name("tandem-relay");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(RECYCLE_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres pool: {e}")))?;
        let mut client = pool.get().await.map_err(pool_error)?;
        migrate(&mut client).await?;
        drop(client);
        Ok(PostgresStore { pool })
    }

    /// The schema version this code brings databases to (the number of migrations).
    pub fn schema_version() -> u64 {
        MIGRATIONS.len() as u64
    }

    /// A pooled connection.
    async fn client(&self) -> StoreResult<Object> {
        self.pool.get().await.map_err(pool_error)
    }
}

#[async_trait]
impl Store for PostgresStore {
    // --- users and groups ---

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let client = self.client().await?;
        if exists(&client, "SELECT 1 FROM users WHERE id = $1", &user.id).await? {
            return Err(StoreError::Exists(format!("user {}", user.id)));
        }
        if exists(
            &client,
            "SELECT 1 FROM users WHERE username = $1",
            &user.username,
        )
        .await?
        {
            return Err(StoreError::Exists(format!("username {}", user.username)));
        }
        let (display, username, email) = search_fields(user);
        execute(
            &client,
            "INSERT INTO users (id, username, display_name, email, avatar_url, password_hash, \
             search_display, search_username, search_email) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &user.id,
                &user.username,
                &user.display_name,
                &user.email,
                &user.avatar_url,
                &user.password_hash,
                &display,
                &username,
                &email,
            ],
        )
        .await
        .map_err(|e| unique_or_backend(e, || format!("user {}", user.id)))?;
        Ok(())
    }

    async fn update_user(&self, user: &User) -> StoreResult<()> {
        let client = self.client().await?;
        let (display, username, email) = search_fields(user);
        let changed = execute(
            &client,
            "UPDATE users SET username = $2, display_name = $3, email = $4, avatar_url = $5, \
             password_hash = $6, search_display = $7, search_username = $8, search_email = $9 \
             WHERE id = $1",
            &[
                &user.id,
                &user.username,
                &user.display_name,
                &user.email,
                &user.avatar_url,
                &user.password_hash,
                &display,
                &username,
                &email,
            ],
        )
        .await
        .map_err(|e| unique_or_backend(e, || format!("username {}", user.username)))?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("user {}", user.id)));
        }
        Ok(())
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let client = self.client().await?;
        query_opt(
            &client,
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(backend)?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let client = self.client().await?;
        query_opt(
            &client,
            &format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1"),
            &[&username],
        )
        .await
        .map_err(backend)?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    async fn search_users(
        &self,
        query_text: &str,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<User>> {
        // A NUL can be in no stored text (PostgreSQL refuses it), as in the SQLite store.
        if query_text.contains('\0') || limit == 0 {
            return Ok(Vec::new());
        }
        let needle = query_text.to_lowercase();
        let client = self.client().await?;
        query(
            &client,
            &format!(
                "SELECT {USER_COLUMNS} FROM users WHERE {SEARCH_MATCH} \
                 ORDER BY username LIMIT $2 OFFSET $3"
            ),
            &[&needle, &clamp_u64(limit), &clamp_u64(offset)],
        )
        .await
        .map_err(backend)?
        .iter()
        .map(user_from_row)
        .collect()
    }

    async fn create_group(&self, id: &str, description: &str) -> StoreResult<()> {
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO groups (id, description) VALUES ($1, $2)",
            &[&id, &description],
        )
        .await
        .map_err(|e| unique_or_backend(e, || format!("group {id}")))?;
        Ok(())
    }

    async fn groups(&self) -> StoreResult<Vec<(String, String)>> {
        let client = self.client().await?;
        query(
            &client,
            "SELECT id, description FROM groups ORDER BY id",
            &[],
        )
        .await
        .map_err(backend)?
        .iter()
        .map(|row| Ok((col(row, 0)?, col(row, 1)?)))
        .collect()
    }

    async fn add_group_member(&self, group: &str, user_id: &str) -> StoreResult<()> {
        let client = self.client().await?;
        if !exists(&client, "SELECT 1 FROM groups WHERE id = $1", group).await? {
            return Err(StoreError::NotFound(format!("group {group}")));
        }
        if !exists(&client, "SELECT 1 FROM users WHERE id = $1", user_id).await? {
            return Err(StoreError::NotFound(format!("user {user_id}")));
        }
        execute(
            &client,
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&group, &user_id],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn remove_group_member(&self, group: &str, user_id: &str) -> StoreResult<()> {
        let client = self.client().await?;
        execute(
            &client,
            "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2",
            &[&group, &user_id],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn groups_of_user(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        strings(
            &client,
            "SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id",
            user_id,
        )
        .await
    }

    async fn group_members(&self, group: &str) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        strings(
            &client,
            "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id",
            group,
        )
        .await
    }

    async fn count_users_matching(&self, query_text: &str) -> StoreResult<u64> {
        if query_text.contains('\0') {
            return Ok(0);
        }
        let needle = query_text.to_lowercase();
        let client = self.client().await?;
        let row = query_one(
            &client,
            &format!("SELECT COUNT(*) FROM users WHERE {SEARCH_MATCH}"),
            &[&needle],
        )
        .await
        .map_err(backend)?;
        count_from_row(&row)
    }

    // --- collections and permissions ---

    async fn create_collection(&self, id: &str) -> StoreResult<()> {
        let client = self.client().await?;
        execute(&client, "INSERT INTO collections (id) VALUES ($1)", &[&id])
            .await
            .map_err(|e| unique_or_backend(e, || format!("collection {id}")))?;
        Ok(())
    }

    async fn collection_exists(&self, id: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        exists(&client, "SELECT 1 FROM collections WHERE id = $1", id).await
    }

    async fn set_permissions(
        &self,
        target: &PermissionTarget,
        grantee: &Grantee,
        permissions: Permissions,
    ) -> StoreResult<()> {
        let (target_kind, target_id) = target_key(target);
        let (grantee_kind, grantee_id) = grantee_key(grantee);
        let client = self.client().await?;
        if permissions == Permissions::default() {
            execute(
                &client,
                "DELETE FROM permissions WHERE target_kind = $1 AND target_id = $2 \
                 AND grantee_kind = $3 AND grantee_id = $4",
                &[&target_kind, &target_id, &grantee_kind, &grantee_id],
            )
            .await
        } else {
            execute(
                &client,
                "INSERT INTO permissions (target_kind, target_id, grantee_kind, grantee_id, \
                 can_read, can_write, can_remove, can_manage) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (target_kind, target_id, grantee_kind, grantee_id) DO UPDATE SET \
                 can_read = excluded.can_read, can_write = excluded.can_write, \
                 can_remove = excluded.can_remove, can_manage = excluded.can_manage",
                &[
                    &target_kind,
                    &target_id,
                    &grantee_kind,
                    &grantee_id,
                    &permissions.read,
                    &permissions.write,
                    &permissions.remove,
                    &permissions.manage,
                ],
            )
            .await
        }
        .map_err(backend)?;
        Ok(())
    }

    async fn permissions(
        &self,
        target: &PermissionTarget,
    ) -> StoreResult<Vec<(Grantee, Permissions)>> {
        let (target_kind, target_id) = target_key(target);
        let client = self.client().await?;
        query(
            &client,
            "SELECT grantee_kind, grantee_id, can_read, can_write, can_remove, can_manage \
             FROM permissions WHERE target_kind = $1 AND target_id = $2 \
             ORDER BY grantee_kind, grantee_id",
            &[&target_kind, &target_id],
        )
        .await
        .map_err(backend)?
        .iter()
        .map(|row| {
            let kind: String = col(row, 0)?;
            Ok((
                grantee_from_key(&kind, col(row, 1)?)?,
                Permissions {
                    read: col(row, 2)?,
                    write: col(row, 3)?,
                    remove: col(row, 4)?,
                    manage: col(row, 5)?,
                },
            ))
        })
        .collect()
    }

    async fn set_grant(
        &self,
        scope: &GrantScope,
        grantee: &Grantee,
        flags: Option<u32>,
    ) -> StoreResult<()> {
        let (scope_kind, scope_id) = scope_key(scope);
        let (grantee_kind, grantee_id) = grantee_key(grantee);
        let client = self.client().await?;
        match flags {
            None => {
                execute(
                    &client,
                    "DELETE FROM grants WHERE scope_kind = $1 AND scope_id = $2 \
                     AND grantee_kind = $3 AND grantee_id = $4",
                    &[&scope_kind, &scope_id, &grantee_kind, &grantee_id],
                )
                .await
            }
            Some(flags) => {
                execute(
                    &client,
                    "INSERT INTO grants (scope_kind, scope_id, grantee_kind, grantee_id, flags) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (scope_kind, scope_id, grantee_kind, grantee_id) \
                     DO UPDATE SET flags = excluded.flags",
                    &[
                        &scope_kind,
                        &scope_id,
                        &grantee_kind,
                        &grantee_id,
                        &i64::from(flags),
                    ],
                )
                .await
            }
        }
        .map_err(backend)?;
        Ok(())
    }

    async fn grants(&self, scope: &GrantScope) -> StoreResult<Vec<(Grantee, u32)>> {
        let (scope_kind, scope_id) = scope_key(scope);
        let client = self.client().await?;
        query(
            &client,
            "SELECT grantee_kind, grantee_id, flags FROM grants \
             WHERE scope_kind = $1 AND scope_id = $2 ORDER BY grantee_kind, grantee_id",
            &[&scope_kind, &scope_id],
        )
        .await
        .map_err(backend)?
        .iter()
        .map(|row| {
            let kind: String = col(row, 0)?;
            let flags: i64 = col(row, 2)?;
            let flags = u32::try_from(flags)
                .map_err(|_| StoreError::Corrupt(format!("grant flags {flags} out of range")))?;
            Ok((grantee_from_key(&kind, col(row, 1)?)?, flags))
        })
        .collect()
    }

    async fn compact_model(&self, model: &str, before: u64) -> StoreResult<u64> {
        let before = clamp_u64(before);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // The row lock orders concurrent compactions of the model (the floor never moves back).
        let floor: i64 = match query_opt(
            &tx,
            "SELECT history_floor FROM models WHERE id = $1 FOR NO KEY UPDATE",
            &[&model],
        )
        .await
        .map_err(backend)?
        {
            Some(row) => col(&row, 0)?,
            None => return Err(StoreError::NotFound(format!("model {model}"))),
        };
        let row = query_one(
            &tx,
            "SELECT max(version) FROM snapshots WHERE model = $1 AND version <= $2",
            &[&model, &before],
        )
        .await
        .map_err(backend)?;
        let snapshot: Option<i64> = col(&row, 0)?;
        let new_floor = snapshot.unwrap_or(0).max(floor);
        if new_floor > floor {
            for sql in [
                "DELETE FROM ops WHERE model = $1 AND version <= $2",
                "DELETE FROM snapshots WHERE model = $1 AND version < $2",
                "UPDATE models SET history_floor = $2 WHERE id = $1",
            ] {
                execute(&tx, sql, &[&model, &new_floor])
                    .await
                    .map_err(backend)?;
            }
        }
        tx.commit().await.map_err(backend)?;
        from_sql_u64(new_floor, "history floor")
    }

    async fn history_floor(&self, model: &str) -> StoreResult<u64> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT history_floor FROM models WHERE id = $1",
            &[&model],
        )
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::NotFound(format!("model {model}")))?;
        from_sql_u64(col(&row, 0)?, "history floor")
    }

    // --- chats ---

    async fn create_chat(
        &self,
        chat: &ChatRecord,
        direct_key: Option<&str>,
        members: &[String],
    ) -> StoreResult<()> {
        self.create_chat_rows(chat, direct_key, members).await
    }

    async fn chat(&self, id: &str) -> StoreResult<Option<ChatRecord>> {
        self.chat_by("id", id).await
    }

    async fn direct_chat(&self, direct_key: &str) -> StoreResult<Option<ChatRecord>> {
        self.chat_by("direct_key", direct_key).await
    }

    async fn chat_members(&self, id: &str) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        strings(
            &client,
            "SELECT user_id FROM chat_members WHERE chat = $1 ORDER BY user_id",
            id,
        )
        .await
    }

    async fn chats_of_member(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        strings(
            &client,
            "SELECT chat FROM chat_members WHERE user_id = $1 ORDER BY chat",
            user_id,
        )
        .await
    }

    async fn append_chat_event(
        &self,
        chat: &str,
        user_id: &str,
        timestamp_ms: i64,
        body: &ChatEventBody,
    ) -> StoreResult<u64> {
        self.append_chat_event_row(chat, user_id, timestamp_ms, body)
            .await
    }

    async fn chat_events(
        &self,
        chat: &str,
        start: Option<u64>,
        descending: bool,
        limit: u64,
        kinds: &[ChatEventKind],
    ) -> StoreResult<Vec<ChatEvent>> {
        self.chat_event_rows(chat, start, descending, limit, kinds)
            .await
    }

    async fn delete_chat(&self, id: &str) -> StoreResult<bool> {
        self.delete_chat_rows(id).await
    }

    async fn mark_chat_seen(&self, chat: &str, user_id: &str, event: u64) -> StoreResult<()> {
        self.mark_chat_seen_row(chat, user_id, event).await
    }

    async fn chat_seen(&self, chat: &str, user_id: &str) -> StoreResult<u64> {
        self.chat_seen_row(chat, user_id).await
    }

    async fn unread_counts(
        &self,
        user_id: &str,
        chats: &[String],
    ) -> StoreResult<Vec<(String, u64)>> {
        self.unread_count_rows(user_id, chats).await
    }

    // --- models ---

    async fn create_model(&self, meta: &ModelMeta, data: &Node) -> StoreResult<()> {
        let snapshot = encode_frame(data);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        if !exists(
            &tx,
            "SELECT 1 FROM collections WHERE id = $1 FOR KEY SHARE",
            &meta.collection,
        )
        .await?
        {
            return Err(StoreError::NotFound(format!(
                "collection {}",
                meta.collection
            )));
        }
        if exists(&tx, "SELECT 1 FROM models WHERE id = $1", &meta.id).await? {
            return Err(StoreError::Exists(format!("model {}", meta.id)));
        }
        execute(
            &tx,
            "INSERT INTO models (id, collection, version, created_ms, modified_ms, name) \
             VALUES ($1, $2, 0, $3, $4, $5)",
            &[
                &meta.id,
                &meta.collection,
                &meta.created_ms,
                &meta.modified_ms,
                &meta.name,
            ],
        )
        .await
        .map_err(|e| unique_or_backend(e, || format!("model {}", meta.id)))?;
        execute(
            &tx,
            "INSERT INTO snapshots (model, version, data) VALUES ($1, 0, $2) \
             ON CONFLICT (model, version) DO UPDATE SET data = excluded.data",
            &[&meta.id, &snapshot],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn model(&self, id: &str) -> StoreResult<Option<ModelMeta>> {
        let client = self.client().await?;
        query_opt(
            &client,
            &format!("SELECT {MODEL_COLUMNS} FROM models WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(backend)?
        .as_ref()
        .map(model_from_row)
        .transpose()
    }

    async fn list_models(
        &self,
        collection: &str,
        order: ModelOrder,
        descending: bool,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<ModelMeta>> {
        let column = match order {
            ModelOrder::Created => "created_ms",
            ModelOrder::Modified => "modified_ms",
        };
        let direction = if descending { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE collection = $1 \
             ORDER BY {column} {direction}, id {direction} LIMIT $2 OFFSET $3"
        );
        let client = self.client().await?;
        query(
            &client,
            &sql,
            &[&collection, &clamp_u64(limit), &clamp_u64(offset)],
        )
        .await
        .map_err(backend)?
        .iter()
        .map(model_from_row)
        .collect()
    }

    async fn count_models(&self, collection: &str) -> StoreResult<u64> {
        let client = self.client().await?;
        let row = query_one(
            &client,
            "SELECT COUNT(*) FROM models WHERE collection = $1",
            &[&collection],
        )
        .await
        .map_err(backend)?;
        count_from_row(&row)
    }

    async fn delete_model(&self, id: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Lock the model first: an append or snapshot in flight finishes before its rows go.
        let existed = query_opt(&tx, "SELECT 1 FROM models WHERE id = $1 FOR UPDATE", &[&id])
            .await
            .map_err(backend)?
            .is_some();
        for sql in [
            "DELETE FROM ops WHERE model = $1",
            "DELETE FROM snapshots WHERE model = $1",
            "DELETE FROM origin_seqs WHERE model = $1",
            "DELETE FROM permissions WHERE target_kind = 'model' AND target_id = $1",
            "DELETE FROM models WHERE id = $1",
        ] {
            execute(&tx, sql, &[&id]).await.map_err(backend)?;
        }
        if existed {
            notify(&tx, DELETED_CHANNEL, id).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(existed)
    }

    // --- the operation log ---

    async fn append_ops(&self, model: &str, ops: &[StoredOp]) -> StoreResult<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let current = lock_model_version(&tx, model).await?;
        insert_ops(&tx, model, current, ops).await?;
        tx.commit().await.map_err(backend)
    }

    async fn append_ops_exclusive(
        &self,
        model: &str,
        known_version: u64,
        sequence: &mut (dyn FnMut(Vec<StoredOp>) -> Vec<StoredOp> + Send),
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Held until the commit: no other relay appends to the model meanwhile.
        let current = lock_model_version(&tx, model).await?;
        let missed = if current > known_version {
            read_ops(&tx, model, known_version, current, u64::MAX).await?
        } else {
            Vec::new()
        };
        let ops = sequence(missed);
        if !ops.is_empty() {
            insert_ops(&tx, model, current, &ops).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn ops(
        &self,
        model: &str,
        after: u64,
        up_to: u64,
        limit: u64,
    ) -> StoreResult<Vec<StoredOp>> {
        let client = self.client().await?;
        read_ops(&client, model, after, up_to, limit).await
    }

    async fn version_at_time(&self, model: &str, time_ms: i64) -> StoreResult<u64> {
        let client = self.client().await?;
        let row = query_one(
            &client,
            "SELECT max(version) FROM ops WHERE model = $1 AND timestamp_ms <= $2",
            &[&model, &time_ms],
        )
        .await
        .map_err(backend)?;
        let version: Option<i64> = col(&row, 0)?;
        version.map_or(Ok(0), |v| from_sql_u64(v, "version"))
    }

    async fn last_seqs(&self, model: &str) -> StoreResult<Vec<(u64, u64)>> {
        let client = self.client().await?;
        let mut seqs = query(
            &client,
            "SELECT origin, seq FROM origin_seqs WHERE model = $1",
            &[&model],
        )
        .await
        .map_err(backend)?
        .iter()
        .map(|row| {
            Ok((
                origin_from_sql(col(row, 0)?),
                from_sql_u64(col(row, 1)?, "sequence number")?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
        seqs.sort_unstable();
        Ok(seqs)
    }

    // --- snapshots ---

    async fn put_snapshot(&self, model: &str, version: u64, data: &Node) -> StoreResult<()> {
        let version = to_sql_u64(version, "version")?;
        let data = encode_frame(data);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // The share lock keeps the model from being deleted until this commits.
        if !exists(
            &tx,
            "SELECT 1 FROM models WHERE id = $1 FOR KEY SHARE",
            model,
        )
        .await?
        {
            return Err(StoreError::NotFound(format!("model {model}")));
        }
        execute(
            &tx,
            "INSERT INTO snapshots (model, version, data) VALUES ($1, $2, $3) \
             ON CONFLICT (model, version) DO UPDATE SET data = excluded.data",
            &[&model, &version, &data],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn snapshot_at_or_before(
        &self,
        model: &str,
        version: u64,
    ) -> StoreResult<Option<(u64, Node)>> {
        let client = self.client().await?;
        let Some(row) = query_opt(
            &client,
            "SELECT version, data FROM snapshots WHERE model = $1 AND version <= $2 \
             ORDER BY version DESC LIMIT 1",
            &[&model, &clamp_u64(version)],
        )
        .await
        .map_err(backend)?
        else {
            return Ok(None);
        };
        Ok(Some((
            from_sql_u64(col(&row, 0)?, "version")?,
            decode_blob::<Node>(col(&row, 1)?, "snapshot")?,
        )))
    }

    // --- reconnect tokens ---

    async fn put_reconnect_token(
        &self,
        token_hash: &[u8],
        user_id: &str,
        expires_ms: i64,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO reconnect_tokens (token_hash, user_id, expires_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (token_hash) \
             DO UPDATE SET user_id = excluded.user_id, expires_ms = excluded.expires_ms",
            &[&token_hash, &user_id, &expires_ms],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn purge_reconnect_tokens(&self, now_ms: i64) -> StoreResult<u64> {
        let client = self.client().await?;
        execute(
            &client,
            "DELETE FROM reconnect_tokens WHERE expires_ms <= $1",
            &[&now_ms],
        )
        .await
        .map_err(backend)
    }

    async fn reconnect_token_user(
        &self,
        token_hash: &[u8],
        now_ms: i64,
    ) -> StoreResult<Option<String>> {
        let client = self.client().await?;
        query_opt(
            &client,
            "SELECT user_id FROM reconnect_tokens WHERE token_hash = $1 AND expires_ms > $2",
            &[&token_hash, &now_ms],
        )
        .await
        .map_err(backend)?
        .map(|row| col(&row, 0))
        .transpose()
    }
}

/// The first column of every row of `sql` (one text parameter), as strings.
async fn strings<C: GenericClient>(client: &C, sql: &str, param: &str) -> StoreResult<Vec<String>> {
    query(client, sql, &[&param])
        .await
        .map_err(backend)?
        .iter()
        .map(|row| col(row, 0))
        .collect()
}
