/**
 * A session: one authenticated connection to a relay, kept alive across network trouble
 * (heartbeats detect a dead socket, reconnects back off with jitter and resume the same
 * identity), and the models opened through it.
 */
import { Emitter } from './emitter.js';
import { TandemError, toTandemError } from './errors.js';
import { HistoricalModel } from './history.js';
import { FACT, RealTimeModel, type Collaborator } from './model.js';
import { ActivityService } from './activities.js';
import { ChatService } from './chat.js';
import { PresenceService } from './presence.js';
import { defaultStorage, type ModelStorage } from './storage.js';
import { encodeValue, type JsonValue } from './values.js';
import { Engine, lastPanic, loadWasm } from './wasm.js';

/** The client library's name and version, sent to the relay in the handshake. */
const CLIENT_NAME = 'tandem-js/0.1.0';

/** Where a session's connection is. */
export type ConnectionState = 'connecting' | 'connected' | 'interrupted' | 'reconnecting' | 'disconnected' | 'error';

/** A credential: the value itself, or a function (possibly async) that returns it when needed. */
export type Credential = string | (() => string | Promise<string>);

/** How a session authenticates. */
export type Auth =
  | { anonymous: Credential }
  | { username: Credential; password: Credential }
  | { jwt: Credential }
  | { reconnectToken: Credential };

