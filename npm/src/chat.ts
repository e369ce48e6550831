/**
 * Chat: rooms (members are whoever is in them now), channels (persistent members, public or
 * private through their permissions) and direct chats (a fixed set of users). History is
 * stored: page back and forward from any event; unread counts follow the user across sessions
 * and devices through `markSeen`.
 */
import { Emitter } from './emitter.js';
import type { PermissionTarget } from './activities.js';
import { grantEntries, wireTarget } from './wire.js';

/** The kinds of chat. */
export type ChatKind = 'room' | 'channel' | 'direct';

/** What the relay tells about a chat. */
export interface ChatInfo {
  chatId: string;
  kind: ChatKind;
  name: string;
  topic: string;
  /** Member user ids (for a room, whoever is in it now). */
  members: string[];
  createdTime: number;
  lastEventNumber: number;
  lastEventTime: number;
  /** The last event this user marked seen. */
  maxSeenEvent: number;
  /** Whether this user is in it. */
  joined: boolean;
}

/** The kinds of chat event. */
export type ChatEventType =
  | 'created'
  | 'message'
  | 'user_joined'
  | 'user_left'
  | 'user_added'
  | 'user_removed'
  | 'name_changed'
  | 'topic_changed'
  | 'removed';

/** One chat event, live or from history. */
export interface ChatEvent {
  type: ChatEventType;
  chatId: string;
  /** Its number in the chat (the chat's creation is 1). */
  eventNumber: number;
  /** When it happened, ms since the epoch. */
  timestamp: number;
  /** Who did it. */
  userId: string;
  /** A message's text. */
  text?: string;
  /** The user who joined, left, was added or removed. */
  member?: string;
  /** A new name (or the name at creation). */
  name?: string;
  /** A new topic (or the topic at creation). */
  topic?: string;
  /** At creation: the kind and the members. */
  kind?: ChatKind;
  members?: string[];
}

/** What a user may do in a chat. */
export interface ChatRights {
  join: boolean;
  leave: boolean;
  send: boolean;
  manageMembers: boolean;
  setNameAndTopic: boolean;
  remove: boolean;
  manage: boolean;
}

/** Entries granting rights on a chat. */
export interface ChatPermissionEntries {
  world: ChatRights | null;
  users: { userId: string; rights: ChatRights }[];
  groups: { groupId: string; rights: ChatRights }[];
}

/** Events of a chat: each event type, and `event` for all of them. */
export type ChatEvents = { [K in ChatEventType]: ChatEvent } & { event: ChatEvent };

/** What the chat service needs from its session. */
export interface ChatTransport {
  _request<T>(request: Record<string, unknown>): Promise<T>;
}

/** A chat as the protocol spells it. */
type WireChat = Omit<ChatInfo, 'createdTime' | 'lastEventTime'> & { createdMs: number; lastEventMs: number };

/** Chat rights as the protocol spells them. */
type WireChatRights = Omit<ChatRights, 'setNameAndTopic'> & { setNameTopic: boolean };

function chatInfo({ createdMs, lastEventMs, ...info }: WireChat): ChatInfo {
  return { ...info, createdTime: createdMs, lastEventTime: lastEventMs };
}

function chatRights({ setNameTopic, ...rights }: WireChatRights): ChatRights {
  return { ...rights, setNameAndTopic: setNameTopic };
}

/** A chat event from the protocol's form: the body's kind and fields beside the common ones. */
function chatEvent(raw: Record<string, unknown>): ChatEvent {
  const { type, userId: member, ...fields } = raw.body as Record<string, unknown>;
  const event = { type, chatId: raw.chatId, eventNumber: raw.eventNumber, timestamp: raw.timestampMs, userId: raw.userId, ...fields };
  if (member !== undefined) (event as Record<string, unknown>).member = member;
  return event as unknown as ChatEvent;
}

