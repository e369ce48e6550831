// Test support: a real relay process on a free loopback port with its own data directory,
// and small helpers to wait for things. Every relay is killed when the test process exits.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RELAY_BIN = process.env.TANDEM_RELAY_BIN ?? new URL('../../target/debug/tandem-relay', import.meta.url).pathname;
const running = new Set();
process.on('exit', () => running.forEach((child) => child.kill('SIGKILL')));

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a relay; `restart()` stops it and starts it again on the same port and data. */
export async function startRelay({ env = {}, dataDir, port } = {}) {
  port ??= await freePort();
  const ownData = !dataDir;
  dataDir ??= mkdtempSync(join(tmpdir(), 'tandem-relay-'));
  const relay = {
    port,
    dataDir,
    url: `ws://127.0.0.1:${port}/ws`,
    http: `http://127.0.0.1:${port}`,
    child: undefined,
    async start() {
      const child = spawn(RELAY_BIN, [], {
        env: {
          ...process.env,
          TANDEM_LISTEN: `127.0.0.1:${port}`,
          TANDEM_DATA_DIR: dataDir,
          TANDEM_WWW_DIR: dataDir,
          TANDEM_ADMIN_KEY: 'test-admin-key',
          RUST_LOG: 'warn',
          ...env,
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      running.add(child);
      child.once('exit', () => running.delete(child));
      this.child = child;
      await waitFor(async () => {
        try {
          return (await fetch(`${this.http}/healthz`)).ok;
        } catch {
          return false;
        }
      }, 15_000, 'relay health');
    },
    async stop(signal = 'SIGTERM') {
      const child = this.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    },
    async restart() {
      await this.stop();
      await this.start();
    },
    async close() {
      await this.stop('SIGKILL');
      if (ownData) rmSync(dataDir, { recursive: true, force: true });
    },
    /** Calls the admin HTTP API. */
    async admin(method, path, body) {
      const response = await fetch(`${this.http}${path}`, {
        method,
        headers: { authorization: 'Bearer test-admin-key', 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
      const text = await response.text();
      return text ? JSON.parse(text) : undefined;
    },
  };
  await relay.start();
  return relay;
}

/** Polls `condition` until it is truthy; fails after `timeout` ms. */
export async function waitFor(condition, timeout = 10_000, what = 'condition') {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
