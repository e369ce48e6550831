/**
 * Activities: sessions join an activity ("document 42", "page /pricing") to see who else is
 * there and what each participant is doing (cursor colour, "typing", the viewport) as
 * per-session state. A lurker sees the participants without being listed.
 */
import { Emitter } from './emitter.js';
import { TandemError } from './errors.js';
import type { UserInfo } from './session.js';
import { reviveDates, type JsonValue } from './values.js';
import { grantEntries, wireTarget } from './wire.js';

/** What a session may do in an activity. */
export interface ActivityRights {
  /** Join and be listed. */
  join: boolean;
  /** Join without being listed. */
  lurk: boolean;
  /** See the participants' state. */
  viewState: boolean;
  /** Set its own state. */
  setState: boolean;
  /** Change who may do what. */
  manage: boolean;
}

/** A session in an activity. */
export interface ActivityParticipant {
  /** The session. */
  sessionId: string;
  /** Its user. */
  user: UserInfo;
  /** Its state in the activity (empty for a session that may not view state). */
  state: Record<string, JsonValue>;
  /** Whether it is this session. */
  local: boolean;
}

/** What changed in an activity. */
export type ActivityChange =
  | { type: 'joined'; sessionId: string; participant: ActivityParticipant }
  | { type: 'left'; sessionId: string; participant: ActivityParticipant }
  | { type: 'state_set'; sessionId: string; state: Record<string, JsonValue>; participant: ActivityParticipant }
  | { type: 'state_removed'; sessionId: string; keys: string[]; participant: ActivityParticipant }
  | { type: 'state_cleared'; sessionId: string; participant: ActivityParticipant };

/** Events of an activity: each kind of change, and `change` for all of them. */
export type ActivityEvents = {
  [K in ActivityChange['type']]: Extract<ActivityChange, { type: K }>;
} & { change: ActivityChange };

/** Entries granting rights on activities, as `permissions` returns them. */
export interface ActivityPermissionEntries {
  world: ActivityRights | null;
  users: { userId: string; rights: ActivityRights }[];
  groups: { groupId: string; rights: ActivityRights }[];
}

/** Whom an entry is for. */
export type PermissionTarget = { type: 'world' } | { type: 'user'; id: string } | { type: 'group'; id: string };

/** What the activity service needs from its session. */
export interface ActivityTransport {
  _request<T>(request: Record<string, unknown>): Promise<T>;
  readonly sessionId: string | undefined;
}

interface JoinAnswer {
  activity: number;
  participants: Omit<ActivityParticipant, 'local'>[];
  rights: ActivityRights;
}

/** The session's activities. */
export class ActivityService {
  readonly #session: ActivityTransport;
  /** Joined activities by the relay's number. */
  #joined = new Map<number, Activity>();

  /** @internal */
  constructor(session: ActivityTransport) {
    this.#session = session;
  }

