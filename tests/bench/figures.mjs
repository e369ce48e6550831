// The README's exactly-once figures, measured through the built package against a real relay
// on loopback: a 10 MB paste until acknowledged; a 64 MiB model opened by a fresh client (time
// and the client process's added resident memory); how long a stalled connection (the relay
// frozen with SIGSTOP) takes to show as offline with the default heartbeat. Three runs each;
// prints the median and the range.
//
//   node tests/bench/figures.mjs            (after scripts/build-wasm.sh and cargo build -p tandem-relay)
import { execFileSync } from 'node:child_process';

const { connect } = await import(new URL('../../npm/dist/index.js', import.meta.url).href);
const { startRelay, waitFor } = await import(new URL('../../npm/test/relay.mjs', import.meta.url).href);

const RUNS = 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const show = (what, xs, unit) =>
  console.log(`${what}: median ${median(xs).toFixed(2)} ${unit} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}, ${xs.length} runs)`);
const text = (bytes, seed) => `${seed}0123456789abcdefghijklmnopqrstuvwxyz\n`.repeat(Math.ceil(bytes / 38)).slice(0, bytes);

const relay = await startRelay();
const options = { storage: false, requestTimeout: 120_000 };
try {
  const paste = [];
  for (let run = 0; run < RUNS; run++) {
    const a = await connect(relay.url, { anonymous: 'Ada' }, options);
    const m = await a.openOrCreate('bench', `paste-${run}`, { text: '' });
    const started = performance.now();
    m.elementAt('text').insert(0, text(10_000_000, `${run}`));
    await waitFor(() => m.isSettled, 120_000, 'the paste');
    paste.push((performance.now() - started) / 1000);
    await a.disconnect();
  }
  show('10 MB paste, typed to acknowledged', paste, 's');

  // The 64 MiB model, built in 16 MiB-limit pieces, then opened by a fresh client process.
  const a = await connect(relay.url, { anonymous: 'Ada' }, options);
  const m = await a.openOrCreate('bench', 'huge', { parts: [] });
  for (let i = 0; i < 5; i++) {
    m.elementAt('parts').push(text(14 << 20, `${i}`));
    await waitFor(() => m.isSettled, 120_000, 'a part');
  }
  await a.disconnect();
  const opens = [];
  const memory = [];
  const child = `
    const { connect } = await import(${JSON.stringify(new URL('../../npm/dist/index.js', import.meta.url).href)});
    const before = process.memoryUsage().rss;
    const s = await connect(${JSON.stringify(relay.url)}, { anonymous: 'Bob' }, { storage: false, requestTimeout: 120000 });
    const started = performance.now();
    const m = await s.open('bench', 'huge');
    const seconds = (performance.now() - started) / 1000;
    const parts = m.elementAt('parts').length;
    console.log(JSON.stringify({ seconds, rss: (process.memoryUsage().rss - before) / 1048576, parts }));
    await s.disconnect();
    process.exit(0);`;
  for (let run = 0; run < RUNS; run++) {
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', child]).toString().trim().split('\n').pop());
    opens.push(out.seconds);
    memory.push(out.rss);
  }
  show('a 70 MiB model (5 × 14 MiB of text) opened by a fresh Node client', opens, 's');
  show('  the client process’s added resident memory', memory, 'MiB');

  const offline = [];
  for (let run = 0; run < RUNS; run++) {
    const s = await connect(relay.url, { anonymous: 'Cy' }, { storage: false });
    await s.openOrCreate('bench', 'frozen', { text: '' });
    relay.child.kill('SIGSTOP');
    const started = performance.now();
    await waitFor(() => s.state !== 'connected', 30_000, 'offline');
    offline.push((performance.now() - started) / 1000);
    relay.child.kill('SIGCONT');
    await s.disconnect();
  }
  show('a stalled connection shown offline (default heartbeat: 1 s, 2.5 s of silence)', offline, 's');
} finally {
  await relay.close();
}
