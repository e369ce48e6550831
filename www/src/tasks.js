// The task list: an array of `{ title, done }` in the model, rendered and editable, with a live
// JSON view. Every action is one model operation, so concurrent ones merge.
export function startTasks(model) {
  const tasks = model.elementAt('tasks');
  const list = document.getElementById('tasks');
  const json = document.getElementById('tasks-json');
  const render = () => {
    json.textContent = JSON.stringify(tasks.value(), null, 2);
    const items = tasks.elements();
    // Keep the input being edited (re-rendering would take its focus away).
    const editing = document.activeElement?.closest?.('#tasks li')?.dataset.id;
    list.replaceChildren(
      ...items.map((task, index) => {
        const item = document.createElement('li');
        item.dataset.id = task.id;
        const check = document.createElement('input');
        check.type = 'checkbox';
        check.checked = task.get('done').value();
        check.addEventListener('change', () => task.get('done').setValue(check.checked));
        const title = document.createElement('input');
        title.className = 'title';
        title.value = task.get('title').value();
        title.addEventListener('change', () => task.get('title').setValue(title.value));
        const up = button('↑', 'Move up', index === 0, () => tasks.move(index, index - 1));
        const down = button('↓', 'Move down', index === items.length - 1, () => tasks.move(index, index + 1));
        const remove = button('×', 'Remove', false, () => tasks.remove(index));
        item.append(check, title, up, down, remove);
        if (task.id === editing) queueMicrotask(() => title.focus());
        return item;
      }),
    );
  };
  render();
  tasks.on('change', render);
  document.getElementById('task-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = document.getElementById('task-title');
    const title = input.value.trim();
    if (!title) return;
    input.value = '';
    tasks.push({ title, done: false });
  });
}

function button(text, label, disabled, action) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.title = label;
  b.setAttribute('aria-label', label);
  b.disabled = disabled;
  b.addEventListener('click', action);
  return b;
}
