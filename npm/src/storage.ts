/**
 * Where opened models and their unacknowledged edits are cached, so that closing the tab or
 * losing the network loses nothing: the next session restores them, re-sends the edits and
 * merges. Browsers get IndexedDB by default; Node gets memory, or a directory with
 * `FileStorage` from `tandem-client/node`. Anything implementing `ModelStorage` works.
 */

/** A key-value store of opaque cache entries. */
export interface ModelStorage {
  /** The entry under `key`, or `undefined`. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores an entry, replacing any under `key`. */
  set(key: string, value: Uint8Array): Promise<void>;
  /** Removes an entry. */
  delete(key: string): Promise<void>;
  /** Every key. */
  keys(): Promise<string[]>;
}

/** Keeps entries in memory (they last as long as the object). */
export class MemoryStorage implements ModelStorage {
  #entries = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.#entries.get(key);
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    this.#entries.set(key, value.slice());
  }

  async delete(key: string): Promise<void> {
    this.#entries.delete(key);
  }

  async keys(): Promise<string[]> {
    return [...this.#entries.keys()];
  }
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** Keeps entries in the browser's IndexedDB, in database `name`. */
export class IndexedDbStorage implements ModelStorage {
  #db: Promise<IDBDatabase>;

  constructor(name = 'tandem') {
    this.#db = new Promise((resolve, reject) => {
      const open = indexedDB.open(name, 1);
      open.onupgradeneeded = () => open.result.createObjectStore('models');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
  }

  async #store(mode: IDBTransactionMode): Promise<IDBObjectStore> {
    return (await this.#db).transaction('models', mode).objectStore('models');
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const value = await request((await this.#store('readonly')).get(key));
    return value === undefined ? undefined : new Uint8Array(value as ArrayBuffer);
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    const store = await this.#store('readwrite');
    await request(store.put(value.slice().buffer, key));
    await new Promise<void>((resolve, reject) => {
      store.transaction.oncomplete = () => resolve();
      store.transaction.onerror = () => reject(store.transaction.error);
    });
  }

  async delete(key: string): Promise<void> {
    await request((await this.#store('readwrite')).delete(key));
  }

  async keys(): Promise<string[]> {
    return (await request((await this.#store('readonly')).getAllKeys())).map(String);
  }
}

/** The default storage: IndexedDB where there is one, memory otherwise. */
export function defaultStorage(): ModelStorage {
  return typeof indexedDB !== 'undefined' ? new IndexedDbStorage() : new MemoryStorage();
}
