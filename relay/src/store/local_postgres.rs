//! A throwaway PostgreSQL server on loopback, for tests and benchmarks.
//!
//! [`LocalPostgres::start`] runs Debian's server binaries (the newest of
//! `/usr/lib/postgresql/*/bin`; `scripts/setup.sh` installs the `postgresql` package) on a
//! fresh cluster in a temporary directory: `initdb` with trust authentication for the
//! superuser `tandem`, then `postgres` listening on 127.0.0.1 on a free port, and a database
//! `tandem`. Dropping it stops the server and removes the directory. PostgreSQL refuses to run
//! as root, so when this process is root the server runs as the `postgres` system user.
//!
//! A server kept in a `static` is never dropped; so that it never outlives the process that
//! started it, a small watchdog shell stops it and removes its directory once that process is
//! gone.
//!
//! Tests that need a database call [`test_database_url`]: it gives the URL in
//! `TANDEM_TEST_POSTGRES_URL` when that is set (a server of your own; the database must be
//! one the tests may fill with rows and tables), else the URL of a [`LocalPostgres`] started
//! once per process. Missing binaries are an error, never a reason to skip.

use std::ffi::CString;
use std::fs::File;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment variable naming an existing database for tests instead of a local server.
pub const TEST_URL_ENV: &str = "TANDEM_TEST_POSTGRES_URL";

/// The superuser `initdb` creates (trusted on loopback, no password).
pub const SUPERUSER: &str = "tandem";

/// The database created at start, which [`LocalPostgres::url`] points to.
pub const DATABASE: &str = "tandem";

/// Where Debian installs PostgreSQL's server binaries, one directory per major version.
const INSTALL_ROOT: &str = "/usr/lib/postgresql";

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the server may take to shut down before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How many free ports are tried (another process may take the one picked before the server
/// binds it).
const PORT_ATTEMPTS: usize = 3;

/// What to do when the server binaries are missing.
const INSTALL_HINT: &str = "install Debian's `postgresql` package (scripts/setup.sh does it)";

/// A running throwaway PostgreSQL server; stopped, and its files removed, when dropped.
pub struct LocalPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    server: Option<Child>,
    watchdog: Option<Child>,
}

