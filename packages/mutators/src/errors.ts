import { DockhandError } from '@dockhand/core';
import { familiarName } from './image-reference.ts';
import { versionAtLeast } from './version-compare.ts';

/** Every error code @dockhand/mutators raises, with its HTTP status. Documented in `docs/security.md`. */
export const mutatorErrorCodes = {
  /** The route is not on the allowlist, or no Engine API route at all. */
  DOCKHAND_ROUTE_DENIED: 403,
  /** An object that is not the tenant's (answered with the daemon's own 404 wording). */
  DOCKHAND_NOT_FOUND: 404,
  /** A setting that would escape the sandbox (privileged, host namespaces, devices, ...). */
  DOCKHAND_HOST_ESCAPE: 403,
  /** A mount source that is not allowed. */
  DOCKHAND_MOUNT_REFUSED: 403,
  /** A mount of a type the engine does not know, answered in the engine's words (it refuses it as invalid). */
  DOCKHAND_INVALID_MOUNT: 400,
  /** A reference to another tenant's object inside a request body. */
  DOCKHAND_FOREIGN_REFERENCE: 403,
  /** An image operation the image policy forbids. */
  DOCKHAND_IMAGE_POLICY: 403,
  /** A body whose shape could be read two ways (keys that differ only in case). */
  DOCKHAND_AMBIGUOUS_BODY: 400,
  /** A container or network name that is a full-length id, which the engine would also read as the id. */
  DOCKHAND_AMBIGUOUS_NAME: 400,
  /** A label the proxy owns, set by the client. */
  DOCKHAND_LABEL_SPOOF: 403,
  /** A `filters` query parameter that is not valid JSON in a form the daemon accepts. */
  DOCKHAND_BAD_FILTERS: 400,
  /** An API version older than 1.24 in the path: engines before 25 still serve it, with legacy behaviour. */
  DOCKHAND_API_TOO_OLD: 400,
  /** A lookup the proxy needs before it can answer safely failed on the engine; nothing unchecked is sent. */
  DOCKHAND_ENGINE_LOOKUP_FAILED: 502,
  /** A removal waited too long for a request of the tenant's that named images or volumes (`holdNames`). */
  DOCKHAND_NAMES_HELD: 409,
  /**
   * A volume of the proxy's own instance (project, socket, ...) is missing or carries the tenant label key: a
   * tenant created it before the instance did. The proxy serves nothing.
   */
  DOCKHAND_INSTANCE_VOLUME_TAKEN: 503,
} as const;

/** A code of {@link mutatorErrorCodes}. */
export type MutatorErrorCode = keyof typeof mutatorErrorCodes;

/**
 * Creates a refusal with one of the mutators' codes.
 *
 * @param code - the error code
 * @param message - what was refused and why, for the attendee
 * @param cause - what went wrong underneath, for the log (never sent to the client)
 * @returns the error to throw
 * @example
 * ```ts
 * throw refuse('DOCKHAND_HOST_ESCAPE', 'privileged containers are not allowed here');
 * ```
 */
