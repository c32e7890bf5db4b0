import {
  checkClientPolicy,
  checkSourceOp,
  refuseUnknownFields,
  scopedRef,
  scopedSession,
} from './buildkit-namespace.ts';
import { refuse } from './errors.ts';
import { refuseTooManyNames } from './export-names.ts';
import {
  bytesOf,
  fieldSpans,
  fieldsOf,
  int32sOf,
  lastString,
  lengthDelimited,
  mapOf,
  stringMapEntry,
  stringMapOf,
  stringsOf,
  withoutMapKey,
  withString,
} from './protobuf-wire.ts';
import { registryOf } from './registry-host.ts';

/**
 * Where one kind of solve request keeps what the guard reads and writes (protobuf field numbers): BuildKit's
 * `Control/Solve` (`moby.buildkit.v1.SolveRequest`) or the gateway's `LLBBridge/Solve`, what buildx's client-side
 * build sends to run the Dockerfile frontend (`moby.buildkit.v1.frontend.SolveRequest`).
 *
 * @internal
 */
export interface SolveFields {
  /** `FrontendAttrs` / `FrontendOpt`: a map of strings. */
  readonly options: number;
  /** `Frontend`: the frontend's name. */
  readonly frontend: number;
  /** `Definition`: LLB the client built itself. */
  readonly definition: number;
  /** `FrontendInputs`: a map of more LLB definitions. */
  readonly frontendInputs: number;
  /** `Cache` (`CacheOptions`: cache imports and exports), in a `Control/Solve`. */
  readonly cache?: number;
  /** `CacheImports` (repeated `CacheOptionsEntry`), in a gateway solve. */
  readonly cacheImports?: number;
  /** `ImportCacheRefsDeprecated` (repeated registry references), in a gateway solve. */
  readonly cacheImportRefs?: number;
  /** `Entitlements`: repeated strings. */
  readonly entitlements?: number;
  /** `SourcePolicy`: one `sourcepolicy.Policy` message, the one the guard sets (a client's own is checked). */
  readonly sourcePolicy?: number;
  /** `SourcePolicies`: the client's own `sourcepolicy.Policy` messages, in a gateway solve. */
  readonly clientPolicies?: number;
  /** `Ref`: the build's ref, in a `Control/Solve`. */
  readonly ref?: number;
  /** `Session`: the session the build uses, in a `Control/Solve`. */
  readonly session?: number;
  /** The last field the guard knows: a request with a later one is refused. */
  readonly lastField: number;
  /** Whether the request names exporters (`Exporter`, `ExporterAttrs`, `Exporters`: a `Control/Solve`). */
  readonly exporters?: boolean;
  /** Whether a request that runs no frontend gets no frontend options (a gateway solve of a bare definition). */
  readonly bareWithoutOptions: boolean;
  /**
   * `EnableSessionExporter` (BuildKit v0.14 on): the client's session chooses the exporters when the build ends,
   * where the guard reads none of them.
   */
  readonly sessionExporter?: number;
  /** `Final` and `ExporterAttr`: a gateway solve that sets the build's result itself (deprecated). */
  readonly inlineReturn?: { readonly final: number; readonly exporterAttr: number };
}

/** The fields of BuildKit's `Control/Solve` request. @internal */
export const CONTROL_SOLVE: SolveFields = {
  ref: 1,
  session: 5,
  options: 7,
  frontend: 6,
  definition: 2,
  frontendInputs: 10,
  cache: 8,
  entitlements: 9,
  sourcePolicy: 12,
  exporters: true,
  bareWithoutOptions: false,
  sessionExporter: 14,
  lastField: 14,
};

/** The fields of the gateway's `LLBBridge/Solve` request. @internal */
export const GATEWAY_SOLVE: SolveFields = {
  options: 3,
  frontend: 2,
  definition: 1,
  frontendInputs: 13,
  cacheImports: 12,
  cacheImportRefs: 4,
  clientPolicies: 15,
  bareWithoutOptions: true,
  inlineReturn: { final: 10, exporterAttr: 11 },
  // allowResultReturn (5), allowResultArrayRef (6), Evaluate (14): how the result is given
  lastField: 15,
};

