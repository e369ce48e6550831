//! `tandem-load`: the relay's load generator. It starts the real `tandem-relay` binary as a
//! child process on a free loopback port with a fresh data directory, drives many WebSocket
//! clients against it (each its own task, each a real replica built on the core's
//! `ClientModel`), measures acknowledged operations per second, end-to-end latency (submitted
//! on one client until applied on another), and the relay's CPU and memory from `/proc`, then
//! checks that every client holds exactly what a fresh client opening the model gets.
//!
//! ```text
//! cargo build --release -p tandem-relay
//! target/release/tandem-load all
//! target/release/tandem-load one-model-100 --rate 6000 --seconds 10
//! target/release/tandem-load activity-200
//! target/release/tandem-load one-model-10 --postgres --relays 2
//! ```
//!
//! With `--postgres` it starts a throwaway PostgreSQL server on loopback as well and runs the
//! relays on a fresh database of it; `--relays 2` spreads the clients of the typing scenarios
//! over two relays on that database.
//!
//! Every scenario stops by itself and talks to 127.0.0.1 only. Exit status is non-zero if a
//! client got an error, the replicas did not settle, or any replica differs from the relay.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tandem_core::client::ClientModel;
use tandem_core::protocol::{
    decode_relay, encode_client, Auth, ClientMessage, Hello, Limits, ModelContent, ModelHandle,
    OpenedModel, RelayMessage, Request, Response, Welcome, PROTOCOL_VERSION,
};
use tandem_core::{ElementId, IdGenerator, Model, Op, Value};
use tandem_relay::store::local_postgres::LocalPostgres;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[path = "tandem_load/activity.rs"]
mod activity;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Failure = String;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// 10 clients typing into one shared string as fast as they can.
    #[value(name = "one-model-10")]
    OneModel10,
    /// 100 clients on one model, paced (`--rate`, default 6000 ops/s in total).
    #[value(name = "one-model-100")]
    OneModel100,
    /// 1000 clients over 100 models, paced (`--rate`, default 2000 ops/s in total).
    #[value(name = "many-models")]
    ManyModels,
    /// 10,000 idle authenticated connections, each with one small model open.
    #[value(name = "idle-10k")]
    Idle10k,
    /// 200 sessions in one activity, each setting its state 10 times a second (`--rate`, per
    /// session); reports the fan-out latency.
    #[value(name = "activity-200")]
    Activity200,
    /// Every scenario above, in order.
    #[value(name = "all")]
    All,
}

/// Load generator for tandem-relay: prints one table row per scenario.
#[derive(Parser, Debug)]
#[command(name = "tandem-load")]
struct Args {
    /// Which scenario to run.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up before the measured window, in seconds.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Total offered operations per second; 0 = as fast as possible (closed loop). Defaults:
    /// one-model-10: 0, one-model-100: 6000, many-models: 2000; for activity-200, updates per
    /// second per session (default 10).
    #[arg(long)]
    rate: Option<f64>,
    /// Override the number of clients (connections for idle-10k).
    #[arg(long)]
    clients: Option<usize>,
    /// Override the number of models.
    #[arg(long)]
    models: Option<usize>,
    /// Unpaced mode: single-character inserts per SubmitOps frame.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Unpaced mode: most unacknowledged operations per client before it waits.
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// The relay binary (default: `tandem-relay` next to this executable).
    #[arg(long)]
    relay_bin: Option<PathBuf>,
    /// Extra arguments for the relay (repeatable), e.g. `--relay-arg=--outbox-frames=16384`.
    #[arg(long, allow_hyphen_values = true)]
    relay_arg: Vec<String>,
    /// Run the relays on PostgreSQL (a throwaway server on loopback, a fresh database per
    /// scenario) instead of the embedded store.
    #[arg(long)]
    postgres: bool,
    /// How many relays share the database (needs `--postgres`); the typing scenarios spread
    /// their clients over them, the others use the first.
    #[arg(long, default_value_t = 1)]
    relays: usize,
}

fn main() {
    let args = Args::parse();
    raise_nofile_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ok = runtime.block_on(run_all(args));
    runtime.shutdown_timeout(Duration::from_secs(2));
    if !ok {
        std::process::exit(1);
    }
}

