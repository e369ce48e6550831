// The demo: one shared document per `?doc=NAME`, opened by an anonymous session under a name
// asked for once and remembered on this device. Works offline (edits are cached in IndexedDB
// and sent on reconnect), reloads offline (a service worker keeps the app, `public/sw.js`) and
// starts while the relay is down (it keeps trying, and opens documents from the cache).
import { createSession } from 'tandem-client';

import { startChat } from './chat.js';
import { startEditor } from './editor.js';
import { startHistory } from './history.js';
import { startPeople } from './people.js';
import { startTasks } from './tasks.js';
import './style.css';

const params = new URLSearchParams(location.search);
const docId = params.get('doc') || 'welcome';
document.getElementById('doc-name').textContent = docId;

/** The display name: remembered, or asked for once. */
function askName() {
  const saved = localStorage.getItem('tandem-name');
  if (saved) return Promise.resolve(saved);
  const form = document.getElementById('welcome');
  form.hidden = false;
  document.getElementById('name').focus();
  return new Promise((resolve) => {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const name = document.getElementById('name').value.trim();
      if (!name) return;
      localStorage.setItem('tandem-name', name);
      form.hidden = true;
      resolve(name);
    });
  });
}

/** The badge: the connection, and the document's edits not yet on the relay. */
function showStatus(session) {
  const status = document.getElementById('status');
  let model;
  const show = () => {
    const state = session.state;
    status.dataset.state = state;
    let text = { connected: 'online', interrupted: 'offline', reconnecting: 'offline — reconnecting', connecting: 'connecting' }[state] ?? state;
    const pending = model?.pendingCount ?? 0;
    if (model?.syncState === 'error') text += ' · document lost (reload)';
    else if (pending > 0) text += ` · ${pending} ${state === 'connected' ? 'sending' : 'unsent'}`;
    else if (model && state === 'connected') text += ' · saved';
    status.textContent = text;
  };
  show();
  session.on('state', show);
  return {
    follow(m) {
      model = m;
      m.on('sync', show);
      m.on('closed', show);
      show();
    },
  };
}

/** Keeps the app for offline reloads: the worker caches what this page loaded, and more. */
async function keepForOffline() {
  if (!('serviceWorker' in navigator)) return;
  try {
    const registration = await navigator.serviceWorker.register('/sw.js');
    const worker = registration.active ?? (await navigator.serviceWorker.ready).active;
    const loaded = performance.getEntriesByType('resource').map((e) => e.name);
    worker?.postMessage({ cache: [location.origin + '/', ...loaded] });
  } catch (error) {
    console.warn('no offline reloads:', error);
  }
}

/** Opens the document, from the cache when offline; without a cached copy, waits for the relay. */
async function openDocument(session) {
  for (;;) {
    try {
      return await session.openOrCreate('demo', docId, { text: '', tasks: [] });
    } catch (error) {
      if (!retryable(session, error)) throw error;
      // Not cached here and the relay is unreachable: keep trying (the status says offline).
    }
  }
}

function tabs() {
  const buttons = document.querySelectorAll('[role=tab]');
  for (const button of buttons) {
    button.addEventListener('click', () => {
      for (const b of buttons) b.setAttribute('aria-selected', String(b === button));
      document.getElementById('document-panel').hidden = button.dataset.tab !== 'document';
      document.getElementById('tasks-panel').hidden = button.dataset.tab !== 'tasks';
    });
  }
}

async function main() {
  const name = await askName();
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  // Not `connect`: that fails when the relay is down, and the demo must start anyway.
  const session = await createSession(url, { anonymous: name });
  window.tandemSession = session;
  const badge = showStatus(session);
  void keepForOffline();
  const model = await openDocument(session);
  badge.follow(model);
  window.tandemModel = model;
  document.getElementById('app').hidden = false;
  tabs();
  // A colour per session, spread around the wheel so that people rarely share one.
  let hash = 0;
  for (const c of session.sessionId ?? name) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  const colour = `hsl(${Math.round((hash * 137.508) % 360)} 65% 45%)`;
  // People and chat need the relay; the document does not: it starts at once (offline from the
  // cache) and they join when the relay is reachable.
  let people;
  const peopleView = { typing: () => people?.typing(), colourOf: (id) => people?.colourOf(id) ?? colour };
  startEditor(model, peopleView);
  startHistory(session, model, docId);
  startTasks(model);
  document.body.dataset.ready = 'true';
  people = await untilOnline(() => startPeople(session, docId, name, colour));
  await untilOnline(() => startChat(session, docId));
  document.body.dataset.live = 'true';
}

/** Whether a failure only means "not connected yet": not a session that failed for good. */
function retryable(session, error) {
  const alive = session.state !== 'error' && session.state !== 'disconnected';
  return alive && (error.code === 'timeout' || error.code === 'disconnected');
}

/** Runs `start` until it succeeds, waiting for the connection between tries. */
async function untilOnline(start) {
  for (;;) {
    try {
      return await start();
    } catch (error) {
      if (!retryable(window.tandemSession, error)) throw error;
      await window.tandemSession.connected().catch(() => {});
    }
  }
}

main().catch((error) => {
  console.error(error);
  const status = document.getElementById('status');
  status.dataset.state = 'error';
  status.textContent = `error: ${error.message}`;
});
