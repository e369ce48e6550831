//! The storage conformance suite and PostgreSQL-specific tests on a real server: a throwaway
//! one on loopback (`LocalPostgres`, Debian's `postgresql` package; scripts/setup.sh installs
//! it), or the database in `TANDEM_TEST_POSTGRES_URL` when that is set (its user must be
//! allowed to create databases: some tests need one of their own).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_core::{ElementId, Node, NodeValue, Op};
use tandem_relay::store::local_postgres::{self, LocalPostgres};
use tandem_relay::store::postgres::{PostgresStore, MIGRATIONS_TABLE};
use tandem_relay::store::{conformance, ModelMeta, Store, StoreError, StoredOp};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

/// How long a test waits for a notification.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// The shared test database's URL (starting the local server on first use).
async fn base_url() -> String {
    tokio::task::spawn_blocking(local_postgres::test_database_url)
        .await
        .expect("starting PostgreSQL")
        .unwrap_or_else(|e| panic!("no PostgreSQL server for the tests: {e}"))
}

/// `url` with its database replaced by `name` (URL or `key=value` form).
fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={name}");
    };
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = base[scheme_end + 3..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + 3 + i);
    format!("{}/{name}{query}", &base[..authority_end])
}

/// A database of one test's own on the test server.
struct FreshDatabase {
    /// The shared database's URL, to drop this one from.
    base: String,
    name: String,
    url: String,
}

/// Creates a new empty database on the test server.
async fn fresh_database(prefix: &str) -> FreshDatabase {
    let base = base_url().await;
    let name = format!("{prefix}_{:016x}", rand::random::<u64>());
    raw_client(&base)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
    let url = with_database(&base, &name);
    FreshDatabase { base, name, url }
}

impl FreshDatabase {
    /// Drops the database (after a test that passed; a failed one leaves it to look at).
    async fn remove(self) {
        raw_client(&self.base)
            .await
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .expect("DROP DATABASE");
    }
}

async fn connect(url: &str) -> PostgresStore {
    PostgresStore::connect(url)
        .await
        .unwrap_or_else(|e| panic!("PostgresStore::connect failed: {e}"))
}

/// A plain connection for inspecting and damaging the database behind the store's back.
async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("raw connection");
    tokio::spawn(connection);
    client
}

