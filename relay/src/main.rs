//! `tandem-relay`: parses the configuration, opens the store (PostgreSQL with --database-url,
//! where it joins the other relays on that database, else the embedded one), serves until
//! SIGTERM or SIGINT, then shuts down gracefully.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tandem_relay::cluster::Cluster;
use tandem_relay::config::{Config, LogFormat};
use tandem_relay::store::postgres::PostgresStore;
use tandem_relay::store::sqlite::SqliteStore;
use tandem_relay::store::Store;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("TANDEM_LOG").unwrap_or_else(|_| "info".into());
    match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
    }
    // The URL may hold a password: it is never logged.
    let (store, cluster): (Arc<dyn Store>, _) =
        match &config.database_url {
            Some(url) => (
                Arc::new(
                    PostgresStore::connect_with_pool(url, config.database_pool)
                        .await
                        .context("connecting to the PostgreSQL database")?,
                ),
                Some(
                    Cluster::connect(url)
                        .await
                        .context("listening to the other relays on the database")?,
                ),
            ),
            None => (
                Arc::new(SqliteStore::open(&config.data_dir).with_context(|| {
                    format!("opening the store in {}", config.data_dir.display())
                })?),
                None,
            ),
        };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tandem_relay::run_with(listener, config, store, cluster, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
