/**
 * Presence: who is available (a user is while at least one of their sessions is connected) and
 * the state each user publishes (a status, "in a meeting", anything the app wants). Follow
 * users with `subscribe` and get their changes as events.
 */
import { Emitter } from './emitter.js';
import { TandemError } from './errors.js';
import { reviveDates, type JsonValue } from './values.js';

/** A user's presence. */
export interface UserPresence {
  /** The user. */
  userId: string;
  /** Whether at least one of their sessions is connected. */
  available: boolean;
  /** What their sessions published, in the order keys were first set. */
  state: Record<string, JsonValue>;
}

/** What changed in a followed user's presence. */
export type PresenceChange =
  | { type: 'available'; userId: string }
  | { type: 'unavailable'; userId: string }
  | { type: 'state_set'; userId: string; state: Record<string, JsonValue> }
  | { type: 'state_removed'; userId: string; keys: string[] }
  | { type: 'state_cleared'; userId: string };

/** Events of a presence subscription: each kind of change, and `change` for all of them. */
export type PresenceEvents = {
  [K in PresenceChange['type']]: Extract<PresenceChange, { type: K }> & { presence: UserPresence };
} & { change: PresenceChange & { presence: UserPresence } };

/** What the presence service needs from its session. */
export interface PresenceTransport {
  /** Sends a request, resolving with the engine's JSON answer. */
  _request(request: Record<string, unknown>): Promise<unknown>;
}

const toList = (ids: string | string[]): string[] => (Array.isArray(ids) ? ids : [ids]);

/** The session's presence: its user's state, and the users it follows. */
export class PresenceService {
  readonly #session: PresenceTransport;
  /** This session's user's state, as set here (published again after a reconnect). */
  #state: Record<string, JsonValue> = {};
  /** The presence of every followed user, kept current by events. */
  #known = new Map<string, UserPresence>();
  /** How many live subscriptions follow each user (the relay is told at 0 and 1). */
  #following = new Map<string, number>();
  #subscriptions = new Set<PresenceSubscription>();

  /** @internal */
  constructor(session: PresenceTransport) {
    this.#session = session;
  }

