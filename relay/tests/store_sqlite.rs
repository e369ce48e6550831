//! The storage conformance suite and SQLite-specific durability tests on the embedded store.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_core::{ElementId, Node, NodeValue, Op};
use tandem_relay::store::conformance;
use tandem_relay::store::sqlite::{SqliteStore, DB_FILE};
use tandem_relay::store::{ModelMeta, Store, StoreError, StoredOp, User};

/// Set (to a data directory) when this binary runs as the crash test's child.
const CHILD_ENV: &str = "TANDEM_STORE_CRASH_CHILD_DIR";
/// Models the crash child writes to concurrently.
const CHILD_MODELS: usize = 4;
/// The child stops by itself after this long or this many operations.
const CHILD_MAX_TIME: Duration = Duration::from_secs(5);
const CHILD_MAX_OPS: u64 = 5_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
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

/// The operation of `version` in model number `model`: content derived from both, so that
/// damage or misplacement is detected.
fn op_for(model: usize, version: u64) -> StoredOp {
    StoredOp {
        version,
        origin: model as u64 + 1,
        seq: version,
        user_id: format!("user-{model}"),
        session_id: format!("session-{model}"),
        timestamp_ms: 1_000 + version as i64,
        op: Op::StringInsert {
            id: ElementId::ROOT,
            index: version as usize,
            text: format!(
                "m{model} v{version} {}",
                "x".repeat((version % 50) as usize)
            ),
        },
    }
}

fn model_id(model: usize) -> String {
    format!("crash-model-{model}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    conformance::run_all(Arc::new(store) as Arc<dyn Store>).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_twice_on_one_database() {
    // Ids are unique per run, so two runs (even concurrent ones) share a database.
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("open store"));
    let a = tokio::spawn(conformance::run_all(store.clone()));
    let b = tokio::spawn(conformance::run_all(store.clone()));
    a.await.expect("first run");
    b.await.expect("second run");
}

#[test]
fn open_creates_the_directory_and_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("a").join("b");
    let store = SqliteStore::open(&nested).expect("open store in a missing directory");
    assert_eq!(
        store.path(),
        nested.join(DB_FILE),
        "the database lives in the data directory"
    );
    assert!(
        nested.join(DB_FILE).is_file(),
        "open must create the database file"
    );
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let user = User {
        id: "u1".into(),
        username: "ada".into(),
        display_name: "Ada".into(),
        email: None,
        avatar_url: None,
        password_hash: Some("$argon2id$...".into()),
    };
    rt.block_on(async {
        let store = SqliteStore::open(dir.path()).expect("open store");
        store.create_user(&user).await.expect("create_user");
        store
            .create_collection("notes")
            .await
            .expect("create_collection");
        store
            .create_model(&meta("m", "notes"), &root(""))
            .await
            .expect("create_model");
        let ops: Vec<StoredOp> = (1..=100).map(|v| op_for(0, v)).collect();
        store
            .append_ops("m", &ops[..60])
            .await
            .expect("append 1..=60");
        store
            .append_ops("m", &ops[60..])
            .await
            .expect("append 61..=100");
        store
            .put_snapshot("m", 100, &root("snap"))
            .await
            .expect("put_snapshot");
        drop(store);

        let store = SqliteStore::open(dir.path()).expect("reopen store");
        assert_eq!(
            store.user_by_id("u1").await.unwrap(),
            Some(user.clone()),
            "the user must survive reopening"
        );
        assert!(
            store.collection_exists("notes").await.unwrap(),
            "the collection must survive reopening"
        );
        let model = store
            .model("m")
            .await
            .unwrap()
            .expect("the model must survive reopening");
        assert_eq!(
            (model.version, model.modified_ms),
            (100, 1_100),
            "the model's version and time must survive"
        );
        assert_eq!(
            store.ops("m", 0, u64::MAX, 1_000).await.unwrap(),
            ops,
            "the log must survive intact"
        );
        assert_eq!(
            store.snapshot_at_or_before("m", 100).await.unwrap(),
            Some((100, root("snap"))),
            "the snapshot must survive"
        );
        store
            .append_ops("m", &[op_for(0, 101)])
            .await
            .expect("appending goes on after reopening");
        let r = store.append_ops("m", &[op_for(0, 101)]).await;
        assert!(
            matches!(r, Err(StoreError::VersionConflict { current: 101, .. })),
            "sequencing goes on after reopening, got {r:?}"
        );
    });
}