export function refuse(code: MutatorErrorCode, message: string, cause?: unknown): DockhandError {
  return new DockhandError(
    code,
    mutatorErrorCodes[code],
    message,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The daemon's own 404 for an object the tenant may not see, so that foreign objects look missing.
 *
 * @param kind - `container`, `network`, `volume`, `image`, `exec instance`
 * @param ref - the name or id the client used
 * @returns the error to throw
 * @example
 * ```ts
 * throw notFound('container', 'web'); // 404 {"message":"No such container: web"}
 * ```
 */
export function notFound(
  kind: 'container' | 'network' | 'volume' | 'image' | 'exec instance',
  ref: string,
): DockhandError {
  const message =
    kind === 'network'
      ? `network ${ref} not found`
      : kind === 'volume'
        ? `get ${ref}: no such volume`
        : kind === 'image'
          ? `No such image: ${daemonImageName(ref)}`
          : `No such ${kind}: ${ref}`;
  return new DockhandError('DOCKHAND_NOT_FOUND', 404, message);
}

/**
 * The daemon's own 404 for a kill of a container the tenant may not see: the engine's kill route wraps every error
 * of the kill, a missing container's too (`Cannot kill container: web: No such container: web`, lower-case from
 * API 1.42 on).
 *
 * @param ref - the name or id the client used
 * @param apiVersion - the engine's API version
 * @returns the error to throw
 * @example
 * ```ts
 * throw killNotFound('web', '1.45'); // 404 {"message":"cannot kill container: web: No such container: web"}
 * ```
 */
export function killNotFound(ref: string, apiVersion: string): DockhandError {
  const verb = versionAtLeast(apiVersion, '1.42') ? 'cannot' : 'Cannot';
  return new DockhandError(
    'DOCKHAND_NOT_FOUND',
    404,
    `${verb} kill container: ${ref}: No such container: ${ref}`,
  );
}

/**
 * The daemon's own 404 for an image the tenant may not see, in the words of the engine at hand: Engine 20.10 (API
 * 1.41) names the reference as given and then as it normalises it, later engines the normalised one only.
 *
 * @param ref - the reference the client used
 * @param apiVersion - the engine's API version
 * @returns the error to throw
 * @example
 * ```ts
 * throw imageNotFound('web', '1.45'); // 404 {"message":"No such image: web:latest"}
 * ```
 */
export function imageNotFound(ref: string, apiVersion: string): DockhandError {
  const named = daemonImageName(ref);
  const message = versionAtLeast(apiVersion, '1.42')
    ? `No such image: ${named}`
    : `no such image: ${ref}: No such image: ${named}`;
  return new DockhandError('DOCKHAND_NOT_FOUND', 404, message);
}

/**
 * The daemon's own 404 for an image a save (`docker save`, `/images/get`) names and the tenant may not see, in the
 * words of a save of a missing one: `reference does not exist` for a name with a tag or a digest, `No such image:`
 * and the reference as given for a bare name or an id prefix.
 *
 * @param ref - the reference the client used
 * @returns the error to throw
 * @example
 * ```ts
 * throw saveNotFound('web:1'); // 404 {"message":"reference does not exist"}
 * ```
 */
export function saveNotFound(ref: string): DockhandError {
  const slash = ref.lastIndexOf('/');
  // `sha256:3f` is an id prefix to the daemon's save, not the tag `3f` of a repository `sha256`
  const named = !/^sha256:[0-9a-f]*$/.test(ref) && (ref.includes('@') || ref.includes(':', slash + 1));
  return new DockhandError(
    'DOCKHAND_NOT_FOUND',
    404,
    named ? 'reference does not exist' : `No such image: ${ref}`,
  );
}

/**
 * An image reference as the daemon's "No such image" names it: a whole id with its `sha256:`, a name in its familiar
 * form (without `docker.io/` and `library/`) and with `:latest` when it has neither a tag nor a digest. A foreign
 * image is answered in the very words a missing one is.
 *
 * @param ref - a reference as the client sent it
 * @returns the daemon's spelling of it
 * @internal
 */
export function daemonImageName(ref: string): string {
  if (/^[0-9a-f]{64}$/.test(ref)) return `sha256:${ref}`;
  if (/^sha256:[0-9a-f]{64}$/.test(ref)) return ref;
  const at = ref.indexOf('@');
  const named = at === -1 ? ref : ref.slice(0, at);
  const digest = at === -1 ? '' : ref.slice(at);
  const slash = named.lastIndexOf('/');
  const colon = named.lastIndexOf(':');
  const tagged = colon > slash;
  const name = familiarName(tagged ? named.slice(0, colon) : named);
  const tag = tagged ? named.slice(colon) : digest === '' ? ':latest' : '';
  return `${name}${tag}${digest}`;
}