/** The part of the WebSocket interface the client uses (browsers' and the `ws` package's). */
export interface WebSocketLike {
  binaryType: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** A WebSocket class. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Reconnection back-off: `initialDelay × factor^attempt`, capped at `maxDelay`, minus up to `jitter` of it. */
export interface ReconnectOptions {
  /** The first delay, in milliseconds (default 250). */
  initialDelay?: number;
  /** The longest delay (default 10 000). */
  maxDelay?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** The random share taken off each delay, 0 to 1 (default 0.5), so clients do not stampede. */
  jitter?: number;
}

/** Options of `connect` and `createSession`. */
export interface ConnectOptions {
  /** The WebSocket class; defaults to the global one, or the `ws` package in Node. */
  WebSocket?: WebSocketConstructor;
  /** Where models and unsent edits are cached; `false` for nowhere. Defaults to IndexedDB in browsers, memory in Node. */
  storage?: ModelStorage | false;
  /** How long a request may take before it fails with `timeout`, in milliseconds (default 10 000). */
  requestTimeout?: number;
  /** How often a heartbeat is sent (default 1 000 ms). */
  heartbeatInterval?: number;
  /**
   * How long without hearing from the relay before the socket counts as dead (default 2 500 ms:
   * going offline shows within 3 s). Time this thread spent busy does not count.
   */
  heartbeatTimeout?: number;
  /** Reconnection back-off, or `false` to stay disconnected when the connection drops. */
  reconnect?: ReconnectOptions | false;
  /** How long a connection attempt may take before it is abandoned (default 10 000 ms). */
  connectTimeout?: number;
  /** How long after a change the model's cache entry is written (default 250 ms). */
  persistDelay?: number;
}

/** A user as the relay describes them. */
export interface UserInfo {
  userId: string;
  username: string;
  displayName: string | null;
  email: string | null;
  anonymous: boolean;
  /** A picture of the user, if any. */
  avatarUrl: string | null;
}

/** A group of users (permissions can be granted to groups). */
export interface GroupInfo {
  groupId: string;
  description: string;
  /** Its members' user ids. */
  members: string[];
}

/** A model in a collection listing. */
export interface ModelSummary {
  collection: string;
  id: string;
  version: number;
  createdTime: number;
  modifiedTime: number;
}

/** The events a session emits: one per state (with the state's details) and `state` for any. */
export interface SessionEvents {
  state: { state: ConnectionState; previous: ConnectionState };
  connecting: Record<string, never>;
  connected: Record<string, never>;
  interrupted: { code?: number; reason?: string };
  reconnecting: { attempt: number; delay: number };
  disconnected: Record<string, never>;
  error: { error: TandemError };
  /**
   * A cached copy holds an edit this relay will never take (`too_large`: its limit is lower than
   * when the edit was made). The model opened without it; the entry stays in the cache, never
   * sent, for the application to show or export.
   */
  quarantined: { collection: string; id: string; error: TandemError };
}

interface PendingRequest {
  resolve: (result: never) => void;
  reject: (error: TandemError) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface RelayEvent {
  type: string;
  requestId?: number | null;
  local?: number | null;
  [field: string]: unknown;
}

const AUTH_CODES = new Set(['auth_failed', 'token_expired', 'unauthenticated']);

function storageKey(collection: string, id: string): string {
  return JSON.stringify([collection, id]);
}

/**
 * The cache entry of one replica: each replica (a tab, a process, a model opened again) writes
 * its own entry, so that no tab ever overwrites another's unsent edits. `tag` is random per
 * replica. (Entries of version 0.1 had no tag.)
 */
function replicaKey(collection: string, id: string, tag: string): string {
  return JSON.stringify([collection, id, tag]);
}

/** Whether `key` is a cache entry of model `collection`/`id` (any replica's). */
function isEntryOf(key: string, collection: string, id: string): boolean {
  try {
    const parsed: unknown = JSON.parse(key);
    return Array.isArray(parsed) && parsed[0] === collection && parsed[1] === id;
  } catch {
    return false;
  }
}

/** The Web Locks API where there is one (browsers): a live replica holds its entry's lock. */
interface LockManagerLike {
  request<T>(name: string, options: { ifAvailable?: boolean; signal?: AbortSignal }, callback: (lock: unknown) => T | Promise<T>): Promise<T>;
  request<T>(name: string, callback: (lock: unknown) => T | Promise<T>): Promise<T>;
}

/** Tabs of one origin tell each other of the cache entries they hold (see `#watchEntry`). */
const ENTRIES_CHANNEL = 'tandem-cache-entries';
function lockManager(): LockManagerLike | undefined {
  return (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
}

function randomTag(): string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function credential(value: Credential): Promise<string> {
  return typeof value === 'function' ? await value() : value;
}

async function defaultWebSocket(): Promise<WebSocketConstructor> {
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return global;
  try {
    const name = 'ws';
    const ws = (await import(/* @vite-ignore */ name)) as { WebSocket: WebSocketConstructor };
    return ws.WebSocket;
  } catch (error) {
    throw new TandemError('no_websocket', 'no WebSocket here: install the `ws` package or pass `WebSocket` in the options', {
      cause: error,
    });
  }
}

/** A connection to a relay and the models opened through it. */
export class Session extends Emitter<SessionEvents> {
  /** The relay's WebSocket URL. */
  readonly url: string;
  /** Presence: this user's published state, and following other users'. */
  readonly presence: PresenceService;
  /** Activities: who is here, and what each session is doing. */
  readonly activities: ActivityService;
  /** Chat: rooms, channels and direct chats, with stored history. */
  readonly chat: ChatService;

  readonly #auth: Auth;
  readonly #WebSocket: WebSocketConstructor;
  readonly #storage: ModelStorage | undefined;
  readonly #options: Required<Omit<ConnectOptions, 'WebSocket' | 'storage' | 'reconnect'>> & {
    reconnect: Required<ReconnectOptions> | false;
  };
  #engine: Engine;
  #ws: WebSocketLike | undefined;
  #state: ConnectionState = 'disconnected';
  #user: UserInfo | undefined;
  #sessionId: string | undefined;
  #reconnectToken: string | undefined;
  #everConnected = false;
  #closedByUser = false;
  #fatal: TandemError | undefined;
  #attempt = 0;
  #lastHeard = 0;
  #nextPing = 1;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** The relay's clock minus this machine's, learned from each welcome. */
  #clockOffset = 0;
  /** The entries of other live replicas this one waits to take over, with how to stop waiting. */
  #watching = new Map<string, AbortController>();
  /** The channel of `#entriesChannel`, once made. */
  #channel: BroadcastChannel | undefined;
  /** The reopen request in flight for each model (see `#reopen`). */
  #reopening = new Map<RealTimeModel, Promise<TandemError | undefined>>();
  /** Each open replica's cache entry key (see `replicaKey`), by local id. */
  #cacheKeys = new Map<number, string>();
  /** Releases each open replica's Web Lock on its entry, by local id. */
  #lockReleases = new Map<number, () => void>();
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #pending = new Map<number, PendingRequest>();
  #nextRequest = 1;
  #models = new Map<number, RealTimeModel>();
  #opening = new Map<string, Promise<RealTimeModel>>();
  #flushScheduled = false;
  #dirty = new Set<RealTimeModel>();
  #persistTimer: ReturnType<typeof setTimeout> | undefined;
  #persistChain: Promise<void> = Promise.resolve();
  #connectedWaiters: { resolve: () => void; reject: (e: TandemError) => void }[] = [];

  /** @internal Use `connect` or `createSession`. */
  constructor(url: string, auth: Auth, WebSocket: WebSocketConstructor, options: ConnectOptions) {
    super();
    this.url = url;
    this.presence = new PresenceService(this);
    this.activities = new ActivityService(this);
    this.chat = new ChatService(this);
    this.#auth = auth;
    this.#WebSocket = WebSocket;
    this.#storage = options.storage === false ? undefined : (options.storage ?? defaultStorage());
    const reconnect = options.reconnect;
    this.#options = {
      requestTimeout: options.requestTimeout ?? 10_000,
      heartbeatInterval: options.heartbeatInterval ?? 1_000,
      heartbeatTimeout: options.heartbeatTimeout ?? 2_500,
      connectTimeout: options.connectTimeout ?? 10_000,
      persistDelay: options.persistDelay ?? 250,
      reconnect:
        reconnect === false
          ? false
          : {
              initialDelay: reconnect?.initialDelay ?? 250,
              maxDelay: reconnect?.maxDelay ?? 10_000,
              factor: reconnect?.factor ?? 2,
              jitter: reconnect?.jitter ?? 0.5,
            },
    };
    // 64 random bits make this client's origins and offline element ids its own.
    const seed = new BigUint64Array(1);
    globalThis.crypto.getRandomValues(seed);
    this.#engine = new Engine(CLIENT_NAME, seed[0]);
    if (typeof window !== 'undefined' && typeof window.addEventListener === 'function') {
      window.addEventListener('offline', this.#wentOffline);
      window.addEventListener('online', this.#cameOnline);
    }
    this.#setState('connecting', {});
    this.#openSocket();
  }

  /** Where the connection is. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The authenticated user (after the first connection). */
  get user(): UserInfo | undefined {
    return this.#user;
  }

  /** This connection's session id, as others see it. */
  get sessionId(): string | undefined {
    return this.#sessionId;
  }

  /**
   * The relay's clock now (milliseconds since the epoch), as last learned from it: the time to
   * show or compare with the relay's timestamps, whatever this machine's clock says. This
   * machine's clock until the first connection.
   */
  serverTime(): number {
    return Date.now() + this.#clockOffset;
  }

  /** A token to resume as the same user later (`{ reconnectToken }` auth). */
  get reconnectToken(): string | undefined {
    return this.#reconnectToken;
  }

  /** Resolves once connected; rejects if the session fails for good or is disconnected. */
  connected(): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve();
    if (this.#fatal) return Promise.reject(this.#fatal);
    if (this.#closedByUser) return Promise.reject(new TandemError('disconnected', 'the session was disconnected'));
    return new Promise((resolve, reject) => this.#connectedWaiters.push({ resolve, reject }));
  }

  // --- models ----------------------------------------------------------------------------------

  /** Opens an existing model (from the cache at once when offline, if it was cached). */
  open(collection: string, id: string): Promise<RealTimeModel> {
    return this.#open(collection, id, { type: 'open_model', collection, id });
  }

  /** Opens a model, creating it with `data` if it does not exist. */
  openOrCreate(collection: string, id: string, data: { [key: string]: JsonValue } = {}): Promise<RealTimeModel> {
    return this.#open(collection, id, { type: 'open_or_create_model', collection, id, data });
  }

  /** Creates a model without opening it; returns its id (chosen by the relay if not given). */
  async create(options: { collection: string; id?: string; data?: { [key: string]: JsonValue } }): Promise<string> {
    const result = await this._request<{ id: string }>({ type: 'create_model', ...options });
    return result.id;
  }

  /** Deletes a model for everyone (sessions with it open get a `closed` event). */
  async remove(collection: string, id: string): Promise<void> {
    await this._request({ type: 'delete_model', collection, id });
    await this.#deleteEntries(collection, id);
  }

  /** Lists a collection's models, a page at a time. */
  async list(
    collection: string,
    options: { offset?: number; limit?: number; orderBy?: 'created' | 'modified'; direction?: 'ascending' | 'descending' } = {},
  ): Promise<{ models: ModelSummary[]; total: number }> {
    const { models, total } = await this._request<{ models: Array<Omit<ModelSummary, 'createdTime' | 'modifiedTime'> & { createdMs: number; modifiedMs: number }>; total: number }>({
      type: 'list_models',
      collection,
      offset: options.offset ?? 0,
      limit: options.limit ?? 100,
      orderBy: options.orderBy ?? 'modified',
      direction: options.direction ?? 'descending',
    });
    return {
      models: models.map(({ createdMs, modifiedMs, ...summary }) => ({ ...summary, createdTime: createdMs, modifiedTime: modifiedMs })),
      total,
    };
  }

  /** A read-only view of a model's history, showing its latest version first. */
  async history(collection: string, id: string): Promise<HistoricalModel> {
    // The latest version by the relay's clock and count, never this machine's clock (which
    // may be behind).
    const latest = await this._request<{ version: number }>({
      type: 'get_model_at_time',
      collection,
      id,
      timeMs: Number.MAX_SAFE_INTEGER,
    });
    const view = new HistoricalModel(this, collection, id, latest.version);
    return view.playTo(latest.version);
  }

  /** Users by id (unknown ids are left out). */
  async getUsers(userIds: string[]): Promise<UserInfo[]> {
    return (await this._request<{ users: UserInfo[] }>({ type: 'get_users_by_id', userIds })).users;
  }

  /** Users by username (unknown names are left out). */
  async getUsersByUsername(usernames: string[]): Promise<UserInfo[]> {
    return (await this._request<{ users: UserInfo[] }>({ type: 'get_users_by_username', usernames })).users;
  }

  /**
   * Users whose display name, username or email contains `query` (case-insensitive), a page at
   * a time; `total` counts every match.
   */
  async searchUsers(query: string, page: { offset?: number; limit?: number } = {}): Promise<{ users: UserInfo[]; total: number }> {
    const { users, total } = await this._request<{ users: UserInfo[]; total: number }>({
      type: 'search_users',
      query,
      offset: page.offset ?? 0,
      limit: page.limit ?? 50,
    });
    return { users, total };
  }

  /** Every group the relay knows. */
  async getGroups(): Promise<GroupInfo[]> {
    return (await this._request<{ groups: GroupInfo[] }>({ type: 'get_groups' })).groups;
  }

  /** The groups a user belongs to. */
  async getUserGroups(userId: string): Promise<GroupInfo[]> {
    return (await this._request<{ groups: GroupInfo[] }>({ type: 'get_user_groups', userId })).groups;
  }

  /**
   * Changes this session's user's own profile (fields left out stay; an empty email or avatar
   * URL removes it; an avatar URL is http(s)).
   */
  async setProfile(profile: { displayName?: string; email?: string; avatarUrl?: string }): Promise<UserInfo> {
    const request: Record<string, unknown> = { type: 'set_profile' };
    if (profile.displayName !== undefined) request.displayName = profile.displayName;
    if (profile.email !== undefined) request.email = profile.email;
    if (profile.avatarUrl !== undefined) request.avatarUrl = profile.avatarUrl;
    const user = (await this._request<{ user: UserInfo }>(request)).user;
    if (user.userId === this.#user?.userId) this.#user = user;
    return user;
  }

  /** The models open in this session. */
  get models(): RealTimeModel[] {
    return [...this.#models.values()];
  }

  /** Sends every pending edit now instead of with the next frame. */
  flush(): void {
    this.#flushNow();
  }

  /** Resolves once every local edit of every open model has been acknowledged. */
  async settled(): Promise<void> {
    await Promise.all(this.models.map((m) => m.settled()));
  }

  /** Writes every open model's cache entry now. */
  async persist(): Promise<void> {
    for (const model of this.#models.values()) this.#dirty.add(model);
    await this.#persistNow();
  }

  /** Closes the connection for good (models stay cached with their unsent edits). */
  async disconnect(): Promise<void> {
    if (this.#closedByUser) return;
    this.#closedByUser = true;
    if (typeof window !== 'undefined' && typeof window.removeEventListener === 'function') {
      window.removeEventListener('offline', this.#wentOffline);
      window.removeEventListener('online', this.#cameOnline);
    }
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#persistTimer);
    this.#persistTimer = undefined;
    await this.persist().catch(() => {});
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.close(1000, 'disconnect');
    this.#socketClosed(1000, 'disconnect');
    this.#opening.clear();
    for (const model of [...this.#models.values()]) {
      this.#released(model._local);
      this.#models.delete(model._local);
      model._closed('closed');
    }
    for (const stop of this.#watching.values()) stop.abort();
    this.#channel?.close();
  }

  #emitQuarantined(collection: string, id: string, error: TandemError): void {
    this.emit('quarantined', { collection, id, error });
  }

  /** Deletes every replica's cache entry of a model (it was deleted). */
  async #deleteEntries(collection: string, id: string): Promise<void> {
    const storage = this.#storage;
    if (!storage) return;
    const keys = (await storage.keys().catch(() => [] as string[])).filter((k) => isEntryOf(k, collection, id));
    await Promise.all(keys.map((k) => storage.delete(k).catch(() => {})));
  }

  // --- the connection ------------------------------------------------------------------------

  #setState<K extends ConnectionState>(state: K, details: SessionEvents[K]): void {
    const previous = this.#state;
    if (previous === state && state !== 'reconnecting') return;
    this.#state = state;
    this.emit('state', { state, previous });
    this.emit(state, details);
  }

  async #authJson(): Promise<string> {
    if (this.#reconnectToken) return JSON.stringify({ type: 'reconnect', token: this.#reconnectToken });
    const auth = this.#auth;
    if ('anonymous' in auth) return JSON.stringify({ type: 'anonymous', displayName: await credential(auth.anonymous) });
    if ('jwt' in auth) return JSON.stringify({ type: 'jwt', token: await credential(auth.jwt) });
    if ('reconnectToken' in auth) return JSON.stringify({ type: 'reconnect', token: await credential(auth.reconnectToken) });
    return JSON.stringify({
      type: 'password',
      username: await credential(auth.username),
      password: await credential(auth.password),
    });
  }

  #openSocket(): void {
    let ws: WebSocketLike;
    try {
      ws = new this.#WebSocket(this.url);
    } catch (error) {
      this.#fail(new TandemError('invalid_argument', `cannot connect to ${this.url}: ${String(error)}`));
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    const abandon = setTimeout(() => {
      if (this.#ws === ws && this.#state !== 'connected') this.#drop(ws, 4000, 'connection attempt timed out');
    }, this.#options.connectTimeout);
    ws.onopen = () => {
      this.#authJson().then(
        (auth) => {
          if (this.#ws === ws) ws.send(this.#engine.hello(auth));
        },
        (error) => this.#fail(new TandemError('auth_failed', `could not get credentials: ${String(error)}`, { cause: error })),
      );
    };
    ws.onmessage = (event) => {
      if (this.#ws !== ws) return;
      this.#lastHeard = Date.now();
      const data = event.data;
      if (data instanceof ArrayBuffer) this.#receive(new Uint8Array(data));
    };
    ws.onclose = (event) => {
      clearTimeout(abandon);
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#socketClosed(event.code, event.reason);
    };
    ws.onerror = () => {};
  }

  /** Gives up on a socket at once (a dead one may take long to report its close). */
  #drop(ws: WebSocketLike, code: number, reason: string): void {
    if (this.#ws !== ws) return;
    this.#ws = undefined;
    try {
      ws.close();
    } catch {
      // already closing
    }
    this.#socketClosed(code, reason);
  }

  #socketClosed(code: number, reason: string): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#engine.disconnected();
    for (const [, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new TandemError('disconnected', `the connection to the relay was lost (${code}${reason ? `: ${reason}` : ''})`));
    }
    this.#pending.clear();
    for (const model of this.#models.values()) model._setOnline(false);
    if (this.#closedByUser) {
      this.#setState('disconnected', {});
      this.#rejectWaiters(new TandemError('disconnected', 'the session was disconnected'));
      return;
    }
    void this.persist().catch(() => {});
    if (this.#fatal) return;
    if (!this.#everConnected && this.#connectedWaiters.length > 0 && this.#failFast) {
      this.#fail(new TandemError('disconnected', `could not reach the relay at ${this.url} (${code}${reason ? `: ${reason}` : ''})`));
      return;
    }
    const reconnect = this.#options.reconnect;
    if (reconnect === false) {
      this.#setState('disconnected', {});
      this.#rejectWaiters(new TandemError('disconnected', 'the connection to the relay was lost'));
      return;
    }
    if (this.#state === 'connected') this.#setState('interrupted', { code, reason });
    const base = Math.min(reconnect.maxDelay, reconnect.initialDelay * reconnect.factor ** this.#attempt);
    const delay = Math.round(base * (1 - reconnect.jitter * Math.random()));
    this.#attempt++;
    this.#setState('reconnecting', { attempt: this.#attempt, delay });
    this.#reconnectTimer = setTimeout(() => {
      if (!this.#closedByUser && !this.#fatal) this.#openSocket();
    }, delay);
  }

  /** @internal Set by `connect`: the first attempt failing rejects instead of retrying. */
  #failFast = false;

  /** @internal */
  _failFast(on: boolean): void {
    this.#failFast = on;
  }

  #fail(error: TandemError): void {
    if (this.#fatal) return;
    this.#fatal = error;
    clearTimeout(this.#reconnectTimer);
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.close();
    if (ws) this.#socketClosed(1000, error.message);
    this.#setState('error', { error });
    this.#rejectWaiters(error);
  }

  #rejectWaiters(error: TandemError): void {
    const waiters = this.#connectedWaiters;
    this.#connectedWaiters = [];
    waiters.forEach((w) => w.reject(error));
  }

  #startHeartbeat(): void {
    clearInterval(this.#heartbeat);
    const { heartbeatInterval, heartbeatTimeout } = this.#options;
    // Checked four times a heartbeat (at most every 250 ms), pinged once a heartbeat.
    const every = Math.min(250, heartbeatInterval);
    let lastCheck = Date.now();
    let lastPing = 0;
    this.#heartbeat = setInterval(() => {
      const ws = this.#ws;
      if (!ws) return;
      const now = Date.now();
      // A check that comes late means this thread was busy (a big paste, a long merge): the
      // relay's answers may be waiting unread, so silence proves nothing yet.
      const busy = now - lastCheck > 4 * every;
      lastCheck = now;
      if (busy) {
        this.#lastHeard = Math.max(this.#lastHeard, now - heartbeatInterval);
      } else if (now - this.#lastHeard > heartbeatTimeout) {
        this.#drop(ws, 4000, 'heartbeat timeout');
        return;
      }
      if (now - lastPing >= heartbeatInterval) {
        lastPing = now;
        ws.send(this.#engine.ping(this.#nextPing++));
      }
    }, every);
  }

  /** The browser says the network went away: the socket is dead now, not in 3 s. */
  #wentOffline = (): void => {
    if (this.#ws) this.#drop(this.#ws, 4000, 'the browser went offline');
  };

  /** The browser says the network is back: try at once instead of after the back-off. */
  #cameOnline = (): void => {
    if (this.#state !== 'reconnecting' || this.#closedByUser || this.#fatal) return;
    clearTimeout(this.#reconnectTimer);
    this.#attempt = 0;
    this.#openSocket();
  };

  #receive(frame: Uint8Array): void {
    let events: RelayEvent[];
    try {
      this.#flushTyping();
      events = JSON.parse(this.#engine.receive(frame));
    } catch (error) {
      const failure = this._engineFailure(error);
      if (this.#ws) this.#drop(this.#ws, 4002, failure.message);
      return;
    }
    for (const event of events) this.#handle(event);
    for (const model of this.#models.values()) model._checkSettled();
    // An acknowledgement may release edits held back behind it (a restored replica sends its
    // cached edits first, its new ones after them): flush soon.
    this.#scheduleFlush();
  }

  #handle(event: RelayEvent): void {
    const model = typeof event.local === 'number' ? this.#models.get(event.local) : undefined;
    switch (event.type) {
      case 'welcome':
        this.#welcomed(event);
        break;
      case 'response': {
        const pending = this.#pending.get(event.requestId as number);
        if (pending) {
          this.#pending.delete(event.requestId as number);
          clearTimeout(pending.timer);
          pending.resolve(event.result as never);
        }
        break;
      }
      case 'error': {
        const error = new TandemError(event.code as string, event.message as string);
        if (typeof event.requestId === 'number') {
          const pending = this.#pending.get(event.requestId);
          if (pending) {
            this.#pending.delete(event.requestId);
            clearTimeout(pending.timer);
            pending.reject(error);
          }
          if (model) this.#lost(model, 'lost', error);
        } else if (AUTH_CODES.has(error.code) && this.#reconnectToken) {
          // The resume token was refused (expired, or the relay forgot it): log in again.
          this.#reconnectToken = undefined;
          this.#attempt = 0;
        } else if (AUTH_CODES.has(error.code) || error.code === 'unsupported_protocol_version') {
          this.#fail(error);
        }
        break;
      }
      case 'changes':
        if (model) {
          this.#dirty.add(model);
          this.#persistSoon();
          model._remoteChanges(event.changes as never);
        }
        break;
      case 'reference':
        model?._referenceEvent(event as never);
        break;
      case 'collaborator_opened':
        model?._collaborator(true, event.collaborator as Collaborator);
        break;
      case 'collaborator_closed':
        model?._collaborator(false, { sessionId: event.sessionId as string });
        break;
      case 'model_online':
        model?._setOnline(true);
        this.#flushNow();
        break;
      case 'model_deleted':
        if (model) {
          void this.#deleteEntries(model.collection, model.id);
          this.#lost(model, 'deleted');
        }
        break;
      case 'model_lost':
        if (model) this.#lost(model, 'lost', new TandemError(event.code as string, event.message as string));
        break;
      case 'model_reset':
        model?._reset(event.droppedEdits as number);
        break;
      case 'presence':
        this.presence._event(event);
        break;
      case 'activity':
        this.activities._event(event);
        break;
      case 'chat':
        this.chat._event(event);
        break;
      case 'ping':
        this.#ws?.send(this.#engine.pong(event.nonce as string));
        break;
      case 'slow_down':
        // The relay dropped operations over its rate limit: reconnect (after the back-off),
        // which re-sends everything unacknowledged in order.
        if (this.#ws) this.#drop(this.#ws, 4003, 'rate limited');
        break;
    }
  }

  #welcomed(event: RelayEvent): void {
    this.#user = event.user as UserInfo;
    // Half the round trip is unknown; the welcome is sent as the session opens, so it is small.
    this.#clockOffset = (event.serverTime as number) - Date.now();
    this.#sessionId = event.sessionId as string;
    this.#reconnectToken = event.reconnectToken as string;
    const resumed = this.#everConnected;
    this.#everConnected = true;
    this.#attempt = 0;
    this.#setState('connected', {});
    this.#startHeartbeat();
    const waiters = this.#connectedWaiters;
    this.#connectedWaiters = [];
    waiters.forEach((w) => w.resolve());
    // Every edit keeps its (origin, sequence) identity across reconnects, so the relay keeps one
    // copy of each whoever re-sends it. The cache entries are written first all the same, so
    // that a crash during the reopen finds them current. (Models restored from the cache
    // meanwhile are reopened by `#open`.)
    if (resumed) {
      void this.presence._resume();
      void this.activities._resume();
    }
    const ws = this.#ws;
    const models = [...this.#engine.openModels()].flatMap((local) => this.#models.get(local) ?? []);
    void this.persist()
      .catch(() => {})
      .then(() => {
        if (this.#ws !== ws || this.#state !== 'connected') return; // a newer connection reopens them
        for (const model of models) if (!model.isClosed) void this.#reopen(model);
      });
  }

  /** Brings a model that was offline (or restored from the cache) up to date. */
  /** Resolves with the relay's refusal if it refused (the model is then closed as lost). */
  #reopen(model: RealTimeModel): Promise<TandemError | undefined> {
    // One reopen per model at a time: a model restored from the cache while the session was
    // being welcomed is reopened by both `#open` and `#welcomed`, and a second reopen would
    // reset the replica while the first one's answer is on its way.
    const running = this.#reopening.get(model);
    if (running) return running;
    const reopen = this.#send<{ online: boolean }>({ type: 'reopen', local: model._local }, this.#options.requestTimeout)
      .then(
        (result) => {
          if (result.online) model._setOnline(true);
          this.#flushNow();
          return undefined;
        },
        (error: TandemError) => {
          // A dropped connection or a slow relay: the next connection reopens it.
          if (error.code === 'disconnected' || error.code === 'timeout') return undefined;
          this.#lost(model, 'lost', error);
          return error;
        },
      )
      .finally(() => this.#reopening.delete(model));
    this.#reopening.set(model, reopen);
    return reopen;
  }

  #lost(model: RealTimeModel, reason: 'deleted' | 'lost', error?: TandemError): void {
    this.#released(model._local);
    this.#engine.forget(model._local);
    this.#models.delete(model._local);
    this.#opening.delete(storageKey(model.collection, model.id));
    model._closed(reason, error);
  }

  // --- requests and frames -------------------------------------------------------------------

  /** @internal Sends a request once connected; resolves with the result or rejects with a `TandemError`. */
  async _request<T>(request: Record<string, unknown>): Promise<T> {
    const deadline = Date.now() + this.#options.requestTimeout;
    if (this.#state !== 'connected') {
      if (this.#fatal) throw this.#fatal;
      if (this.#closedByUser) throw new TandemError('disconnected', 'the session was disconnected');
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new TandemError('timeout', `not connected to the relay within ${this.#options.requestTimeout} ms`)),
          this.#options.requestTimeout,
        );
      });
      try {
        await Promise.race([this.connected(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    }
    return this.#send<T>(request, Math.max(1, deadline - Date.now()));
  }

  #send<T>(request: Record<string, unknown>, timeout: number): Promise<T> {
    const ws = this.#ws;
    if (!ws || this.#state !== 'connected') return Promise.reject(new TandemError('disconnected', 'not connected to the relay'));
    this.#flushNow();
    const id = this.#nextRequest++;
    let frames: Uint8Array;
    try {
      frames = this.#engine.request(id, encodeValue(request));
    } catch (error) {
      return Promise.reject(this._engineFailure(error));
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new TandemError('timeout', `the relay did not answer within ${timeout} ms`));
      }, timeout);
      this.#pending.set(id, { resolve: resolve as (r: never) => void, reject, timer });
      sendFrames(ws, frames);
    });
  }

  /**
   * The cache entries of a model that no live replica holds (its tab closed or crashed, or its
   * process ended), and those a live one holds. Without Web Locks (Node) every entry counts as
   * an orphan: re-sending another live session's edits is harmless, since the relay keeps one
   * copy of each edit whoever sends it.
   */
  async #entries(collection: string, id: string): Promise<{ orphans: string[]; held: string[] }> {
    const storage = this.#storage;
    if (!storage) return { orphans: [], held: [] };
    const keys = (await storage.keys().catch(() => [] as string[])).filter((k) => isEntryOf(k, collection, id));
    const locks = lockManager();
    const orphans: string[] = [];
    const held: string[] = [];
    for (const key of keys) {
      const free = locks ? await locks.request(`tandem:${key}`, { ifAvailable: true }, (lock) => lock !== null) : true;
      (free ? orphans : held).push(key);
    }
    return { orphans, held };
  }

  /**
   * Re-sends the unsent edits of an orphaned cache entry through a replica restored from it
   * for the purpose, then deletes the entry. False if that could not finish (offline, say):
   * the entry stays for a later open.
   */
  async #resendOrphan(key: string, storage = this.#storage): Promise<boolean> {
    const entry = await storage?.get(key).catch(() => undefined);
    if (!storage || !entry) return true;
    let local: number;
    try {
      local = this.#engine.restore(entry);
    } catch (error) {
      const failure = toTandemError(error);
      if (failure.code !== 'too_large') await storage.delete(key).catch(() => {});
      return true;
    }
    const timeout = this.#options.requestTimeout;
    try {
      await this.#send({ type: 'reopen', local }, timeout);
      this.#flushNow();
      const deadline = Date.now() + timeout;
      while (this.#engine.modelFact(local, FACT.settled) !== 1) {
        if (Date.now() > deadline || this.#state !== 'connected') return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      const handle = this.#engine.modelFact(local, FACT.relayHandle);
      if (handle >= 0) await this.#send({ type: 'close_model', model: handle }, timeout).catch(() => {});
      await storage.delete(key);
      return true;
    } catch {
      return false;
    } finally {
      this.#engine.forget(local);
    }
  }

  #open(collection: string, id: string, request: Record<string, unknown>): Promise<RealTimeModel> {
    const key = storageKey(collection, id);
    const existing = this.#opening.get(key);
    if (existing) return existing;
    const opening = (async () => {
      // Other replicas' entries: orphans but one are re-sent first (one replica of a model per
      // session at a time), and the last one becomes this replica. A live replica's entry is
      // never restored: its unsent edits are its own to send (its tab may be another user's).
      const { orphans, held } = await this.#entries(collection, id);
      while (orphans.length > 1 && this.#state === 'connected') {
        if (!(await this.#resendOrphan(orphans[0]))) break;
        orphans.shift();
      }
      const base = orphans[orphans.length - 1];
      const cached = base === undefined ? undefined : await this.#storage?.get(base).catch(() => undefined);
      if (cached) {
        let local: number | undefined;
        try {
          local = this.#engine.restore(cached);
        } catch (error) {
          // An entry that cannot be read goes; one with an edit too large for this relay is
          // kept (quarantined: reported, never sent) and the model opens without it.
          const failure = toTandemError(error);
          if (failure.code === 'too_large') this.#emitQuarantined(collection, id, failure);
          else await this.#storage?.delete(base!);
        }
        if (local !== undefined) {
          const model = this.#adopt(local, false, held);
          // Its own entry, then the orphan it took over goes.
          this.#dirty.add(model);
          await this.#persistNow();
          await this.#storage?.delete(base!).catch(() => {});
          if (this.#state === 'connected') {
            const refused = await this.#reopen(model);
            if (refused) {
              // Deleted, or no longer readable: create it again if asked to, else fail.
              if (request.type === 'open_or_create_model' && refused.code === 'model_not_found') {
                return this.#openFresh(request, held);
              }
              throw refused;
            }
          }
          return model;
        }
      }
      return this.#openFresh(request, held);
    })();
    this.#opening.set(key, opening);
    opening.catch(() => this.#opening.delete(key));
    return opening;
  }

  async #openFresh(request: Record<string, unknown>, held: string[] = []): Promise<RealTimeModel> {
    const result = await this._request<{ local: number; online: boolean }>(request);
    const model = this.#adopt(result.local, result.online, held);
    this.#dirty.add(model);
    this.#persistSoon();
    return model;
  }

  #adopt(local: number, online: boolean, others: string[] = []): RealTimeModel {
    const model = new RealTimeModel(this, this.#engine, local, online);
    this.#models.set(local, model);
    const key = replicaKey(model.collection, model.id, randomTag());
    this.#cacheKeys.set(local, key);
    // Held while the replica lives (the browser releases it if the tab crashes): its entry is
    // then nobody's orphan.
    const locks = lockManager();
    if (locks && this.#storage) {
      void locks.request(`tandem:${key}`, () => {
        // Told only once the lock is held, so that another tab's wait for it queues behind.
        this.#entriesChannel()?.postMessage({ key, collection: model.collection, id: model.id });
        return new Promise<void>((release) => this.#lockReleases.set(local, release));
      });
      // The other live replicas of the model: when one goes, this one sends what it left.
      for (const other of others) this.#watchEntry(model, other);
    }
    return model;
  }

  /** The channel on which tabs announce the entries they hold, created on first use. */
  #entriesChannel(): BroadcastChannel | undefined {
    if (this.#channel === undefined && typeof BroadcastChannel === 'function') {
      this.#channel = new BroadcastChannel(ENTRIES_CHANNEL);
      this.#channel.onmessage = (event: MessageEvent) => {
        const { key, collection, id } = (event.data ?? {}) as { key?: string; collection?: string; id?: string };
        if (typeof key !== 'string') return;
        for (const model of this.#models.values()) {
          if (model.collection === collection && model.id === id) this.#watchEntry(model, key);
        }
      };
    }
    return this.#channel;
  }

  /**
   * Waits, with a queued Web Lock, for the replica holding entry `key` to go (its tab closed or
   * crashed); then, while `model` is still open here, sends the edits it left unsent and drops
   * the entry. Every tab of the model waits like this, and the lock lets one of them at a time
   * in; the relay keeps one copy of each edit whoever sends it.
   */
  #watchEntry(model: RealTimeModel, key: string): void {
    const locks = lockManager();
    if (!locks || this.#watching.has(key) || this.#cacheKeys.get(model._local) === key) return;
    const stop = new AbortController();
    this.#watching.set(key, stop);
    void locks
      .request(`tandem:${key}`, { signal: stop.signal }, async () => {
        if (model.isClosed) return;
        await this.#handOver(key);
      })
      .catch(() => {})
      .finally(() => this.#watching.delete(key));
  }

  /** Sends an orphaned entry's unsent edits through a second session of this user (one replica
   * of a model per session), then deletes the entry; an entry with nothing unsent just goes. */
  async #handOver(key: string): Promise<void> {
    const storage = this.#storage;
    const entry = await storage?.get(key).catch(() => undefined);
    if (!storage || !entry) return;
    let pending = 0;
    try {
      const local = this.#engine.restore(entry);
      pending = this.#engine.modelFact(local, FACT.pending);
      this.#engine.forget(local);
    } catch (error) {
      if (toTandemError(error).code !== 'too_large') await storage.delete(key).catch(() => {});
      return;
    }
    if (pending === 0) {
      await storage.delete(key).catch(() => {});
      return;
    }
    await this.connected().catch(() => {});
    const token = this.#reconnectToken;
    if (!token || this.#closedByUser) return;
    const helper = new Session(this.url, { reconnectToken: token }, this.#WebSocket, {
      storage: false,
      requestTimeout: this.#options.requestTimeout,
      reconnect: false,
    });
    try {
      await helper.connected();
      await helper._resendEntry(storage, key);
    } catch {
      // Left for the next open of the model, or the next tab that sees it go.
    } finally {
      await helper.disconnect().catch(() => {});
    }
  }

  /** @internal For `#handOver`: re-sends an entry of `storage` through this session. */
  async _resendEntry(storage: ModelStorage, key: string): Promise<void> {
    if (!(await this.#resendOrphan(key, storage))) throw new TandemError('timeout', 'the edits were not all acknowledged');
  }

  /** The replica is gone from this session: its entry's lock goes (the entry stays). */
  #released(local: number): void {
    this.#cacheKeys.delete(local);
    this.#lockReleases.get(local)?.();
    this.#lockReleases.delete(local);
  }

  /** @internal Closes a model for this session. */
  async _closeModel(model: RealTimeModel): Promise<void> {
    this.#flushNow();
    const handle = this.#engine.modelFact(model._local, FACT.relayHandle);
    this.#dirty.add(model);
    await this.#persistNow();
    if (handle >= 0 && this.#state === 'connected') {
      await this.#send({ type: 'close_model', model: handle }, this.#options.requestTimeout).catch(() => {});
    }
    this.#released(model._local);
    this.#engine.forget(model._local);
    this.#models.delete(model._local);
    this.#opening.delete(storageKey(model.collection, model.id));
    model._closed('closed');
  }

  /** @internal A model changed locally: send with the next frame, cache soon. */
  _touched(model: RealTimeModel): void {
    this.#dirty.add(model);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setTimeout(() => this.#flushNow(), 0);
    }
  }

  /** Hands every model's type-ahead run to the engine. */
  #flushTyping(): void {
    for (const model of this.#models.values()) model._flushTyping();
  }

  #flushNow(): void {
    this.#flushScheduled = false;
    const ws = this.#ws;
    this.#flushTyping();
    if (ws && this.#state === 'connected') {
      let frames: Uint8Array;
      try {
        frames = this.#engine.flush();
      } catch (error) {
        this._engineFailure(error);
        return;
      }
      sendFrames(ws, frames);
    }
    if (this.#dirty.size > 0) this.#persistSoon();
  }

  #persistSoon(): void {
    if (this.#persistTimer || !this.#storage || this.#closedByUser) return;
    this.#persistTimer = setTimeout(() => {
      this.#persistTimer = undefined;
      void this.#persistNow().catch(() => {});
    }, this.#options.persistDelay);
  }

  /** Writes the dirty models' cache entries, one write after another: an older entry written
   * after a newer one would lose the newer one's edits. */
  #persistNow(): Promise<void> {
    const run = this.#persistChain.then(() => this.#writeDirty());
    this.#persistChain = run.catch(() => {});
    return run;
  }

  async #writeDirty(): Promise<void> {
    const storage = this.#storage;
    if (!storage) return;
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    const writes: Promise<void>[] = [];
    for (const model of dirty) {
      if (model.isClosed) continue;
      let entry: Uint8Array;
      try {
        model._flushTyping();
        entry = this.#engine.cacheEntry(model._local);
      } catch {
        continue;
      }
      const key = this.#cacheKeys.get(model._local);
      if (key !== undefined) writes.push(storage.set(key, entry));
    }
    await Promise.all(writes);
  }

  /** @internal Turns an engine failure into a `TandemError`; a trap fails the session cleanly. */
  _engineFailure(error: unknown): TandemError {
    if (error instanceof WebAssembly.RuntimeError) {
      const panic = lastPanic();
      const failure = new TandemError('internal', `the Tandem engine failed: ${panic || error.message}`, { cause: error });
      // The instance may be inconsistent now: end the session cleanly (edits stay cached as of
      // the last write) rather than keep using it.
      queueMicrotask(() => this.#fail(failure));
      return failure;
    }
    return toTandemError(error);
  }
}

/** Sends frames as the engine returns them: one after another, each after its length (4 bytes, little-endian). */
function sendFrames(ws: WebSocketLike, frames: Uint8Array): void {
  const view = new DataView(frames.buffer, frames.byteOffset, frames.byteLength);
  for (let at = 0; at < frames.length; ) {
    const length = view.getUint32(at, true);
    ws.send(frames.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
}

/**
 * Connects to a relay: resolves with the session once authenticated, rejects with a
 * `TandemError` if the relay cannot be reached or refuses the credentials. The session then
 * reconnects by itself whenever the connection drops.
 */
export async function connect(url: string, auth: Auth, options: ConnectOptions = {}): Promise<Session> {
  const session = await createSession(url, auth, options, true);
  try {
    await session.connected();
  } finally {
    session._failFast(false);
  }
  return session;
}

/**
 * Creates a session that connects in the background and keeps trying: models can be opened
 * from the cache and edited before (or without) a connection; edits go out once connected.
 */
export async function createSession(url: string, auth: Auth, options: ConnectOptions = {}, failFast = false): Promise<Session> {
  await loadWasm();
  const WebSocket = options.WebSocket ?? (await defaultWebSocket());
  const session = new Session(url, auth, WebSocket, options);
  session._failFast(failFast);
  return session;
}
