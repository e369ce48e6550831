/**
 * Internal: the engine hands over most answers and pushes as the protocol's types spell them
 * (fields in camel case, times in `…Ms`, lists of `(id, value)` pairs as objects); these turn them
 * into the package's public types, and public arguments into the protocol's.
 */
import type { PermissionTarget } from './activities.js';

/** Whom an entry is for, as the protocol names it. */
export function wireTarget(target: PermissionTarget): Record<string, unknown> {
  if (target.type === 'user') return { type: 'user', userId: target.id };
  if (target.type === 'group') return { type: 'group', groupId: target.id };
  return { type: 'world' };
}

/** Entries granting rights, from the protocol's `(id, rights)` lists. */
export function grantEntries<W, R>(
  raw: { world: W | null; users: Record<string, W>; groups: Record<string, W> },
  rights: (wire: W) => R,
): { world: R | null; users: { userId: string; rights: R }[]; groups: { groupId: string; rights: R }[] } {
  return {
    world: raw.world === null ? null : rights(raw.world),
    users: Object.entries(raw.users).map(([userId, r]) => ({ userId, rights: rights(r) })),
    groups: Object.entries(raw.groups).map(([groupId, r]) => ({ groupId, rights: rights(r) })),
  };
}