  /** Joins an activity (without being listed with `lurk`), with an initial state. */
  async join(
    activityType: string,
    activityId: string,
    options: { lurk?: boolean; state?: Record<string, JsonValue> } = {},
  ): Promise<Activity> {
    const state = options.state ?? {};
    const lurk = options.lurk ?? false;
    const answer = await this.#session._request<JoinAnswer>({ type: 'join_activity', activityType, activityId, lurk, state });
    const activity = new Activity(this, activityType, activityId, lurk, { ...state });
    activity._adopt(answer, this.#session.sessionId);
    this.#joined.set(answer.activity, activity);
    return activity;
  }

  /** The activities this session is in. */
  get joined(): Activity[] {
    return [...this.#joined.values()];
  }

  /** The entries granting rights on activities of a type, or on one (needs manage there). */
  async permissions(activityType: string, activityId?: string): Promise<ActivityPermissionEntries> {
    const request: Record<string, unknown> = { type: 'get_activity_permissions', activityType };
    if (activityId !== undefined) request.activityId = activityId;
    const raw = await this.#session._request<{ world: ActivityRights | null; users: Record<string, ActivityRights>; groups: Record<string, ActivityRights> }>(request);
    return grantEntries(raw, (rights) => rights);
  }

  /**
   * Grants rights on activities of a type, or on one activity, to everyone, a user or a group
   * (needs manage there); `null` removes the entry. Where a type has no entries, everyone may
   * do everything but manage; an activity with entries of its own is governed by them (and by
   * whoever manages its type).
   */
  async setPermissions(
    activityType: string,
    activityId: string | undefined,
    target: PermissionTarget,
    rights: Partial<ActivityRights> | null,
  ): Promise<void> {
    const request: Record<string, unknown> = { type: 'set_activity_permissions', activityType, target: wireTarget(target), rights };
    if (activityId !== undefined) request.activityId = activityId;
    await this.#session._request(request);
  }

  /** @internal */
  _request<T>(request: Record<string, unknown>): Promise<T> {
    return this.#session._request<T>(request);
  }

  /** @internal An activity was left. */
  _forget(activity: Activity): void {
    for (const [number, a] of this.#joined) if (a === activity) this.#joined.delete(number);
  }

  /** @internal An activity event from the relay. */
  _event(event: Record<string, unknown>): void {
    const number = event.activity as number;
    const activity = this.#joined.get(number);
    if (!activity) return;
    if (event.event === 'left' && event.sessionId === this.#session.sessionId) {
      // This session may no longer be there (its rights changed): it is out.
      this.#joined.delete(number);
      activity._lost(new TandemError('permission_denied', `no longer allowed in activity ${activity.type}/${activity.id}`));
      return;
    }
    activity._event(event);
  }

  /** @internal The session reconnected: the relay forgot its activities, so join them again. */
  async _resume(): Promise<void> {
    const activities = [...this.#joined.values()];
    this.#joined.clear();
    for (const activity of activities) {
      try {
        const answer = await this.#session._request<JoinAnswer>({
          type: 'join_activity',
          activityType: activity.type,
          activityId: activity.id,
          lurk: activity.lurking,
          state: activity.state,
        });
        this.#joined.set(answer.activity, activity);
        activity._adopt(answer, this.#session.sessionId);
      } catch (error) {
        activity._lost(error);
      }
    }
  }
}

/** An activity this session joined: its participants, kept current, and their changes. */
export class Activity extends Emitter<ActivityEvents> {
  /** The activity's type. */
  readonly type: string;
  /** Its id. */
  readonly id: string;
  /** Whether this session lurks (is not listed). */
  readonly lurking: boolean;
  readonly #service: ActivityService;
  #number = -1;
  #rights: ActivityRights = { join: false, lurk: false, viewState: false, setState: false, manage: false };
  #participants = new Map<string, ActivityParticipant>();
  #state: Record<string, JsonValue>;
  #joined = true;

  /** @internal */
  constructor(service: ActivityService, type: string, id: string, lurking: boolean, state: Record<string, JsonValue>) {
    super();
    this.#service = service;
    this.type = type;
    this.id = id;
    this.lurking = lurking;
    this.#state = state;
  }

  /** What this session may do here. */
  get rights(): ActivityRights {
    return { ...this.#rights };
  }

  /** Whether this session is still in it (until `leave`). */
  get isJoined(): boolean {
    return this.#joined;
  }

  /** Everyone listed, in the order they joined (this session too unless it lurks). */
  participants(): ActivityParticipant[] {
    return [...this.#participants.values()];
  }

  /** One participant. */
  participant(sessionId: string): ActivityParticipant | undefined {
    return this.#participants.get(sessionId);
  }

  /** This session's state here. */
  get state(): Record<string, JsonValue> {
    return { ...this.#state };
  }

  /** Sets entries of this session's state here (others keep theirs). */
  async setState(state: Record<string, JsonValue>): Promise<void>;
  async setState(key: string, value: JsonValue): Promise<void>;
  async setState(stateOrKey: Record<string, JsonValue> | string, value?: JsonValue): Promise<void> {
    const entries = typeof stateOrKey === 'string' ? { [stateOrKey]: value as JsonValue } : stateOrKey;
    if (entries === null || typeof entries !== 'object' || Array.isArray(entries)) {
      throw new TandemError('invalid_argument', 'an activity state is an object of entries');
    }
    await this.#service._request({ type: 'set_activity_state', activity: this.#live(), state: entries });
    Object.assign(this.#state, entries);
    this.#own((p) => Object.assign(p.state, entries));
  }

  /** Removes entries of this session's state here. */
  async removeState(keys: string | string[]): Promise<void> {
    const list = Array.isArray(keys) ? keys : [keys];
    await this.#service._request({ type: 'remove_activity_state', activity: this.#live(), keys: list });
    for (const key of list) delete this.#state[key];
    this.#own((p) => list.forEach((k) => delete p.state[k]));
  }

  /** Removes every entry of this session's state here. */
  async clearState(): Promise<void> {
    await this.#service._request({ type: 'clear_activity_state', activity: this.#live() });
    this.#state = {};
    this.#own((p) => (p.state = {}));
  }

  /** Leaves the activity; no more events. */
  async leave(): Promise<void> {
    if (!this.#joined) return;
    this.#joined = false;
    this.#service._forget(this);
    await this.#service._request({ type: 'leave_activity', activity: this.#number }).catch(() => {});
  }

  #live(): number {
    if (!this.#joined) throw new TandemError('activity_not_found', `this session left activity ${this.type}/${this.id}`);
    return this.#number;
  }

  #own(change: (p: ActivityParticipant) => void): void {
    for (const p of this.#participants.values()) if (p.local) change(p);
  }

  /** @internal A (re)join's answer: the participants now; differences are reported. */
  _adopt(answer: JoinAnswer, ownSession: string | undefined): void {
    this.#number = answer.activity;
    this.#rights = answer.rights;
    const before = this.#participants;
    this.#participants = new Map();
    for (const p of answer.participants) {
      const participant: ActivityParticipant = {
        sessionId: p.sessionId,
        user: p.user,
        state: reviveDates(p.state) as Record<string, JsonValue>,
        local: p.sessionId === ownSession,
      };
      this.#participants.set(p.sessionId, participant);
    }
    if (before.size === 0) return;
    for (const [sessionId, participant] of before) {
      if (!this.#participants.has(sessionId)) this.#emitChange({ type: 'left', sessionId, participant });
    }
    for (const [sessionId, participant] of this.#participants) {
      const old = before.get(sessionId);
      if (!old) this.#emitChange({ type: 'joined', sessionId, participant });
      else if (JSON.stringify(old.state) !== JSON.stringify(participant.state)) {
        this.#emitChange({ type: 'state_set', sessionId, state: participant.state, participant });
      }
    }
  }

  /** @internal This session is out of the activity: it could not be joined again after a
   * reconnect, or its rights no longer let it stay. Everyone it saw leaves its view. */
  _lost(error: unknown): void {
    this.#joined = false;
    for (const [sessionId, participant] of this.#participants) this.#emitChange({ type: 'left', sessionId, participant });
    this.#participants.clear();
    void error;
  }

  /** @internal An event from the relay. */
  _event(event: Record<string, unknown>): void {
    const sessionId = (event.sessionId ?? (event.participant as { sessionId?: string } | undefined)?.sessionId) as string;
    switch (event.event) {
      case 'joined': {
        const raw = event.participant as Omit<ActivityParticipant, 'local'>;
        const participant: ActivityParticipant = { ...raw, state: reviveDates(raw.state) as Record<string, JsonValue>, local: false };
        this.#participants.set(sessionId, participant);
        this.#emitChange({ type: 'joined', sessionId, participant });
        break;
      }
      case 'left': {
        const participant = this.#participants.get(sessionId);
        if (!participant) return;
        this.#participants.delete(sessionId);
        this.#emitChange({ type: 'left', sessionId, participant });
        break;
      }
      case 'state_set': {
        const participant = this.#participants.get(sessionId);
        if (!participant) return;
        const state = reviveDates(event.state) as Record<string, JsonValue>;
        Object.assign(participant.state, state);
        this.#emitChange({ type: 'state_set', sessionId, state, participant });
        break;
      }
      case 'state_removed': {
        const participant = this.#participants.get(sessionId);
        if (!participant) return;
        const keys = event.keys as string[];
        for (const key of keys) delete participant.state[key];
        this.#emitChange({ type: 'state_removed', sessionId, keys, participant });
        break;
      }
      case 'state_cleared': {
        const participant = this.#participants.get(sessionId);
        if (!participant) return;
        participant.state = {};
        this.#emitChange({ type: 'state_cleared', sessionId, participant });
        break;
      }
    }
  }

  #emitChange(change: ActivityChange): void {
    this.emit(change.type, change as never);
    this.emit('change', change);
  }
}
