//! The embedded default store: one SQLite file in WAL mode.
//!
//! Writes go to ONE writer thread that owns the only read-write connection. It takes every
//! request queued (up to [`MAX_BATCH`]), runs them all in one transaction, each inside its own
//! savepoint so that a failing request (a version conflict, say) is rolled back alone, commits
//! once (`synchronous=FULL`: the WAL is fsynced on every commit) and only then replies to each
//! caller. Durability thus costs one fsync per batch, not per request: group commit.
//!
//! Reads run on a small pool of read-only connections through `spawn_blocking`; WAL lets them
//! proceed while the writer commits. A reply from the writer is only sent after the commit, so
//! a read issued after a write returned sees it.
//!
//! Operations and snapshots are stored as BLOBs in the core's binary codec.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tandem_core::protocol::{
    decode_frame, encode_frame, ChatEvent, ChatEventBody, ChatEventKind, Decode, Limits,
    MAX_DEPTH_CAP,
};
use tandem_core::{Node, Op};
use tokio::sync::{oneshot, Semaphore};

use super::keys::{grantee_from_key, grantee_key, scope_key, target_key};
use super::{
    ChatRecord, GrantScope, Grantee, ModelMeta, ModelOrder, PermissionTarget, Permissions, Store,
    StoreError, StoreResult, StoredOp, User,
};

#[path = "sqlite_chat.rs"]
mod chat;

/// The file name of the database inside the data directory.
pub const DB_FILE: &str = "tandem.sqlite3";

/// The most write requests committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// How many read-only connections serve reads concurrently.
const READ_CONNECTIONS: usize = 4;

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Stored records were written by us, so they are decoded with limits far above the wire's.
const STORED_LIMITS: Limits = Limits {
    max_frame_bytes: usize::MAX / 2,
    max_depth: MAX_DEPTH_CAP,
    max_string_bytes: usize::MAX / 2,
    max_items: usize::MAX / 2,
};

/// Migrations, in order: entry `i` brings the schema from version `i` to `i + 1`.
/// Public so that a test can build a database of any earlier schema.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    email         TEXT,
    avatar_url    TEXT,
    password_hash TEXT,
    search        TEXT NOT NULL
);
CREATE TABLE groups (
    id          TEXT PRIMARY KEY,
    description TEXT NOT NULL
);
CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_members_by_user ON group_members (user_id, group_id);
CREATE TABLE collections (
    id TEXT PRIMARY KEY
);
CREATE TABLE permissions (
    target_kind  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    grantee_kind TEXT NOT NULL,
    grantee_id   TEXT NOT NULL,
    can_read     INTEGER NOT NULL,
    can_write    INTEGER NOT NULL,
    can_remove   INTEGER NOT NULL,
    can_manage   INTEGER NOT NULL,
    PRIMARY KEY (target_kind, target_id, grantee_kind, grantee_id)
) WITHOUT ROWID;
CREATE TABLE models (
    id          TEXT PRIMARY KEY,
    collection  TEXT NOT NULL REFERENCES collections(id),
    version     INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL
);
CREATE INDEX models_by_created ON models (collection, created_ms, id);
CREATE INDEX models_by_modified ON models (collection, modified_ms, id);
CREATE TABLE ops (
    model        TEXT NOT NULL REFERENCES models(id),
    version      INTEGER NOT NULL,
    origin       INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    user_id      TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    op           BLOB NOT NULL,
    PRIMARY KEY (model, version)
) WITHOUT ROWID;
CREATE INDEX ops_by_time ON ops (model, timestamp_ms, version);
CREATE TABLE origin_seqs (
    model  TEXT NOT NULL REFERENCES models(id),
    origin INTEGER NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (model, origin)
) WITHOUT ROWID;
CREATE TABLE snapshots (
    model   TEXT NOT NULL REFERENCES models(id),
    version INTEGER NOT NULL,
    data    BLOB NOT NULL,
    PRIMARY KEY (model, version)
) WITHOUT ROWID;
CREATE TABLE reconnect_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX reconnect_tokens_by_expiry ON reconnect_tokens (expires_ms);
"#,
    r#"
CREATE TABLE grants (
    scope_kind   TEXT NOT NULL,
    scope_id     TEXT NOT NULL,
    grantee_kind TEXT NOT NULL,
    grantee_id   TEXT NOT NULL,
    flags        INTEGER NOT NULL,
    PRIMARY KEY (scope_kind, scope_id, grantee_kind, grantee_id)
) WITHOUT ROWID;
"#,
    chat::CHAT_SCHEMA,
    "ALTER TABLE models ADD COLUMN history_floor INTEGER NOT NULL DEFAULT 0;",
    // Model ids were global across collections: a model is now known by its collection and
    // name together (`store::model_key`), in every table that names it.
    r#"