async fn run_all(args: Args) -> bool {
    let scenarios = match args.scenario {
        Scenario::All => vec![
            Scenario::OneModel10,
            Scenario::OneModel100,
            Scenario::ManyModels,
            Scenario::Idle10k,
            Scenario::Activity200,
        ],
        one => vec![one],
    };
    let relay_bin = args.relay_bin.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .expect("current executable")
            .with_file_name("tandem-relay")
    });
    if args.relays == 0 || (args.relays > 1 && !args.postgres) {
        eprintln!("tandem-load: --relays above 1 needs --postgres (relays share a database)");
        return false;
    }
    let postgres = if args.postgres {
        match LocalPostgres::start() {
            Ok(server) => Some(server),
            Err(e) => {
                eprintln!("tandem-load: cannot start PostgreSQL: {e}");
                return false;
            }
        }
    } else {
        None
    };
    println!("{}", Row::header());
    let mut ok = true;
    for (n, scenario) in scenarios.into_iter().enumerate() {
        let mut extra = args.relay_arg.clone();
        if let Some(server) = &postgres {
            match server.fresh_database(&format!("load_{n}")) {
                Ok(url) => extra.extend(["--database-url".to_owned(), url]),
                Err(e) => {
                    eprintln!("tandem-load: cannot create a database: {e}");
                    return false;
                }
            }
        }
        let mut relays = Vec::new();
        for _ in 0..args.relays {
            match RelayChild::spawn(&relay_bin, &extra) {
                Ok(relay) => relays.push(relay),
                Err(e) => {
                    eprintln!("tandem-load: cannot start the relay: {e}");
                    return false;
                }
            }
        }
        let relay = &relays[0];
        let database = postgres.as_ref().and_then(LocalPostgres::pid);
        let result = match scenario {
            Scenario::OneModel10 => {
                let plan = Plan {
                    name: "one-model-10",
                    clients: args.clients.unwrap_or(10),
                    models: args.models.unwrap_or(1),
                    rate: args.rate.unwrap_or(0.0),
                };
                typing(&relays, database, &args, plan).await
            }
            Scenario::OneModel100 => {
                let plan = Plan {
                    name: "one-model-100",
                    clients: args.clients.unwrap_or(100),
                    models: args.models.unwrap_or(1),
                    rate: args.rate.unwrap_or(6_000.0),
                };
                typing(&relays, database, &args, plan).await
            }
            Scenario::ManyModels => {
                let plan = Plan {
                    name: "many-models",
                    clients: args.clients.unwrap_or(1_000),
                    models: args.models.unwrap_or(100),
                    rate: args.rate.unwrap_or(2_000.0),
                };
                typing(&relays, database, &args, plan).await
            }
            Scenario::Idle10k => idle(relay, &args).await,
            Scenario::Activity200 => activity::run(relay, &args).await,
            Scenario::All => unreachable!(),
        };
        match result {
            Ok(row) => {
                println!("{}", row.render());
                if let Some(extra) = &row.note {
                    println!("    {extra}");
                }
            }
            Err(e) => {
                println!("{scenario:?}: FAILED: {e}");
                eprintln!("tandem-load: {scenario:?} FAILED: {e}");
                ok = false;
            }
        }
        drop(relays);
        // Let the sockets of the last scenario go before the next one starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    ok
}

/// What a typing scenario does.
struct Plan {
    name: &'static str,
    clients: usize,
    models: usize,
    /// Total offered ops/s; 0 = closed loop, as fast as possible.
    rate: f64,
}

/// One printed line.
struct Row {
    scenario: String,
    clients: usize,
    models: usize,
    offered: String,
    acked: String,
    p50: String,
    p99: String,
    relay_cpu: f64,
    relay_rss: String,
    load_cpu: f64,
    verified: String,
    note: Option<String>,
}

impl Row {
    fn header() -> String {
        format!(
            "{:<14} {:>7} {:>6} {:>9} {:>9} {:>8} {:>8} {:>9} {:>15} {:>8} {}",
            "scenario",
            "clients",
            "models",
            "offered/s",
            "acked/s",
            "p50 ms",
            "p99 ms",
            "relay CPU",
            "relay RSS/peak",
            "load CPU",
            "converged"
        )
    }