/** The session's chats. Emits `event` for every live event of any chat. */
export class ChatService extends Emitter<{ event: ChatEvent }> {
  readonly #session: ChatTransport;
  /** Chats handed out, by id, so that live events update the same objects. */
  #chats = new Map<string, Chat>();

  /** @internal */
  constructor(session: ChatTransport) {
    super();
    this.#session = session;
  }

  /** Creates a room or a channel (with its initial members; the creator is one). */
  async create(options: { kind: 'room' | 'channel'; id?: string; name?: string; topic?: string; members?: string[] }): Promise<Chat> {
    const request: Record<string, unknown> = { type: 'create_chat', kind: options.kind, name: options.name ?? '', topic: options.topic ?? '', members: options.members ?? [] };
    if (options.id !== undefined) request.chatId = options.id;
    return this.#chat(await this.#session._request<{ chat: WireChat }>(request));
  }

  /** The direct chat between this user and `userIds`, created if needed (the same users always
   * get the same chat). */
  async direct(userIds: string | string[]): Promise<Chat> {
    const list = Array.isArray(userIds) ? userIds : [userIds];
    return this.#chat(await this.#session._request<{ chat: WireChat }>({ type: 'get_direct_chat', userIds: list }));
  }

  /** A chat this user may see. */
  async get(chatId: string): Promise<Chat> {
    return this.#chat(await this.#session._request<{ chat: WireChat }>({ type: 'get_chat', chatId }));
  }

  /** Joins a room or channel. */
  async join(chatId: string): Promise<Chat> {
    return this.#chat(await this.#session._request<{ chat: WireChat }>({ type: 'join_chat', chatId }));
  }

  /** The chats this user is in. */
  async joined(): Promise<Chat[]> {
    const { chats } = await this.#session._request<{ chats: WireChat[] }>({ type: 'get_joined_chats' });
    return chats.map((info) => this.#chat({ chat: info }));
  }

  /** Unread messages by chat id (chats with none are left out). */
  async unreadCounts(): Promise<Record<string, number>> {
    return (await this.#session._request<{ counts: Record<string, number> }>({ type: 'get_unread_counts' })).counts;
  }

  /** @internal */
  _request<T>(request: Record<string, unknown>): Promise<T> {
    return this.#session._request<T>(request);
  }

  /** @internal A live chat event. */
  _event(raw: Record<string, unknown>): void {
    const event = chatEvent(raw);
    this.#chats.get(event.chatId)?._event(event);
    this.emit('event', event);
  }

  #chat({ chat: wire }: { chat: WireChat }): Chat {
    const info = chatInfo(wire);
    let chat = this.#chats.get(info.chatId);
    if (chat) chat._update(info);
    else {
      chat = new Chat(this, info);
      this.#chats.set(info.chatId, chat);
    }
    return chat;
  }
}

/** One chat: what is known about it, kept current by its live events, and what to do in it. */
export class Chat extends Emitter<ChatEvents> {
  readonly #service: ChatService;
  #info: ChatInfo;

  /** @internal */
  constructor(service: ChatService, info: ChatInfo) {
    super();
    this.#service = service;
    this.#info = info;
  }

  /** Its id. */
  get id(): string {
    return this.#info.chatId;
  }

  /** What is known about it now. */
  get info(): ChatInfo {
    return { ...this.#info, members: [...this.#info.members] };
  }

  /** Posts a message; resolves with its event number and time. */
  async send(text: string): Promise<{ eventNumber: number; timestamp: number }> {
    const { eventNumber, timestampMs } = await this.#service._request<{ eventNumber: number; timestampMs: number }>({
      type: 'send_chat_message',
      chatId: this.id,
      text,
    });
    return { eventNumber, timestamp: timestampMs };
  }

  /** Renames it. */
  async setName(name: string): Promise<void> {
    await this.#service._request({ type: 'set_chat_name', chatId: this.id, name });
  }

  /** Changes its topic. */
  async setTopic(topic: string): Promise<void> {
    await this.#service._request({ type: 'set_chat_topic', chatId: this.id, topic });
  }

