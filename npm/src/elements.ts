/**
 * Elements: the nodes of a model's JSON tree, each a live view with the methods a JavaScript
 * developer expects of its type. Reads always see the current data; edits apply at once and go
 * to the relay with the next frame. Every element emits `change` for changes to it or anything
 * below it (so one listener on the root sees everything), and an event named after the change
 * (`insert`, `remove`, `set`, ...) for changes to itself.
 */
import { Emitter } from './emitter.js';
import { TandemError } from './errors.js';
import type { RealTimeModel } from './model.js';
import type { RemoteReferenceEvent } from './references.js';
import { LocalIndexReference, LocalPropertyReference, LocalRangeReference } from './references.js';
import { decodeValue, encodeValue, type JsonValue } from './values.js';

/** The type of an element. */
export type ElementType = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null' | 'date';

/** What kind of change happened. */
export type ChangeType = 'insert' | 'remove' | 'splice' | 'set' | 'value' | 'move' | 'delta';

/** A change to an element, local or remote. */
export interface ElementChange {
  /** What happened. */
  type: ChangeType;
  /** The element that changed (for bubbled events, a descendant of the listening one). */
  element: RealTimeElement;
  /** Whether this client made it. */
  local: boolean;
  /** Who made it. */
  userId?: string;
  /** From which session. */
  sessionId?: string;
  /** When the relay sequenced it (remote changes), in milliseconds since the epoch. */
  timestamp?: number;
  /** The model version it made (remote changes). */
  version?: number;
  /** Strings and arrays: where. */
  index?: number;
  /** Strings: how many UTF-16 code units were removed. */
  length?: number;
  /** The new value (inserted text or item, set property, new scalar value). */
  value?: JsonValue;
  /** Objects: which property. */
  key?: string;
  /** Array moves: from where. */
  from?: number;
  /** Array moves: to where. */
  to?: number;
  /** Numbers: how much was added. */
  delta?: number;
}

/** The events every element emits. */
export interface ElementEvents {
  /** Any change to this element or below it. */
  change: ElementChange;
  /** Text or an item was inserted here. */
  insert: ElementChange;
  /** Text, an item or a property was removed here. */
  remove: ElementChange;
  /** Text was replaced here (removed and inserted at once). */
  splice: ElementChange;
  /** An item or property was set here. */
  set: ElementChange;
  /** This element's whole value was replaced. */
  value: ElementChange;
  /** An item moved here. */
  move: ElementChange;
  /** A number changed by a delta. */
  delta: ElementChange;
  /** Another session's reference on this element was shared, moved, cleared or unshared. */
  reference: RemoteReferenceEvent;
}

/** One step of a path: a property name or an array index. */
export type PathSegment = string | number;

/** Any element of a model. */
export abstract class RealTimeElement<V extends JsonValue = JsonValue> extends Emitter<ElementEvents> {
  /** The model this element belongs to. */
  readonly model: RealTimeModel;
  /** @internal The engine's handle for this element. */
  readonly _handle: number;

  /** @internal */
  constructor(model: RealTimeModel, handle: number) {
    super();
    this.model = model;
    this._handle = handle;
  }

  /** This element's type. */
  abstract readonly type: ElementType;

  /** The element's id, unique within the model and stable for its lifetime. */
  get id(): string {
    return this.model._call((e, m) => e.elementId(m, this._handle));
  }

  /** Where the element is, from the root. */
  get path(): PathSegment[] {
    return JSON.parse(this.model._call((e, m) => e.path(m, this._handle)));
  }

  /** The containing element (`undefined` for the root or a detached element). */
  get parent(): RealTimeElement | undefined {
    const handle = this.model._call((e, m) => e.parent(m, this._handle));
    return handle === undefined ? undefined : this.model._element(handle);
  }

  /** Whether the element was removed from the model (reads and edits then fail). */
  get detached(): boolean {
    return this.model._engineKind(this._handle) === 'detached';
  }

  /** The element's value as plain JavaScript (dates as `Date`). */
  value(): V {
    return decodeValue(this.model._call((e, m) => e.value(m, this._handle))) as V;
  }

  /** The plain value, so that `JSON.stringify(element)` works. */
  toJSON(): JsonValue {
    return this.value();
  }

  /** @internal */
  protected override listenersChanged(delta: number): void {
    this.model._listenersChanged(delta);
  }

  /** @internal Emits a change on this element (the target). */
  _emitChange(change: ElementChange): void {
    this.emit(change.type, change);
    this.emit('change', change);
  }

  /** @internal Emits a change that happened below this element. */
  _emitBubbled(change: ElementChange): void {
    this.emit('change', change);
  }

  /** @internal */
  _emitReference(event: RemoteReferenceEvent): void {
    this.emit('reference', event);
  }
}

/** A string: text edited by UTF-16 index, like JavaScript strings. */
export class RealTimeString extends RealTimeElement<string> {
  readonly type = 'string' as const;