/** What a tenant's solve requests must obey. @internal */
export interface SolveRules {
  /** Labels every image built gets (a `label:<key>` frontend option each). */
  readonly labels: readonly (readonly [string, string])[];
  /** Entitlements a build may ask for. */
  readonly allowed: ReadonlySet<string>;
  /**
   * The tenant's namespace (`namespaceOf`) for what BuildKit names engine-wide: cache mounts
   * (`RUN --mount=type=cache`), build refs and session ids.
   */
  readonly namespace: string;
  /** Whether a build may run a frontend other than the engine's own Dockerfile frontend (`# syntax=`). */
  readonly customFrontends?: boolean;
}

/** What a solve request makes the engine reach, for the checks that need the engine or the network. @internal */
export interface SolveFacts {
  /** Registries (`host[:port]`) the engine would contact: cache imports and exports, pushes. */
  readonly registries: string[];
  /** Image names it exports to. */
  readonly exportNames: string[];
  /**
   * The build's ref as the engine knows it, in the tenant's namespace (`Control/Solve`; `''` for none), which the
   * gateway calls of a client-side build name.
   */
  readonly ref: string;
  /** Whether an exporter of the build may store an image (any but `local` and `tar`, which write to the client). */
  readonly storesImage: boolean;
}

/**
 * Frontend options that reach outside the build's sandbox, refused when set as `/build` refuses their query
 * parameters: `add-hosts` (`--add-host`, `extrahosts`) and `cgroup-parent` (`--cgroup-parent`, `cgroupparent`).
 */
const REFUSED_FRONTEND_OPTIONS: ReadonlyMap<string, string> = new Map([
  ['add-hosts', 'extra hosts (--add-host) are not allowed on builds here'],
  ['cgroup-parent', 'cgroupparent is not allowed here'],
]);
/** The engine's own Dockerfile frontend; `''` runs none (a bare definition, or a client-side build's control). */
const BUILTIN_FRONTENDS = new Set(['', 'dockerfile.v0']);
/** Exporters that write the build's result to the client, not to the engine's images. */
const CLIENT_EXPORTERS = new Set(['local', 'tar']);
/** Cache backends that stay between the client and the engine, or name a registry the guard checks. */
const CACHE_TYPES = new Set(['registry', 'local', 'inline']);
/** What Go's `strconv.ParseBool` reads as false; BuildKit's exporters read an empty `push` as true. */
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);
const NET_HOST = 1;
const SECURITY_INSECURE = 1;
const MOUNT_CACHE = 3;

/**
 * The protobuf message of a gRPC frame that holds exactly one uncompressed message.
 *
 * @param frame - a flag byte, a 4-byte length, the message
 * @returns the message
 * @throws Error for a compressed frame, or one of more or less than one message
 * @internal
 */
export function unframe(frame: Buffer): Buffer {
  if (frame.length < 5 || frame[0] !== 0)
    throw new Error('a compressed or malformed BuildKit request cannot be checked here');
  if (frame.length !== 5 + frame.readUInt32BE(1))
    throw new Error('a BuildKit request of more than one message cannot be checked here');
  return frame.subarray(5);
}

/**
 * Checks one solve request against the tenant's rules, as BuildKit reads it, and says what it makes the engine
 * reach. Refuses: an entitlement that is not allowed; frontend options that reach outside the sandbox; a frontend
 * other than the engine's Dockerfile frontend; cache backends other than a registry, the client or inline; LLB the
 * client built (the definition and frontend inputs) whose steps set a cgroup parent, extra hosts, host networking
 * or insecure mode without the entitlement, use a cache mount outside the tenant's namespace, run under a hostname
 * other than the tenant's (the hostname keys the build cache), name another tenant's session, or nest a build.
 *
 * @param message - the request's protobuf bytes
 * @param fields - which solve it is
 * @param rules - the tenant's rules
 * @returns the registries and export names, for the checks that need the network or the engine
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_HOST_ESCAPE` or `DOCKHAND_IMAGE_POLICY`; Error for bytes
 *   that cannot be read
 * @internal
 */
