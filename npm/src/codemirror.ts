/**
 * CodeMirror 6 binding: a collaborative editor on a `RealTimeString` in a few lines.
 *
 * ```ts
 * import { EditorView } from '@codemirror/view';
 * import { collaborativeState } from 'tandem-client/codemirror';
 * const text = model.elementAt('text') as RealTimeString;
 * new EditorView({ state: collaborativeState(text), parent: document.body });
 * ```
 *
 * Local edits become operations; remote ones (and this session's undo and redo) become editor
 * changes, which map the local selection as CodeMirror maps it for any change. The selection
 * is shared as a range reference and every other session's is drawn: a caret in its user's
 * colour with their name, and a highlight for a selection. Undo and redo (Mod-z, Mod-y,
 * Mod-Shift-z) are the SDK's: they undo only this session's edits.
 */
import { Annotation, EditorState, Prec, StateEffect, type Extension, type Range } from '@codemirror/state';
import { Decoration, EditorView, keymap, ViewPlugin, WidgetType, type DecorationSet, type ViewUpdate } from '@codemirror/view';

import type { ElementChange, RealTimeString } from './elements.js';
import type { LocalRangeReference } from './references.js';

/** Options of the binding. */
export interface CollaborativeOptions {
  /** The key the selection is shared under (default `'selection'`). */
  referenceKey?: string;
  /** A colour for a session (default: one of a palette, picked from its id). */
  colorOf?: (sessionId: string, userId: string | undefined) => string;
}

/** Marks the transactions that carry changes from the model, so they are not sent back. */
const fromModel = Annotation.define<boolean>();
/** Asks the plugin to redraw the other sessions' carets and selections. */
const redraw = StateEffect.define<null>();

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324', '#469990', '#800000'];

