// The history slider: replays the document from its first version to now, showing who made
// each change and when.
export function startHistory(session, model, docId) {
  const slider = document.getElementById('history-slider');
  const label = document.getElementById('history-label');
  const view = document.getElementById('history-view');
  const editor = document.getElementById('editor');
  const names = new Map();
  const nameOf = async (userId) => {
    if (!names.has(userId)) {
      const [user] = await session.getUsers([userId]);
      names.set(userId, user?.displayName ?? 'someone');
    }
    return names.get(userId);
  };
  let history;
  const atEnd = () => Number(slider.value) >= Number(slider.max);
  const follow = () => {
    const wasAtEnd = atEnd();
    slider.max = String(model.version);
    if (wasAtEnd) slider.value = slider.max;
  };
  follow();
  model.on('change', follow);
  model.on('settled', follow);
  let showing = 0;
  slider.addEventListener('input', async () => {
    const version = Number(slider.value);
    const request = ++showing;
    if (atEnd()) {
      view.hidden = true;
      editor.hidden = false;
      label.textContent = 'now';
      return;
    }
    history ??= await session.history('demo', docId);
    await history.playTo(version);
    const [op] = version > 0 ? await history.operations(version - 1, version) : [];
    if (request !== showing) return;
    view.textContent = history.data.text ?? '';
    view.hidden = false;
    editor.hidden = true;
    label.textContent = op
      ? `version ${version}: ${await nameOf(op.userId)}, ${new Date(op.timestamp).toLocaleTimeString()}`
      : `version ${version}: created`;
  });
}
