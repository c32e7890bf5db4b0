import { createHash } from 'node:crypto';
import { refuse } from './errors.ts';
import { bytesOf, fieldsOf, stringMapOf, withString } from './protobuf-wire.ts';

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
  if (id.length > MAX_ID || !PRINTABLE.test(id) || id.includes(':'))
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      'a BuildKit session id of that form cannot be checked here (printable ASCII without ":")',
    );
  return `${namespace}-${id}`;
}

/**
 * Refuses source attributes (`local.session`, `oci.session`, any attribute whose key names a session) that name
 * a session outside the tenant's namespace. LLB the client built names sessions as the engine knows them: a
 * client that sets one must write it in its namespace (`<namespace>-<id>`); one that sets none uses its build's.
 *
 * @param attrs - the attributes, in wire order
 * @param namespace - the tenant's namespace
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
 * @internal
 */
export function checkSessionAttrs(attrs: readonly (readonly [string, string])[], namespace: string): void {
  for (const [key, value] of attrs) {
    if (!/session/i.test(key) || value === '') continue;
    const own =
      value.startsWith(`${namespace}-`) &&
      value.length <= namespace.length + 1 + MAX_ID &&
      PRINTABLE.test(value) &&
      !value.includes(':');
    if (!own)
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        `a build source may use only your own BuildKit sessions (${key} must start with ${namespace}-)`,
      );
  }
}

/**
 * Refuses source policies a client sends (a `Control/Solve`'s, a gateway solve's or image lookup's) whose
 * `CONVERT` rules set source attributes that name another session: a converted source is read as LLB is
 * ({@link checkSessionAttrs}). Their `DENY` and `ALLOW` rules only narrow: BuildKit evaluates every policy, and the
 * tenant's own denies.
 *
 * @param policy - a `sourcepolicy.Policy` (`Rules` 2: `Updates` 3: `Attrs` 2)
 * @param namespace - the tenant's namespace
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
 * @internal
 */
export function checkClientPolicy(policy: Uint8Array, namespace: string): void {
  for (const rule of bytesOf(policy, 2))
    for (const update of bytesOf(rule, 3)) checkSessionAttrs(stringMapOf(update, 2), namespace);
}

/**
 * Checks a `pb.SourceOp` (`identifier` 1, `attrs` 2) the client built: see {@link checkSessionAttrs}.
 *
 * @param source - the op's bytes
 * @param namespace - the tenant's namespace
 * @internal
 */
export function checkSourceOp(source: Uint8Array, namespace: string): void {
  checkSessionAttrs(stringMapOf(source, 2), namespace);
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
  const ref = bytesOf(message, 1).at(-1) ?? new Uint8Array();
  return withString(message, 1, scopedRef(namespace, Buffer.from(ref).toString('latin1')));
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
  for (const policy of bytesOf(message, 8)) checkClientPolicy(policy, namespace);
  const session = bytesOf(message, 6).at(-1);
  if (session === undefined || session.length === 0) return message;
  return withString(message, 6, scopedSession(namespace, Buffer.from(session).toString('latin1')));
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
  for (const policy of bytesOf(message, 8)) checkClientPolicy(policy, namespace);
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