export function checkSolve(message: Uint8Array, fields: SolveFields, rules: SolveRules): SolveFacts {
  const registries: string[] = [];
  const exportNames: string[] = [];
  let storesImage = false;
  refuseUnknownFields(message, fields.lastField, 'a build request');
  if (fields.sessionExporter !== undefined && int32sOf(message, fields.sessionExporter).some((v) => v !== 0))
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      "a build whose exporters its client's session chooses (EnableSessionExporter) is not allowed here",
    );
  if (fields.entitlements !== undefined) {
    for (const entitlement of stringsOf(message, fields.entitlements)) {
      if (!rules.allowed.has(entitlement))
        throw refuse('DOCKHAND_HOST_ESCAPE', `the build entitlement ${entitlement} is not allowed here`);
    }
  }
  if (!rules.customFrontends) {
    for (const frontend of stringsOf(message, fields.frontend)) {
      if (!BUILTIN_FRONTENDS.has(frontend))
        throw refuse(
          'DOCKHAND_IMAGE_POLICY',
          `the build frontend ${frontend} is not allowed here; builds use the engine's own Dockerfile frontend`,
        );
    }
  }
  for (const [key, value] of stringMapOf(message, fields.options)) {
    // a later Dockerfile frontend takes a local's session from `local-sessionid:<name>` as it is
    if (/session/i.test(key))
      throw refuse('DOCKHAND_IMAGE_POLICY', `the frontend option ${key} is not allowed here`);
    const refused = REFUSED_FRONTEND_OPTIONS.get(key);
    if (refused !== undefined && value !== '') throw refuse('DOCKHAND_HOST_ESCAPE', refused);
    if (key === 'cache-imports' && value !== '' && cacheImportsOption(value) > 0) refuseCacheImports();
    if (key === 'cache-from' && value.trim() !== '') refuseCacheImports();
  }
  for (const no of [fields.sourcePolicy, fields.clientPolicies])
    if (no !== undefined) for (const policy of bytesOf(message, no)) checkClientPolicy(policy);
  for (const def of bytesOf(message, fields.definition)) checkDefinition(def, rules);
  for (const [, def] of mapOf(message, fields.frontendInputs)) checkDefinition(def, rules);
  if (fields.cache !== undefined) {
    for (const cache of bytesOf(message, fields.cache)) {
      // ExportRefDeprecated: a registry reference; ExportAttrsDeprecated: the export's attributes (its `ref` among
      // them); Exports: typed entries. ImportRefsDeprecated, Imports: refused
      if (stringsOf(cache, 2).some((r) => r !== '') || bytesOf(cache, 5).length > 0) refuseCacheImports();
      registries.push(...registriesOf(stringsOf(cache, 1)));
      registries.push(...registriesOf(stringMapOf(cache, 3).flatMap(([k, v]) => (k === 'ref' ? [v] : []))));
      for (const entry of bytesOf(cache, 4)) registries.push(...cacheEntry(entry));
    }
  }
  if (
    fields.cacheImportRefs !== undefined &&
    stringsOf(message, fields.cacheImportRefs).some((r) => r !== '')
  )
    refuseCacheImports();
  if (fields.cacheImports !== undefined && bytesOf(message, fields.cacheImports).length > 0)
    refuseCacheImports();
  if (fields.inlineReturn !== undefined) {
    const { final, exporterAttr } = fields.inlineReturn;
    if (
      int32sOf(message, final).some((v) => v !== 0) ||
      bytesOf(message, exporterAttr).some((b) => b.length > 0)
    )
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        "a solve that sets the build's result itself (Final) is not allowed here; return it with LLBBridge/Return",
      );
  }
  if (fields.exporters) {
    // the deprecated single exporter (field 3, its attributes field 4), and each of Exporters (field 13: Type 1,
    // Attrs 2)
    const types = [
      stringsOf(message, 3).at(-1) ?? '',
      ...bytesOf(message, 13).map((e) => stringsOf(e, 1).at(-1) ?? ''),
    ];
    storesImage = types.some((t, i) => (i > 0 || t !== '') && !CLIENT_EXPORTERS.has(t));
    // the engine's decoder keeps the last of a scalar field sent twice: `dockerfile.v0` then `""` runs none
    const runsFrontend = lastString(message, fields.frontend) !== '';
    if (storesImage && !runsFrontend && bytesOf(message, fields.definition).length > 0)
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        'a build of a definition without a frontend cannot be exported as an image here (it would carry no labels); build a Dockerfile, or export to the client (type=local or tar)',
      );
    const exporters = [stringMapOf(message, 4), ...bytesOf(message, 13).map((e) => stringMapOf(e, 2))];
    for (const attrs of exporters) {
      // the image and oci exporters take attributes they do not know as the result's metadata: a
      // `containerimage.config` there would stand for the config the tenant's labels were written into
      const metadata = attrs.find(([k]) => k.startsWith('containerimage.'));
      if (metadata !== undefined)
        throw refuse('DOCKHAND_IMAGE_POLICY', `the exporter attribute ${metadata[0]} is not allowed here`);
      const names = namesOf(attrs);
      exportNames.push(...names);
      if (pushes(attrs)) registries.push(...registriesOf(names));
    }
  }
  // each name is looked up on the engine before the build starts
  refuseTooManyNames(exportNames);
  return {
    registries: [...new Set(registries)],
    exportNames,
    ref: fields.ref === undefined ? '' : scopedBuildRef(message, fields.ref, rules.namespace),
    storesImage,
  };
}

