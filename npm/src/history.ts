/**
 * History: a read-only view of a model at any earlier version, with who made each change and
 * when. The relay rebuilds the data at a version from its stored snapshots and operations.
 */
import type { Session } from './session.js';
import { reviveDates, type JsonValue } from './values.js';

/** One stored change set: a version, who made it and when, and what it changed. */
export interface HistoricOperation {
  /** The version it made. */
  version: number;
  /** Who made it. */
  userId: string;
  /** From which session. */
  sessionId: string;
  /** When the relay sequenced it (milliseconds since the epoch). */
  timestamp: number;
  /** The primitive changes, each with its `kind`, `elementId` and fields. */
  changes: { kind: string; elementId?: string; [field: string]: unknown }[];
}

interface HistoricModelResult {
  version: number;
  timestamp: number;
  data: JsonValue;
}

/** A model as it was at some version; move it with `playTo`, `forward` and `backward`. */
export class HistoricalModel {
  #version = 0;
  #timestamp = 0;
  #data: { [key: string]: JsonValue } = {};

  /** @internal */
  constructor(
    readonly session: Session,
    /** Its collection. */
    readonly collection: string,
    /** Its id. */
    readonly id: string,
    /** The latest version when the view was opened. */
    readonly maxVersion: number,
  ) {}

  /** The version shown. */
  get version(): number {
    return this.#version;
  }

  /** When the version shown was reached (milliseconds since the epoch). */
  get timestamp(): number {
    return this.#timestamp;
  }

  /** The data at the version shown. */
  get data(): { [key: string]: JsonValue } {
    return this.#data;
  }

  #show(result: HistoricModelResult): this {
    this.#version = result.version;
    this.#timestamp = result.timestamp;
    this.#data = reviveDates(result.data) as { [key: string]: JsonValue };
    return this;
  }

  /** Shows the model at `version` (0 is how it was created). */
  async playTo(version: number): Promise<this> {
    const target = Math.max(0, Math.min(this.maxVersion, Math.floor(version)));
    return this.#show(
      await this.session._request<HistoricModelResult>({
        type: 'get_model_at_version',
        collection: this.collection,
        id: this.id,
        version: target,
      }),
    );
  }

  /** Shows the model as it was at `time` (the last version at or before it). */
  async playToTime(time: Date | number): Promise<this> {
    return this.#show(
      await this.session._request<HistoricModelResult>({
        type: 'get_model_at_time',
        collection: this.collection,
        id: this.id,
        timeMs: time instanceof Date ? time.getTime() : time,
      }),
    );
  }

  /** Moves `steps` versions forward. */
  forward(steps = 1): Promise<this> {
    return this.playTo(this.#version + steps);
  }

  /** Moves `steps` versions back. */
  backward(steps = 1): Promise<this> {
    return this.playTo(this.#version - steps);
  }

  /**
   * The stored operations with `from < version <= to`: who changed what, and when. All of them:
   * it asks page after page (see `operationsPage`) until `to`.
   */
  async operations(from = 0, to = this.maxVersion): Promise<HistoricOperation[]> {
    const all: HistoricOperation[] = [];
    for (let after = from; ; ) {
      const page = await this.operationsPage(after, to);
      all.push(...page.operations);
      if (!page.hasMore) return all;
      after = page.operations[page.operations.length - 1].version;
    }
  }

  /**
   * One page of the stored operations with `from < version <= to` (the relay returns at most
   * 10,000 at a time). `hasMore` says the page stopped before `to`: ask again from the last
   * operation's version.
   */
  async operationsPage(from = 0, to = this.maxVersion): Promise<{ operations: HistoricOperation[]; hasMore: boolean }> {
    const result = await this.session._request<{ ops: HistoricOperation[]; more: boolean }>({
      type: 'get_operations',
      collection: this.collection,
      id: this.id,
      fromVersion: from,
      toVersion: to,
    });
    // A page that says there is more but holds nothing could never advance.
    return { operations: result.ops, hasMore: result.more && result.ops.length > 0 };
  }
}
