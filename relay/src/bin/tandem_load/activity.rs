//! The `activity-200` scenario: many sessions in one activity, each setting its state at a
//! steady rate; every update fans out to everyone else. It measures the fan-out latency, from
//! just before a session sends its update until another session has decoded the event (all
//! clients live in this process, so one clock times both ends).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tandem_core::protocol::{
    decode_relay, ActivityEvent, ClientMessage, RelayMessage, Request, Response,
};
use tandem_core::Value;
use tokio_tungstenite::tungstenite::Message;

use super::{connect, limits, percentile, read, send, Args, CpuWindow, Failure, RelayChild, Row};

/// What one session measured.
#[derive(Default)]
struct Tally {
    /// Fan-out latencies seen inside the measured window, in microseconds.
    latencies: Vec<u32>,
    /// Updates this session sent inside the window.
    sent: u64,
}

/// Runs the scenario: `--clients` sessions (200) at `--rate` updates per second each (10).
pub async fn run(relay: &RelayChild, args: &Args) -> Result<Row, Failure> {
    let clients = args.clients.unwrap_or(200);
    let hz = args.rate.unwrap_or(10.0).max(0.1);
    let base = Instant::now();
    let window_start = base + Duration::from_secs(args.warmup) + Duration::from_secs(2);
    let window_end = window_start + Duration::from_secs(args.seconds.max(1));

    // Everyone joins first, so that the measured window sees the full fan-out.
    let mut sockets = Vec::with_capacity(clients);
    for i in 0..clients {
        let (mut ws, _) = connect(&relay.url, &format!("participant {i}"), false).await?;
        send(
            &mut ws,
            &ClientMessage::Request {
                request_id: 1,
                request: Request::JoinActivity {
                    activity_type: "load".into(),
                    activity_id: "room".into(),
                    lurk: false,
                    state: vec![("colour".into(), Value::String(format!("#{i:06x}")))],
                },
            },
        )
        .await?;
        let activity = loop {
            match read(&mut ws, Duration::from_secs(30)).await? {
                RelayMessage::Response {
                    response: Response::ActivityJoined { activity, .. },
                    ..
                } => break activity,
                RelayMessage::Error { code, message, .. } => {
                    return Err(format!("join refused: {code:?}: {message}"))
                }
                RelayMessage::Ping { nonce } => {
                    send(&mut ws, &ClientMessage::Pong { nonce }).await?
                }
                _ => {}
            }
        };
        sockets.push((ws, activity));
    }

    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let cpu = Arc::new(Mutex::new(None::<CpuWindow>));
    let mut tasks = Vec::with_capacity(clients);
    for (i, (mut ws, activity)) in sockets.into_iter().enumerate() {
        let failures = failures.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let period = Duration::from_secs_f64(1.0 / hz);
            // Spread the sessions' ticks over the period.
            let first = tokio::time::Instant::now() + period.mul_f64(i as f64 / clients as f64);
            let mut ticker = tokio::time::interval_at(first, period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut request_id = 2;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        let now = Instant::now();
                        if now >= window_end {
                            break;
                        }
                        let sent_us = now.duration_since(base).as_micros() as f64;
                        let update = ClientMessage::Request {
                            request_id,
                            request: Request::SetActivityState {
                                activity,
                                state: vec![("sent".into(), Value::Number(sent_us))],
                            },
                        };
                        request_id += 1;
                        if let Err(e) = send(&mut ws, &update).await {
                            failures.lock().expect("failures").push(format!("session {i}: {e}"));
                            break;
                        }
                        if now >= window_start {
                            tally.sent += 1;
                        }
                    }
                    next = ws.next() => {
                        let Some(Ok(Message::Binary(bytes))) = next else {
                            if matches!(next, Some(Ok(_))) {
                                continue;
                            }
                            failures.lock().expect("failures").push(format!("session {i}: socket lost: {next:?}"));
                            break;
                        };
                        match decode_relay(&bytes, &limits()) {
                            Ok(RelayMessage::Activity(ActivityEvent::StateSet { state, .. })) => {
                                let now = Instant::now();
                                if let Some((_, Value::Number(sent))) = state.first() {
                                    let sent_at = base + Duration::from_micros(*sent as u64);
                                    if sent_at >= window_start && sent_at < window_end {
                                        tally.latencies.push(now.duration_since(sent_at).as_micros() as u32);
                                    }
                                }
                            }
                            Ok(RelayMessage::Ping { nonce }) => {
                                let _ = send(&mut ws, &ClientMessage::Pong { nonce }).await;
                            }
                            Ok(RelayMessage::Error { code, message, .. }) => {
                                failures.lock().expect("failures").push(format!("session {i}: {code:?}: {message}"));
                            }
                            Ok(_) => {}
                            Err(e) => {
                                failures.lock().expect("failures").push(format!("session {i}: decode: {e}"));
                            }
                        }
                    }
                }
            }
            // Drain what is still in flight for the window, briefly.
            let drain_until = Instant::now() + Duration::from_millis(500);
            while let Ok(Some(Ok(Message::Binary(bytes)))) =
                tokio::time::timeout(drain_until.saturating_duration_since(Instant::now()), ws.next()).await
            {
                if let Ok(RelayMessage::Activity(ActivityEvent::StateSet { state, .. })) = decode_relay(&bytes, &limits()) {
                    let now = Instant::now();
                    if let Some((_, Value::Number(sent))) = state.first() {
                        let sent_at = base + Duration::from_micros(*sent as u64);
                        if sent_at >= window_start && sent_at < window_end {
                            tally.latencies.push(now.duration_since(sent_at).as_micros() as u32);
                        }
                    }
                }
            }
            tally
        }));
    }
    tokio::time::sleep_until(tokio::time::Instant::from_std(window_start)).await;
    *cpu.lock().expect("cpu") = Some(CpuWindow::start(std::slice::from_ref(relay)));
    tokio::time::sleep_until(tokio::time::Instant::from_std(window_end)).await;
    let (relay_cpu, load_cpu) = cpu
        .lock()
        .expect("cpu")
        .as_ref()
        .map_or((0.0, 0.0), |w| w.percent(std::slice::from_ref(relay)));
    let (rss, hwm) = relay.memory_mib();

    let mut latencies = Vec::new();
    let mut sent = 0;
    for task in tasks {
        let tally = task.await.map_err(|e| e.to_string())?;
        latencies.extend(tally.latencies);
        sent += tally.sent;
    }
    let failures = failures.lock().expect("failures").clone();
    if !failures.is_empty() {
        return Err(format!(
            "{} failure(s); first: {}",
            failures.len(),
            failures[0]
        ));
    }
    let expected = sent * (clients as u64 - 1);
    let delivered = latencies.len() as u64;
    if delivered < expected {
        return Err(format!(
            "{delivered} of {expected} state events arrived (every update reaches everyone else)"
        ));
    }
    latencies.sort_unstable();
    let as_u64: Vec<u64> = latencies.iter().map(|&l| u64::from(l)).collect();
    let seconds = args.seconds.max(1) as f64;
    Ok(Row {
        scenario: "activity-200".into(),
        clients,
        models: 1,
        offered: format!("{:.0}", sent as f64 / seconds),
        acked: format!("{:.0}", delivered as f64 / seconds),
        p50: format!("{:.1}", percentile(&as_u64, 50.0)),
        p99: format!("{:.1}", percentile(&as_u64, 99.0)),
        relay_cpu,
        relay_rss: format!("{rss:.0}/{hwm:.0} MB"),
        load_cpu,
        verified: format!("{delivered}/{expected} events"),
        note: Some(format!(
            "one activity, {clients} sessions each setting its state {hz} times a second; \
             offered/s = state updates sent, acked/s = state events delivered (each update \
             reaches the {} others); p50/p99 = fan-out latency from sending to the other \
             session's decoding",
            clients - 1
        )),
    })
}
