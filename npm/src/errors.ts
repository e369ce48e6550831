/**
 * Errors: every failure the SDK reports is a `TandemError` with a stable, machine-readable
 * `code` (the relay's codes, such as `permission_denied` or `model_not_found`, and the client's
 * own, such as `timeout`, `disconnected` or `detached`) and a readable message.
 */

/** The codes the client itself produces; relay codes pass through unchanged. */
export type ClientErrorCode =
  | 'timeout'
  | 'disconnected'
  | 'closed'
  | 'internal'
  | 'detached'
  | 'wrong_type'
  | 'invalid_argument'
  | 'not_open'
  | 'auth_failed'
  | 'no_websocket'
  | 'too_large';

/** A failure, with a stable `code` to branch on and a message for people. */
export class TandemError extends Error {
  /** The machine-readable reason, such as `permission_denied` or `timeout`. */
  readonly code: ClientErrorCode | (string & {});

  constructor(code: ClientErrorCode | (string & {}), message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TandemError';
    this.code = code;
  }
}

/** Turns whatever a call threw into a `TandemError` (the engine throws `code`, NUL, message). */
export function toTandemError(error: unknown): TandemError {
  if (error instanceof TandemError) return error;
  if (typeof error === 'string') {
    const split = error.indexOf('\0');
    if (split > 0) return new TandemError(error.slice(0, split), error.slice(split + 1));
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return new TandemError(typeof code === 'string' ? code : 'internal', error.message, { cause: error });
  }
  return new TandemError('internal', String(error));
}
