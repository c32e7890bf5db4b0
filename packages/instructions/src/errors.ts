/**
 * Every error code `@dockhand/instructions` can raise, with the HTTP status it is sent with.
 *
 * @example
 * ```ts
 * import { InstructionsErrorCodes } from '@dockhand/instructions';
 * console.log(InstructionsErrorCodes.PAGE_NOT_FOUND.status); // 404
 * ```
 */
export const InstructionsErrorCodes: {
  readonly ROOT_NOT_FOUND: { readonly status: 500 };
  readonly BAD_MANIFEST: { readonly status: 500 };
  readonly BAD_REQUEST: { readonly status: 400 };
  readonly PAGE_NOT_FOUND: { readonly status: 404 };
  readonly METHOD_NOT_ALLOWED: { readonly status: 405 };
  readonly RUN_NOT_CONFIGURED: { readonly status: 404 };
  readonly RUN_FORBIDDEN: { readonly status: 403 };
  readonly RUN_UNKNOWN_BLOCK: { readonly status: 404 };
  readonly RUN_FAILED: { readonly status: 502 };
} = {
  /** The `root` folder does not exist or is not a folder. */
  ROOT_NOT_FOUND: { status: 500 },
  /** `workshop.yaml` could not be parsed or has the wrong shape. */
  BAD_MANIFEST: { status: 500 },
  /** The request could not be understood (bad URL encoding, a bad body). */
  BAD_REQUEST: { status: 400 },
  /** No page or file answers this path, or the path points outside `root`. */
  PAGE_NOT_FOUND: { status: 404 },
  /** The path exists but not for this HTTP method. */
  METHOD_NOT_ALLOWED: { status: 405 },
  /** A "run in terminal" request reached a server that has no `runCommand` hook. */
  RUN_NOT_CONFIGURED: { status: 404 },
  /** A "run in terminal" request came from another site. */
  RUN_FORBIDDEN: { status: 403 },
  /** A "run in terminal" request named a page or block with no runnable command. */
  RUN_UNKNOWN_BLOCK: { status: 404 },
  /** The `runCommand` hook threw. */
  RUN_FAILED: { status: 502 },
} as const;

/** One of the codes in {@link InstructionsErrorCodes}. */
export type InstructionsErrorCode = keyof typeof InstructionsErrorCodes;

/**
 * The one error type `@dockhand/instructions` throws: a stable `code`, an HTTP `status` and a message a
 * workshop author or attendee can act on.
 *
 * @example
 * ```ts
 * try {
 *   await createInstructionsServer({ root: '/nope' }).listen();
 * } catch (error) {
 *   if (error instanceof InstructionsError && error.code === 'ROOT_NOT_FOUND') console.error(error.message);
 * }
 * ```
 */
export class InstructionsError extends Error {
  /** The stable error code. */
  readonly code: InstructionsErrorCode;
  /** The HTTP status this error is answered with. */
  readonly status: number;

  /**
   * @param code - one of {@link InstructionsErrorCodes}
   * @param message - what went wrong, in words the reader can act on
   * @param options - the underlying `cause`, if any
   */
  constructor(code: InstructionsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InstructionsError';
    this.code = code;
    this.status = InstructionsErrorCodes[code].status;
  }
}
