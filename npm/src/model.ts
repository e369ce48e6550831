/**
 * A real-time model: one shared JSON document, opened by this session. Edits apply locally at
 * once and reach the relay with the next frame; others' edits arrive as change events.
 */
import { Emitter } from './emitter.js';
import { TandemError } from './errors.js';
import {
  elementClass,
  RealTimeObject,
  type ChangeType,
  type ElementChange,
  type PathSegment,
  type RealTimeElement,
} from './elements.js';
import {
  LocalElementReference,
  remoteReferencesOf,
  RemoteReference,
  type RawReference,
  type RemoteReferenceEvent,
} from './references.js';
import type { Session, UserInfo } from './session.js';
import { decodeValue, reviveDates, type JsonValue } from './values.js';
import { TextBuffer } from './typing.js';
import type { Engine } from './wasm.js';

/** Encodes the write buffer's texts for the engine. */
const utf8 = new TextEncoder();

/** @internal The facts the engine's `modelFact` reports, by code (as in client-wasm/src/models.rs). */
export const FACT = { version: 0, settled: 1, canUndo: 2, canRedo: 3, relayHandle: 4, pending: 5 } as const;

/**
 * Where a model stands with the relay: `synced` (every local edit acknowledged, online),
 * `pending` (online, edits on their way: see `pendingCount`), `offline` (edits are kept and
 * cached, and go out on reconnect) or `error` (it was lost: see the `closed` event's error).
 */
export type SyncState = 'synced' | 'pending' | 'offline' | 'error';

/** Another session with the model open. */
export interface Collaborator {
  /** Its session id. */
  sessionId: string;
  /** Its user. */
  user: UserInfo;
}

/** The events a model emits. */
export interface ModelEvents {
  /** Any change anywhere in the model, local or remote. */
  change: ElementChange;
  /** Another session opened the model. */
  collaboratorOpened: Collaborator;
  /** Another session closed the model (its references are gone). */
  collaboratorClosed: { sessionId: string };
  /** Another session's reference was shared, moved, cleared or unshared. */
  reference: RemoteReferenceEvent;
  /** The model is in sync with the relay again after being offline. */
  online: Record<string, never>;
  /** The connection dropped; edits go on locally and are sent on reconnect. */
  offline: Record<string, never>;
  /** Every local edit so far has been acknowledged by the relay. */
  settled: Record<string, never>;
  /** `syncState` or `pendingCount` changed. */
  sync: { state: SyncState; pending: number };
  /** The model was closed: by `close()`, because it was deleted, or because it was lost. */
  closed: { reason: 'closed' | 'deleted' | 'lost'; error?: TandemError };
  /** The relay no longer had the history since the cached copy: the cache was replaced. */
  reset: { droppedEdits: number };
}

/** One change as the engine reports it. */
interface RawChange {
  kind: string;
  path: number[];
  index?: number;
  length?: number;
  value?: JsonValue;
  key?: string;
  from?: number;
  to?: number;
  delta?: number;
  userId?: string;
  sessionId?: string;
  timestamp?: number;
  version?: number;
}

const CHANGE_TYPES: Record<string, ChangeType> = {
  string_insert: 'insert',
  string_remove: 'remove',
  string_splice: 'splice',
  string_set: 'value',
  array_insert: 'insert',
  array_remove: 'remove',
  array_replace: 'set',
  array_move: 'move',
  array_set: 'value',
  object_set: 'set',
  object_remove: 'remove',
  object_set_all: 'value',
  number_add: 'delta',
  number_set: 'value',
  boolean_set: 'value',
  date_set: 'value',
};

/** A shared JSON document opened by this session. */
export class RealTimeModel extends Emitter<ModelEvents> {
  /** The session it was opened by. */
  readonly session: Session;
  /** Its collection. */
  readonly collection: string;
  /** Its id in the collection. */
  readonly id: string;
  /** @internal */
  readonly _engine: Engine;
  /** @internal The engine's id for it. */
  readonly _local: number;

  #elements = new Map<number, RealTimeElement>();
  /** Listeners on the model and its elements: change events are only built when some exist. */
  #watchers = 0;
  #closed = false;
  #online: boolean;
  #settledWaiters: (() => void)[] = [];
  /** Why it was lost, when it was (`syncState` is then `error`). */
  #lostError: TandemError | undefined;
  /** What the last `sync` event said. */
  #lastSync: { state: SyncState; pending: number } = { state: 'synced', pending: 0 };
  /**
   * String edits not yet handed to the engine, composed into runs (see `typing.ts`); handed over
   * before anything else reaches the engine.
   */
  #typing: TextBuffer<RealTimeElement> | undefined;
  /** Whether it was settled when last checked (`settled` fires on the change). */
  #wasSettled = true;