    fn render(&self) -> String {
        format!(
            "{:<14} {:>7} {:>6} {:>9} {:>9} {:>8} {:>8} {:>8.0}% {:>15} {:>7.0}% {}",
            self.scenario,
            self.clients,
            self.models,
            self.offered,
            self.acked,
            self.p50,
            self.p99,
            self.relay_cpu,
            self.relay_rss,
            self.load_cpu,
            self.verified
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The relay child process and /proc sampling
// ---------------------------------------------------------------------------------------------

struct RelayChild {
    child: Child,
    pid: u32,
    port: u16,
    url: String,
    dir: PathBuf,
}

impl RelayChild {
    fn spawn(bin: &Path, extra: &[String]) -> Result<RelayChild, Failure> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "tandem-load-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let addr = format!("127.0.0.1:{port}");
        // The child inherits this process's RLIMIT_NOFILE, raised to the hard limit in main.
        let child = Command::new(bin)
            .arg("--listen")
            .arg(&addr)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--www-dir")
            .arg(&dir)
            .arg("--rate-limit")
            .arg("1000000")
            .arg("--rate-burst")
            .arg("1000000")
            .args(extra)
            .env("TANDEM_LOG", "warn")
            // The relay logs to stdout: shown with TANDEM_LOAD_RELAY_LOGS=1.
            .stdout(if std::env::var_os("TANDEM_LOAD_RELAY_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let pid = child.id();
        let mut relay = RelayChild {
            child,
            pid,
            port,
            url: format!("ws://{addr}/ws"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(relay);
            }
            if let Ok(Some(status)) = relay.child.try_wait() {
                return Err(format!("the relay exited at start: {status}"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(format!("the relay did not listen on {addr} in time"))
    }

    /// Relay CPU time so far, in seconds (user + system, all threads).
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&format!("/proc/{}/stat", self.pid))
    }

    /// (VmRSS, VmHWM) in MiB.
    fn memory_mib(&self) -> (f64, f64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// A gauge from `/metrics`.
    async fn metric(&self, name: &str) -> Option<f64> {
        let body = self.metrics_text().await?;
        body.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    /// The text of `/metrics`.
    async fn metrics_text(&self) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut body = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut body))
            .await
            .ok()?
            .ok()?;
        Some(body)
    }
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Counters from the relay's `/metrics`, to tell storage time from the rest.
#[derive(Default)]
struct StoreFigures {
    ops: f64,
    appends: f64,
    append_seconds: f64,
    commits: f64,
    commit_seconds: f64,
    interleaved: f64,
}

impl StoreFigures {
    async fn read(relay: &RelayChild) -> StoreFigures {
        let Some(text) = relay.metrics_text().await else {
            return StoreFigures::default();
        };
        let get = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        StoreFigures {
            ops: get("tandem_ops_total"),
            appends: get("tandem_store_append_seconds_count"),
            append_seconds: get("tandem_store_append_seconds_sum"),
            commits: get("tandem_op_commit_seconds_count"),
            commit_seconds: get("tandem_op_commit_seconds_sum"),
            interleaved: get("tandem_interleaved_batches_total"),
        }
    }

    /// The sums over several relays.
    async fn read_all(relays: &[RelayChild]) -> StoreFigures {
        let mut all = StoreFigures::default();
        for relay in relays {
            let one = StoreFigures::read(relay).await;
            all.ops += one.ops;
            all.appends += one.appends;
            all.append_seconds += one.append_seconds;
            all.commits += one.commits;
            all.commit_seconds += one.commit_seconds;
            all.interleaved += one.interleaved;
        }
        all
    }

    fn since(&self, before: &StoreFigures) -> StoreFigures {
        StoreFigures {
            ops: self.ops - before.ops,
            appends: self.appends - before.appends,
            append_seconds: self.append_seconds - before.append_seconds,
            commits: self.commits - before.commits,
            commit_seconds: self.commit_seconds - before.commit_seconds,
            interleaved: self.interleaved - before.interleaved,
        }
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// utime + stime of a `/proc/.../stat` file, in seconds.
fn cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of stat(5); `fields[0]` is field 3 (the state).
    (ticks(11) + ticks(12)) as f64 / clock_ticks()
}

fn own_cpu_seconds() -> f64 {
    cpu_seconds("/proc/self/stat")
}

/// Raises this process's RLIMIT_NOFILE soft limit to its hard limit (children inherit it).
fn raise_nofile_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit the calls read from and write to.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                eprintln!("tandem-load: could not raise RLIMIT_NOFILE");
            }
        }
    }
}

/// Relay and load-generator CPU over a window.
struct CpuWindow {
    at: Instant,
    relay: f64,
    own: f64,
}

impl CpuWindow {
    fn start(relays: &[RelayChild]) -> CpuWindow {
        CpuWindow {
            at: Instant::now(),
            relay: relays.iter().map(RelayChild::cpu_seconds).sum(),
            own: own_cpu_seconds(),
        }
    }

    /// (relays' %, load generator %) of one core since `start`.
    fn percent(&self, relays: &[RelayChild]) -> (f64, f64) {
        let elapsed = self.at.elapsed().as_secs_f64().max(1e-9);
        let relay: f64 = relays.iter().map(RelayChild::cpu_seconds).sum();
        (
            100.0 * (relay - self.relay) / elapsed,
            100.0 * (own_cpu_seconds() - self.own) / elapsed,
        )
    }
}

/// CPU time of a PostgreSQL server: its postmaster and every backend it forked.
fn database_cpu_seconds(postmaster: u32) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            pid == postmaster
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|stat| {
                        let after = stat.rsplit_once(')')?.1;
                        after.split_whitespace().nth(1)?.parse::<u32>().ok()
                    })
                    == Some(postmaster)
        })
        .map(|pid| cpu_seconds(&format!("/proc/{pid}/stat")))
        .sum()
}

// ---------------------------------------------------------------------------------------------
// A minimal protocol client over a raw tokio-tungstenite socket
// ---------------------------------------------------------------------------------------------

fn limits() -> Limits {
    Limits {
        max_frame_bytes: usize::MAX / 2,
        ..Limits::default()
    }
}

async fn send(ws: &mut Ws, message: &ClientMessage) -> Result<(), Failure> {
    ws.send(Message::binary(encode_client(message)))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// Connects, says Hello anonymously and waits for Welcome.
async fn connect(url: &str, name: &str, small: bool) -> Result<(Ws, Welcome), Failure> {
    let config = if small {
        // Idle connections: keep the load generator's own buffers small.
        WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0)
    } else {
        WebSocketConfig::default()
    };
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    send(
        &mut ws,
        &ClientMessage::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            auth: Auth::Anonymous {
                display_name: name.into(),
            },
            client_name: "tandem-load".into(),
        }),
    )
    .await?;
    loop {
        match read(&mut ws, Duration::from_secs(30)).await? {
            RelayMessage::Welcome(welcome) => return Ok((ws, welcome)),
            RelayMessage::Ping { nonce } => send(&mut ws, &ClientMessage::Pong { nonce }).await?,
            RelayMessage::Error { code, message, .. } => {
                return Err(format!("hello refused: {code:?}: {message}"))
            }
            _ => {}
        }
    }
}

