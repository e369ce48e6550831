/** Conversions between JavaScript values and the JSON the engine takes (`{"$date": ms}`). */
import { TandemError } from './errors.js';

/** A value a model can hold. */
export type JsonValue = null | boolean | number | string | Date | JsonValue[] | { [key: string]: JsonValue };

/** JSON text for a value, with dates as `{"$date": ms}`. */
export function encodeValue(value: unknown): string {
  if (value === undefined) throw new TandemError('invalid_argument', 'undefined is not a value a model can hold');
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const raw = this[key];
    if (raw instanceof Date) return { $date: raw.getTime() };
    if (typeof raw === 'number' && !Number.isFinite(raw)) {
      throw new TandemError('non_finite_number', 'numbers must be finite');
    }
    if (raw === undefined && key !== '') throw new TandemError('invalid_argument', `${key} is undefined`);
    return v;
  });
}

/** A value from JSON text, with `{"$date": ms}` turned into `Date`s. */
export function decodeValue(text: string): JsonValue {
  return reviveDates(JSON.parse(text));
}

/** Turns `{"$date": ms}` objects into `Date`s, in place. */
export function reviveDates(value: unknown): JsonValue {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reviveDates(value[i]);
    return value as JsonValue;
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 1 && keys[0] === '$date' && typeof obj.$date === 'number') return new Date(obj.$date);
    for (const k of keys) obj[k] = reviveDates(obj[k]);
  }
  return value as JsonValue;
}
