//! Tandem's WebAssembly client engine: a thin layer between JavaScript and `tandem-core`.
//!
//! One [`Engine`] serves one connection to a relay. It speaks the wire protocol (it encodes every
//! frame the client sends and decodes every frame it receives), owns the local replica of each
//! open model (the core's `ClientModel`, with its undo stacks and references), and hands
//! JavaScript plain values: numbers for element handles, JSON text for structured data. The
//! npm package (`npm/`) does the rest: the socket, timers, caching and the public API.
//!
//! Nothing here panics on input from the network or from JavaScript: every failure reaches
//! JavaScript with a stable code (see [`error`]). Should a panic happen
//! anyway, [`last_panic`] tells the package what it was, so that it can fail the session
//! cleanly instead of leaving a trapped instance in use.

mod engine;
mod error;
mod events;
mod incoming;
mod interop;
mod json;
mod models;
mod references;
mod requests;
mod small_map;
mod transcode;

use std::sync::Mutex;

use wasm_bindgen::prelude::wasm_bindgen;

pub use engine::Engine;

/// The message of the last panic, kept by the panic hook for [`last_panic`].
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Installs the panic hook once the module is instantiated.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = info.to_string();
        }
    }));
}

/// The message of the last panic (empty if none): after a call traps with a `RuntimeError`, the
/// package reads it to report what went wrong.
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> String {
    LAST_PANIC.lock().map(|s| s.clone()).unwrap_or_default()
}

/// The module's allocator: talc, smaller than the standard library's dlmalloc (about 2 KB of the
/// gzipped module) and as fast on the editing traces (README, Benchmarks).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
