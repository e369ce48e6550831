/**
 * Tandem: real-time collaborative JSON models for JavaScript.
 *
 * ```ts
 * import { connect } from 'tandem-client';
 * const session = await connect('ws://localhost:8080/ws', { anonymous: 'Ada' });
 * const doc = await session.openOrCreate('notes', 'welcome', { text: 'Hello' });
 * const text = doc.elementAt('text') as RealTimeString;
 * text.on('change', (e) => console.log(e.local ? 'me' : e.userId, text.value()));
 * text.insert(5, ', world');
 * ```
 */
export { connect, createSession, Session } from './session.js';
export type {
  Auth,
  ConnectOptions,
  ConnectionState,
  Credential,
  GroupInfo,
  ModelSummary,
  ReconnectOptions,
  SessionEvents,
  UserInfo,
  WebSocketConstructor,
  WebSocketLike,
} from './session.js';
export { Activity, ActivityService } from './activities.js';
export type {
  ActivityChange,
  ActivityEvents,
  ActivityParticipant,
  ActivityPermissionEntries,
  ActivityRights,
  PermissionTarget,
} from './activities.js';
export { Chat, ChatService } from './chat.js';
export type {
  ChatEvent,
  ChatEventType,
  ChatEvents,
  ChatInfo,
  ChatKind,
  ChatPermissionEntries,
  ChatRights,
} from './chat.js';
export { PresenceService, PresenceSubscription } from './presence.js';
export type { PresenceChange, PresenceEvents, UserPresence } from './presence.js';
export { RealTimeModel } from './model.js';
export type { Collaborator, ModelEvents, SyncState } from './model.js';
export {
  RealTimeArray,
  RealTimeBoolean,
  RealTimeDate,
  RealTimeElement,
  RealTimeNull,
  RealTimeNumber,
  RealTimeObject,
  RealTimeString,
} from './elements.js';
export type { ChangeType, ElementChange, ElementEvents, ElementType, PathSegment } from './elements.js';
export {
  LocalElementReference,
  LocalIndexReference,
  LocalPropertyReference,
  LocalRangeReference,
  LocalReference,
  RemoteReference,
} from './references.js';
export type { Range, ReferenceType, RemoteReferenceEvent } from './references.js';
export { HistoricalModel } from './history.js';
export type { HistoricOperation } from './history.js';
export { IndexedDbStorage, MemoryStorage } from './storage.js';
export type { ModelStorage } from './storage.js';
export { TandemError } from './errors.js';
export type { ClientErrorCode } from './errors.js';
export type { JsonValue } from './values.js';