/** A colour for a session, stable for its id. */
function paletteColor(sessionId: string): string {
  let hash = 0;
  for (let i = 0; i < sessionId.length; i++) hash = (hash * 31 + sessionId.charCodeAt(i)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

/** Another session's caret, with its user's name. */
class CaretWidget extends WidgetType {
  constructor(
    readonly name: string,
    readonly color: string,
  ) {
    super();
  }

  override eq(other: CaretWidget): boolean {
    return other.name === this.name && other.color === this.color;
  }

  toDOM(): HTMLElement {
    const caret = document.createElement('span');
    caret.className = 'tandem-caret';
    caret.style.borderLeftColor = this.color;
    const label = document.createElement('span');
    label.className = 'tandem-caret-label';
    label.style.backgroundColor = this.color;
    label.textContent = this.name;
    caret.appendChild(label);
    return caret;
  }

  override ignoreEvent(): boolean {
    return true;
  }
}

const theme = EditorView.baseTheme({
  // Room above the first line for the name labels (the scroller would clip them).
  '.cm-content': { paddingTop: '1.1em' },
  '.tandem-caret': { position: 'relative', borderLeft: '2px solid', marginLeft: '-1px', marginRight: '-1px' },
  '.tandem-caret-label': {
    position: 'absolute',
    top: '-1.05em',
    left: '-2px',
    fontSize: '0.7em',
    lineHeight: '1.3',
    padding: '0 3px',
    borderRadius: '3px 3px 3px 0',
    color: 'white',
    whiteSpace: 'nowrap',
    pointerEvents: 'none',
    fontFamily: 'system-ui, sans-serif',
  },
});

/** The extension binding an editor to `text` (whose document must start as `text.value()`;
 * {@link collaborativeState} makes such a state). */
export function collaborative(text: RealTimeString, options: CollaborativeOptions = {}): Extension {
  const key = options.referenceKey ?? 'selection';
  const colorOf = options.colorOf ?? ((sessionId: string) => paletteColor(sessionId));
  const model = text.model;

  const plugin = ViewPlugin.fromClass(
    class {
      decorations: DecorationSet = Decoration.none;
      readonly #view: EditorView;
      readonly #selection: LocalRangeReference;
      readonly #off: (() => void)[] = [];
      /** Set while this plugin writes the editor's changes into the model. */
      #writing = false;

      constructor(view: EditorView) {
        this.#view = view;
        this.#selection = text.rangeReference(key);
        this.#selection.share();
        this.#shareSelection(view.state);
        this.#off.push(text.on('change', (change) => this.#fromModel(change)));
        this.#off.push(text.on('reference', () => this.#requestRedraw()));
        this.#off.push(model.on('collaboratorClosed', () => this.#requestRedraw()));
        this.#off.push(model.on('collaboratorOpened', () => this.#requestRedraw()));
        this.decorations = this.#build(view.state);
      }

      update(update: ViewUpdate): void {
        const remote = update.transactions.some((tr) => tr.annotation(fromModel));
        if (update.docChanged && !remote) this.#toModel(update);
        if (update.docChanged || update.selectionSet) this.#shareSelection(update.state);
        if (update.docChanged || update.transactions.some((tr) => tr.effects.some((e) => e.is(redraw)))) {
          this.decorations = this.#build(update.state);
        }
      }

      destroy(): void {
        this.#off.forEach((off) => off());
        if (!model.isClosed) this.#selection.dispose();
      }

      /** Writes the editor's changes into the model, last first so that positions hold. */
      #toModel(update: ViewUpdate): void {
        const changes: [number, number, string][] = [];
        update.changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => changes.push([fromA, toA, inserted.toString()]));
        const apply = () => {
          for (const [from, to, insert] of changes.reverse()) {
            if (to > from) text.remove(from, to - from);
            if (insert.length > 0) text.insert(from, insert);
          }
        };
        this.#writing = true;
        try {
          // Several changes at once (multiple cursors) are one atomic operation and one undo step.
          if (changes.length > 1) model.batch(apply);
          else apply();
        } finally {
          this.#writing = false;
        }
      }

      /** Applies a change the editor did not make: another session's, or this session's undo. */
      #fromModel(change: ElementChange): void {
        if (this.#writing) return;
        const doc = this.#view.state.doc;
        const index = change.index ?? 0;
        let spec: { from: number; to?: number; insert?: string };
        switch (change.type) {
          case 'insert':
            spec = { from: index, insert: String(change.value ?? '') };
            break;
          case 'remove':
            spec = { from: index, to: index + (change.length ?? 0) };
            break;
          case 'splice':
            spec = { from: index, to: index + (change.length ?? 0), insert: String(change.value ?? '') };
            break;
          case 'value':
            spec = { from: 0, to: doc.length, insert: String(change.value ?? '') };
            break;
          default:
            return;
        }
        this.#view.dispatch({ changes: spec, annotations: [fromModel.of(true)] });
      }

      #shareSelection(state: EditorState): void {
        if (model.isClosed) return;
        const { anchor, head } = state.selection.main;
        this.#selection.set([[anchor, head]]);
      }

      #requestRedraw(): void {
        // Not from inside an update: reference events come from the network.
        queueMicrotask(() => {
          if (!model.isClosed) this.#view.dispatch({ effects: redraw.of(null) });
        });
      }

      /** The other sessions' carets and selections, where the model has them now. */
      #build(state: EditorState): DecorationSet {
        if (model.isClosed) return Decoration.none;
        const names = new Map(model.collaborators.map((c) => [c.sessionId, c.user.displayName ?? c.user.username]));
        const ranges: Range<Decoration>[] = [];
        const length = state.doc.length;
        for (const reference of model.remoteReferences({ element: text, key })) {
          const [range] = reference.values as [number, number][];
          if (!range) continue;
          const [anchor, head] = range.map((n) => Math.max(0, Math.min(length, n)));
          const color = colorOf(reference.sessionId, reference.userId);
          const name = names.get(reference.sessionId) ?? 'someone';
          if (anchor !== head) {
            ranges.push(
              Decoration.mark({
                attributes: { style: `background-color: color-mix(in srgb, ${color} 28%, transparent)` },
                class: 'tandem-selection',
              }).range(
                Math.min(anchor, head),
                Math.max(anchor, head),
              ),
            );
          }
          ranges.push(Decoration.widget({ widget: new CaretWidget(name, color), side: 1 }).range(head));
        }
        return Decoration.set(ranges, true);
      }
    },
    { decorations: (v) => v.decorations },
  );

  const history = Prec.high(
    keymap.of([
      { key: 'Mod-z', run: () => (model.undo(), true), preventDefault: true },
      { key: 'Mod-y', run: () => (model.redo(), true), preventDefault: true },
      { key: 'Mod-Shift-z', run: () => (model.redo(), true), preventDefault: true },
    ]),
  );
  return [plugin, history, theme];
}

/** An editor state holding `text`'s current value, bound to it. */
export function collaborativeState(text: RealTimeString, extensions: Extension = [], options: CollaborativeOptions = {}): EditorState {
  return EditorState.create({ doc: text.value(), extensions: [collaborative(text, options), extensions] });
}