  /** @internal */
  constructor(session: Session, engine: Engine, local: number, online: boolean) {
    super();
    this.session = session;
    this._engine = engine;
    this._local = local;
    this.#online = online;
    [this.collection, this.id] = JSON.parse(engine.identity(local));
  }

  /** The root object. */
  get root(): RealTimeObject {
    return this._element(this._call((e, m) => e.root(m))) as RealTimeObject;
  }

  /** The element at a path of property names and array indices (`elementAt('tasks', 0, 'title')`). */
  elementAt(...path: PathSegment[] | [PathSegment[]]): RealTimeElement {
    const segments = path.length === 1 && Array.isArray(path[0]) ? path[0] : (path as PathSegment[]);
    return this._element(this._call((e, m) => e.elementAt(m, JSON.stringify(segments))));
  }

  /** The last relay version applied here. */
  get version(): number {
    return this._call((e, m) => e.modelFact(m, FACT.version));
  }

  /** The other sessions that have it open. */
  get collaborators(): Collaborator[] {
    return JSON.parse(this._call((e, m) => e.collaborators(m)));
  }

  /** Whether it is in sync with the relay (connected and caught up). */
  get isOnline(): boolean {
    return this.#online && !this.#closed;
  }

  /** Whether every local edit has been acknowledged. */
  get isSettled(): boolean {
    return this.#closed || this._call((e, m) => e.modelFact(m, FACT.settled) === 1);
  }

  /** Whether it was closed. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** How many local edits the relay has not acknowledged yet (a batch or a typed run counts once). */
  get pendingCount(): number {
    return this.#closed ? 0 : this._call((e, m) => e.modelFact(m, FACT.pending));
  }