PRAGMA defer_foreign_keys = ON;
ALTER TABLE models ADD COLUMN name TEXT NOT NULL DEFAULT '';
UPDATE models SET name = id;
UPDATE ops SET model =
    (SELECT length(m.collection) || ':' || m.collection || m.name FROM models m WHERE m.id = ops.model);
UPDATE origin_seqs SET model =
    (SELECT length(m.collection) || ':' || m.collection || m.name FROM models m WHERE m.id = origin_seqs.model);
UPDATE snapshots SET model =
    (SELECT length(m.collection) || ':' || m.collection || m.name FROM models m WHERE m.id = snapshots.model);
UPDATE permissions SET target_id =
    (SELECT length(m.collection) || ':' || m.collection || m.name FROM models m WHERE m.id = permissions.target_id)
    WHERE target_kind = 'model' AND target_id IN (SELECT id FROM models);
UPDATE models SET id = length(collection) || ':' || collection || name;
"#,
];

// ---------------------------------------------------------------------------------------------
// Conversions and errors
// ---------------------------------------------------------------------------------------------

/// Maps any SQLite error to `Backend`.
fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}

/// Maps a SQLite error, turning uniqueness violations into `Exists(what)`.
fn unique_or_backend(e: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return StoreError::Exists(what());
        }
    }
    backend(e)
}

/// A version, sequence number or limit as stored: SQLite integers are signed 64-bit.
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

/// Decodes a stored BLOB.
fn decode_blob<T: Decode>(bytes: &[u8], what: &str) -> StoreResult<T> {
    decode_frame(bytes, &STORED_LIMITS).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// The lowercase text `search_users` matches against; fields are separated by a NUL, which a
/// query can therefore not contain.
fn search_text(user: &User) -> String {
    let mut s = user.display_name.to_lowercase();
    s.push('\0');
    s.push_str(&user.username.to_lowercase());
    s.push('\0');
    if let Some(email) = &user.email {
        s.push_str(&email.to_lowercase());
    }
    s
}

/// The columns of a user row, in `USER_COLUMNS` order.
const USER_COLUMNS: &str = "id, username, display_name, email, avatar_url, password_hash";

/// Reads a user row selected with `USER_COLUMNS`.
fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        display_name: row.get(2)?,
        email: row.get(3)?,
        avatar_url: row.get(4)?,
        password_hash: row.get(5)?,
    })
}

/// The columns of a model row, in `MODEL_COLUMNS` order.
const MODEL_COLUMNS: &str = "id, collection, version, created_ms, modified_ms, name";

/// A model row as read, before its version is checked.
type RawModel = (String, String, i64, i64, i64, String);

/// Reads a model row selected with `MODEL_COLUMNS`.
fn raw_model_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawModel> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

/// Checks a raw model row.
fn model_from_raw(
    (id, collection, version, created_ms, modified_ms, name): RawModel,
) -> StoreResult<ModelMeta> {
    Ok(ModelMeta {
        id,
        name,
        collection,
        version: from_sql_u64(version, "model version")?,
        created_ms,
        modified_ms,
    })
}

/// The version stored for a model, `None` if it does not exist.
fn model_version(conn: &Connection, model: &str) -> StoreResult<Option<u64>> {
    let v: Option<i64> = conn
        .prepare_cached("SELECT version FROM models WHERE id = ?1")
        .and_then(|mut s| s.query_row([model], |r| r.get(0)).optional())
        .map_err(backend)?;
    v.map(|v| from_sql_u64(v, "model version")).transpose()
}

/// Whether a row matching `sql` (one text parameter) exists.
fn exists(conn: &Connection, sql: &str, param: &str) -> StoreResult<bool> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.exists([param]))
        .map_err(backend)
}

// ---------------------------------------------------------------------------------------------
// The writer thread
// ---------------------------------------------------------------------------------------------

/// One queued write request, type-erased so that one channel carries every kind.
trait Job: Send {
    /// Runs the request on the writer connection inside its savepoint; returns whether it
    /// succeeded (else its savepoint is rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Replies to the caller once the batch's fate is known: `commit` is the batch's outcome.
    fn finish(self: Box<Self>, commit: Result<(), &str>);
}

/// A write request returning `R` and its reply channel.
struct Pending<R, F> {
    work: Option<F>,
    result: Option<StoreResult<R>>,
    reply: oneshot::Sender<StoreResult<R>>,
}

/// Describes a panic payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

impl<R, F> Job for Pending<R, F>
where
    R: Send,
    F: FnOnce(&Connection) -> StoreResult<R> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|payload| {
            Err(StoreError::Backend(format!(
                "write request panicked: {}",
                panic_message(payload.as_ref())
            )))
        });
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), &str>) {
        let out = match (self.result, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(message)) => Err(StoreError::Backend(message.to_string())),
            (None, Ok(())) => Err(StoreError::Backend("write request was not run".into())),
        };
        // The caller may have given up waiting; the outcome stands either way.
        let _ = self.reply.send(out);
    }
}

