//! Starting real relays for whole-system tests: in-process on 127.0.0.1:0, or as a child
//! process of the real binary.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_relay::config::Config;
use tandem_relay::store::sqlite::SqliteStore;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A relay running inside the test process.
pub struct InProcess {
    /// Its address.
    pub addr: SocketAddr,
    /// `ws://addr/ws`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl InProcess {
    /// Shuts it down gracefully and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
    }
}

/// A configuration for tests: data in `dir`, no admin key unless set by the caller.
pub fn config(dir: &Path) -> Config {
    let mut config = Config::defaults();
    config.data_dir = dir.to_path_buf();
    config.www_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../www/dist");
    config.admin_key = Some("test-admin-key".into());
    config
}

/// Starts a relay on 127.0.0.1:0 with `config` and its store in `config.data_dir`.
pub async fn start(config: Config) -> InProcess {
    let store = SqliteStore::open(&config.data_dir).expect("store opens");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        tandem_relay::run(listener, config, Arc::new(store), async {
            let _ = stopped.await;
        })
        .await
        .expect("relay runs");
    });
    InProcess {
        addr,
        url: format!("ws://{addr}/ws"),
        stop: Some(stop),
        task: Some(task),
    }
}

/// A relay started as a child process of the real `tandem-relay` binary.
pub struct ChildRelay {
    /// The process.
    pub child: Child,
    /// Its address.
    pub addr: SocketAddr,
    /// `ws://addr/ws`.
    pub url: String,
}

impl Drop for ChildRelay {
    /// A test never leaves a relay running behind it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Starts the binary on `port` with its store in `dir` and waits until it listens. The child
/// is waited for by [`ChildRelay`]'s `Drop`.
#[allow(clippy::zombie_processes)]
pub fn spawn_binary(dir: &Path, port: u16, extra: &[&str]) -> ChildRelay {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let child = Command::new(env!("CARGO_BIN_EXE_tandem-relay"))
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .env("TANDEM_LOG", "warn")
        // The relay logs to stdout: shown with TANDEM_TEST_RELAY_LOGS=1.
        .stdout(if std::env::var_os("TANDEM_TEST_RELAY_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::inherit())
        .spawn()
        .expect("relay binary starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return ChildRelay {
                child,
                addr,
                url: format!("ws://{addr}/ws"),
            };
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the relay did not start listening on {addr}");
}

/// A plain HTTP/1.1 GET on the relay; returns the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let response = String::from_utf8_lossy(&response).into_owned();
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}
