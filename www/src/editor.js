// The document tab's editor: CodeMirror bound to the model's `text`.
import { defaultKeymap } from '@codemirror/commands';
import { EditorView, keymap } from '@codemirror/view';
import { collaborativeState } from 'tandem-client/codemirror';

export function startEditor(model, people) {
  const text = model.elementAt('text');
  const view = new EditorView({
    state: collaborativeState(text, [
      keymap.of(defaultKeymap),
      EditorView.lineWrapping,
      EditorView.updateListener.of((update) => {
        if (update.docChanged && update.transactions.some((tr) => tr.isUserEvent('input') || tr.isUserEvent('delete'))) people.typing();
      }),
    ], { colorOf: (sessionId) => people.colourOf(sessionId) }),
    parent: document.getElementById('editor'),
  });
  window.tandemView = view;
  return view;
}
