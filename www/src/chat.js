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
  document.getElementById('chat-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = document.getElementById('chat-text');
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    try {
      await chat.send(text);
    } catch (error) {
      // Offline or refused: give the text back to send again.
      input.value = text;
      input.title = error.message;
    }
  });
  return chat;
}
