/** Node-only additions: a `ModelStorage` that keeps cache entries as files in a directory. */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { ModelStorage } from './storage.js';

/** Keeps entries as files in `directory` (created if needed); writes are atomic renames. */
export class FileStorage implements ModelStorage {
  readonly #directory: string;
  #ready: Promise<unknown>;

  constructor(directory: string) {
    this.#directory = directory;
    this.#ready = mkdir(directory, { recursive: true });
  }

  #path(key: string): string {
    return join(this.#directory, encodeURIComponent(key) + '.tandem');
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    await this.#ready;
    try {
      return new Uint8Array(await readFile(this.#path(key)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async set(key: string, value: Uint8Array): Promise<void> {
    await this.#ready;
    const path = this.#path(key);
    const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(temporary, value);
    await rename(temporary, path);
  }

  async delete(key: string): Promise<void> {
    await this.#ready;
    await rm(this.#path(key), { force: true });
  }

  async keys(): Promise<string[]> {
    await this.#ready;
    return (await readdir(this.#directory))
      .filter((f) => f.endsWith('.tandem'))
      .map((f) => decodeURIComponent(f.slice(0, -'.tandem'.length)));
  }
}