/** The image names of an exporter's attributes: each `name`, a comma-separated list. */
function namesOf(attrs: readonly (readonly [string, string])[]): string[] {
  return attrs
    .filter(([k]) => k === 'name')
    .flatMap(([, v]) => v.split(','))
    .map((n) => n.trim())
    .filter((n) => n !== '');
}

/** Whether an exporter's attributes push its image (`push` set to a true value, the last one read). */
function pushes(attrs: readonly (readonly [string, string])[]): boolean {
  const push = attrs.filter(([k]) => k === 'push').at(-1)?.[1];
  return push !== undefined && !FALSE.has(push);
}

/** The exporters that store a build's image in the engine, tagged with their `name`s. */
const IMAGE_STORE_EXPORTERS = new Set(['moby', 'image']);

/**
 * A `Control/Solve` whose image-store exporters (`moby`, `image`) are left without their names, which the guard
 * gives the image itself when the build has ended, checked then (`ExportNames`): the engine would tag at the end
 * whatever the name has become meanwhile. An exporter that pushes keeps its names (the push needs them).
 *
 * @param message - the request's protobuf bytes (checked: {@link checkSolve})
 * @returns the request without those names, and the names, in order
 * @internal
 */
export function withoutExportNames(message: Uint8Array): { message: Buffer; names: string[] } {
  const names: string[] = [];
  // the deprecated single exporter: its type (field 3, the last read) and its attributes (map field 4)
  const legacy = stringMapOf(message, 4);
  const legacyNames =
    IMAGE_STORE_EXPORTERS.has(lastString(message, 3)) && !pushes(legacy) ? namesOf(legacy) : [];
  names.push(...legacyNames);
  const kept = fieldSpans(message).map(({ no, span }) => {
    if (no === 4 && legacyNames.length > 0) return withoutMapKey(span, 4, 'name');
    const exporter = no === 13 ? bytesOf(span, 13)[0] : undefined;
    if (exporter === undefined) return span;
    // one of `Exporters`: its type (field 1) and attributes (map field 2)
    const attrs = stringMapOf(exporter, 2);
    if (!IMAGE_STORE_EXPORTERS.has(lastString(exporter, 1)) || pushes(attrs)) return span;
    names.push(...namesOf(attrs));
    return lengthDelimited(13, withoutMapKey(exporter, 2, 'name'));
  });
  return { message: Buffer.concat(kept), names };
}

/**
 * Checks a solve request ({@link checkSolve}) and rewrites it ({@link withTenantOptions}).
 *
 * @param frame - the gRPC message: a flag byte, a 4-byte length, the protobuf bytes
 * @param rules - the tenant's rules
 * @param fields - which solve it is (default `Control/Solve`)
 * @param sourcePolicy - an encoded `sourcepolicy.Policy` to set (a request that brings its own is refused)
 * @returns the rewritten frame
 * @throws as {@link checkSolve} does
 * @internal
 */
export function rewriteSolve(
  frame: Buffer,
  rules: SolveRules,
  fields: SolveFields = CONTROL_SOLVE,
  sourcePolicy?: Buffer,
): Buffer {
  const message = unframe(frame);
  checkSolve(message, fields, rules);
  return withTenantOptions(message, rules, fields, sourcePolicy);
}

