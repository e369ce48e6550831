// The document's chat: a channel everyone may join, with its stored history.
export async function startChat(session, docId) {
  const chatId = `doc-${docId}`;
  let chat;
  try {
    chat = await session.chat.join(chatId);
  } catch (error) {
    if (error.code !== 'chat_not_found') throw error;
    try {
      chat = await session.chat.create({ kind: 'channel', id: chatId, name: docId });
    } catch (again) {
      if (again.code !== 'chat_exists') throw again;
      chat = await session.chat.join(chatId);
    }
  }
  const names = new Map();
  const nameOf = async (userId) => {
    if (!names.has(userId)) {
      const [user] = await session.getUsers([userId]);
      names.set(userId, user?.displayName ?? 'someone');
    }
    return names.get(userId);
  };
  const list = document.getElementById('messages');
  const show = async (event) => {
    if (event.type !== 'message') return;
    const item = document.createElement('li');
    const who = document.createElement('strong');
    who.textContent = await nameOf(event.userId);
    const text = document.createElement('span');
    text.textContent = event.text;
    item.append(who, text);
    list.append(item);
    list.scrollTop = list.scrollHeight;
  };
  for (const event of (await chat.history({ limit: 50, types: ['message'] })).reverse()) await show(event);
  chat.on('message', (event) => void show(event));
  // Messages not sent yet (offline): shown as such, sent in order once the relay is back.
  const outbox = [];
  let sending = false;
  const sendQueued = async () => {
    if (sending) return;
    sending = true;
    try {
      while (outbox.length > 0 && session.state === 'connected') {
        const { text, item } = outbox[0];
        try {
          await chat.send(text);
        } catch (error) {
          if (error.code === 'disconnected' || error.code === 'timeout') break;
          item.title = error.message;
          item.dataset.failed = 'true';
        }
        outbox.shift();
        item.remove(); // the relay's echo shows it for real
      }
    } finally {
      sending = false;
    }
  };
  session.on('state', (e) => e.state === 'connected' && void sendQueued());
  document.getElementById('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = document.getElementById('chat-text');
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    const item = document.createElement('li');
    item.className = 'unsent';
    const who = document.createElement('strong');
    who.textContent = 'you';
    const body = document.createElement('span');
    body.textContent = text;
    const note = document.createElement('em');
    note.textContent = ' (not sent yet)';
    item.append(who, body, note);
    list.append(item);
    list.scrollTop = list.scrollHeight;
    outbox.push({ text, item });
    void sendQueued();
  });
  return chat;
}
