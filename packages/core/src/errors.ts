/**
 * Every error code @dockhand/core raises, with its HTTP status. Middleware packages declare their own codes in
 * the same shape and throw {@link DockhandError} with them.
 */
export const coreErrorCodes = {
  /** The path can be read two ways (encoded slashes, double encoding, more than one route). */
  DOCKHAND_AMBIGUOUS_PATH: 400,
  /** A checked request body is not JSON. */
  DOCKHAND_BAD_JSON: 400,
  /** A checked JSON text names a key twice in one object, which the engine reads otherwise than `JSON.parse`. */
  DOCKHAND_AMBIGUOUS_JSON: 400,
  /** A request or response body a middleware asked for is larger than the limit. */
  DOCKHAND_BODY_TOO_LARGE: 413,
  /** An `Upgrade` header on a route that does not hijack the connection, or an unknown protocol. */
  DOCKHAND_UPGRADE_REFUSED: 400,
  /** The request is malformed in a way the proxy will not forward. */
  DOCKHAND_BAD_REQUEST: 400,
  /** The engine could not be reached. */
  DOCKHAND_UPSTREAM_UNREACHABLE: 502,
  /** The engine's connection failed, or its answer could not be read, before the answer's head. */
  DOCKHAND_UPSTREAM_FAILED: 502,
  /** A middleware threw something that is not a {@link DockhandError}. */
  DOCKHAND_INTERNAL: 500,
} as const;

/** A code of {@link coreErrorCodes}. */
export type CoreErrorCode = keyof typeof coreErrorCodes;

/**
 * A refusal or failure that the proxy sends to the client the way the daemon sends its own errors:
 * `{"message": "..."}` with `status`, so that the docker CLI prints `Error response from daemon: <message>`.
 *
 * @example
 * ```ts
 * throw new DockhandError('DOCKHAND_FORBIDDEN', 403, 'privileged containers are not allowed here');
 * ```
 */
const BRAND = Symbol.for('dockhand.error');

export class DockhandError extends Error {
  /** A stable, documented code such as `DOCKHAND_AMBIGUOUS_PATH`. */
  readonly code: string;
  /** The HTTP status sent to the client. */
  readonly status: number;

  /**
   * @param code - a stable error code
   * @param status - the HTTP status to answer with
   * @param message - what was refused and why, in words a workshop attendee understands
   * @param options - the underlying cause, if any
   */
  constructor(code: string, status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DockhandError';
    this.code = code;
    this.status = status;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * Whether a value is a DockhandError, also one thrown by another copy of this package (two versions in one
   * dependency tree), so that a refusal is never turned into a 500.
   *
   * @param value - anything thrown
   * @returns the verdict
   */
  static is(value: unknown): value is DockhandError {
    return value instanceof DockhandError || (typeof value === 'object' && value !== null && BRAND in value);
  }
}

/**
 * Creates a {@link DockhandError} with one of the core codes and its standard status.
 *
 * @param code - the core error code
 * @param message - the message sent to the client
 * @param cause - the underlying error, if any
 * @returns the error, ready to throw
 * @example
 * ```ts
 * throw coreError('DOCKHAND_BAD_JSON', 'the request body is not valid JSON');
 * ```
 */
export function coreError(code: CoreErrorCode, message: string, cause?: unknown): DockhandError {
  return new DockhandError(code, coreErrorCodes[code], message, cause === undefined ? undefined : { cause });
}

/**
 * Turns anything thrown into the status and JSON body the daemon would send.
 *
 * @param err - the thrown value
 * @returns the HTTP status and the `{"message"}` body
 * @example
 * ```ts
 * toErrorResponse(new DockhandError('X', 403, 'no')); // { status: 403, body: { message: 'no' } }
 * ```
 */
export function toErrorResponse(err: unknown): { status: number; body: { message: string } } {
  if (DockhandError.is(err)) return { status: err.status, body: { message: err.message } };
  return { status: 500, body: { message: 'internal error in the Docker API proxy' } };
}