/**
 * Rewrites a solve request {@link checkSolve} has passed: the tenant's labels as `label:` frontend options, its
 * cache-mount namespace (`build-arg:BUILDKIT_CACHE_MOUNT_NS`), the same as the hostname of every `RUN` step
 * (`build-arg:BUILDKIT_SANDBOX_HOSTNAME`: part of a step's cache key, so one tenant's step is never another's cached
 * layer), and, unless custom frontends are allowed, `cmdline`,
 * which makes the Dockerfile frontend build with itself instead of the image a `# syntax=` line names. They are
 * appended, and a later map entry wins, so the client's own are overridden. A source policy is set where given.
 * A `Control/Solve`'s ref and session are put in the tenant's namespace ({@link scopedRef},
 * {@link scopedSession}): a tenant's build reaches only its own sessions, and its gateway calls and status
 * requests only its own builds.
 *
 * @param message - the request's protobuf bytes
 * @param rules - the tenant's rules
 * @param fields - which solve it is
 * @param sourcePolicy - an encoded `sourcepolicy.Policy` to set (a request that brings its own is refused)
 * @returns the rewritten request, framed
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY` for a request with its own source policy
 * @internal
 */
export function withTenantOptions(
  message: Buffer,
  rules: SolveRules,
  fields: SolveFields,
  sourcePolicy?: Buffer,
): Buffer {
  const extra: Buffer[] = [];
  let body = message;
  // the build's ref and session, in the tenant's namespace
  if (fields.ref !== undefined) {
    const ref = scopedBuildRef(message, fields.ref, rules.namespace);
    if (ref !== '') body = withString(body, fields.ref, ref);
  }
  if (fields.session !== undefined) {
    body = withString(
      body,
      fields.session,
      scopedSession(rules.namespace, lastString(message, fields.session)),
    );
  }
  if (sourcePolicy !== undefined && fields.sourcePolicy !== undefined) {
    if (fieldsOf(body).some((f) => f.no === fields.sourcePolicy))
      throw refuse('DOCKHAND_IMAGE_POLICY', 'a build that brings its own source policy is not allowed here');
    extra.push(lengthDelimited(fields.sourcePolicy, sourcePolicy));
  }
  // a gateway solve of a bare definition runs no frontend: there is nothing to give options to
  if (!fields.bareWithoutOptions || lastString(body, fields.frontend) !== '') {
    for (const [k, v] of rules.labels) extra.push(stringMapEntry(fields.options, `label:${k}`, v));
    extra.push(stringMapEntry(fields.options, 'build-arg:BUILDKIT_CACHE_MOUNT_NS', rules.namespace));
    // every RUN step's hostname, which is part of its cache key: no tenant's step is another's cached layer
    extra.push(stringMapEntry(fields.options, 'build-arg:BUILDKIT_SANDBOX_HOSTNAME', rules.namespace));
    if (!rules.customFrontends) extra.push(stringMapEntry(fields.options, 'cmdline', ''));
  }
  return reframe(Buffer.concat([body, ...extra]));
}

/**
 * A gRPC frame of one uncompressed message.
 *
 * @param message - the protobuf bytes
 * @returns a flag byte, a 4-byte length, the message
 * @internal
 */
export function reframe(message: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/**
 * A `Control/Solve`'s ref, which the gateway calls of a client-side build name in a header, as the engine will
 * know it: in the tenant's namespace ({@link scopedRef}; `''` for none: the engine makes one up, which no client
 * learns).
 */
function scopedBuildRef(message: Uint8Array, no: number, namespace: string): string {
  const ref = lastString(message, no);
  return ref === '' ? '' : scopedRef(namespace, ref);
}

/** The registries of image references (cache refs, export names): `docker.io` for Docker Hub. */
function registriesOf(refs: readonly string[]): string[] {
  return refs.filter((r) => r.trim() !== '').map((r) => registryOf(r.trim()) ?? 'docker.io');
}

/** One `CacheOptionsEntry` (Type 1, Attrs 2): its backend must be allowed; a registry's `ref` is returned. */
function cacheEntry(entry: Uint8Array): string[] {
  const type = stringsOf(entry, 1).at(-1) ?? '';
  const attrs = new Map(stringMapOf(entry, 2));
  return cacheBackend(type, attrs.get('ref'));
}

function cacheBackend(type: string, ref: string | undefined): string[] {
  if (!CACHE_TYPES.has(type))
    throw refuse(
      'DOCKHAND_HOST_ESCAPE',
      `the build cache backend ${type === '' ? '(none named)' : type} is not allowed here; use registry, local or inline`,
    );
  return type === 'registry' && ref !== undefined ? registriesOf([ref]) : [];
}

/**
 * Refuses a build cache import, in any of its forms: the engine keeps the records it imports in its own cache, for
 * every build on it, and a record names the layers of a step as the importer says (an image's inline cache, a
 * registry's or the client's). One tenant's forged record would make every tenant's same step run on its layers.
 */
function refuseCacheImports(): never {
  throw refuse(
    'DOCKHAND_IMAGE_POLICY',
    "build cache imports (--cache-from) are not allowed here: the engine would keep what they hold for every tenant's builds",
  );
}

/**
 * The `cache-imports` frontend option: JSON of `[{"Type": ..., "Attrs": {...}}]`, read as Go's decoder reads it.
 *
 * @returns how many imports it holds
 */
function cacheImportsOption(value: string): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw refuse('DOCKHAND_HOST_ESCAPE', 'a cache-imports option that is not valid JSON is not allowed here');
  }
  if (parsed === null) return 0;
  if (!Array.isArray(parsed))
    throw refuse('DOCKHAND_HOST_ESCAPE', 'a cache-imports option that is not a list is not allowed here');
  // any entry, `null` too, is one import to the engine's decoder
  return parsed.length;
}