/// Runs one statement on the writer connection.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The writer thread: waits for a request, drains what else is queued, commits them together.
/// Returns when every sender is gone and the queue is empty.
fn writer_loop(conn: Connection, rx: mpsc::Receiver<Box<dyn Job>>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, &mut batch);
    }
}

/// Runs a batch in one transaction, one savepoint per request, then replies to every request.
fn run_batch(conn: &Connection, batch: &mut Vec<Box<dyn Job>>) {
    let outcome: Result<(), String> = (|| {
        exec(conn, "BEGIN IMMEDIATE").map_err(|e| format!("sqlite begin: {e}"))?;
        let mut fatal = None;
        for job in batch.iter_mut() {
            if let Err(e) = exec(conn, "SAVEPOINT request") {
                fatal = Some(format!("sqlite savepoint: {e}"));
                break;
            }
            let ok = job.run(conn);
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back by itself (I/O error, disk full).
                fatal = Some("sqlite rolled the transaction back after an error".to_string());
                break;
            }
            let end = if ok {
                exec(conn, "RELEASE request")
            } else {
                exec(conn, "ROLLBACK TO request").and_then(|()| exec(conn, "RELEASE request"))
            };
            if let Err(e) = end {
                fatal = Some(format!("sqlite savepoint: {e}"));
                break;
            }
        }
        if let Some(message) = fatal {
            if !conn.is_autocommit() {
                let _ = exec(conn, "ROLLBACK");
            }
            return Err(message);
        }
        if let Err(e) = exec(conn, "COMMIT") {
            if !conn.is_autocommit() {
                let _ = exec(conn, "ROLLBACK");
            }
            return Err(format!("sqlite commit: {e}"));
        }
        Ok(())
    })();
    let commit = outcome.as_ref().map(|_| ()).map_err(String::as_str);
    for job in batch.drain(..) {
        job.finish(commit);
    }
}

// ---------------------------------------------------------------------------------------------
// The read pool
// ---------------------------------------------------------------------------------------------

/// Read-only connections; the semaphore guarantees one is free when a permit is held.
struct ReadPool {
    connections: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    /// Takes a connection (a permit is held, so one is there); it goes back when the lease
    /// drops, even if the read panicked.
    fn lease(self: &Arc<Self>) -> Option<Lease> {
        let conn = self
            .connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()?;
        Some(Lease {
            pool: self.clone(),
            conn: Some(conn),
        })
    }
}

/// A read connection taken from the pool, given back on drop.
struct Lease {
    pool: Arc<ReadPool>,
    conn: Option<Connection>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool
                .connections
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(conn);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

/// The embedded default [`Store`]: a SQLite database file in a data directory.
pub struct SqliteStore {
    path: PathBuf,
    writer: Option<mpsc::Sender<Box<dyn Job>>>,
    writer_thread: Option<JoinHandle<()>>,
    reads: Arc<ReadPool>,
}

/// Applies the pragmas every connection needs.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Brings the schema to [`SCHEMA_VERSION`].
fn migrate(conn: &Connection) -> StoreResult<()> {
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(backend)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this relay's {SCHEMA_VERSION}"
        )));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let to = from as i64 + 1;
        let script = format!("BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {to};\nCOMMIT;");
        if let Err(e) = conn.execute_batch(&script) {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(StoreError::Backend(format!(
                "sqlite migration to schema version {to}: {e}"
            )));
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database `dir/tandem.sqlite3`,
    /// migrates its schema and starts the writer thread.
    pub fn open(dir: &Path) -> StoreResult<SqliteStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("creating {}: {e}", dir.display())))?;
        let path = dir.join(DB_FILE);

        let write = Connection::open(&path).map_err(backend)?;
        configure(&write).map_err(backend)?;
        let mode: String = write
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "sqlite refused WAL mode (journal mode is {mode})"
            )));
        }
        write
            .pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        // Truncate the WAL file back to this size after checkpoints rather than keep it large.
        write
            .pragma_update(None, "journal_size_limit", 64i64 << 20)
            .map_err(backend)?;
        migrate(&write)?;

        let mut connections = Vec::with_capacity(READ_CONNECTIONS);
        for _ in 0..READ_CONNECTIONS {
            let read = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(backend)?;
            configure(&read).map_err(backend)?;
            connections.push(read);
        }

        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let writer_thread = std::thread::Builder::new()
            .name("tandem-sqlite-writer".into())
            .spawn(move || writer_loop(write, rx))
            .map_err(|e| StoreError::Backend(format!("starting the writer thread: {e}")))?;

        Ok(SqliteStore {
            path,
            writer: Some(tx),
            writer_thread: Some(writer_thread),
            reads: Arc::new(ReadPool {
                connections: Mutex::new(connections),
                permits: Arc::new(Semaphore::new(READ_CONNECTIONS)),
            }),
        })
    }

    /// The database file, for logs and operators.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues a write request and waits until its batch is committed.
    async fn write<R, F>(&self, work: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let stopped = || StoreError::Backend("the sqlite writer thread has stopped".into());
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Pending {
            work: Some(work),
            result: None,
            reply,
        });
        self.writer
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs a read on a pooled read-only connection on tokio's blocking threads.
    async fn read<R, F>(&self, work: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let permit = self
            .reads
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("the sqlite read pool is closed".into()))?;
        let pool = self.reads.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let lease = pool
                .lease()
                .ok_or_else(|| StoreError::Backend("no free sqlite read connection".into()))?;
            let conn = lease
                .conn
                .as_ref()
                .ok_or_else(|| StoreError::Backend("no free sqlite read connection".into()))?;
            work(conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("sqlite read task failed: {e}")))?
    }
}

