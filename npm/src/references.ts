/**
 * References: cursors, selections and pointers at elements or properties. Local ones are owned
 * by this session and shown to others once shared; remote ones are other sessions' shared
 * references, always read as they apply to the local data (moved through concurrent edits).
 */
import type { RealTimeElement } from './elements.js';
import type { RealTimeModel } from './model.js';

/** What a reference points at. */
export type ReferenceType = 'index' | 'range' | 'element' | 'property';

/** A selection: `[anchor, focus]` in UTF-16 code units (`anchor > focus` is backwards). */
export type Range = [anchor: number, focus: number];

/** What happened to another session's reference. */
export interface RemoteReferenceEvent {
  /** Shared, moved, cleared (still shared, pointing at nothing) or unshared. */
  type: 'shared' | 'set' | 'cleared' | 'unshared';
  /** The reference (read its current value from it). */
  reference: RemoteReference;
}

interface RawReference {
  sessionId: string;
  userId: string | null;
  element: number | null;
  key: string;
  value: { type: ReferenceType; values: unknown[] };
}

/** Another session's shared reference. */
export class RemoteReference {
  /** @internal */
  constructor(
    /** The model it is on. */
    readonly model: RealTimeModel,
    /** The owning session. */
    readonly sessionId: string,
    /** The owning user, if known. */
    readonly userId: string | undefined,
    /** The element it lives on (`undefined` for references on the model). */
    readonly element: RealTimeElement | undefined,
    /** The owner's name for it, such as `"cursor"`. */
    readonly key: string,
  ) {}

  #raw(): RawReference | undefined {
    return this.model._remoteReferences().find(
      (r) => r.sessionId === this.sessionId && r.key === this.key && (r.element ?? undefined) === this.element?._handle,
    );
  }

  /** What it points at now, or `undefined` when it points at nothing. */
  get type(): ReferenceType | undefined {
    return this.#raw()?.value.type;
  }

  /** Every value (cursor positions, ranges, elements or property names). */
  get values(): unknown[] {
    const raw = this.#raw();
    if (!raw) return [];
    if (raw.value.type === 'element') return raw.value.values.map((h) => this.model._element(h as number));
    return raw.value.values;
  }

  /** The first value, or `undefined`. */
  get value(): unknown {
    return this.values[0];
  }
}

/** @internal Builds remote references from the engine's list. */
export function remoteReferencesOf(model: RealTimeModel): RemoteReference[] {
  return model
    ._remoteReferences()
    .map(
      (r) =>
        new RemoteReference(
          model,
          r.sessionId,
          r.userId ?? undefined,
          r.element === null ? undefined : model._element(r.element),
          r.key,
        ),
    );
}

/** @internal */
export type { RawReference };

/** A reference owned by this session. */
export abstract class LocalReference<T> {
  #shared = false;
  #disposed = false;

  /** @internal */
  constructor(
    /** The model it is on. */
    readonly model: RealTimeModel,
    /** The element it lives on (`undefined` for references on the model). */
    readonly element: RealTimeElement | undefined,
    /** Its name, such as `"cursor"`; one reference per name and element. */
    readonly key: string,
  ) {}

  /** The kind of values it holds. */
  abstract readonly type: ReferenceType;

  protected abstract encode(values: T[]): unknown[];
  protected abstract decode(values: unknown[]): T[];

  #check(): void {
    if (this.#disposed) throw new Error('the reference was disposed');
  }

  /** Points it at one value or several. */
  set(value: T | T[]): void {
    this.#check();
    const values = Array.isArray(value) && (this.type !== 'range' || Array.isArray(value[0])) ? (value as T[]) : [value as T];
    const json = JSON.stringify({ type: this.type, values: this.encode(values) });
    this.model._call((e, m) => e.changeReference(m, this.element?._handle, this.key, 'set', json));
    this.model._touched();
  }

  /** Points it at nothing (it stays shared). */
  clear(): void {
    this.#check();
    this.model._call((e, m) => e.changeReference(m, this.element?._handle, this.key, 'clear'));
    this.model._touched();
  }

  /** Shows it to the model's other sessions. */
  share(): void {
    this.#check();
    this.#shared = true;
    this.model._call((e, m) => e.changeReference(m, this.element?._handle, this.key, 'share'));
    this.model._touched();
  }

  /** Stops showing it. */
  unshare(): void {
    this.#check();
    this.#shared = false;
    this.model._call((e, m) => e.changeReference(m, this.element?._handle, this.key, 'unshare'));
    this.model._touched();
  }

  /** Forgets it (unsharing it). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#shared = false;
    this.model._call((e, m) => e.changeReference(m, this.element?._handle, this.key, 'dispose'));
    this.model._touched();
  }

  /** Whether it is shown to others. */
  get isShared(): boolean {
    return this.#shared;
  }

  /** Every current value (moved through every edit since it was set). */
  get values(): T[] {
    const json = this.model._call((e, m) => e.localReference(m, this.element?._handle, this.key));
    return json === undefined ? [] : this.decode(JSON.parse(json).values);
  }

  /** The first value, or `undefined`. */
  get value(): T | undefined {
    return this.values[0];
  }
}

/** Cursor positions in a string. */
export class LocalIndexReference extends LocalReference<number> {
  readonly type = 'index' as const;
  protected encode(values: number[]): unknown[] {
    return values;
  }
  protected decode(values: unknown[]): number[] {
    return values as number[];
  }
}

/** Selections in a string. */
export class LocalRangeReference extends LocalReference<Range> {
  readonly type = 'range' as const;
  protected encode(values: Range[]): unknown[] {
    return values;
  }
  protected decode(values: unknown[]): Range[] {
    return values as Range[];
  }
}

/** Elements of the model. */
export class LocalElementReference extends LocalReference<RealTimeElement> {
  readonly type = 'element' as const;
  protected encode(values: RealTimeElement[]): unknown[] {
    return values.map((e) => e._handle);
  }
  protected decode(values: unknown[]): RealTimeElement[] {
    return values.map((h) => this.model._element(h as number));
  }
}

/** Property names of an object. */
export class LocalPropertyReference extends LocalReference<string> {
  readonly type = 'property' as const;
  protected encode(values: string[]): unknown[] {
    return values;
  }
  protected decode(values: unknown[]): string[] {
    return values as string[];
  }
}
