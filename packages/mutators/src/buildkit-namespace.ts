import { createHash } from 'node:crypto';
import { refuse } from './errors.ts';
import {
  bytesOf,
  fieldsOf,
  int32sOf,
  lastString,
  stringMapOf,
  stringsOf,
  withString,
} from './protobuf-wire.ts';

/**
 * The tenant's namespace for what BuildKit names engine-wide, from its labels: a name of its own, of one length
 * and with no `/`, `-` or `:` after its fixed start, so that no name of one tenant can be spelled as another's.
 * Cache mounts are namespaced as `<namespace>/<id>`; build refs and session ids as `<namespace>-<id>`.
 *
 * @param labels - the tenant's labels
 * @returns `dockhand-<hash>`
 * @internal
 */
export function namespaceOf(labels: readonly (readonly [string, string])[]): string {
  const h = createHash('sha256');
  for (const [k, v] of labels) h.update(`${k}\0${v}\0`);
  return `dockhand-${h.digest('hex').slice(0, 32)}`;
}

/** What the guard, Node's header decoding and the engine's bytes all read alike: printable ASCII. */
const PRINTABLE = /^[\x21-\x7e]*$/;
const MAX_ID = 256;

/**
 * Whether a build ref is one the guard reads as the engine does: 1 to 256 printable ASCII characters.
 *
 * @param ref - the ref, one character per byte
 * @returns whether it is
 * @internal
 */
export function isBuildRef(ref: string): boolean {
  return ref.length > 0 && ref.length <= MAX_ID && PRINTABLE.test(ref);
}

/**
 * The engine's name for a build ref the tenant gave (a `Control/Solve`'s ref, a `Control/Status`'s, the
 * `buildkit-controlapi-buildid` header of a gateway call): in the tenant's namespace, so that a tenant reaches
 * only its own builds, however it learnt another's ref.
 *
 * @param namespace - the tenant's namespace ({@link namespaceOf})
 * @param ref - the ref the client sent, one character per byte
 * @returns `<namespace>-<ref>`
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY` for a ref that is not printable ASCII
 * @internal
 */
export function scopedRef(namespace: string, ref: string): string {
  if (!isBuildRef(ref))
    throw refuse('DOCKHAND_IMAGE_POLICY', 'a build ref of that form cannot be checked here');
  return `${namespace}-${ref}`;
}

/**
 * The engine's name for a BuildKit session id the tenant gave (the session it opens, the session a solve or an
 * image lookup uses): in the tenant's namespace. The engine looks a session up by the part after its first `:`
 * when there is one, so an id with a `:` is refused; an empty id is namespaced too.
 *
 * @param namespace - the tenant's namespace ({@link namespaceOf})
 * @param id - the session id the client sent, one character per byte
 * @returns `<namespace>-<id>`
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY` for an id that is not printable ASCII or
 *   holds a `:`
 * @internal
 */
export function scopedSession(namespace: string, id: string): string {
  if (!isSessionId(id))
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      'a BuildKit session id of that form cannot be checked here (printable ASCII without ":")',
    );
  return `${namespace}-${id}`;
}

/** Whether a session id is one the guard reads as the engine does: printable ASCII, no `:`, at most 256 long. */
function isSessionId(id: string): boolean {
  return id.length <= MAX_ID && PRINTABLE.test(id) && !id.includes(':');
}

/**
 * The headers by which a client opens a session, in the tenant's namespace: its id ({@link scopedSession}) and its
 * shared key, which names the snapshots of its files. The key is namespaced when the client sent none too: every
 * session without one would share those snapshots.
 *
 * @param namespace - the tenant's namespace
 * @param id - `X-Docker-Expose-Session-Uuid` as sent (`''` for none)
 * @param sharedKey - `X-Docker-Expose-Session-Sharedkey` as sent (`''` for none)
 * @returns the two values to send
 * @internal
 */
export function scopedSessionHeaders(
  namespace: string,
  id: string,
  sharedKey: string,
): { id: string; sharedKey: string } {
  return { id: scopedSession(namespace, id), sharedKey: `${namespace}-${sharedKey}` };
}

/**
 * Refuses source attributes (`local.session`, `oci.session`, any attribute whose key names a session) that name
 * a session outside the tenant's namespace. LLB the client built names sessions as the engine knows them: a
 * client that sets one must write it in its namespace (`<namespace>-<id>`).
 *
 * @param attrs - the attributes, in wire order
 * @param namespace - the tenant's namespace
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
 * @internal
 */
export function checkSessionAttrs(attrs: readonly (readonly [string, string])[], namespace: string): void {
  for (const [key, value] of attrs) {
    if (!/session/i.test(key) || value === '') continue;
    const prefix = `${namespace}-`;
    if (!value.startsWith(prefix) || !isSessionId(value.slice(prefix.length)))
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        `a build source may use only your own BuildKit sessions (${key} must start with ${namespace}-)`,
      );
  }
}