  /** Adds a member to a channel. */
  async addMember(userId: string): Promise<void> {
    await this.#service._request({ type: 'add_chat_member', chatId: this.id, userId });
  }

  /** Removes a member from a channel. */
  async removeMember(userId: string): Promise<void> {
    await this.#service._request({ type: 'remove_chat_member', chatId: this.id, userId });
  }

  /** Joins it (a room or channel). */
  async join(): Promise<void> {
    this._update(chatInfo((await this.#service._request<{ chat: WireChat }>({ type: 'join_chat', chatId: this.id })).chat));
  }

  /** Leaves it. */
  async leave(): Promise<void> {
    await this.#service._request({ type: 'leave_chat', chatId: this.id });
    this.#info.joined = false;
  }

  /** Deletes it with its history, for everyone. */
  async remove(): Promise<void> {
    await this.#service._request({ type: 'remove_chat', chatId: this.id });
  }

  /**
   * A page of stored events: backward from `start` (the newest by default) or forward from it
   * (the oldest by default), optionally of some types only.
   */
  async history(options: { start?: number; direction?: 'backward' | 'forward'; limit?: number; types?: ChatEventType[] } = {}): Promise<ChatEvent[]> {
    const request: Record<string, unknown> = {
      type: 'get_chat_history',
      chatId: this.id,
      direction: options.direction === 'forward' ? 'ascending' : 'descending',
      limit: options.limit ?? 50,
    };
    if (options.start !== undefined) request.startEvent = options.start;
    if (options.types !== undefined) request.eventKinds = options.types;
    return (await this.#service._request<{ events: Record<string, unknown>[] }>(request)).events.map(chatEvent);
  }

  /** Records that this user has seen the chat up to an event (the newest by default). */
  async markSeen(eventNumber = this.#info.lastEventNumber): Promise<void> {
    await this.#service._request({ type: 'mark_chat_seen', chatId: this.id, eventNumber });
    this.#info.maxSeenEvent = Math.max(this.#info.maxSeenEvent, eventNumber);
  }

  /** The entries granting rights on it (needs manage). */
  async permissions(): Promise<ChatPermissionEntries> {
    const raw = await this.#service._request<{ world: WireChatRights | null; users: Record<string, WireChatRights>; groups: Record<string, WireChatRights> }>({
      type: 'get_chat_permissions',
      chatId: this.id,
    });
    return grantEntries(raw, chatRights);
  }

  /** Grants rights on it to everyone, a user or a group (needs manage); `null` removes the
   * entry. A chat without entries follows its kind's defaults; its creator may do everything. */
  async setPermissions(target: PermissionTarget, rights: Partial<ChatRights> | null): Promise<void> {
    let wire: Record<string, unknown> | null = null;
    if (rights !== null) {
      const { setNameAndTopic, ...rest } = rights;
      wire = setNameAndTopic === undefined ? rest : { ...rest, setNameTopic: setNameAndTopic };
    }
    await this.#service._request({ type: 'set_chat_permissions', chatId: this.id, target: wireTarget(target), rights: wire });
  }

  /** @internal */
  _update(info: ChatInfo): void {
    this.#info = info;
  }

  /** @internal A live event: the known state follows it, then listeners hear of it. */
  _event(event: ChatEvent): void {
    const info = this.#info;
    info.lastEventNumber = Math.max(info.lastEventNumber, event.eventNumber);
    info.lastEventTime = event.timestamp;
    const member = event.member;
    switch (event.type) {
      case 'name_changed':
        info.name = event.name ?? '';
        break;
      case 'topic_changed':
        info.topic = event.topic ?? '';
        break;
      case 'user_joined':
      case 'user_added':
        if (member !== undefined && !info.members.includes(member)) info.members.push(member);
        break;
      case 'user_left':
      case 'user_removed':
        info.members = info.members.filter((m) => m !== member);
        break;
    }
    this.emit(event.type, event);
    this.emit('event', event);
  }
}
