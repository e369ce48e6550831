/** Conversions between JavaScript values and the JSON the engine takes (`{"$date": ms}`). */
import { TandemError } from './errors.js';

/** A value a model can hold. */
export type JsonValue = null | boolean | number | string | Date | JsonValue[] | { [key: string]: JsonValue };

/**
 * An object key on the wire: a key that starts with `$` gets one more, so that a plain object
 * shaped like `{ $date: 5 }` is never taken for a date (the engine strips it again).
 */
function wireKey(key: string): string {
  return key.startsWith('$') ? `$${key}` : key;
}

/** Why `raw` cannot be stored in a model, or `undefined` if it can. */
function unstorable(raw: unknown, key: string): string | undefined {
  const where = key === '' ? 'the value' : `\`${key}\``;
  switch (typeof raw) {
    case 'bigint':
      return `${where} is a BigInt (store it as a string or a number)`;
    case 'function':
      return `${where} is a function`;
    case 'symbol':
      return `${where} is a symbol`;
    case 'undefined':
      return `${where} is undefined`;
    case 'object': {
      if (raw === null || Array.isArray(raw) || raw instanceof Date) return undefined;
      const proto = Object.getPrototypeOf(raw);
      if (proto === Object.prototype || proto === null) return undefined;
      const kind = (raw as object).constructor?.name ?? 'object';
      return `${where} is a ${kind}; only plain objects, arrays, strings, finite numbers, booleans, null and Dates can be stored`;
    }
    default:
      return undefined;
  }
}

/**
 * JSON text for a value, with dates as `{"$date": ms}` and `$`-keys escaped (see `wireKey`).
 * Anything a model cannot hold (`undefined`, a `Map`, a class instance, a `BigInt`, a function, a
 * symbol, a non-finite number, an invalid date) throws a `TandemError` before anything changes.
 */
export function encodeValue(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const raw = key === '' ? value : this[key];
    if (Array.isArray(this) && raw === undefined) {
      throw new TandemError('invalid_argument', `item ${key} is undefined (arrays cannot have holes)`);
    }
    const why = unstorable(raw, key);
    if (why) throw new TandemError('invalid_argument', why);
    if (raw instanceof Date) {
      const ms = raw.getTime();
      if (!Number.isFinite(ms)) throw new TandemError('invalid_argument', `${key || 'the value'} is an invalid Date`);
      return { $date: ms };
    }
    if (typeof raw === 'number' && !Number.isFinite(raw)) {
      throw new TandemError('non_finite_number', 'numbers must be finite');
    }
    if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && this !== undefined) {
      const object = raw as Record<string, unknown>;
      if (Object.keys(object).some((k) => k.startsWith('$'))) {
        const escaped: Record<string, unknown> = {};
        for (const k of Object.keys(object)) escaped[wireKey(k)] = object[k];
        return escaped;
      }
    }
    return v;
  });
}

/** A value from JSON text, with `{"$date": ms}` turned into `Date`s. */
export function decodeValue(text: string): JsonValue {
  return reviveDates(JSON.parse(text));
}

/** Turns `{"$date": ms}` objects into `Date`s and unescapes `$$`-keys, in place. */
export function reviveDates(value: unknown): JsonValue {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reviveDates(value[i]);
    return value as JsonValue;
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 1 && keys[0] === '$date' && typeof obj.$date === 'number') return new Date(obj.$date);
    if (!keys.some((k) => k.startsWith('$$'))) {
      for (const k of keys) obj[k] = reviveDates(obj[k]);
      return obj as JsonValue;
    }
    const unescaped: Record<string, JsonValue> = {};
    for (const k of keys) unescaped[k.startsWith('$$') ? k.slice(1) : k] = reviveDates(obj[k]);
    return unescaped;
  }
  return value as JsonValue;
}
