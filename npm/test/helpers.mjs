// Shared by the Node tests: sessions against a test relay, a WebSocket whose connection can be
// cut or refused (a network that goes away), and convergence checks.
import WebSocket from 'ws';

import { connect } from '../dist/index.js';
import { waitFor } from './relay.mjs';

/**
 * A network a test controls: `cut()` drops every open socket abruptly (no close handshake),
 * `down()` makes new connections fail until `up()`.
 */
export function controllableNetwork() {
  const sockets = new Set();
  let isDown = false;
  class ControlledWebSocket extends WebSocket {
    constructor(url) {
      super(isDown ? 'ws://127.0.0.1:9/unreachable' : url);
      sockets.add(this);
      this.on('close', () => sockets.delete(this));
    }
  }
  return {
    WebSocket: ControlledWebSocket,
    cut() {
      for (const s of sockets) s.terminate();
    },
    down() {
      isDown = true;
      this.cut();
    },
    up() {
      isDown = false;
    },
  };
}

/** Sessions the tests opened, disconnected by `disconnectAll` (so that a failing test does not
 * leave sockets and reconnect timers that keep the test file from ending). */
const opened = new Set();

/** Remembers a session for `disconnectAll`. */
export function tracked(session) {
  opened.add(session);
  return session;
}

/** Disconnects every session the tests opened. */
export async function disconnectAll() {
  await Promise.all([...opened].map((s) => s.disconnect().catch(() => {})));
  opened.clear();
}

/** A connected session with fast heartbeats and reconnects (for tests). */
export async function session(relay, name, options = {}) {
  return tracked(await connectTest(relay, name, options));
}

function connectTest(relay, name, options) {
  return connect(relay.url, { anonymous: name }, {
    storage: false,
    heartbeatInterval: 500,
    heartbeatTimeout: 3000,
    reconnect: { initialDelay: 50, maxDelay: 400 },
    ...options,
  });
}

/** Waits until every model is settled and all hold the same data; returns it. */
export async function converged(models, timeout = 15_000) {
  let last;
  await waitFor(
    () => {
      if (!models.every((m) => m.isSettled && m.isOnline)) return false;
      const json = models.map((m) => JSON.stringify(m.toJSON()));
      last = json;
      return json.every((j) => j === json[0]) && models.every((m) => m.version === models[0].version);
    },
    timeout,
    `convergence (last: ${JSON.stringify(last)?.slice(0, 400)})`,
  );
  return models[0].toJSON();
}

/** A seeded random number generator (xorshift), so failures replay. */
export function rng(seed) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
  return {
    next,
    below: (n) => Math.floor(next() * n),
    pick: (items) => items[Math.floor(next() * items.length)],
  };
}