  /** The text. */
  override value(): string {
    return this.model._call((e, m) => e.stringValue(m, this._handle));
  }

  /** Its length in UTF-16 code units (as `String.prototype.length`). */
  get length(): number {
    return this.model._bufferedLength(this) ?? this.model._call((e, m) => e.length(m, this._handle));
  }

  /** Inserts `text` at `index`. */
  insert(index: number, text: string): void {
    if (typeof text !== 'string') throw new TandemError('invalid_argument', `a string's insert takes text, not ${typeof text}`);
    const model = this.model;
    model._writable();
    // Edits of one string compose in the model's write buffer and reach the engine as one
    // splice per run; what the buffer cannot check goes in now.
    if (!model._bufferInsert(this, index, text)) {
      model._flushTyping();
      try {
        model._engine.stringInsert(model._local, this._handle, index, text, Date.now());
      } catch (error) {
        throw model._fail(error);
      }
    }
    model._edited(this, 'insert', index, undefined, text);
  }

  /** Removes `length` code units at `index`. */
  remove(index: number, length: number): void {
    const model = this.model;
    model._writable();
    if (!model._bufferRemove(this, index, length)) {
      model._flushTyping();
      try {
        model._engine.stringRemove(model._local, this._handle, index, length, Date.now());
      } catch (error) {
        throw model._fail(error);
      }
    }
    model._edited(this, 'remove', index, length, undefined);
  }

  /** Removes `removeCount` code units at `index` and inserts `text` there, as one edit. */
  splice(index: number, removeCount: number, text = ''): void {
    const model = this.model;
    model._writable();
    model._flushTyping();
    try {
      model._engine.stringSplice(model._local, this._handle, index, removeCount, text, Date.now());
    } catch (error) {
      throw model._fail(error);
    }
    model._edited(this, 'splice', index, removeCount, text);
  }

  /** Replaces the whole text. */
  setValue(text: string): void {
    this.model._edit((e, m) => e.stringSet(m, this._handle, text), this, { type: 'value', value: text });
  }

  /** A cursor on this string, owned by this session (shared with others once `share()`d). */
  indexReference(key: string): LocalIndexReference {
    return new LocalIndexReference(this.model, this, key);
  }

  /** A selection on this string, owned by this session. */
  rangeReference(key: string): LocalRangeReference {
    return new LocalRangeReference(this.model, this, key);
  }
}

/** An array: items edited by index. */
export class RealTimeArray extends RealTimeElement<JsonValue[]> implements Iterable<RealTimeElement> {
  readonly type = 'array' as const;

  /** The number of items. */
  get length(): number {
    return this.model._call((e, m) => e.length(m, this._handle));
  }

  /** The item at `index` (negative counts from the end), or `undefined`. */
  get(index: number): RealTimeElement | undefined {
    const length = this.length;
    const at = index < 0 ? length + index : index;
    if (at < 0 || at >= length) return undefined;
    return this.model._element(this.model._call((e, m) => e.itemAt(m, this._handle, at)));
  }

  /** Every item, in order. */
  elements(): RealTimeElement[] {
    return Array.from(this.model._call((e, m) => e.children(m, this._handle)), (h) => this.model._element(h));
  }

  [Symbol.iterator](): Iterator<RealTimeElement> {
    return this.elements()[Symbol.iterator]();
  }

  /** Replaces the item at `index`. */
  set(index: number, value: JsonValue): void {
    this.model._edit((e, m) => e.arrayPut(m, this._handle, index, encodeValue(value), true), this, {
      type: 'set',
      index,
      value,
    });
  }

  /** Inserts `value` so that it ends up at `index`. */
  insert(index: number, value: JsonValue): void {
    this.model._edit((e, m) => e.arrayPut(m, this._handle, index, encodeValue(value), false), this, {
      type: 'insert',
      index,
      value,
    });
  }

  /** Removes the item at `index`; returns its value. */
  remove(index: number): JsonValue {
    const item = this.get(index);
    if (!item || index < 0) throw new TandemError('index_out_of_range', `index ${index} is out of range`);
    const value = item.value();
    this.model._edit((e, m) => e.arrayRemove(m, this._handle, index), this, { type: 'remove', index });
    return value;
  }

  /** Moves the item at `from` so that it ends up at `to`. */
  move(from: number, to: number): void {
    // A move to its own index moves nothing: nothing is sent, no event fires.
    if (from === to && Number.isInteger(from) && from >= 0 && from < this.length) return;
    this.model._edit((e, m) => e.arrayMove(m, this._handle, from, to), this, { type: 'move', from, to });
  }

  /** Appends values; returns the new length. */
  push(...values: JsonValue[]): number {
    this.model.batch(() => {
      for (const v of values) this.insert(this.length, v);
    });
    return this.length;
  }

  /** Removes the last item; returns its value (`undefined` if empty). */
  pop(): JsonValue | undefined {
    const length = this.length;
    return length === 0 ? undefined : this.remove(length - 1);
  }