/**
 * Checks LLB the client built: a `pb.Definition` (field 1: each marshalled `pb.Op`). An `Op` runs a step
 * (`ExecOp`, field 2), names a source (field 3: the source policy's), changes files, merges or diffs, or nests a
 * build (`BuildOp`, field 5), which is refused: its own definition would not be checked.
 */
function checkDefinition(def: Uint8Array, rules: SolveRules): void {
  for (const op of bytesOf(def, 1)) {
    for (const f of fieldsOf(op)) {
      if (f.no === 5) throw refuse('DOCKHAND_HOST_ESCAPE', 'a nested build (BuildOp) is not allowed here');
      if (f.no === 2 && f.bytes !== undefined) checkExec(f.bytes, rules);
      if (f.no === 3 && f.bytes !== undefined) checkSourceOp(f.bytes, rules.namespace);
    }
  }
}

/** An `ExecOp`: `Meta` 1, `Mount` 2, `NetMode` 3, `SecurityMode` 4. */
function checkExec(exec: Uint8Array, rules: SolveRules): void {
  const metas = bytesOf(exec, 1);
  for (const meta of metas) {
    // Meta: extraHosts 6, cgroupParent 10
    if (bytesOf(meta, 6).length > 0)
      throw refuse('DOCKHAND_HOST_ESCAPE', 'extra hosts (--add-host) are not allowed on builds here');
    if (stringsOf(meta, 10).some((p) => p !== ''))
      throw refuse('DOCKHAND_HOST_ESCAPE', 'cgroupparent is not allowed here');
  }
  // Meta: hostname 7, part of the step's cache key: the tenant's own, as the guard gives Dockerfile builds (the
  // receiver merges the Meta occurrences, and the last hostname set wins)
  const hostname = metas.flatMap((meta) => stringsOf(meta, 7)).at(-1) ?? '';
  if (hostname !== rules.namespace)
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      `a build step's hostname must be ${rules.namespace} here (it keeps each tenant's build cache its own)`,
    );
  if (int32sOf(exec, 3).includes(NET_HOST) && !rules.allowed.has('network.host'))
    throw refuse('DOCKHAND_HOST_ESCAPE', 'the build entitlement network.host is not allowed here');
  if (int32sOf(exec, 4).includes(SECURITY_INSECURE) && !rules.allowed.has('security.insecure'))
    throw refuse('DOCKHAND_HOST_ESCAPE', 'the build entitlement security.insecure is not allowed here');
  for (const mount of bytesOf(exec, 2)) {
    // Mount: mountType 6 (CACHE 3), cacheOpt 20 (ID 1)
    const options = bytesOf(mount, 20);
    if (!int32sOf(mount, 6).includes(MOUNT_CACHE) && options.length === 0) continue;
    const ids = options.flatMap((o) => stringsOf(o, 1));
    if (ids.length === 0 || ids.some((id) => !id.startsWith(`${rules.namespace}/`)))
      throw refuse(
        'DOCKHAND_HOST_ESCAPE',
        `a cache mount outside your namespace is not allowed here (its id must start with ${rules.namespace}/)`,
      );
  }
}