async fn read(ws: &mut Ws, timeout: Duration) -> Result<RelayMessage, Failure> {
    // The relay sends a large message's pieces one after the other.
    let mut pieces = tandem_core::protocol::pieces::Reassembler::new(limits().max_frame_bytes);
    loop {
        let next = tokio::time::timeout(timeout, ws.next())
            .await
            .map_err(|_| "timed out waiting for the relay".to_string())?;
        match next {
            Some(Ok(Message::Binary(bytes))) => {
                use tandem_core::protocol::pieces::Assembled;
                let message = match pieces.push(&bytes).map_err(|e| e.to_string())? {
                    Assembled::Partial => continue,
                    Assembled::Whole(whole) => decode_relay(whole, &limits()),
                    Assembled::Complete(message) => decode_relay(&message, &limits()),
                };
                return message.map_err(|e| format!("decode: {e}"));
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed by the relay: {frame:?}"))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("socket: {e}")),
            None => return Err("socket closed".into()),
        }
    }
}

/// Opens (or creates with `{"text": initial}`) a model; nothing else happens on the socket yet,
/// so other messages (collaborators opening) are skipped.
async fn open_model(
    ws: &mut Ws,
    welcome: &Welcome,
    id: &str,
    initial: &str,
    request_id: u64,
) -> Result<OpenedModel, Failure> {
    let mut ids = IdGenerator::new(welcome.site);
    let value =
        Value::from_json(&serde_json::json!({ "text": initial })).map_err(|e| e.to_string())?;
    let mut data = value.into_node(&mut ids);
    data.id = ElementId::ROOT;
    send(
        ws,
        &ClientMessage::Request {
            request_id,
            request: Request::OpenOrCreateModel {
                collection: "load".into(),
                id: id.into(),
                data,
            },
        },
    )
    .await?;
    loop {
        match read(ws, Duration::from_secs(60)).await? {
            RelayMessage::Response {
                request_id: r,
                response: Response::ModelOpened(opened),
            } if r == request_id => return Ok(opened),
            RelayMessage::Response {
                request_id: r,
                response,
            } if r == request_id => return Err(format!("open {id}: unexpected {response:?}")),
            RelayMessage::Error {
                request_id: Some(r),
                code,
                message,
            } if r == request_id => return Err(format!("open {id}: {code:?}: {message}")),
            RelayMessage::Ping { nonce } => send(ws, &ClientMessage::Pong { nonce }).await?,
            _ => {}
        }
    }
}

fn replica_of(opened: OpenedModel, site: u64) -> Result<ClientModel, Failure> {
    match opened.content {
        ModelContent::Data(node) => {
            let model = Model::new(node).map_err(|e| e.to_string())?;
            Ok(ClientModel::new(model, opened.version, site))
        }
        ModelContent::OpsSince { .. } => Err("expected the model's data".into()),
    }
}

fn text_of(model: &Model) -> Result<ElementId, Failure> {
    model
        .element_at(&["text".into()])
        .map_err(|e| format!("no text element: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Typing scenarios
// ---------------------------------------------------------------------------------------------

/// What every client task shares.
struct Shared {
    t0: Instant,
    /// Stop submitting (the measured window is over).
    stop: AtomicBool,
    /// Return the replica (everything settled).
    finish: AtomicBool,
    /// The measured window, in nanoseconds since `t0` (end is u64::MAX while open).
    window_start: AtomicU64,
    window_end: AtomicU64,
    /// Own operations acknowledged, over all clients.
    acked: AtomicU64,
    /// Operations submitted, over all clients.
    submitted: AtomicU64,
}

impl Shared {
    fn in_window(&self, at: Instant) -> bool {
        let ns = at.saturating_duration_since(self.t0).as_nanos() as u64;
        ns >= self.window_start.load(Ordering::Relaxed)
            && ns < self.window_end.load(Ordering::Relaxed)
    }
}

/// What the clients of one model share.
struct ModelShared {
    /// Submission times of operations in flight, by (origin, seq).
    pending: Mutex<HashMap<(u64, u64), Instant>>,
    /// End-to-end latencies the observer saw, in microseconds.
    samples: Mutex<Vec<u64>>,
    /// Each client's version and whether it has everything acknowledged.
    versions: Vec<AtomicU64>,
    settled: Vec<AtomicBool>,
}

struct Typist {
    ws: Ws,
    handle: ModelHandle,
    replica: ClientModel,
    text: ElementId,
    cursor: usize,
    slot: usize,
    letter: char,
    observer: bool,
    model: Arc<ModelShared>,
    shared: Arc<Shared>,
    /// This client's ops/s; `None` = closed loop.
    rate: Option<f64>,
    batch: usize,
    window: usize,
}

/// What a client hands back at the end.
struct Finished {
    version: u64,
    data: serde_json::Value,
}

impl Typist {
    async fn run(mut self) -> Result<Finished, Failure> {
        let result = self.drive().await;
        self.publish();
        result?;
        Ok(Finished {
            version: self.replica.version(),
            data: self.replica.model().to_json(),
        })
    }

    async fn drive(&mut self) -> Result<(), Failure> {
        // Paced clients tick at most every 10 ms (or once per op if slower), starting at a
        // random phase so that they do not all fire together.
        let interval = self
            .rate
            .map(|rate| Duration::from_secs_f64((1.0 / rate.max(1e-3)).max(0.010)));
        let phase = (self.slot as u64 * 7919 + u64::from(self.letter)) % 1000;
        let mut next_tick =
            Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64(phase as f64 / 1000.0));
        let mut owed = 0.0f64;
        loop {
            if self.shared.finish.load(Ordering::Relaxed) {
                return Ok(());
            }
            let stopping = self.shared.stop.load(Ordering::Relaxed);
            let now = Instant::now();
            let mut more_now = false;
            if !stopping {
                match (self.rate, interval) {
                    (Some(rate), Some(interval)) => {
                        if now >= next_tick {
                            owed += rate * interval.as_secs_f64();
                            let n = owed.floor();
                            owed -= n;
                            self.submit(n as usize).await?;
                            next_tick += interval;
                            if next_tick + interval < now {
                                // Fell far behind (overloaded): do not try to catch up in bursts.
                                next_tick = now + interval;
                            }
                        }
                    }
                    _ => {
                        if self.replica.unacked().len() + self.batch <= self.window {
                            self.submit(self.batch).await?;
                            more_now = self.replica.unacked().len() + self.batch <= self.window;
                        }
                    }
                }
            }
            // Handle whatever already arrived, without waiting.
            while let Some(next) = self.ws.next().now_or_never() {
                self.handle(next).await?;
            }
            self.publish();
            if more_now {
                continue;
            }
            let deadline = match (stopping, self.rate) {
                (false, Some(_)) => next_tick,
                _ => Instant::now() + Duration::from_millis(20),
            };
            tokio::select! {
                next = self.ws.next() => self.handle(next).await?,
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
        }
    }

    fn publish(&self) {
        self.model.versions[self.slot].store(self.replica.version(), Ordering::Relaxed);
        self.model.settled[self.slot].store(self.replica.is_settled(), Ordering::Relaxed);
    }

    /// Types `n` characters at this client's cursor and sends them as one frame.
    async fn submit(&mut self, n: usize) -> Result<(), Failure> {
        if n == 0 {
            return Ok(());
        }
        let len = self
            .replica
            .model()
            .string(self.text)
            .map_or(0, |s| s.len_utf16());
        self.cursor = self.cursor.min(len);
        for _ in 0..n {
            let op = Op::StringInsert {
                id: self.text,
                index: self.cursor,
                text: self.letter.to_string(),
            };
            self.replica
                .submit(op)
                .map_err(|e| format!("local insert: {e}"))?;
            self.cursor += 1;
        }
        let out = self.replica.take_outgoing();
        let Some(first) = out.ops.first() else {
            return Ok(());
        };
        let first_seq = first.seq;
        let frame = ClientMessage::SubmitOps {
            model: self.handle,
            origin: first.origin,
            first_seq,
            context_version: first.context_version,
            ops: out.ops.iter().map(|u| u.op.clone()).collect(),
        };
        let count = out.ops.len() as u64;
        let at = Instant::now();
        if !self.observer {
            let origin = self.replica.origin();
            let mut pending = self.model.pending.lock().expect("pending");
            for seq in first_seq..first_seq + count {
                pending.insert((origin, seq), at);
            }
        }
        self.shared.submitted.fetch_add(count, Ordering::Relaxed);
        send(&mut self.ws, &frame).await
    }

    async fn handle(
        &mut self,
        next: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<(), Failure> {
        let bytes = match next {
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed by the relay: {frame:?}"))
            }
            Some(Ok(_)) => return Ok(()),
            Some(Err(e)) => return Err(format!("socket: {e}")),
            None => return Err("socket closed".into()),
        };
        let message = decode_relay(&bytes, &limits()).map_err(|e| format!("decode: {e}"))?;
        match message {
            RelayMessage::RemoteOps { model, ops } | RelayMessage::ResyncOps { model, ops }
                if model == self.handle =>
            {
                let now = Instant::now();
                let mine = self.replica.origin();
                let mut acked = 0;
                let mut latencies = Vec::new();
                for op in ops {
                    let (origin, seq) = (op.origin, op.seq);
                    let applied = self
                        .replica
                        .on_remote(op.version, origin, seq, op.op)
                        .map_err(|e| format!("remote op {}: {e}", op.version))?;
                    if origin == mine {
                        acked += 1;
                        continue;
                    }
                    if let Op::StringInsert { index, text, .. } = &applied {
                        if *index <= self.cursor {
                            self.cursor += text.encode_utf16().count();
                        }
                    }
                    if self.observer {
                        latencies.push((origin, seq));
                    }
                }
                if acked > 0 {
                    self.shared.acked.fetch_add(acked, Ordering::Relaxed);
                }
                if !latencies.is_empty() {
                    let mut found = Vec::with_capacity(latencies.len());
                    {
                        let mut pending = self.model.pending.lock().expect("pending");
                        for key in latencies {
                            if let Some(at) = pending.remove(&key) {
                                if self.shared.in_window(at) {
                                    found.push((now - at).as_micros() as u64);
                                }
                            }
                        }
                    }
                    if !found.is_empty() {
                        self.model.samples.lock().expect("samples").extend(found);
                    }
                }
            }
            RelayMessage::OpAck { seq, version, .. } => {
                self.replica
                    .on_ack(seq, version)
                    .map_err(|e| format!("ack: {e}"))?;
                self.shared.acked.fetch_add(1, Ordering::Relaxed);
            }
            RelayMessage::Ping { nonce } => {
                send(&mut self.ws, &ClientMessage::Pong { nonce }).await?
            }
            RelayMessage::OpRejected {
                seq, code, message, ..
            } => return Err(format!("operation {seq} rejected: {code:?}: {message}")),
            RelayMessage::Error { code, message, .. } => {
                return Err(format!("relay error: {code:?}: {message}"))
            }
            RelayMessage::ModelForceClosed { message, .. } => {
                return Err(format!("model force-closed: {message}"))
            }
            _ => {}
        }
        Ok(())
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

/// Clients typing into shared strings, spread over `relays` (several share the PostgreSQL
/// server whose postmaster is `database`).
async fn typing(
    relays: &[RelayChild],
    database: Option<u32>,
    args: &Args,
    plan: Plan,
) -> Result<Row, Failure> {
    let Plan {
        name,
        clients,
        models,
        rate,
    } = plan;
    if clients == 0 || models == 0 || clients < models {
        return Err("need at least one client per model".into());
    }
    let shared = Arc::new(Shared {
        t0: Instant::now(),
        stop: AtomicBool::new(false),
        finish: AtomicBool::new(false),
        window_start: AtomicU64::new(u64::MAX),
        window_end: AtomicU64::new(u64::MAX),
        acked: AtomicU64::new(0),
        submitted: AtomicU64::new(0),
    });
    // Client i works on model i % models; its slot in that model is i / models.
    let per_model: Vec<usize> = (0..models)
        .map(|m| (0..clients).filter(|i| i % models == m).count())
        .collect();
    let model_shared: Vec<Arc<ModelShared>> = per_model
        .iter()
        .map(|&n| {
            Arc::new(ModelShared {
                pending: Mutex::new(HashMap::new()),
                samples: Mutex::new(Vec::new()),
                versions: (0..n).map(|_| AtomicU64::new(0)).collect(),
                settled: (0..n).map(|_| AtomicBool::new(false)).collect(),
            })
        })
        .collect();

    // Connect and open: the first client of each model creates it, then everyone else opens.
    let connect_one = |i: usize| {
        let url = relays[i % relays.len()].url.clone();
        let model_id = format!("m{}", i % models);
        async move {
            let (mut ws, welcome) = connect(&url, &format!("typist {i}"), false).await?;
            let opened = open_model(&mut ws, &welcome, &model_id, "", 1).await?;
            let handle = opened.model;
            let replica = replica_of(opened, welcome.site)?;
            Ok::<_, Failure>((i, ws, handle, replica))
        }
    };
    let mut connected = Vec::with_capacity(clients);
    for i in 0..models {
        connected.push(connect_one(i).await?);
    }
    let gate = Arc::new(Semaphore::new(64));
    let mut joins = tokio::task::JoinSet::new();
    for i in models..clients {
        let gate = gate.clone();
        let fut = connect_one(i);
        joins.spawn(async move {
            let _permit = gate.acquire_owned().await;
            fut.await
        });
    }
    while let Some(joined) = joins.join_next().await {
        connected.push(joined.map_err(|e| e.to_string())??);
    }
    connected.sort_by_key(|c| c.0);

    let per_client_rate = (rate > 0.0).then(|| rate / clients as f64);
    let mut tasks = Vec::with_capacity(clients);
    for (i, ws, handle, replica) in connected {
        let m = i % models;
        let slot = i / models;
        let text = text_of(replica.model())?;
        let typist = Typist {
            ws,
            handle,
            replica,
            text,
            cursor: 0,
            slot,
            letter: char::from(b'a' + (i % 26) as u8),
            observer: slot == 0,
            model: model_shared[m].clone(),
            shared: shared.clone(),
            rate: per_client_rate,
            batch: args.batch.max(1),
            window: args.window.max(args.batch.max(1)),
        };
        tasks.push((m, tokio::spawn(typist.run())));
    }

    // Warm up, then measure.
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let cpu = CpuWindow::start(relays);
    let database_cpu0 = database.map_or(0.0, database_cpu_seconds);
    let store0 = StoreFigures::read_all(relays).await;
    let acked0 = shared.acked.load(Ordering::Relaxed);
    let submitted0 = shared.submitted.load(Ordering::Relaxed);
    let started = Instant::now();
    shared.window_start.store(
        started.duration_since(shared.t0).as_nanos() as u64,
        Ordering::Relaxed,
    );
    let mut rss_max: f64 = 0.0;
    let end = started + Duration::from_secs(args.seconds.max(1));
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss_max = rss_max.max(relays.iter().map(|r| r.memory_mib().0).sum());
        if tasks.iter().any(|(_, t)| t.is_finished()) {
            break;
        }
    }
    let ended = Instant::now();
    shared.window_end.store(
        ended.duration_since(shared.t0).as_nanos() as u64,
        Ordering::Relaxed,
    );
    let elapsed = (ended - started).as_secs_f64();
    let acked = shared.acked.load(Ordering::Relaxed) - acked0;
    let submitted = shared.submitted.load(Ordering::Relaxed) - submitted0;
    let (relay_cpu, load_cpu) = cpu.percent(relays);
    let database_cpu =
        100.0 * (database.map_or(0.0, database_cpu_seconds) - database_cpu0) / elapsed.max(1e-9);
    let hwm: f64 = relays.iter().map(|r| r.memory_mib().1).sum();
    let store = StoreFigures::read_all(relays).await.since(&store0);
    shared.stop.store(true, Ordering::Relaxed);

    // Settle: everything acknowledged, every replica of a model at the same version, twice in
    // a row.
    let settle_deadline = Instant::now() + Duration::from_secs(60);
    let mut previous: Option<Vec<u64>> = None;
    let mut failure = None;
    loop {
        if tasks.iter().any(|(_, t)| t.is_finished()) {
            failure = Some("a client stopped early".to_string());
            break;
        }
        let mut now = Vec::new();
        let mut done = true;
        for ms in &model_shared {
            let v0 = ms.versions[0].load(Ordering::Relaxed);
            for (v, s) in ms.versions.iter().zip(&ms.settled) {
                done &= s.load(Ordering::Relaxed) && v.load(Ordering::Relaxed) == v0;
            }
            now.push(v0);
        }
        if done && previous.as_ref() == Some(&now) {
            break;
        }
        previous = done.then_some(now);
        if Instant::now() > settle_deadline {
            let unsettled: usize = model_shared
                .iter()
                .map(|ms| {
                    ms.settled
                        .iter()
                        .filter(|s| !s.load(Ordering::Relaxed))
                        .count()
                })
                .sum();
            let mut versions: Vec<u64> = model_shared
                .iter()
                .flat_map(|ms| ms.versions.iter().map(|v| v.load(Ordering::Relaxed)))
                .collect();
            versions.sort_unstable();
            versions.dedup();
            failure = Some(format!(
                "the replicas did not settle within 60 s: {unsettled} with unacknowledged \
                 operations; versions {versions:?}"
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shared.finish.store(true, Ordering::Relaxed);
    let mut finished: Vec<Vec<Finished>> = (0..models).map(|_| Vec::new()).collect();
    let mut errors = Vec::new();
    for (m, task) in tasks {
        match task.await {
            Ok(Ok(f)) => finished[m].push(f),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(format!(
            "{} client(s) failed; first: {}",
            errors.len(),
            errors[0]
        ));
    }
    if let Some(failure) = failure {
        return Err(failure);
    }

    // Verify: a fresh client opening each model, on every relay, gets exactly what every
    // replica holds.
    for ((m, replicas), relay) in finished
        .iter()
        .enumerate()
        .flat_map(|m| relays.iter().map(move |r| (m, r)))
    {
        let (mut ws, welcome) = connect(&relay.url, "verifier", false).await?;
        let opened = open_model(&mut ws, &welcome, &format!("m{m}"), "", 1).await?;
        let version = opened.version;
        let fresh = replica_of(opened, welcome.site)?;
        let data = fresh.model().to_json();
        for (slot, r) in replicas.iter().enumerate() {
            if r.version != version || r.data != data {
                return Err(format!(
                    "model m{m}: client {slot} at version {} differs from the relay's (version {version})",
                    r.version
                ));
            }
        }
        let _ = ws.close(None).await;
    }

    let mut samples: Vec<u64> = model_shared
        .iter()
        .flat_map(|ms| ms.samples.lock().expect("samples").clone())
        .collect();
    samples.sort_unstable();
    let total_version: u64 = finished
        .iter()
        .map(|r| r.first().map_or(0, |f| f.version))
        .sum();
    Ok(Row {
        scenario: name.into(),
        clients,
        models,
        offered: if rate > 0.0 {
            format!("{rate:.0}")
        } else {
            "max".into()
        },
        acked: format!("{:.0}", acked as f64 / elapsed),
        p50: format!("{:.2}", percentile(&samples, 50.0)),
        p99: format!("{:.2}", percentile(&samples, 99.0)),
        relay_cpu,
        relay_rss: format!("{rss_max:.0}/{hwm:.0} MB"),
        load_cpu,
        verified: "verified".into(),
        note: Some(format!(
            "submitted {:.0} ops/s, {} latency samples, measured {:.1} s, final versions total {}; \
             relay{}: {:.0} appends/s, {:.1} ops per append, append {:.2} ms mean, \
             commit (received to stored) {:.2} ms mean{}",
            submitted as f64 / elapsed,
            samples.len(),
            elapsed,
            total_version,
            if relays.len() > 1 { "s together" } else { "" },
            store.appends / elapsed,
            store.ops / store.appends.max(1.0),
            1000.0 * store.append_seconds / store.appends.max(1.0),
            1000.0 * store.commit_seconds / store.commits.max(1.0),
            match database {
                Some(_) => format!(
                    "; PostgreSQL CPU {database_cpu:.0}%, {:.0} appends/s after another relay's",
                    store.interleaved / elapsed
                ),
                None => String::new(),
            },
        )),
    })
}

// ---------------------------------------------------------------------------------------------
// Idle connections
// ---------------------------------------------------------------------------------------------

async fn idle(relay: &RelayChild, args: &Args) -> Result<Row, Failure> {
    let connections = args.clients.unwrap_or(10_000);
    let models = args.models.unwrap_or(1_000).max(1);
    let (rss_before, _) = relay.memory_mib();
    let (finish, finished) = tokio::sync::watch::channel(false);
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let alive = Arc::new(AtomicUsize::new(0));
    let pongs = Arc::new(AtomicU64::new(0));
    let connect_started = Instant::now();

    let spawn_idle = |i: usize, ws: Ws| {
        let (mut finished, failures, alive, pongs) = (
            finished.clone(),
            failures.clone(),
            alive.clone(),
            pongs.clone(),
        );
        tokio::spawn(async move {
            let mut ws = ws;
            alive.fetch_add(1, Ordering::Relaxed);
            loop {
                let next = tokio::select! {
                    next = ws.next() => next,
                    _ = finished.changed() => break,
                };
                match next {
                    Some(Ok(Message::Binary(bytes))) => {
                        if let Ok(RelayMessage::Ping { nonce }) = decode_relay(&bytes, &limits()) {
                            if send(&mut ws, &ClientMessage::Pong { nonce }).await.is_err() {
                                failures
                                    .lock()
                                    .expect("failures")
                                    .push(format!("connection {i}: pong failed"));
                                break;
                            }
                            pongs.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Ok(_)) => {}
                    other => {
                        if !*finished.borrow() {
                            failures
                                .lock()
                                .expect("failures")
                                .push(format!("connection {i} lost: {other:?}"));
                        }
                        break;
                    }
                }
            }
            alive.fetch_sub(1, Ordering::Relaxed);
        })
    };

    let open_one = |i: usize| {
        let url = relay.url.clone();
        async move {
            let (mut ws, welcome) = connect(&url, &format!("idle {i}"), true).await?;
            open_model(
                &mut ws,
                &welcome,
                &format!("idle{}", i % models),
                "hello",
                1,
            )
            .await?;
            Ok::<_, Failure>((i, ws))
        }
    };
    let mut tasks = Vec::with_capacity(connections);
    // The first connection creates the collection alone (the relay's auto-creation of a
    // collection and its world permissions are two separate writes, so concurrent first uses
    // can be refused); the first connection of each model creates it; then everyone else
    // opens one.
    let first = models.min(connections);
    for phase in [0..1.min(first), 1.min(first)..first, first..connections] {
        let gate = Arc::new(Semaphore::new(128));
        let mut joins = tokio::task::JoinSet::new();
        for i in phase {
            let gate = gate.clone();
            let fut = open_one(i);
            joins.spawn(async move {
                let _permit = gate.acquire_owned().await;
                fut.await
            });
        }
        while let Some(joined) = joins.join_next().await {
            let (i, ws) = joined.map_err(|e| e.to_string())??;
            tasks.push(spawn_idle(i, ws));
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();

    // Let the relay settle, then measure while idle.
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let cpu = CpuWindow::start(std::slice::from_ref(relay));
    let mut rss_max: f64 = 0.0;
    let end = Instant::now() + Duration::from_secs(args.seconds.max(1));
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss_max = rss_max.max(relay.memory_mib().0);
    }
    let (relay_cpu, load_cpu) = cpu.percent(std::slice::from_ref(relay));
    let (rss, hwm) = relay.memory_mib();
    let sessions = relay.metric("tandem_sessions").await;
    let open_models = relay.metric("tandem_open_models").await;
    let still_alive = alive.load(Ordering::Relaxed);

    let _ = finish.send(true);
    for task in tasks {
        let _ = task.await;
    }
    let failures = failures.lock().expect("failures").clone();
    if !failures.is_empty() {
        return Err(format!(
            "{} connection(s) failed; first: {}",
            failures.len(),
            failures[0]
        ));
    }
    if still_alive != connections || sessions != Some(connections as f64) {
        return Err(format!(
            "{still_alive} of {connections} connections alive; the relay counts {sessions:?} sessions"
        ));
    }
    Ok(Row {
        scenario: "idle-10k".into(),
        clients: connections,
        models,
        offered: "0".into(),
        acked: "0".into(),
        p50: "-".into(),
        p99: "-".into(),
        relay_cpu,
        relay_rss: format!("{rss_max:.0}/{hwm:.0} MB"),
        load_cpu,
        verified: format!("{connections} sessions alive"),
        note: Some(format!(
            "relay RSS {rss_before:.0} MB before connecting, {rss:.0} MB with {connections} sessions \
             ({:.1} KB per connection), {open_models:?} models open, connected in {connect_secs:.1} s, \
             {} pings answered",
            (rss - rss_before) * 1024.0 / connections as f64,
            pongs.load(Ordering::Relaxed)
        )),
    })
}