  /** Where the model stands with the relay (see `SyncState`); `sync` events tell each change. */
  get syncState(): SyncState {
    if (this.#closed) return this.#lostError ? 'error' : 'synced';
    if (!this.#online) return 'offline';
    return this.pendingCount === 0 ? 'synced' : 'pending';
  }

  /** Emits `sync` if the state or the count moved since the last time. */
  #checkSync(): void {
    if (!this.hasListeners('sync')) return;
    const state = this.syncState;
    const pending = this.pendingCount;
    if (state === this.#lastSync.state && pending === this.#lastSync.pending) return;
    this.#lastSync = { state, pending };
    this.emit('sync', { state, pending });
  }

  /** Resolves once every local edit made so far has been acknowledged by the relay. */
  settled(): Promise<void> {
    if (this.isSettled) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  /** The whole data as plain JavaScript. */
  toJSON(): { [key: string]: JsonValue } {
    return decodeValue(this._call((e, m) => e.toJson(m))) as { [key: string]: JsonValue };
  }

  /** Bytes the data takes in the engine's memory (an estimate). */
  get memoryUsage(): number {
    return this._call((e, m) => e.memSize(m));
  }

  /**
   * Runs `edits` as one atomic operation: the relay and everyone else get all of it or none,
   * and it undoes in one step. If `edits` throws, everything it did is taken back.
   */
  batch<T>(edits: () => T): T {
    this._writable();
    this._call((e, m) => e.batch(m, true));
    let result: T;
    try {
      result = edits();
    } catch (error) {
      this.#localEvents(this._call((e, m) => e.abortBatch(m)));
      throw error;
    }
    try {
      this._call((e, m) => e.batch(m, false));
    } catch (error) {
      // Larger than the relay takes (`too_large`): taken back whole, nothing is sent.
      this.#localEvents(this._call((e, m) => e.abortBatch(m)));
      throw error;
    }
    this._touched();
    return result;
  }

  /** Undoes this session's latest change (never anyone else's); returns whether there was one. */
  undo(): boolean {
    this._writable();
    return this.#localEvents(this._call((e, m) => e.undo(m)));
  }

  /** Redoes the latest undone change; returns whether there was one. */
  redo(): boolean {
    this._writable();
    return this.#localEvents(this._call((e, m) => e.redo(m)));
  }

  /** Whether `undo()` has something to undo. */
  get canUndo(): boolean {
    return this._call((e, m) => e.modelFact(m, FACT.canUndo) === 1);
  }

  /** Whether `redo()` has something to redo. */
  get canRedo(): boolean {
    return this._call((e, m) => e.modelFact(m, FACT.canRedo) === 1);
  }

  /** Starts a new undo step with the next edit (typing within a second otherwise joins the last). */
  undoBoundary(): void {
    this._call((e, m) => e.undoBoundary(m));
  }

  /** A reference to elements of this model, owned by this session. */
  elementReference(key: string): LocalElementReference {
    return new LocalElementReference(this, undefined, key);
  }

  /** Every reference other sessions share on this model, with current values. */
  remoteReferences(filter?: { key?: string; sessionId?: string; element?: RealTimeElement }): RemoteReference[] {
    return remoteReferencesOf(this).filter(
      (r) =>
        (filter?.key === undefined || r.key === filter.key) &&
        (filter?.sessionId === undefined || r.sessionId === filter.sessionId) &&
        (filter?.element === undefined || r.element === filter.element),
    );
  }

  /** Closes the model for this session; unsent edits stay cached and go out on the next open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.session._closeModel(this);
  }

  // --- internal ------------------------------------------------------------------------------

  /** @internal Takes an insert into the write buffer if it can; returns whether it did. */
  _bufferInsert(element: RealTimeElement, index: number, text: string): boolean {
    return this.#buffer(element)?.insert(index, text) ?? false;
  }

  /** @internal Takes a removal into the write buffer if it can; returns whether it did. */
  _bufferRemove(element: RealTimeElement, index: number, length: number): boolean {
    return this.#buffer(element)?.removeAt(index, length) ?? false;
  }

  /** @internal The length of `element` if the write buffer knows it. */
  _bufferedLength(element: RealTimeElement): number | undefined {
    const typing = this.#typing;
    return typing !== undefined && typing.element === element && !this.#closed ? typing.length : undefined;
  }

  /** @internal Hands the buffered edits to the engine (before anything else reaches it). */
  _flushTyping(): void {
    const typing = this.#typing;
    if (typing === undefined) return;
    this.#typing = undefined;
    const { spans, texts } = typing.take();
    if (spans.length === 0) return;
    try {
      this._engine.stringEdits(this._local, typing.element._handle, new Float64Array(spans), utf8.encode(texts), Date.now());
    } catch (error) {
      // The buffer only takes edits it checked, so this does not happen; if it did, the runs
      // from the failing one on are lost and the error says why.
      throw this._fail(error);
    }
  }

  /** The write buffer for `element`, started if need be (none for strings it cannot check). */
  #buffer(element: RealTimeElement): TextBuffer<RealTimeElement> | undefined {
    const typing = this.#typing;
    if (typing !== undefined) {
      if (typing.element === element) return typing;
      this._flushTyping();
    }
    let length: number;
    try {
      length = this._engine.plainTextLength(this._local, element._handle);
    } catch {
      return undefined; // the engine reports the error when the edit reaches it
    }
    if (length < 0) return undefined;
    this.#typing = new TextBuffer(element, length);
    return this.#typing;
  }

  /** @internal Calls the engine, turning its errors into `TandemError`s. */
  _call<T>(fn: (engine: Engine, local: number) => T): T {
    if (this.#closed) throw new TandemError('closed', `model ${this.collection}/${this.id} is closed`);
    if (this.#typing !== undefined) this._flushTyping();
    try {
      return fn(this._engine, this._local);
    } catch (error) {
      throw this._fail(error);
    }
  }

  /** @internal */
  _fail(error: unknown): TandemError {
    return this.session._engineFailure(error);
  }

  /** @internal Throws if edits are not allowed. */
  _writable(): void {
    if (this.#closed) throw new TandemError('closed', `model ${this.collection}/${this.id} is closed`);
  }

  /** @internal The engine's type name for an element handle. */
  _engineKind(handle: number): string {
    return this._call((e, m) => e.kind(m, handle));
  }

  /** @internal The wrapper for an element handle (one per element, so listeners stay put). */
  _element(handle: number): RealTimeElement {
    let element = this.#elements.get(handle);
    if (!element) {
      const Class = elementClass(this._engineKind(handle));
      element = new Class(this, handle);
      this.#elements.set(handle, element);
    }
    return element;
  }

  /** @internal */
  _listenersChanged(delta: number): void {
    this.#watchers += delta;
  }

  protected override listenersChanged(delta: number): void {
    this.#watchers += delta;
  }

  /** @internal Something local changed: send it with the next frame and cache it. */
  _touched(): void {
    this.#wasSettled = false;
    this.session._touched(this);
    this.#checkSync();
  }

  /** @internal A string edit was made (the hot path: no allocation unless someone listens). */
  _edited(element: RealTimeElement, type: ChangeType, index: number, length: number | undefined, value: string | undefined): void {
    this.session._touched(this);
    this.#wasSettled = false;
    if (this.#watchers > 0) this.#dispatchLocal(element, { type, index, length, value });
  }

  /** @internal Runs an edit through the engine, then reports it. */
  _edit(fn: (engine: Engine, local: number) => void, element: RealTimeElement, change: Partial<ElementChange> & { type: ChangeType }): void {
    this._writable();
    this._call(fn);
    this._touched();
    if (this.#watchers > 0) this.#dispatchLocal(element, change);
  }

  #dispatchLocal(element: RealTimeElement, fields: Partial<ElementChange> & { type: ChangeType }): void {
    const change: ElementChange = {
      ...fields,
      element,
      local: true,
      userId: this.session.user?.userId,
      sessionId: this.session.sessionId,
    };
    if (change.length === undefined) delete change.length;
    if (change.value === undefined) delete change.value;
    element._emitChange(change);
    for (let parent = element.parent; parent; parent = parent.parent) parent._emitBubbled(change);
    this.emit('change', change);
  }

  /** Dispatches the engine's change events for local operations it made (undo, redo, abort). */
  #localEvents(json: string): boolean {
    const events = JSON.parse(json) as { changes: RawChange[] }[];
    for (const event of events) this.#dispatch(event.changes, true);
    this._touched();
    return events.length > 0;
  }

  #dispatch(changes: RawChange[], local: boolean): void {
    if (this.#watchers === 0) return;
    for (const raw of changes) {
      const [target, ...ancestors] = raw.path;
      const element = this._element(target);
      const change: ElementChange = {
        type: CHANGE_TYPES[raw.kind] ?? 'value',
        element,
        local,
        userId: local ? this.session.user?.userId : raw.userId,
        sessionId: local ? this.session.sessionId : raw.sessionId,
      };
      if (raw.timestamp !== undefined) change.timestamp = raw.timestamp;
      if (raw.version !== undefined) change.version = raw.version;
      if (raw.index !== undefined) change.index = raw.index;
      if (raw.length !== undefined) change.length = raw.length;
      if (raw.value !== undefined) change.value = raw.kind === 'date_set' ? new Date(raw.value as number) : reviveDates(raw.value);
      if (raw.key !== undefined) change.key = raw.key;
      if (raw.from !== undefined) change.from = raw.from;
      if (raw.to !== undefined) change.to = raw.to;
      if (raw.delta !== undefined) change.delta = raw.delta;
      element._emitChange(change);
      for (const handle of ancestors) this.#elements.get(handle)?._emitBubbled(change);
      this.emit('change', change);
    }
  }

  /** @internal Remote changes arrived. */
  _remoteChanges(changes: RawChange[]): void {
    this.#dispatch(changes, false);
  }

  /** @internal */
  _remoteReferences(): RawReference[] {
    return JSON.parse(this._call((e, m) => e.remoteReferences(m)));
  }

  /** @internal A reference event arrived. */
  _referenceEvent(event: { event: RemoteReferenceEvent['type']; sessionId: string; userId: string | null; element: number | null; key: string }): void {
    const element = event.element === null ? undefined : this._element(event.element);
    const reference = new RemoteReference(this, event.sessionId, event.userId ?? undefined, element, event.key);
    const payload: RemoteReferenceEvent = { type: event.event, reference };
    element?._emitReference(payload);
    this.emit('reference', payload);
  }

  /** @internal */
  _collaborator(opened: boolean, payload: Collaborator | { sessionId: string }): void {
    if (opened) this.emit('collaboratorOpened', payload as Collaborator);
    else this.emit('collaboratorClosed', payload as { sessionId: string });
  }

  /** @internal The connection state of the model changed. */
  _setOnline(online: boolean): void {
    if (online === this.#online) return;
    this.#online = online;
    this.emit(online ? 'online' : 'offline', {});
    this.#checkSync();
  }

  /** @internal After frames were handled: wake `settled()` waiters. */
  _checkSettled(): void {
    this.#checkSync();
    if (this.#closed || (this.#settledWaiters.length === 0 && !this.hasListeners('settled'))) return;
    const settled = this._call((e, m) => e.modelFact(m, FACT.settled) === 1);
    const was = this.#wasSettled;
    this.#wasSettled = settled;
    if (!settled) return;
    const waiters = this.#settledWaiters;
    this.#settledWaiters = [];
    waiters.forEach((w) => w());
    if (!was) this.emit('settled', {});
  }

  /** @internal */
  _reset(droppedEdits: number): void {
    this.emit('reset', { droppedEdits });
  }

  /** @internal The model is closed for good. */
  _closed(reason: 'closed' | 'deleted' | 'lost', error?: TandemError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lostError = reason === 'lost' ? (error ?? new TandemError('internal', 'the model was lost')) : undefined;
    this.#typing = undefined;
    const waiters = this.#settledWaiters;
    this.#settledWaiters = [];
    waiters.forEach((w) => w());
    this.emit('closed', { reason, error });
  }
}