  /** Removes the first item; returns its value (`undefined` if empty). */
  shift(): JsonValue | undefined {
    return this.length === 0 ? undefined : this.remove(0);
  }

  /** Inserts values at the start; returns the new length. */
  unshift(...values: JsonValue[]): number {
    this.model.batch(() => values.forEach((v, i) => this.insert(i, v)));
    return this.length;
  }

  /** Replaces every item. */
  setValue(values: JsonValue[]): void {
    this.model._edit((e, m) => e.arraySet(m, this._handle, encodeValue(values)), this, {
      type: 'value',
      value: values,
    });
  }
}

/** An object: properties in insertion order. */
export class RealTimeObject extends RealTimeElement<{ [key: string]: JsonValue }> {
  readonly type = 'object' as const;

  /** The property `key`, or `undefined`. */
  get(key: string): RealTimeElement | undefined {
    const handle = this.model._call((e, m) => e.propertyOf(m, this._handle, key));
    return handle === undefined ? undefined : this.model._element(handle);
  }

  /** Sets property `key` to `value`, adding it if it is missing. */
  set(key: string, value: JsonValue): void {
    this.model._edit((e, m) => e.objectSet(m, this._handle, key, encodeValue(value)), this, {
      type: 'set',
      key,
      value,
    });
  }

  /** Removes property `key`. */
  remove(key: string): void {
    this.model._edit((e, m) => e.objectRemove(m, this._handle, key), this, { type: 'remove', key });
  }

  /** The property names, in order. */
  keys(): string[] {
    return JSON.parse(this.model._call((e, m) => e.keys(m, this._handle)));
  }

  /** Whether property `key` exists. */
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** The number of properties. */
  get size(): number {
    return this.model._call((e, m) => e.length(m, this._handle));
  }

  /** Every property as `[key, element]`, in order. */
  entries(): [string, RealTimeElement][] {
    const keys = this.keys();
    const handles = this.model._call((e, m) => e.children(m, this._handle));
    return keys.map((k, i) => [k, this.model._element(handles[i])]);
  }

  /** Replaces every property. */
  setValue(value: { [key: string]: JsonValue }): void {
    this.model._edit((e, m) => e.objectSetAll(m, this._handle, encodeValue(value)), this, {
      type: 'value',
      value,
    });
  }

  /** A reference to properties of this object, owned by this session. */
  propertyReference(key: string): LocalPropertyReference {
    return new LocalPropertyReference(this.model, this, key);
  }
}

/** A number. */
export class RealTimeNumber extends RealTimeElement<number> {
  readonly type = 'number' as const;

  override value(): number {
    return this.model._call((e, m) => e.scalarValue(m, this._handle));
  }

  /** Sets the number. */
  setValue(value: number): void {
    this.model._edit((e, m) => e.scalarSet(m, this._handle, value), this, { type: 'value', value });
  }

  /** Adds `delta` (concurrent additions all count). */
  add(delta: number): void {
    this.model._edit((e, m) => e.numberAdd(m, this._handle, delta), this, { type: 'delta', delta });
  }

  /** Subtracts `delta`. */
  subtract(delta: number): void {
    this.add(-delta);
  }

  /** Adds one. */
  increment(): void {
    this.add(1);
  }

  /** Subtracts one. */
  decrement(): void {
    this.add(-1);
  }
}

/** A boolean. */
export class RealTimeBoolean extends RealTimeElement<boolean> {
  readonly type = 'boolean' as const;

  override value(): boolean {
    return this.model._call((e, m) => e.scalarValue(m, this._handle)) === 1;
  }

  /** Sets the boolean. */
  setValue(value: boolean): void {
    this.model._edit((e, m) => e.scalarSet(m, this._handle, value ? 1 : 0), this, { type: 'value', value });
  }
}

/** A date (millisecond precision). */
export class RealTimeDate extends RealTimeElement<Date> {
  readonly type = 'date' as const;

  override value(): Date {
    return new Date(this.model._call((e, m) => e.scalarValue(m, this._handle)));
  }

  /** Sets the date. */
  setValue(value: Date | number): void {
    const ms = value instanceof Date ? value.getTime() : value;
    this.model._edit((e, m) => e.scalarSet(m, this._handle, ms), this, { type: 'value', value: new Date(ms) });
  }
}

/** JSON null. */
export class RealTimeNull extends RealTimeElement<null> {
  readonly type = 'null' as const;

  override value(): null {
    return null;
  }
}

/** @internal The wrapper class for an element type. */
export function elementClass(type: string): new (model: RealTimeModel, handle: number) => RealTimeElement {
  switch (type) {
    case 'object':
      return RealTimeObject;
    case 'array':
      return RealTimeArray;
    case 'string':
      return RealTimeString;
    case 'number':
      return RealTimeNumber;
    case 'boolean':
      return RealTimeBoolean;
    case 'date':
      return RealTimeDate;
    case 'null':
      return RealTimeNull;
    default:
      throw new TandemError('detached', 'the element is no longer in the model');
  }
}