#[test]
fn queued_writes_finish_when_the_store_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    rt.block_on(async {
        let store = Arc::new(SqliteStore::open(dir.path()).expect("open store"));
        store.create_collection("c").await.unwrap();
        for m in 0..10 {
            store
                .create_model(&meta(&model_id(m), "c"), &root(""))
                .await
                .unwrap();
        }
        let tasks: Vec<_> = (0..10)
            .map(|m| {
                let store = store.clone();
                tokio::spawn(async move {
                    for v in 1..=20 {
                        store
                            .append_ops(&model_id(m), &[op_for(m, v)])
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // The last reference: dropping joins the writer thread.
        drop(Arc::try_unwrap(store).ok().expect("only reference"));
        let store = SqliteStore::open(dir.path()).expect("reopen store");
        for m in 0..10 {
            let ops = store.ops(&model_id(m), 0, u64::MAX, 100).await.unwrap();
            assert_eq!(
                ops,
                (1..=20).map(|v| op_for(m, v)).collect::<Vec<_>>(),
                "model {m} must hold all its ops"
            );
        }
    });
}

#[test]
fn corrupt_records_are_reported_not_panicked_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    rt.block_on(async {
        let store = SqliteStore::open(dir.path()).expect("open store");
        store.create_collection("c").await.unwrap();
        store
            .create_model(&meta("m", "c"), &root(""))
            .await
            .unwrap();
        store.append_ops("m", &[op_for(0, 1)]).await.unwrap();
        drop(store);
    });
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("open sqlite");
    conn.execute("UPDATE ops SET op = x'01ff00'", [])
        .expect("damage the op");
    conn.execute("UPDATE snapshots SET data = x'07'", [])
        .expect("damage the snapshot");
    drop(conn);
    rt.block_on(async {
        let store = SqliteStore::open(dir.path()).expect("reopen store");
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
    });
}

#[test]
fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(SqliteStore::open(dir.path()).expect("open store"));
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("open sqlite");
    conn.pragma_update(None, "user_version", 99)
        .expect("set user_version");
    drop(conn);
    match SqliteStore::open(dir.path()) {
        Err(StoreError::Corrupt(message)) => assert!(
            message.contains("99"),
            "the error names the version: {message}"
        ),
        Err(other) => panic!("a newer schema must be refused as Corrupt, got {other:?}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

/// The crash test's child: appends to several models concurrently and prints `ACK model
/// version` for each acknowledged operation, until killed or its bounds are reached. Does
/// nothing unless `CHILD_ENV` is set.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = runtime();
    rt.block_on(async move {
        let store = Arc::new(SqliteStore::open(Path::new(&dir)).expect("child: open store"));
        store
            .create_collection("crash")
            .await
            .expect("child: create_collection");
        for m in 0..CHILD_MODELS {
            store
                .create_model(&meta(&model_id(m), "crash"), &root(""))
                .await
                .expect("child: create_model");
        }
        println!("READY");
        let started = Instant::now();
        let tasks: Vec<_> = (0..CHILD_MODELS)
            .map(|m| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut version = 1;
                    while version <= CHILD_MAX_OPS / CHILD_MODELS as u64
                        && started.elapsed() < CHILD_MAX_TIME
                    {
                        // Alternate single ops and small batches.
                        let count = if version % 3 == 0 { 3 } else { 1 };
                        let ops: Vec<StoredOp> =
                            (version..version + count).map(|v| op_for(m, v)).collect();
                        store
                            .append_ops(&model_id(m), &ops)
                            .await
                            .expect("child: append_ops");
                        let mut out = std::io::stdout().lock();
                        for v in version..version + count {
                            writeln!(out, "ACK {m} {v}").expect("child: stdout");
                        }
                        out.flush().expect("child: flush");
                        drop(out);
                        version += count;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("child task");
        }
    });
}

#[test]
fn acknowledged_ops_survive_sigkill() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // we are the child, running the whole binary by mistake: do nothing
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut reader = BufReader::new(stdout);

    let mut acked = vec![0u64; CHILD_MODELS];
    let record = |line: &str, acked: &mut Vec<u64>| -> bool {
        let Some(rest) = line.strip_suffix('\n').and_then(|l| l.strip_prefix("ACK ")) else {
            return false;
        };
        let mut parts = rest.split(' ');
        let (Some(m), Some(v)) = (parts.next(), parts.next()) else {
            return false;
        };
        let (m, v): (usize, u64) = (m.parse().expect("model"), v.parse().expect("version"));
        assert_eq!(
            v,
            acked[m] + 1,
            "the child acknowledges each model's versions in order"
        );
        acked[m] = v;
        true
    };

    let started = Instant::now();
    let mut count = 0;
    let mut line = String::new();
    // Read a few hundred acknowledgements (bounded in time), then kill in the middle of the load.
    while count < 400 && started.elapsed() < Duration::from_secs(10) {
        line.clear();
        if reader.read_line(&mut line).expect("read child stdout") == 0 {
            break; // the child ended (by its own bounds or a failure)
        }
        if record(&line, &mut acked) {
            count += 1;
        }
    }
    child.kill().expect("SIGKILL the child");
    // Acknowledgements printed before the kill are acknowledgements too.
    loop {
        line.clear();
        if reader.read_line(&mut line).expect("read child stdout") == 0 {
            break;
        }
        record(&line, &mut acked);
    }
    let status = child.wait().expect("reap the child");
    let total: u64 = acked.iter().sum();
    assert!(
        total >= 100,
        "the child must acknowledge operations before the kill (got {total}, status {status})"
    );

    let rt = runtime();
    rt.block_on(async {
        let store = SqliteStore::open(dir.path()).expect("reopen after SIGKILL");
        for (m, &acked) in acked.iter().enumerate() {
            let stored = store
                .ops(&model_id(m), 0, u64::MAX, u64::MAX)
                .await
                .expect("read the log");
            let meta = store
                .model(&model_id(m))
                .await
                .expect("model")
                .expect("the model exists");
            assert!(
                stored.len() as u64 >= acked,
                "model {m}: {acked} ops were acknowledged but only {} are stored",
                stored.len()
            );
            assert_eq!(
                meta.version,
                stored.len() as u64,
                "model {m}: the version must match the log"
            );
            for (i, op) in stored.iter().enumerate() {
                assert_eq!(
                    op,
                    &op_for(m, i as u64 + 1),
                    "model {m}: op {} must be stored in order, intact",
                    i + 1
                );
            }
        }
        eprintln!("crash test: {total} acknowledged ops before SIGKILL, all present: {acked:?}");
    });
}

/// Prints the throughput of `append_ops` of single ops from 1, 10 and 100 concurrent tasks (one
/// model each): with group commit, throughput grows with the number of concurrent writers.
/// Run with `cargo test -p tandem-relay --release --test store_sqlite -- --ignored --nocapture`.
#[test]
#[ignore]
fn append_throughput() {
    const DURATION: Duration = Duration::from_secs(3);
    let rt = runtime();
    for tasks in [1usize, 10, 100] {
        let dir = tempfile::tempdir().expect("tempdir");
        rt.block_on(async {
            let store = Arc::new(SqliteStore::open(dir.path()).expect("open store"));
            store.create_collection("bench").await.unwrap();
            for m in 0..tasks {
                store
                    .create_model(&meta(&model_id(m), "bench"), &root(""))
                    .await
                    .unwrap();
            }
            let started = Instant::now();
            let handles: Vec<_> = (0..tasks)
                .map(|m| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let mut version = 1;
                        while started.elapsed() < DURATION {
                            store
                                .append_ops(&model_id(m), &[op_for(m, version)])
                                .await
                                .unwrap();
                            version += 1;
                        }
                        version - 1
                    })
                })
                .collect();
            let mut total = 0;
            for h in handles {
                total += h.await.unwrap();
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "append_ops, single ops, {tasks} concurrent tasks: {total} ops in {secs:.2} s = {:.0} ops/s",
                total as f64 / secs
            );
        });
    }
}

#[test]
fn upgrades_global_model_ids_to_per_collection_keys() {
    use tandem_core::protocol::encode_frame;
    use tandem_relay::store::sqlite::MIGRATIONS;
    let dir = tempfile::tempdir().expect("tempdir");
    // A database as schema 4 left it: model "x" of collection "notes" known by "x" alone.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("open sqlite");
    for (i, sql) in MIGRATIONS[..4].iter().enumerate() {
        conn.execute_batch(&format!(
            "BEGIN;\n{sql}\nPRAGMA user_version = {};\nCOMMIT;",
            i + 1
        ))
        .expect("an old migration");
    }
    let op = Op::StringInsert {
        id: ElementId::new(1, 1),
        index: 0,
        text: "hi".into(),
    };
    conn.execute_batch(
        "INSERT INTO collections (id) VALUES ('notes');
         INSERT INTO models (id, collection, version, created_ms, modified_ms)
             VALUES ('x', 'notes', 1, 5, 6);
         INSERT INTO origin_seqs (model, origin, seq) VALUES ('x', 7, 1);
         INSERT INTO permissions (target_kind, target_id, grantee_kind, grantee_id,
             can_read, can_write, can_remove, can_manage)
             VALUES ('model', 'x', 'user', 'ada', 1, 0, 0, 0);",
    )
    .expect("old rows");
    conn.execute(
        "INSERT INTO snapshots (model, version, data) VALUES ('x', 0, ?1)",
        [encode_frame(&root(""))],
    )
    .expect("old snapshot");
    conn.execute(
        "INSERT INTO ops (model, version, origin, seq, user_id, session_id, timestamp_ms, op) \
         VALUES ('x', 1, 7, 1, 'ada', 's', 6, ?1)",
        [encode_frame(&op)],
    )
    .expect("old op");
    drop(conn);

    let store = SqliteStore::open(dir.path()).expect("the upgrade");
    runtime().block_on(conformance::upgraded_global_model_ids(
        &store,
        &op,
        &root(""),
    ));
}