impl Drop for SqliteStore {
    /// Closes the queue; the writer finishes what is queued, commits it and stops.
    fn drop(&mut self) {
        drop(self.writer.take());
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    // --- users and groups ---

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        self.write(move |conn| {
            if exists(conn, "SELECT 1 FROM users WHERE id = ?1", &user.id)? {
                return Err(StoreError::Exists(format!("user {}", user.id)));
            }
            if exists(
                conn,
                "SELECT 1 FROM users WHERE username = ?1",
                &user.username,
            )? {
                return Err(StoreError::Exists(format!("username {}", user.username)));
            }
            conn.prepare_cached(
                "INSERT INTO users (id, username, display_name, email, avatar_url, password_hash, \
                 search) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    user.id,
                    user.username,
                    user.display_name,
                    user.email,
                    user.avatar_url,
                    user.password_hash,
                    search_text(&user),
                ])
            })
            .map_err(|e| unique_or_backend(e, || format!("user {}", user.id)))?;
            Ok(())
        })
        .await
    }

    async fn update_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE users SET username = ?2, display_name = ?3, email = ?4, \
                     avatar_url = ?5, password_hash = ?6, search = ?7 WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        user.id,
                        user.username,
                        user.display_name,
                        user.email,
                        user.avatar_url,
                        user.password_hash,
                        search_text(&user),
                    ])
                })
                .map_err(|e| unique_or_backend(e, || format!("username {}", user.username)))?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("user {}", user.id)));
            }
            Ok(())
        })
        .await
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_string();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
                .and_then(|mut s| s.query_row([&id], user_from_row).optional())
                .map_err(backend)
        })
        .await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let username = username.to_string();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE username = ?1"
            ))
            .and_then(|mut s| s.query_row([&username], user_from_row).optional())
            .map_err(backend)
        })
        .await
    }

    async fn search_users(&self, query: &str, offset: u64, limit: u64) -> StoreResult<Vec<User>> {
        if query.contains('\0') || limit == 0 {
            return Ok(Vec::new());
        }
        let needle = query.to_lowercase();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE instr(search, ?1) > 0 \
                 ORDER BY username LIMIT ?2 OFFSET ?3"
            ))
            .and_then(|mut s| {
                s.query_map(
                    params![needle, clamp_u64(limit), clamp_u64(offset)],
                    user_from_row,
                )?
                .collect()
            })
            .map_err(backend)
        })
        .await
    }

    async fn create_group(&self, id: &str, description: &str) -> StoreResult<()> {
        let (id, description) = (id.to_string(), description.to_string());
        self.write(move |conn| {
            conn.prepare_cached("INSERT INTO groups (id, description) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute([&id, &description]))
                .map_err(|e| unique_or_backend(e, || format!("group {id}")))?;
            Ok(())
        })
        .await
    }

    async fn groups(&self) -> StoreResult<Vec<(String, String)>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT id, description FROM groups ORDER BY id")
                .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                .map_err(backend)
        })
        .await
    }

    async fn add_group_member(&self, group: &str, user_id: &str) -> StoreResult<()> {
        let (group, user_id) = (group.to_string(), user_id.to_string());
        self.write(move |conn| {
            if !exists(conn, "SELECT 1 FROM groups WHERE id = ?1", &group)? {
                return Err(StoreError::NotFound(format!("group {group}")));
            }
            if !exists(conn, "SELECT 1 FROM users WHERE id = ?1", &user_id)? {
                return Err(StoreError::NotFound(format!("user {user_id}")));
            }
            conn.prepare_cached(
                "INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?1, ?2)",
            )
            .and_then(|mut s| s.execute([&group, &user_id]))
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn remove_group_member(&self, group: &str, user_id: &str) -> StoreResult<()> {
        let (group, user_id) = (group.to_string(), user_id.to_string());
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2")
                .and_then(|mut s| s.execute([&group, &user_id]))
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn groups_of_user(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let user_id = user_id.to_string();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT group_id FROM group_members WHERE user_id = ?1 ORDER BY group_id",
            )
            .and_then(|mut s| s.query_map([&user_id], |r| r.get(0))?.collect())
            .map_err(backend)
        })
        .await
    }

    async fn group_members(&self, group: &str) -> StoreResult<Vec<String>> {
        let group = group.to_string();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT user_id FROM group_members WHERE group_id = ?1 ORDER BY user_id",
            )
            .and_then(|mut s| s.query_map([&group], |r| r.get(0))?.collect())
            .map_err(backend)
        })
        .await
    }

    async fn count_users_matching(&self, query: &str) -> StoreResult<u64> {
        if query.contains('\0') {
            return Ok(0);
        }
        let needle = query.to_lowercase();
        self.read(move |conn| {
            let count: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM users WHERE instr(search, ?1) > 0")
                .and_then(|mut s| s.query_row([&needle], |r| r.get(0)))
                .map_err(backend)?;
            from_sql_u64(count, "count")
        })
        .await
    }

    // --- collections and permissions ---

    async fn create_collection(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |conn| {
            conn.prepare_cached("INSERT INTO collections (id) VALUES (?1)")
                .and_then(|mut s| s.execute([&id]))
                .map_err(|e| unique_or_backend(e, || format!("collection {id}")))?;
            Ok(())
        })
        .await
    }

    async fn collection_exists(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.read(move |conn| exists(conn, "SELECT 1 FROM collections WHERE id = ?1", &id))
            .await
    }

    async fn set_permissions(
        &self,
        target: &PermissionTarget,
        grantee: &Grantee,
        permissions: Permissions,
    ) -> StoreResult<()> {
        let (target_kind, target_id) = target_key(target);
        let (grantee_kind, grantee_id) = grantee_key(grantee);
        let (target_id, grantee_id) = (target_id.to_string(), grantee_id.to_string());
        self.write(move |conn| {
            let key = params![target_kind, target_id, grantee_kind, grantee_id];
            if permissions == Permissions::default() {
                conn.prepare_cached(
                    "DELETE FROM permissions WHERE target_kind = ?1 AND target_id = ?2 \
                     AND grantee_kind = ?3 AND grantee_id = ?4",
                )
                .and_then(|mut s| s.execute(key))
                .map_err(backend)?;
            } else {
                conn.prepare_cached(
                    "INSERT INTO permissions (target_kind, target_id, grantee_kind, grantee_id, \
                     can_read, can_write, can_remove, can_manage) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (target_kind, target_id, grantee_kind, grantee_id) DO UPDATE SET \
                     can_read = excluded.can_read, can_write = excluded.can_write, \
                     can_remove = excluded.can_remove, can_manage = excluded.can_manage",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        target_kind,
                        target_id,
                        grantee_kind,
                        grantee_id,
                        permissions.read,
                        permissions.write,
                        permissions.remove,
                        permissions.manage,
                    ])
                })
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn set_grant(
        &self,
        scope: &GrantScope,
        grantee: &Grantee,
        flags: Option<u32>,
    ) -> StoreResult<()> {
        let (scope_kind, scope_id) = scope_key(scope);
        let (grantee_kind, grantee_id) = grantee_key(grantee);
        let grantee_id = grantee_id.to_string();
        self.write(move |conn| {
            match flags {
                None => conn
                    .prepare_cached(
                        "DELETE FROM grants WHERE scope_kind = ?1 AND scope_id = ?2 \
                         AND grantee_kind = ?3 AND grantee_id = ?4",
                    )
                    .and_then(|mut s| {
                        s.execute(params![scope_kind, scope_id, grantee_kind, grantee_id])
                    }),
                Some(flags) => conn
                    .prepare_cached(
                        "INSERT INTO grants (scope_kind, scope_id, grantee_kind, grantee_id, flags) \
                         VALUES (?1, ?2, ?3, ?4, ?5) \
                         ON CONFLICT (scope_kind, scope_id, grantee_kind, grantee_id) \
                         DO UPDATE SET flags = excluded.flags",
                    )
                    .and_then(|mut s| {
                        s.execute(params![scope_kind, scope_id, grantee_kind, grantee_id, flags])
                    }),
            }
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn grants(&self, scope: &GrantScope) -> StoreResult<Vec<(Grantee, u32)>> {
        let (scope_kind, scope_id) = scope_key(scope);
        self.read(move |conn| {
            let rows: Vec<(String, String, u32)> = conn
                .prepare_cached(
                    "SELECT grantee_kind, grantee_id, flags FROM grants \
                     WHERE scope_kind = ?1 AND scope_id = ?2 ORDER BY grantee_kind, grantee_id",
                )
                .and_then(|mut s| {
                    s.query_map(params![scope_kind, scope_id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?
                    .collect()
                })
                .map_err(backend)?;
            rows.into_iter()
                .map(|(kind, id, flags)| Ok((grantee_from_key(&kind, id)?, flags)))
                .collect()
        })
        .await
    }

    async fn compact_model(&self, model: &str, before: u64) -> StoreResult<u64> {
        let model = model.to_string();
        let before = clamp_u64(before);
        self.write(move |conn| {
            let floor: i64 = conn
                .prepare_cached("SELECT history_floor FROM models WHERE id = ?1")
                .and_then(|mut s| s.query_row([&model], |r| r.get(0)).optional())
                .map_err(backend)?
                .ok_or_else(|| StoreError::NotFound(format!("model {model}")))?;
            let snapshot: Option<i64> = conn
                .prepare_cached(
                    "SELECT max(version) FROM snapshots WHERE model = ?1 AND version <= ?2",
                )
                .and_then(|mut s| s.query_row(params![model, before], |r| r.get(0)))
                .map_err(backend)?;
            let new_floor = snapshot.unwrap_or(0).max(floor);
            if new_floor > floor {
                for sql in [
                    "DELETE FROM ops WHERE model = ?1 AND version <= ?2",
                    "DELETE FROM snapshots WHERE model = ?1 AND version < ?2",
                    "UPDATE models SET history_floor = ?2 WHERE id = ?1",
                ] {
                    conn.prepare_cached(sql)
                        .and_then(|mut s| s.execute(params![model, new_floor]))
                        .map_err(backend)?;
                }
            }
            from_sql_u64(new_floor, "history floor")
        })
        .await
    }

    async fn history_floor(&self, model: &str) -> StoreResult<u64> {
        let model = model.to_string();
        self.read(move |conn| {
            let floor: i64 = conn
                .prepare_cached("SELECT history_floor FROM models WHERE id = ?1")
                .and_then(|mut s| s.query_row([&model], |r| r.get(0)).optional())
                .map_err(backend)?
                .ok_or_else(|| StoreError::NotFound(format!("model {model}")))?;
            from_sql_u64(floor, "history floor")
        })
        .await
    }

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
        self.chat_strings(
            "SELECT user_id FROM chat_members WHERE chat = ?1 ORDER BY user_id",
            id,
        )
        .await
    }

    async fn chats_of_member(&self, user_id: &str) -> StoreResult<Vec<String>> {
        self.chat_strings(
            "SELECT chat FROM chat_members WHERE user_id = ?1 ORDER BY chat",
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

    async fn permissions(
        &self,
        target: &PermissionTarget,
    ) -> StoreResult<Vec<(Grantee, Permissions)>> {
        let (target_kind, target_id) = target_key(target);
        let target_id = target_id.to_string();
        self.read(move |conn| {
            let rows: Vec<(String, String, Permissions)> = conn
                .prepare_cached(
                    "SELECT grantee_kind, grantee_id, can_read, can_write, can_remove, can_manage \
                     FROM permissions WHERE target_kind = ?1 AND target_id = ?2 \
                     ORDER BY grantee_kind, grantee_id",
                )
                .and_then(|mut s| {
                    s.query_map(params![target_kind, target_id], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            Permissions {
                                read: r.get(2)?,
                                write: r.get(3)?,
                                remove: r.get(4)?,
                                manage: r.get(5)?,
                            },
                        ))
                    })?
                    .collect()
                })
                .map_err(backend)?;
            rows.into_iter()
                .map(|(kind, id, p)| Ok((grantee_from_key(&kind, id)?, p)))
                .collect()
        })
        .await
    }

    // --- models ---

    async fn create_model(&self, meta: &ModelMeta, data: &Node) -> StoreResult<()> {
        let meta = meta.clone();
        let snapshot = encode_frame(data);
        self.write(move |conn| {
            if !exists(
                conn,
                "SELECT 1 FROM collections WHERE id = ?1",
                &meta.collection,
            )? {
                return Err(StoreError::NotFound(format!(
                    "collection {}",
                    meta.collection
                )));
            }
            if exists(conn, "SELECT 1 FROM models WHERE id = ?1", &meta.id)? {
                return Err(StoreError::Exists(format!("model {}", meta.id)));
            }
            conn.prepare_cached(
                "INSERT INTO models (id, collection, version, created_ms, modified_ms, name) \
                 VALUES (?1, ?2, 0, ?3, ?4, ?5)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    meta.id,
                    meta.collection,
                    meta.created_ms,
                    meta.modified_ms,
                    meta.name
                ])
            })
            .map_err(|e| unique_or_backend(e, || format!("model {}", meta.id)))?;
            conn.prepare_cached(
                "INSERT OR REPLACE INTO snapshots (model, version, data) VALUES (?1, 0, ?2)",
            )
            .and_then(|mut s| s.execute(params![meta.id, snapshot]))
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn model(&self, id: &str) -> StoreResult<Option<ModelMeta>> {
        let id = id.to_string();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {MODEL_COLUMNS} FROM models WHERE id = ?1"))
                .and_then(|mut s| s.query_row([&id], raw_model_from_row).optional())
                .map_err(backend)?
                .map(model_from_raw)
                .transpose()
        })
        .await
    }

    async fn count_models(&self, collection: &str) -> StoreResult<u64> {
        let collection = collection.to_string();
        self.read(move |conn| {
            conn.prepare_cached("SELECT COUNT(*) FROM models WHERE collection = ?1")
                .and_then(|mut s| s.query_row([&collection], |row| row.get::<_, i64>(0)))
                .map(|n| n.max(0) as u64)
                .map_err(backend)
        })
        .await
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
            "SELECT {MODEL_COLUMNS} FROM models WHERE collection = ?1 \
             ORDER BY {column} {direction}, id {direction} LIMIT ?2 OFFSET ?3"
        );
        let collection = collection.to_string();
        self.read(move |conn| {
            let rows: Vec<RawModel> = conn
                .prepare_cached(&sql)
                .and_then(|mut s| {
                    s.query_map(
                        params![collection, clamp_u64(limit), clamp_u64(offset)],
                        raw_model_from_row,
                    )?
                    .collect()
                })
                .map_err(backend)?;
            rows.into_iter().map(model_from_raw).collect()
        })
        .await
    }

    async fn delete_model(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |conn| {
            for sql in [
                "DELETE FROM ops WHERE model = ?1",
                "DELETE FROM snapshots WHERE model = ?1",
                "DELETE FROM origin_seqs WHERE model = ?1",
                "DELETE FROM permissions WHERE target_kind = 'model' AND target_id = ?1",
            ] {
                conn.prepare_cached(sql)
                    .and_then(|mut s| s.execute([&id]))
                    .map_err(backend)?;
            }
            let deleted = conn
                .prepare_cached("DELETE FROM models WHERE id = ?1")
                .and_then(|mut s| s.execute([&id]))
                .map_err(backend)?;
            Ok(deleted > 0)
        })
        .await
    }

    // --- the operation log ---

    async fn append_ops(&self, model: &str, ops: &[StoredOp]) -> StoreResult<()> {
        let (Some(first), Some(last)) = (ops.first(), ops.last()) else {
            return Ok(());
        };
        let model = model.to_string();
        let first_version = first.version;
        let last_timestamp = last.timestamp_ms;
        // Encode here, on the caller's thread, so the writer thread only does I/O.
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
                op.user_id.clone(),
                op.session_id.clone(),
                op.timestamp_ms,
                encode_frame(&op.op),
            ));
        }
        // The highest sequence number per origin in this append.
        let mut seqs: Vec<(i64, i64)> = Vec::new();
        for row in &rows {
            match seqs.iter_mut().find(|(origin, _)| *origin == row.1) {
                Some(entry) => entry.1 = entry.1.max(row.2),
                None => seqs.push((row.1, row.2)),
            }
        }
        self.write(move |conn| {
            let current = model_version(conn, &model)?
                .ok_or_else(|| StoreError::NotFound(format!("model {model}")))?;
            if !consecutive || Some(first_version) != current.checked_add(1) {
                return Err(StoreError::VersionConflict {
                    model,
                    expected: first_version.saturating_sub(1),
                    current,
                });
            }
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO ops (model, version, origin, seq, user_id, session_id, \
                     timestamp_ms, op) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(backend)?;
            let mut last_version = 0;
            for (version, origin, seq, user_id, session_id, timestamp_ms, op) in &rows {
                insert
                    .execute(params![
                        model,
                        version,
                        origin,
                        seq,
                        user_id,
                        session_id,
                        timestamp_ms,
                        op
                    ])
                    .map_err(backend)?;
                last_version = *version;
            }
            let mut upsert = conn
                .prepare_cached(
                    "INSERT INTO origin_seqs (model, origin, seq) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (model, origin) DO UPDATE SET seq = max(seq, excluded.seq)",
                )
                .map_err(backend)?;
            for (origin, seq) in &seqs {
                upsert
                    .execute(params![model, origin, seq])
                    .map_err(backend)?;
            }
            conn.prepare_cached("UPDATE models SET version = ?2, modified_ms = ?3 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![model, last_version, last_timestamp]))
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn ops(
        &self,
        model: &str,
        after: u64,
        up_to: u64,
        limit: u64,
    ) -> StoreResult<Vec<StoredOp>> {
        if limit == 0 || up_to <= after {
            return Ok(Vec::new());
        }
        let model = model.to_string();
        self.read(move |conn| {
            type Row = (i64, i64, i64, String, String, i64, Vec<u8>);
            let rows: Vec<Row> = conn
                .prepare_cached(
                    "SELECT version, origin, seq, user_id, session_id, timestamp_ms, op FROM ops \
                     WHERE model = ?1 AND version > ?2 AND version <= ?3 \
                     ORDER BY version LIMIT ?4",
                )
                .and_then(|mut s| {
                    s.query_map(
                        params![model, clamp_u64(after), clamp_u64(up_to), clamp_u64(limit)],
                        |r| {
                            Ok((
                                r.get(0)?,
                                r.get(1)?,
                                r.get(2)?,
                                r.get(3)?,
                                r.get(4)?,
                                r.get(5)?,
                                r.get(6)?,
                            ))
                        },
                    )?
                    .collect()
                })
                .map_err(backend)?;
            rows.into_iter()
                .map(
                    |(version, origin, seq, user_id, session_id, timestamp_ms, op)| {
                        Ok(StoredOp {
                            version: from_sql_u64(version, "version")?,
                            origin: origin_from_sql(origin),
                            seq: from_sql_u64(seq, "sequence number")?,
                            user_id,
                            session_id,
                            timestamp_ms,
                            op: decode_blob::<Op>(&op, "operation")?,
                        })
                    },
                )
                .collect()
        })
        .await
    }

    async fn version_at_time(&self, model: &str, time_ms: i64) -> StoreResult<u64> {
        let model = model.to_string();
        self.read(move |conn| {
            let v: Option<i64> = conn
                .prepare_cached(
                    "SELECT max(version) FROM ops WHERE model = ?1 AND timestamp_ms <= ?2",
                )
                .and_then(|mut s| s.query_row(params![model, time_ms], |r| r.get(0)))
                .map_err(backend)?;
            v.map_or(Ok(0), |v| from_sql_u64(v, "version"))
        })
        .await
    }

    async fn last_seqs(&self, model: &str) -> StoreResult<Vec<(u64, u64)>> {
        let model = model.to_string();
        self.read(move |conn| {
            let rows: Vec<(i64, i64)> = conn
                .prepare_cached("SELECT origin, seq FROM origin_seqs WHERE model = ?1")
                .and_then(|mut s| {
                    s.query_map([&model], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect()
                })
                .map_err(backend)?;
            let mut seqs = rows
                .into_iter()
                .map(|(origin, seq)| {
                    Ok((
                        origin_from_sql(origin),
                        from_sql_u64(seq, "sequence number")?,
                    ))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            seqs.sort_unstable();
            Ok(seqs)
        })
        .await
    }

    // --- snapshots ---

    async fn put_snapshot(&self, model: &str, version: u64, data: &Node) -> StoreResult<()> {
        let model = model.to_string();
        let version = to_sql_u64(version, "version")?;
        let data = encode_frame(data);
        self.write(move |conn| {
            if !exists(conn, "SELECT 1 FROM models WHERE id = ?1", &model)? {
                return Err(StoreError::NotFound(format!("model {model}")));
            }
            conn.prepare_cached(
                "INSERT OR REPLACE INTO snapshots (model, version, data) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![model, version, data]))
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn snapshot_at_or_before(
        &self,
        model: &str,
        version: u64,
    ) -> StoreResult<Option<(u64, Node)>> {
        let model = model.to_string();
        self.read(move |conn| {
            let row: Option<(i64, Vec<u8>)> = conn
                .prepare_cached(
                    "SELECT version, data FROM snapshots WHERE model = ?1 AND version <= ?2 \
                     ORDER BY version DESC LIMIT 1",
                )
                .and_then(|mut s| {
                    s.query_row(params![model, clamp_u64(version)], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                })
                .map_err(backend)?;
            row.map(|(version, data)| {
                Ok((
                    from_sql_u64(version, "version")?,
                    decode_blob::<Node>(&data, "snapshot")?,
                ))
            })
            .transpose()
        })
        .await
    }

    // --- reconnect tokens ---

    async fn put_reconnect_token(
        &self,
        token_hash: &[u8],
        user_id: &str,
        expires_ms: i64,
    ) -> StoreResult<()> {
        let (token_hash, user_id) = (token_hash.to_vec(), user_id.to_string());
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO reconnect_tokens (token_hash, user_id, expires_ms) \
                 VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![token_hash, user_id, expires_ms]))
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn purge_reconnect_tokens(&self, now_ms: i64) -> StoreResult<u64> {
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM reconnect_tokens WHERE expires_ms <= ?1")
                .and_then(|mut s| s.execute(params![now_ms]))
                .map(|n| n as u64)
                .map_err(backend)
        })
        .await
    }

    async fn reconnect_token_user(
        &self,
        token_hash: &[u8],
        now_ms: i64,
    ) -> StoreResult<Option<String>> {
        let token_hash = token_hash.to_vec();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT user_id FROM reconnect_tokens WHERE token_hash = ?1 AND expires_ms > ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![token_hash, now_ms], |r| r.get(0))
                    .optional()
            })
            .map_err(backend)
        })
        .await
    }
}
