/**
 * The write buffer for string edits: edits of one string are composed here, in JavaScript, and
 * reach the engine as one splice per run when anything else needs the engine (a read, another
 * edit, the next frame). A call into WebAssembly costs far more than composing in JS, and typing
 * is mostly runs, so this is what makes `insert` and `remove` cheap.
 *
 * It composes exactly as the core does for unsent edits (`core/src/compose.rs`): edits whose
 * ranges touch fold into one splice of at most {@link MAX_RUN} inserted code units. It only takes
 * edits it can check itself, so an invalid one still fails at once, from the engine: the
 * buffer knows the string's exact length, and only works on strings of characters from the Basic
 * Multilingual Plane (no surrogate pairs to split); anything else goes to the engine directly.
 * Runs that do not touch are kept in order and handed over together, in one call.
 */

/** The most UTF-16 code units a run inserts (the core's `MAX_COMPOSED_UNITS`). */
export const MAX_RUN = 256;

/** Whether `text` holds any half of a surrogate pair. */
export function hasSurrogates(text: string): boolean {
  if (text.length > 16) return /[\uD800-\uDFFF]/.test(text);
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdfff) return true;
  }
  return false;
}

/** A whole number, 0 or more. */
function isIndex(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 0;
}

/** Buffered edits of one string, and what is known about the string. */
export class TextBuffer<E> {
  /** The element the edits are on. */
  readonly element: E;
  /** The string's length with the buffered edits applied. */
  length: number;
  /** Where the current run's splice starts (-1 while there is no run). */
  index = -1;
  /** How many code units of the string the current run removes at `index`. */
  remove = 0;
  /** The text the current run inserts there. */
  text = '';
  /** The runs before the current one, in order: `index, remove, inserted length` each. */
  closed: number[] = [];
  /** Their inserted texts, in order (joined when taken: a flat string crosses into
   * WebAssembly far faster than one built by thousands of concatenations). */
  closedTexts: string[] = [];

  /** A buffer for `element`, a string of `length` code units without surrogate pairs. */
  constructor(element: E, length: number) {
    this.element = element;
    this.length = length;
  }

  /** Adds an insert of `text` at `index`; returns whether it could be taken here (otherwise
   * nothing changed). */
  insert(index: number, text: string): boolean {
    // A paste longer than a run goes to the engine directly, which checks it against the
    // relay's message limit before it applies.
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_RUN || !isIndex(index) || index > this.length || hasSurrogates(text)) {
      return false;
    }
    const at = index - this.index;
    if (this.index >= 0 && at >= 0 && at <= this.text.length && this.text.length + text.length <= MAX_RUN) {
      this.text = at === this.text.length ? this.text + text : this.text.slice(0, at) + text + this.text.slice(at);
    } else {
      this.#restart(index, 0, text);
    }
    this.length += text.length;
    return true;
  }

  /** Adds a removal of `length` code units at `index`, as {@link TextBuffer.insert}. */
  removeAt(index: number, length: number): boolean {
    if (!isIndex(index) || !isIndex(length) || length === 0 || index + length > this.length) return false;
    const end = index + length;
    const runEnd = this.index + this.text.length;
    if (this.index >= 0 && end >= this.index && index <= runEnd) {
      // The part of the run's text the removal takes, and how far it reaches past it.
      const cutStart = Math.max(index, this.index) - this.index;
      const cutEnd = Math.max(Math.min(end, runEnd), this.index) - this.index;
      this.text = this.text.slice(0, cutStart) + this.text.slice(cutEnd);
      this.remove += Math.max(this.index - index, 0) + Math.max(end - runEnd, 0);
      this.index = Math.min(this.index, index);
    } else {
      this.#restart(index, length, '');
    }
    this.length -= length;
    return true;
  }

  /**
   * Takes every buffered run, in order, as `index, remove, inserted length` triples and their
   * texts; the buffer keeps only what it knows of the string.
   */
  take(): { spans: number[]; texts: string } {
    this.#close();
    const taken = { spans: this.closed, texts: this.closedTexts.join('') };
    this.closed = [];
    this.closedTexts = [];
    return taken;
  }

  /** Ends the current run; one that changes nothing is dropped. */
  #close(): void {
    if (this.index >= 0 && (this.remove > 0 || this.text.length > 0)) {
      this.closed.push(this.index, this.remove, this.text.length);
      if (this.text.length > 0) this.closedTexts.push(this.text);
    }
    this.index = -1;
    this.remove = 0;
    this.text = '';
  }

  #restart(index: number, remove: number, text: string): void {
    this.#close();
    this.index = index;
    this.remove = remove;
    this.text = text;
  }
}
