// The demo: one shared document per `?doc=NAME`, opened by an anonymous session under a name
// asked for once and remembered on this device. Works offline (edits are cached in IndexedDB
// and sent on reconnect).
import { connect } from 'tandem-client';

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

function showStatus(session) {
  const status = document.getElementById('status');
  const show = (state) => {
    status.dataset.state = state;
    status.textContent = { connected: 'online', interrupted: 'offline', reconnecting: 'offline — reconnecting' }[state] ?? state;
  };
  show(session.state);
  session.on('state', (e) => show(e.state));
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
  const session = await connect(url, { anonymous: name });
  window.tandemSession = session;
  showStatus(session);
  const model = await session.openOrCreate('demo', docId, { text: '', tasks: [] });
  window.tandemModel = model;
  document.getElementById('app').hidden = false;
  tabs();
  // A colour per session, spread around the wheel so that people rarely share one.
  let hash = 0;
  for (const c of session.sessionId ?? name) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  const colour = `hsl(${Math.round((hash * 137.508) % 360)} 65% 45%)`;
  const people = await startPeople(session, docId, name, colour);
  startEditor(model, people);
  startHistory(session, model, docId);
  startTasks(model);
  await startChat(session, docId);
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  console.error(error);
  const status = document.getElementById('status');
  status.dataset.state = 'error';
  status.textContent = `error: ${error.message}`;
});