/** A source policy rule's action that rewrites a source (`CONVERT`), where `ALLOW` and `DENY` only decide. */
const CONVERT = 2;

/**
 * Refuses source policies a client sends (a `Control/Solve`'s, a gateway solve's or image lookup's) with a
 * `CONVERT` rule: a converted source is made by the engine, where the guard does not read it (it could be a
 * `local://` source of no session, see {@link checkSourceOp}). `DENY` and `ALLOW` rules only narrow: BuildKit
 * evaluates every policy, and the tenant's own denies.
 *
 * @param policy - a `sourcepolicy.Policy` (`Rules` 2: `Action` 1)
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
 * @internal
 */
export function checkClientPolicy(policy: Uint8Array): void {
  for (const rule of bytesOf(policy, 2))
    if (int32sOf(rule, 1).includes(CONVERT))
      throw refuse('DOCKHAND_IMAGE_POLICY', 'a source policy that converts sources is not allowed here');
}

/**
 * The sources that read files through a session, by scheme (`local.session`, `oci.session` name it). Without one
 * named, the engine asks the session of any build that runs the same step at the same time: two builds' identical
 * steps are one step to the engine. With one named, the step holds the tenant's namespace, and no other's step is
 * the same.
 */
const SESSION_SOURCES = new Set(['local', 'oci-layout']);

/**
 * Checks a `pb.SourceOp` (`identifier` 1, `attrs` 2) the client built: a source that reads through a session must
 * name one of the tenant's ({@link SESSION_SOURCES}), and no attribute may name another's
 * ({@link checkSessionAttrs}).
 *
 * @param source - the op's bytes
 * @param namespace - the tenant's namespace
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
 * @internal
 */
export function checkSourceOp(source: Uint8Array, namespace: string): void {
  const attrs = stringMapOf(source, 2);
  checkSessionAttrs(attrs, namespace);
  const identifier = stringsOf(source, 1).at(-1) ?? '';
  const scheme = identifier.slice(0, Math.max(0, identifier.indexOf('://')));
  // as the engine reads the map: the last entry of a key wins
  const named = [...new Map(attrs)].some(([k, v]) => /session/i.test(k) && v !== '');
  if (SESSION_SOURCES.has(scheme) && !named)
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      `a ${scheme}:// source must name its session here (${scheme === 'local' ? 'local' : 'oci'}.session, starting with ${namespace}-)`,
    );
}

/**
 * A `Control/Status` request (`Ref` 1) for the tenant's own build of that ref.
 *
 * @param message - the request's protobuf bytes
 * @param namespace - the tenant's namespace
 * @returns the rewritten request
 * @internal
 */
export function scopeStatus(message: Buffer, namespace: string): Buffer {
  return withString(message, 1, scopedRef(namespace, lastString(message, 1)));
}

/**
 * A gateway `ResolveImageConfig` request (`SessionID` 6, `SourcePolicies` 8): a session it names is the tenant's
 * own, and its policies are checked ({@link checkClientPolicy}). Without a session, the build's own is used.
 *
 * @param message - the request's protobuf bytes
 * @param namespace - the tenant's namespace
 * @returns the rewritten request
 * @internal
 */
export function scopeImageLookup(message: Buffer, namespace: string): Buffer {
  for (const policy of bytesOf(message, 8)) checkClientPolicy(policy);
  const session = lastString(message, 6);
  if (session === '') return message;
  return withString(message, 6, scopedSession(namespace, session));
}

/**
 * Checks a gateway `ResolveSourceMeta` request (`Source` 1, `SourcePolicies` 8): its source and policies may name
 * only the tenant's own sessions.
 *
 * @param message - the request's protobuf bytes
 * @param namespace - the tenant's namespace
 * @returns the request, unchanged
 * @internal
 */
export function checkSourceLookup(message: Buffer, namespace: string): Buffer {
  for (const source of bytesOf(message, 1)) checkSourceOp(source, namespace);
  for (const policy of bytesOf(message, 8)) checkClientPolicy(policy);
  return message;
}

/**
 * Refuses fields of a request past the last one the guard knows: a newer client's field may name what the guard
 * would not read (a session, a policy), and the engine that knows it would act on it.
 *
 * @param message - the request's protobuf bytes
 * @param last - the last known field number
 * @param what - the request, for the message
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
 * @internal
 */
export function refuseUnknownFields(message: Uint8Array, last: number, what: string): void {
  for (const f of fieldsOf(message))
    if (f.no > last)
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        `${what} field ${f.no} is not known here, so it cannot be checked`,
      );
}