  /** This session's user's state, as last set through this session. */
  get state(): Record<string, JsonValue> {
    return { ...this.#state };
  }

  /** Sets entries of this user's state (others keep theirs); everyone following sees them. */
  async setState(state: Record<string, JsonValue>): Promise<void>;
  async setState(key: string, value: JsonValue): Promise<void>;
  async setState(stateOrKey: Record<string, JsonValue> | string, value?: JsonValue): Promise<void> {
    const entries = typeof stateOrKey === 'string' ? { [stateOrKey]: value as JsonValue } : stateOrKey;
    if (entries === null || typeof entries !== 'object' || Array.isArray(entries)) {
      throw new TandemError('invalid_argument', 'a presence state is an object of entries');
    }
    await this.#session._request({ type: 'set_presence_state', state: entries });
    Object.assign(this.#state, entries);
  }

  /** Removes entries of this user's state. */
  async removeState(keys: string | string[]): Promise<void> {
    const list = toList(keys);
    await this.#session._request({ type: 'remove_presence_state', keys: list });
    for (const key of list) delete this.#state[key];
  }

  /** Removes every entry of this user's state. */
  async clearState(): Promise<void> {
    await this.#session._request({ type: 'clear_presence_state' });
    this.#state = {};
  }

  /** The current presence of users, without following them. */
  async get(userIds: string | string[]): Promise<UserPresence[]> {
    const answer = (await this.#session._request({ type: 'get_presence', userIds: toList(userIds) })) as {
      users: UserPresence[];
    };
    return answer.users.map(revive);
  }

  /** Follows users: the subscription holds their presence, kept current, and emits changes. */
  async subscribe(userIds: string | string[]): Promise<PresenceSubscription> {
    const list = [...new Set(toList(userIds))];
    const fresh = list.filter((id) => !this.#following.has(id));
    for (const id of list) this.#following.set(id, (this.#following.get(id) ?? 0) + 1);
    try {
      if (fresh.length > 0) await this.#follow(fresh);
    } catch (error) {
      this.#release(list);
      throw error;
    }
    const subscription = new PresenceSubscription(this, list);
    this.#subscriptions.add(subscription);
    return subscription;
  }

  /** @internal The presence of a followed user. */
  _known(userId: string): UserPresence | undefined {
    return this.#known.get(userId);
  }

  /** @internal A subscription ended. */
  async _unsubscribe(subscription: PresenceSubscription): Promise<void> {
    if (!this.#subscriptions.delete(subscription)) return;
    const unfollowed = this.#release(subscription.userIds);
    if (unfollowed.length > 0) {
      await this.#session._request({ type: 'unsubscribe_presence', userIds: unfollowed }).catch(() => {});
    }
  }

  /** @internal A presence event from the relay. */
  _event(event: Record<string, unknown>): void {
    const userId = event.userId as string;
    const presence = this.#known.get(userId);
    if (!presence) return;
    let change: PresenceChange;
    switch (event.event) {
      case 'available':
        presence.available = true;
        change = { type: 'available', userId };
        break;
      case 'unavailable':
        // A user's state goes with their last session.
        presence.available = false;
        presence.state = {};
        change = { type: 'unavailable', userId };
        break;
      case 'state_set': {
        const state = reviveDates(event.state) as Record<string, JsonValue>;
        Object.assign(presence.state, state);
        change = { type: 'state_set', userId, state };
        break;
      }
      case 'state_removed': {
        const keys = event.keys as string[];
        for (const key of keys) delete presence.state[key];
        change = { type: 'state_removed', userId, keys };
        break;
      }
      case 'state_cleared':
        presence.state = {};
        change = { type: 'state_cleared', userId };
        break;
      default:
        return;
    }
    for (const subscription of this.#subscriptions) subscription._changed(change, presence);
  }

  /**
   * @internal The session reconnected: follow everyone again (what changed meanwhile arrives
   * as changes) and publish this user's state again (it went if the user was away).
   */
  async _resume(): Promise<void> {
    const followed = [...this.#following.keys()];
    const before = new Map([...this.#known].map(([id, p]) => [id, JSON.stringify(p)]));
    if (Object.keys(this.#state).length > 0) {
      await this.#session._request({ type: 'set_presence_state', state: this.#state }).catch(() => {});
    }
    if (followed.length === 0) return;
    await this.#follow(followed).catch(() => {});
    for (const id of followed) {
      const presence = this.#known.get(id);
      if (!presence || before.get(id) === JSON.stringify(presence)) continue;
      const change: PresenceChange = presence.available
        ? { type: 'state_set', userId: id, state: presence.state }
        : { type: 'unavailable', userId: id };
      for (const subscription of this.#subscriptions) subscription._changed(change, presence);
    }
  }

  async #follow(userIds: string[]): Promise<void> {
    const answer = (await this.#session._request({ type: 'subscribe_presence', userIds })) as {
      users: UserPresence[];
    };
    for (const presence of answer.users) {
      const known = this.#known.get(presence.userId);
      const fresh = revive(presence);
      if (known) Object.assign(known, fresh);
      else this.#known.set(presence.userId, fresh);
    }
  }

  /** Counts subscriptions down; returns the users nobody follows any more. */
  #release(userIds: readonly string[]): string[] {
    const gone: string[] = [];
    for (const id of userIds) {
      const count = (this.#following.get(id) ?? 1) - 1;
      if (count > 0) {
        this.#following.set(id, count);
      } else {
        this.#following.delete(id);
        this.#known.delete(id);
        gone.push(id);
      }
    }
    return gone;
  }
}

/** Followed users' presence, kept current; emits each change. */
export class PresenceSubscription extends Emitter<PresenceEvents> {
  /** The users followed. */
  readonly userIds: readonly string[];
  readonly #service: PresenceService;
  #active = true;

  /** @internal */
  constructor(service: PresenceService, userIds: string[]) {
    super();
    this.#service = service;
    this.userIds = userIds;
  }

  /** The current presence of one of the followed users. */
  get(userId: string): UserPresence | undefined {
    if (!this.userIds.includes(userId)) return undefined;
    return this.#service._known(userId);
  }

  /** The current presence of every followed user. */
  get users(): UserPresence[] {
    return this.userIds.flatMap((id) => this.#service._known(id) ?? []);
  }

  /** Whether it still follows (until `unsubscribe`). */
  get isActive(): boolean {
    return this.#active;
  }

  /** Stops following; no more events. */
  async unsubscribe(): Promise<void> {
    if (!this.#active) return;
    this.#active = false;
    await this.#service._unsubscribe(this);
  }

  /** @internal */
  _changed(change: PresenceChange, presence: UserPresence): void {
    if (!this.#active || !this.userIds.includes(change.userId)) return;
    const event = { ...change, presence };
    this.emit(change.type, event as never);
    this.emit('change', event);
  }
}

function revive(presence: UserPresence): UserPresence {
  return { userId: presence.userId, available: presence.available, state: reviveDates(presence.state) as Record<string, JsonValue> };
}