impl LocalPostgres {
    /// Creates a cluster in a new temporary directory, starts its server on a free loopback
    /// port and creates the database [`DATABASE`]; returns once the server accepts
    /// connections (at most 30 s).
    pub fn start() -> Result<LocalPostgres, String> {
        let bin = find_bin_dir()?;
        let owner = server_user()?;
        let dir = make_temp_dir(owner)?;
        let mut pg = LocalPostgres {
            dir,
            bin,
            port: 0,
            server: None,
            watchdog: None,
        };
        // From here on, dropping `pg` on an error cleans up.
        pg.init_cluster(owner)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match pg.launch(owner) {
                Ok(()) => break,
                Err(Launch::PortTaken(_)) if attempt < PORT_ATTEMPTS => continue,
                Err(Launch::PortTaken(message) | Launch::Failed(message)) => return Err(message),
            }
        }
        pg.create_database(DATABASE)?;
        Ok(pg)
    }

    /// The URL of the database [`DATABASE`], for `PostgresStore::connect`.
    pub fn url(&self) -> String {
        self.url_of(DATABASE)
    }

    /// The server's process id (its postmaster), to measure what it costs.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (its data, socket and server log `postgres.log`), for
    /// diagnostics.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates another, empty database on this server (a name of ASCII letters, digits and
    /// underscores) and returns its URL: for tests that need a database of their own.
    pub fn fresh_database(&self, name: &str) -> Result<String, String> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(format!("invalid database name {name:?}"));
        }
        self.create_database(name)?;
        Ok(self.url_of(name))
    }

    /// The URL of database `name` on this server.
    fn url_of(&self, name: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `initdb` into `dir/data`.
    fn init_cluster(&self, owner: Option<(u32, u32)>) -> Result<(), String> {
        let mut initdb = self.command("initdb", owner);
        initdb
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-A", "trust", "-U", SUPERUSER, "--no-sync"])
            .args(["-E", "UTF8", "--locale=C"]);
        run(initdb, "initdb")
    }

    /// Starts the server on a free port and waits until it accepts connections.
    fn launch(&mut self, owner: Option<(u32, u32)>) -> Result<(), Launch> {
        let failed = |m: String| Launch::Failed(m);
        self.port = free_port().map_err(failed)?;
        let log_path = self.dir.join("postgres.log");
        let log = File::create(&log_path)
            .map_err(|e| failed(format!("creating {}: {e}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(|e| failed(format!("duplicating the log file: {e}")))?;
        let mut postgres = self.command("postgres", owner);
        postgres
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.join("sock"))
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_connections=200"])
            .stdout(log)
            .stderr(log_err)
            // Its own process group: a signal to the test's group reaches the watchdog's
            // orderly shutdown rather than killing the server mid-way.
            .process_group(0);
        let server = postgres.spawn().map_err(|e| {
            failed(format!(
                "starting {}: {e}",
                self.bin.join("postgres").display()
            ))
        })?;
        let server_pid = server.id();
        self.server = Some(server);
        if self.watchdog.is_none() {
            self.watchdog = Some(self.spawn_watchdog(server_pid).map_err(failed)?);
        }

        let started = Instant::now();
        loop {
            if let Some(server) = self.server.as_mut() {
                if let Ok(Some(status)) = server.try_wait() {
                    self.server = None;
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    let message = format!("postgres exited ({status}) while starting:\n{log}");
                    return Err(
                        if log.contains("could not bind") || log.contains("Address already in use")
                        {
                            // The watchdog watches the old pid: replace it along with the server.
                            self.stop_watchdog();
                            Launch::PortTaken(message)
                        } else {
                            Launch::Failed(message)
                        },
                    );
                }
            }
            let mut ready = self.command("pg_isready", None);
            ready
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-t",
                    "1",
                    "-U",
                    SUPERUSER,
                    "-d",
                    "postgres",
                ])
                .arg("-p")
                .arg(self.port.to_string());
            if ready.status().map(|s| s.success()).unwrap_or(false) {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(failed(format!(
                    "postgres did not accept connections within {START_TIMEOUT:?}:\n{log}"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Creates database `name` with `createdb`.
    fn create_database(&self, name: &str) -> Result<(), String> {
        let mut createdb = self.command("createdb", None);
        createdb
            .args(["-h", "127.0.0.1", "-U", SUPERUSER])
            .arg("-p")
            .arg(self.port.to_string())
            .arg(name);
        run(createdb, "createdb")
    }

    /// A command running one of the server's binaries in the cluster's directory, as `owner`
    /// if given, without the caller's `PG*` environment (which would redirect the tools).
    fn command(&self, program: &str, owner: Option<(u32, u32)>) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(&self.dir).stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                command.env_remove(key);
            }
        }
        if let Some((uid, gid)) = owner {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Starts the shell that stops the server and removes the directory once this process
    /// has exited (for servers that are never dropped). It waits for the server to remove
    /// `postmaster.pid` rather than for its pid to vanish: an orphaned server may stay a
    /// zombie until whoever adopts it reaps it.
    fn spawn_watchdog(&self, server_pid: u32) -> Result<Child, String> {
        const SCRIPT: &str = r#"
while kill -0 "$1" 2>/dev/null; do sleep 1; done
kill -INT "$2" 2>/dev/null
i=0
while kill -0 "$2" 2>/dev/null && [ -e "$3/data/postmaster.pid" ] && [ "$i" -lt 300 ]; do
  sleep 0.1
  i=$((i + 1))
done
kill -KILL "$2" 2>/dev/null
rm -rf "$3"
"#;
        Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("tandem-postgres-watchdog")
            .arg(std::process::id().to_string())
            .arg(server_pid.to_string())
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting the watchdog shell: {e}"))
    }

    /// Stops the watchdog (the server is then this value's to stop).
    fn stop_watchdog(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

impl Drop for LocalPostgres {
    /// Stops the server (a fast shutdown: SIGINT; SIGKILL after 30 s) and removes its files.
    fn drop(&mut self) {
        self.stop_watchdog();
        if let Some(mut server) = self.server.take() {
            if let (Ok(None), Ok(pid)) = (server.try_wait(), libc::pid_t::try_from(server.id())) {
                // SAFETY: kill(2) with a valid signal on our own child's pid has no memory
                // effects.
                unsafe {
                    libc::kill(pid, libc::SIGINT);
                }
                let started = Instant::now();
                while matches!(server.try_wait(), Ok(None)) && started.elapsed() < STOP_TIMEOUT {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why starting the server failed.
enum Launch {
    /// The port was taken before the server bound it: try another.
    PortTaken(String),
    /// Anything else.
    Failed(String),
}

/// The URL tests use: `TANDEM_TEST_POSTGRES_URL` if set, else that of a [`LocalPostgres`]
/// started once per process (and stopped by its watchdog when the process exits).
pub fn test_database_url() -> Result<String, String> {
    if let Ok(url) = std::env::var(TEST_URL_ENV) {
        if !url.is_empty() {
            return Ok(url);
        }
    }
    shared().map(LocalPostgres::url)
}

/// The [`LocalPostgres`] shared by everything in this process, started on first use.
pub fn shared() -> Result<&'static LocalPostgres, String> {
    static SHARED: OnceLock<Result<LocalPostgres, String>> = OnceLock::new();
    SHARED
        .get_or_init(LocalPostgres::start)
        .as_ref()
        .map_err(Clone::clone)
}

/// The newest `/usr/lib/postgresql/VERSION/bin` holding the server and the tools used here.
fn find_bin_dir() -> Result<PathBuf, String> {
    let missing =
        || format!("no PostgreSQL server binaries in {INSTALL_ROOT}/*/bin: {INSTALL_HINT}");
    let entries = std::fs::read_dir(INSTALL_ROOT).map_err(|_| missing())?;
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(version) = name.to_str().and_then(|n| {
            n.split('.')
                .map(|p| p.parse::<u32>().ok())
                .collect::<Option<Vec<_>>>()
        }) else {
            continue;
        };
        let bin = entry.path().join("bin");
        let complete = ["postgres", "initdb", "pg_isready", "createdb"]
            .iter()
            .all(|tool| bin.join(tool).is_file());
        if complete && best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, bin));
        }
    }
    best.map(|(_, bin)| bin).ok_or_else(missing)
}

/// The (uid, gid) to run the server as: `None` (this process's user) unless this process is
/// root, which PostgreSQL refuses; then the `postgres` system user's.
fn server_user() -> Result<Option<(u32, u32)>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    lookup_user("postgres").map(Some).ok_or_else(|| {
        format!(
            "running as root, and PostgreSQL refuses to: no `postgres` system user to run it \
             as; {INSTALL_HINT}"
        )
    })
}

/// A user's (uid, gid) from the system's user database.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let name = CString::new(name).ok()?;
    // SAFETY: an all-zero `passwd` is a valid value (null pointers, zero ids) that
    // getpwnam_r overwrites.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, the buffer's length is passed with it, and
    // the strings it fills in (which we do not read) stay in `buffer`.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some((entry.pw_uid, entry.pw_gid))
}

/// Creates a fresh private directory for one cluster, owned by `owner` if given, with a
/// `sock` directory for the server's Unix socket.
fn make_temp_dir(owner: Option<(u32, u32)>) -> Result<PathBuf, String> {
    // The server's user must be able to reach the directory: /tmp is open to all, a root's
    // TMPDIR may not be.
    let base = if owner.is_some() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!(
        "tandem-postgres-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let prepare = |path: &Path| -> std::io::Result<()> {
        std::fs::create_dir(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
        }
        Ok(())
    };
    prepare(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let sock = dir.join("sock");
    if let Err(e) = prepare(&sock) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!("creating {}: {e}", sock.display()));
    }
    Ok(dir)
}

/// A loopback port nothing listens on right now.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Runs a command to completion; its output is the error if it fails.
fn run(mut command: Command, what: &str) -> Result<(), String> {
    let output: Output = command
        .output()
        .map_err(|e| format!("running {what}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
