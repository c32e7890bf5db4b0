/**
 * Every error code the forwarder can report, with what it means.
 *
 * @example
 * ```ts
 * if (err instanceof ForwarderError && err.code === ForwarderErrorCode.PortConflict) retryLater();
 * ```
 */
export const ForwarderErrorCode = {
  /** An option passed to {@link createForwarder} (or the CLI) is not valid. */
  InvalidOption: 'DOCKHAND_FWD_INVALID_OPTION',
  /** The Docker socket could not be reached or answered with an error. */
  EngineUnreachable: 'DOCKHAND_FWD_ENGINE_UNREACHABLE',
  /** A forwarded port is already taken, by another container or by a process in the namespace. */
  PortConflict: 'DOCKHAND_FWD_PORT_CONFLICT',
  /** No address to reach a container's published port could be found. */
  NoRoute: 'DOCKHAND_FWD_NO_ROUTE',
  /** Connecting a container to the forwarder's network failed. */
  AttachFailed: 'DOCKHAND_FWD_ATTACH_FAILED',
} as const;

/** One of the stable {@link ForwarderErrorCode} values. */
export type ForwarderErrorCode = (typeof ForwarderErrorCode)[keyof typeof ForwarderErrorCode];

/**
 * The one error type the forwarder throws or reports; `code` is stable, `message` is for people.
 *
 * @example
 * ```ts
 * throw new ForwarderError(ForwarderErrorCode.InvalidOption, 'portOffset must be an integer');
 * ```
 */
export class ForwarderError extends Error {
  /** The stable code, one of {@link ForwarderErrorCode}. */
  readonly code: ForwarderErrorCode;

  /**
   * @param code - the stable error code
   * @param message - what went wrong, in words an attendee understands
   * @param options - the underlying cause, if any
   */
  constructor(code: ForwarderErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ForwarderError';
    this.code = code;
  }
}