/// The schema versions recorded as applied, in order.
async fn applied_versions(url: &str) -> Vec<i64> {
    raw_client(url)
        .await
        .query(
            &format!("SELECT version FROM {MIGRATIONS_TABLE} ORDER BY version"),
            &[],
        )
        .await
        .expect("read the migrations table")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn all_versions() -> Vec<i64> {
    (1..=PostgresStore::schema_version() as i64).collect()
}

fn meta(id: &str, collection: &str) -> ModelMeta {
    ModelMeta {
        id: id.to_string(),
        name: id.to_string(),
        collection: collection.to_string(),
        version: 0,
        created_ms: 1,
        modified_ms: 1,
    }
}

fn root(text: &str) -> Node {
    Node::new(ElementId::ROOT, NodeValue::String(text.to_string()))
}

fn op(version: u64) -> StoredOp {
    StoredOp {
        version,
        origin: 7,
        seq: version,
        user_id: "u".into(),
        session_id: "s".into(),
        timestamp_ms: 1_000 + version as i64,
        op: Op::StringInsert {
            id: ElementId::ROOT,
            index: 0,
            text: format!("v{version}"),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let store = connect(&base_url().await).await;
    let started = Instant::now();
    conformance::run_all(Arc::new(store) as Arc<dyn Store>).await;
    eprintln!(
        "postgres conformance suite: {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_twice_at_once_on_one_database() {
    // Two stores, as two relays would have, on one database; ids are unique per run.
    let url = base_url().await;
    let a: Arc<dyn Store> = Arc::new(connect(&url).await);
    let b: Arc<dyn Store> = Arc::new(connect(&url).await);
    let started = Instant::now();
    let a = tokio::spawn(conformance::run_all(a));
    let b = tokio::spawn(conformance::run_all(b));
    a.await.expect("first run");
    b.await.expect("second run");
    eprintln!(
        "postgres conformance suite, twice at once: {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent() {
    let db = fresh_database("tandem_migrate").await;
    let url = db.url.clone();
    let store = connect(&url).await;
    store
        .create_collection("c")
        .await
        .expect("create_collection");
    assert_eq!(
        applied_versions(&url).await,
        all_versions(),
        "every migration is recorded once"
    );
    drop(store);
    let store = connect(&url).await;
    assert_eq!(
        applied_versions(&url).await,
        all_versions(),
        "connecting again applies nothing again"
    );
    assert!(
        store
            .collection_exists("c")
            .await
            .expect("collection_exists"),
        "connecting again keeps the data"
    );
    drop(store);
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_connects_migrate_once() {
    let db = fresh_database("tandem_race").await;
    let url = db.url.clone();
    let connects: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::connect(&url).await.map(|_| ()) })
        })
        .collect();
    for connect in connects {
        connect
            .await
            .expect("connect task")
            .unwrap_or_else(|e| panic!("a connect racing others failed: {e}"));
    }
    assert_eq!(
        applied_versions(&url).await,
        all_versions(),
        "relays starting at once apply each migration once"
    );
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_newer_schema() {
    let db = fresh_database("tandem_newer").await;
    let url = db.url.clone();
    drop(connect(&url).await);
    raw_client(&url)
        .await
        .execute(
            &format!("INSERT INTO {MIGRATIONS_TABLE} (version) VALUES (99)"),
            &[],
        )
        .await
        .expect("record a future migration");
    match PostgresStore::connect(&url).await {
        Err(StoreError::Corrupt(message)) => assert!(
            message.contains("99"),
            "the error names the version: {message}"
        ),
        Err(other) => panic!("a newer schema must be refused as Corrupt, got {other:?}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
    db.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_records_are_reported_not_panicked_on() {
    let db = fresh_database("tandem_corrupt").await;
    let url = db.url.clone();
    let store = connect(&url).await;
    store.create_collection("c").await.unwrap();
    store
        .create_model(&meta("m", "c"), &root(""))
        .await
        .unwrap();
    store.append_ops("m", &[op(1)]).await.unwrap();
    let raw = raw_client(&url).await;
    raw.execute("UPDATE ops SET op = '\\x01ff00'::bytea", &[])
        .await
        .expect("damage the op");
    raw.execute("UPDATE snapshots SET data = '\\x07'::bytea", &[])
        .await
        .expect("damage the snapshot");
    let r = store.ops("m", 0, 10, 10).await;
    assert!(
        matches!(r, Err(StoreError::Corrupt(_))),
        "an undecodable op must be Corrupt, got {r:?}"
    );
    let r = store.snapshot_at_or_before("m", 10).await;
    assert!(
        matches!(r, Err(StoreError::Corrupt(_))),
        "an undecodable snapshot must be Corrupt, got {r:?}"
    );
    drop(store);
    db.remove().await;
}

/// A connection listening on the store's channels; notifications arrive on the receiver as
/// (channel, payload).
async fn listen(
    url: &str,
) -> (
    tokio_postgres::Client,
    mpsc::UnboundedReceiver<(String, String)>,
) {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("listening connection");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Polling the messages also drives the connection for the client's queries.
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
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
                Err(_) => break,
            }
        }
    });
    client
        .batch_execute("LISTEN tandem_deleted")
        .await
        .expect("LISTEN");
    (client, rx)
}

/// The next notification whose payload ends with ` id` (or is `id`), within the time limit.
async fn next_about(
    rx: &mut mpsc::UnboundedReceiver<(String, String)>,
    id: &str,
) -> (String, String) {
    let deadline = tokio::time::Instant::now() + NOTIFY_TIMEOUT;
    loop {
        let received = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no notification about {id} within {NOTIFY_TIMEOUT:?}"))
            .expect("the listening connection ended");
        if received.1 == id || received.1.ends_with(&format!(" {id}")) {
            return received;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_notifies_listeners_after_commit() {
    let db = fresh_database("tandem_notify").await;
    let url = db.url.clone();
    let store = connect(&url).await;
    let (_listener, mut rx) = listen(&url).await;
    let model = format!("nm-{:016x}", rand::random::<u64>());
    store.create_collection("c").await.unwrap();
    store
        .create_model(&meta(&model, "c"), &root(""))
        .await
        .unwrap();
    assert!(store.delete_model(&model).await.unwrap());
    assert_eq!(
        next_about(&mut rx, &model).await,
        ("tandem_deleted".to_owned(), model.clone()),
        "delete_model notifies the model"
    );
    let other = connect(&url).await;
    assert_eq!(
        other.model(&model).await.unwrap(),
        None,
        "what the notification announces is committed"
    );
    drop((store, other));
    db.remove().await;
}

/// Two stores on one database, as two relays, append to one model at once through
/// `append_ops_exclusive`, each knowing only what it appended itself: every call succeeds,
/// each is handed exactly what the other appended since, and the log has no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_appends_of_two_writers_interleave_without_conflicts() {
    let db = fresh_database("tandem_exclusive").await;
    let url = db.url.clone();
    let first = connect(&url).await;
    let model = format!("xm-{:016x}", rand::random::<u64>());
    first.create_collection("c").await.unwrap();
    first
        .create_model(&meta(&model, "c"), &root(""))
        .await
        .unwrap();
    let writers = [first, connect(&url).await].map(std::sync::Arc::new);
    let mut tasks = Vec::new();
    for (origin, store) in writers.iter().enumerate() {
        let (store, model) = (store.clone(), model.clone());
        tasks.push(tokio::spawn(async move {
            let mut known = 0;
            for _ in 0..50 {
                store
                    .append_ops_exclusive(&model, known, &mut |missed| {
                        let mut next = known + 1;
                        for op in &missed {
                            assert_eq!(op.version, next, "handed consecutively");
                            assert_ne!(op.origin, origin as u64, "only the other's");
                            next += 1;
                        }
                        known = next;
                        let mut mine = op(next);
                        mine.origin = origin as u64;
                        vec![mine]
                    })
                    .await
                    .expect("an exclusive append never conflicts");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    let versions: Vec<u64> = writers[0]
        .ops(&model, 0, u64::MAX, 1_000)
        .await
        .unwrap()
        .iter()
        .map(|op| op.version)
        .collect();
    assert_eq!(versions, (1..=100).collect::<Vec<u64>>());
    drop(writers);
    db.remove().await;
}

#[test]
fn a_local_server_is_stopped_and_removed_when_dropped() {
    if std::env::var_os(local_postgres::TEST_URL_ENV).is_some_and(|v| !v.is_empty()) {
        eprintln!(
            "{} is set: the local server is not used",
            local_postgres::TEST_URL_ENV
        );
        return;
    }
    let pg = LocalPostgres::start().unwrap_or_else(|e| panic!("LocalPostgres::start: {e}"));
    let url = pg.fresh_database("tandem_extra").expect("fresh_database");
    assert!(
        url.ends_with("/tandem_extra"),
        "the URL names the database: {url}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = connect(&url).await;
        store
            .create_collection("c")
            .await
            .expect("the server works");
    });
    let (port, dir) = (pg.port(), pg.dir().to_path_buf());
    assert!(dir.join("data").is_dir(), "the cluster lives in {dir:?}");
    drop(pg);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on port {port} after the drop"
    );
    assert!(
        !dir.exists(),
        "the dropped server's directory {dir:?} must be removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_global_model_ids_to_per_collection_keys() {
    use tandem_core::protocol::encode_frame;
    use tandem_relay::store::postgres::MIGRATIONS;
    let db = fresh_database("tandem_upgrade").await;
    // A database as the migrations before per-collection keys left it: model "x" of
    // collection "notes" known by "x" alone.
    let old = MIGRATIONS.len() - 1;
    let raw = raw_client(&db.url).await;
    raw.batch_execute(&format!(
        "CREATE TABLE {MIGRATIONS_TABLE} (version BIGINT PRIMARY KEY, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    ))
    .await
    .expect("migrations table");
    for (i, sql) in MIGRATIONS[..old].iter().enumerate() {
        raw.batch_execute(sql).await.expect("an old migration");
        raw.execute(
            &format!("INSERT INTO {MIGRATIONS_TABLE} (version) VALUES ($1)"),
            &[&(i as i64 + 1)],
        )
        .await
        .expect("record it");
    }
    let op = Op::StringInsert {
        id: tandem_core::ElementId::new(1, 1),
        index: 0,
        text: "hi".into(),
    };
    raw.batch_execute(
        "INSERT INTO collections (id) VALUES ('notes');
         INSERT INTO models (id, collection, version, created_ms, modified_ms)
             VALUES ('x', 'notes', 1, 5, 6);
         INSERT INTO origin_seqs (model, origin, seq) VALUES ('x', 7, 1);
         INSERT INTO permissions (target_kind, target_id, grantee_kind, grantee_id,
             can_read, can_write, can_remove, can_manage)
             VALUES ('model', 'x', 'user', 'ada', true, false, false, false);",
    )
    .await
    .expect("old rows");
    raw.execute(
        "INSERT INTO snapshots (model, version, data) VALUES ('x', 0, $1)",
        &[&encode_frame(&root(""))],
    )
    .await
    .expect("old snapshot");
    raw.execute(
        "INSERT INTO ops (model, version, origin, seq, user_id, session_id, timestamp_ms, op) \
         VALUES ('x', 1, 7, 1, 'ada', 's', 6, $1)",
        &[&encode_frame(&op)],
    )
    .await
    .expect("old op");

    let store = connect(&db.url).await;
    conformance::upgraded_global_model_ids(&store, &op, &root("")).await;
    drop(store);
    db.remove().await;
}
