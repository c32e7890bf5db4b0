import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { Duplex, PassThrough } from 'node:stream';
import { compose, DockhandError, type Middleware, on, type Upstream } from '@dockhand/core';
import type { Logger } from 'pino';
import { engineApiVersion, versionAtLeast } from './engine-version.ts';
import { refuse } from './errors.ts';
import { type ImagePolicy, imageVisible } from './image-policy.ts';
import { carries, parseLabel, type TenantLabel } from './tenant.ts';

/** Options of {@link buildkitGuard}. */
export interface BuildKitGuardOptions {
  /** Labels every image built through BuildKit gets (a `label:<key>` frontend attribute each). */
  readonly labels: Readonly<Record<string, string>>;
  /** BuildKit entitlements a build may ask for (default none: no `network.host`, no `security.insecure`). */
  readonly entitlements?: readonly string[];
  /**
   * Limit the images a build may start from (`FROM`, `COPY --from`, `RUN --mount=from=`) to those the tenant
   * sees: every `Control/Solve` gets a BuildKit source policy that denies `docker-image://` sources except the
   * visible images, by tag or by their own digests. Needs an engine whose BuildKit knows source policies
   * (v0.12+, Engine 25+); an older one ignores the policy.
   */
  readonly images?: { readonly label: string | TenantLabel; readonly policy?: ImagePolicy };
}

/** Control methods a tenant may not call: they act on every tenant's builds. */
const DENIED_METHODS = new Set([
  '/moby.buildkit.v1.Control/Prune',
  '/moby.buildkit.v1.Control/ListenBuildHistory',
  '/moby.buildkit.v1.Control/UpdateBuildHistory',
]);
/**
 * The two solve calls and where their frontend options are: `Control/Solve` (field 7 `FrontendAttrs`, field 9
 * `Entitlements`), and `LLBBridge/Solve`, what buildx's client-side build sends to run the Dockerfile frontend
 * (field 2 `Frontend`, field 3 `FrontendOpt`).
 */
const SOLVES: ReadonlyMap<string, SolveFields> = new Map([
  ['/moby.buildkit.v1.Control/Solve', { options: 7, entitlements: 9, sourcePolicy: 12 }],
  ['/moby.buildkit.v1.frontend.LLBBridge/Solve', { options: 3, frontend: 2 }],
]);
const PERMISSION_DENIED = '7';

/**
 * Frontend options that reach outside the build's sandbox, refused when set as `/build` refuses their query
 * parameters: `add-hosts` (`--add-host`, `extrahosts`) and `cgroup-parent` (`--cgroup-parent`, `cgroupparent`).
 */
const REFUSED_FRONTEND_OPTIONS: ReadonlyMap<string, string> = new Map([
  ['add-hosts', 'extra hosts (--add-host) are not allowed on builds here'],
  ['cgroup-parent', 'cgroupparent is not allowed here'],
]);

/** Where a solve request keeps what the guard reads and writes (protobuf field numbers). */
interface SolveFields {
  /** `FrontendAttrs` / `FrontendOpt`: a map of strings. */
  readonly options: number;
  /** `Frontend`: the frontend's name. */
  readonly frontend?: number;
  /** `Entitlements`: repeated strings. */
  readonly entitlements?: number;
  /** `SourcePolicy`: one `sourcepolicy.Policy` message. */
  readonly sourcePolicy?: number;
}

/**
 * Reads BuildKit's gRPC on a hijacked `/grpc` connection (what `docker build` and `docker buildx` use with the
 * engine's BuildKit), so that builds obey the tenant rules too: every `Solve` gets the tenant's labels as
 * `label:` frontend attributes (the image a Dockerfile build produces carries them), a `Solve` asking for an
 * entitlement that is not allowed (`network.host`, `security.insecure`) is refused, and the control calls that
 * act on every tenant's builds (cache prune, build history) are refused. The proxy terminates HTTP/2 on both
 * sides; every other call is passed through as it is.
 *
 * @param options - the labels and the allowed entitlements
 * @returns the middleware
 * @example
 * ```ts
 * buildkitGuard({ labels: { 'dockhand.tenant': 'alice' } });
 * ```
 */
export function buildkitGuard(options: BuildKitGuardOptions): Middleware {
  const allowed = new Set(options.entitlements ?? []);
  const labels = Object.entries(options.labels);
  const images = options.images && { label: parseLabel(options.images.label), policy: options.images.policy };
  // BuildKit through `/build?version=2` runs in the engine without a Solve this guard could give a policy to
  const legacy: Middleware = on('ImageBuild', async (ctx, next) => {
    if (images && ctx.request.query.get('version') === '2') {
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        'BuildKit builds through /build cannot be limited to your images here; use docker buildx (the default docker build) or DOCKER_BUILDKIT=0',
      );
    }
    await next();
  });
  const grpc: Middleware = on('Grpc', async (ctx, next) => {
    const log = ctx.log;
    const upstream = ctx.upstream;
    // an engine whose BuildKit predates source policies (v0.12, Engine 25, API 1.44) would ignore the limit
    if (images && !versionAtLeast(await engineApiVersion(upstream), '1.44')) {
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        'BuildKit builds are not available on this engine (it cannot limit the images a build uses); build with DOCKER_BUILDKIT=0',
      );
    }
    // one listing of the engine's images per solve serves both checks
    const sourcePolicy = images
      ? async (exportNames: string[]) => {
          const list = await listImages(upstream);
          checkExportNames(list, exportNames, images.label, images.policy ?? {});
          return encodeSourcePolicy(visibleImageSources(list, images.label, images.policy ?? {}));
        }
      : undefined;
    ctx.onHijack((client, engine, early) =>
      intercept(client, engine, early, { labels, allowed, log, ...(sourcePolicy ? { sourcePolicy } : {}) }),
    );
    await next();
  });
  return images ? compose([legacy, grpc]) : grpc;
}

interface Rules {
  labels: [string, string][];
  allowed: Set<string>;
  log: Logger;
  /**
   * When images are limited: refuses the image names a `Control/Solve` exports to that another tenant's or a
   * shared image holds, and builds the `SourcePolicy` to give it.
   */
  sourcePolicy?: (exportNames: string[]) => Promise<Buffer>;
}

function intercept(client: Duplex, engine: Duplex, early: Buffer, rules: Rules): void {
  let inbound: Duplex = client;
  if (early.length > 0) {
    const readable = new PassThrough();
    readable.write(early);
    client.pipe(readable);
    inbound = Duplex.from({ readable, writable: client });
  }
  const upstream: ClientHttp2Session = http2.connect('http://docker', { createConnection: () => engine });
  const server = http2.createServer();
  const closeAll = () => {
    upstream.destroy();
    client.destroy();
    engine.destroy();
  };
  upstream.on('error', closeAll);
  upstream.on('close', closeAll);
  server.on('sessionError', closeAll);
  server.on('session', (session) => session.on('close', closeAll));
  server.on('stream', (stream, headers) => forwardStream(stream, headers, upstream, rules));
  server.emit('connection', inbound);
}

function forwardStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  upstream: ClientHttp2Session,
  rules: Rules,
): void {
  const path = String(headers[':path'] ?? '');
  stream.on('error', () => {});
  if (DENIED_METHODS.has(path)) {
    rules.log.warn({ code: 'DOCKHAND_ROUTE_DENIED', path }, 'BuildKit call refused');
    grpcError(stream, `${path.split('/').pop()} acts on every tenant's builds and is not allowed here`);
    return;
  }
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || (k.startsWith(':') && k !== ':path' && k !== ':method')) continue;
    if (k === 'connection' || k === 'host') continue;
    out[k] = v as string | string[];
  }
  const request = upstream.request(out, { endStream: false });
  request.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
  stream.on('close', () => {
    if (!request.closed) request.close(http2.constants.NGHTTP2_CANCEL);
  });
  let trailers: IncomingHttpHeaders | undefined;
  request.on('response', (h) => {
    const response: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(h))
      if (v !== undefined && (!k.startsWith(':') || k === ':status')) response[k] = v as string | string[];
    stream.respond(response, { waitForTrailers: true });
    stream.on('wantTrailers', () => {
      const t: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(trailers ?? { 'grpc-status': '0' }))
        if (v !== undefined && !k.startsWith(':')) t[k] = v as string | string[];
      stream.sendTrailers(t);
    });
    request.pipe(stream);
  });
  request.on('trailers', (t) => {
    trailers = t;
  });
  const solve = SOLVES.get(path);
  if (!solve) {
    stream.pipe(request);
    return;
  }
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    const frame = Buffer.concat(chunks);
    const policy = solve.sourcePolicy !== undefined ? rules.sourcePolicy?.(exportNamesOf(frame)) : undefined;
    Promise.resolve(policy)
      .then((sourcePolicy) => request.end(rewriteSolve(frame, rules, solve, sourcePolicy)))
      .catch((err: Error) => {
        rules.log.warn({ code: DockhandError.is(err) ? err.code : 'DOCKHAND_AMBIGUOUS_BODY' }, err.message);
        request.close(http2.constants.NGHTTP2_CANCEL);
        grpcError(stream, err.message);
      });
  });
}

function grpcError(stream: ServerHttp2Stream, message: string): void {
  if (stream.headersSent) {
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': PERMISSION_DENIED,
      'grpc-message': encodeURIComponent(message),
    },
    { endStream: true },
  );
}

/**
 * Checks and rewrites one gRPC-framed `SolveRequest`: refuses entitlements that are not allowed and frontend
 * options that reach outside the sandbox (`add-hosts`, `cgroup-parent`), and appends the tenant's labels as
 * `FrontendAttrs` entries (a later map entry wins, so a client's own `label:` is overridden).
 *
 * @param frame - the gRPC message: a flag byte, a 4-byte length, the protobuf bytes
 * @param rules - the labels and allowed entitlements
 * @param fields - the field numbers of the frontend options, the frontend name, the entitlements and the
 *   source policy
 * @param sourcePolicy - an encoded `sourcepolicy.Policy` to set (a request that brings its own is refused)
 * @returns the rewritten frame
 * @throws Error with the refusal's message
 * @internal
 */
export function rewriteSolve(
  frame: Buffer,
  rules: Pick<Rules, 'labels' | 'allowed'>,
  fields: SolveFields = { options: 7, entitlements: 9, sourcePolicy: 12 },
  sourcePolicy?: Buffer,
): Buffer {
  if (frame.length < 5 || frame[0] !== 0)
    throw new Error('a compressed or malformed BuildKit request cannot be checked here');
  const length = frame.readUInt32BE(1);
  if (frame.length !== 5 + length)
    throw new Error('a BuildKit request of more than one message cannot be checked here');
  const message = frame.subarray(5);
  if (fields.entitlements !== undefined) {
    for (const entitlement of stringsOf(message, fields.entitlements)) {
      if (!rules.allowed.has(entitlement))
        throw refuse('DOCKHAND_HOST_ESCAPE', `the build entitlement ${entitlement} is not allowed here`);
    }
  }
  walkFields(message, (field, entry) => {
    if (field !== fields.options || entry === undefined) return;
    const [key, value] = mapEntry(entry);
    const refused = REFUSED_FRONTEND_OPTIONS.get(key);
    if (refused !== undefined && value !== '') throw refuse('DOCKHAND_HOST_ESCAPE', refused);
  });
  const extra: Buffer[] = [];
  if (sourcePolicy !== undefined && fields.sourcePolicy !== undefined) {
    if (hasField(message, fields.sourcePolicy))
      throw refuse('DOCKHAND_IMAGE_POLICY', 'a build that brings its own source policy is not allowed here');
    extra.push(lengthDelimited(fields.sourcePolicy, sourcePolicy));
  }
  // a solve of a bare definition runs no frontend: there is nothing to give labels to
  if (fields.frontend !== undefined && stringsOf(message, fields.frontend).every((f) => f === ''))
    return frame;
  for (const [k, v] of rules.labels) {
    const entry = Buffer.concat([
      lengthDelimited(1, Buffer.from(`label:${k}`)),
      lengthDelimited(2, Buffer.from(v)),
    ]);
    extra.push(lengthDelimited(fields.options, entry));
  }
  const body = Buffer.concat([message, ...extra]);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

function lengthDelimited(field: number, value: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(value.length), value]);
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  let i = pos;
  for (;;) {
    if (i >= buf.length) throw new Error('a malformed BuildKit request cannot be checked here');
    const b = buf[i++]!;
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [result, i];
    mul *= 128;
  }
}

/** The string values of a repeated string field at the top level of a protobuf message. */
function stringsOf(msg: Buffer, wanted: number): string[] {
  const out: string[] = [];
  walkFields(msg, (field, value) => {
    if (field === wanted && value !== undefined) out.push(value.toString('utf8'));
  });
  return out;
}

/** Whether a protobuf message has a field, at its top level. */
function hasField(msg: Buffer, wanted: number): boolean {
  let found = false;
  walkFields(msg, (field) => {
    if (field === wanted) found = true;
  });
  return found;
}

/** Calls back with each top-level field of a protobuf message: its number and, when length-delimited, its bytes. */
function walkFields(msg: Buffer, visit: (field: number, value: Buffer | undefined) => void): void {
  let p = 0;
  while (p < msg.length) {
    const [key, p1] = readVarint(msg, p);
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0: {
        p = readVarint(msg, p1)[1];
        visit(field, undefined);
        break;
      }
      case 1:
        p = p1 + 8;
        visit(field, undefined);
        break;
      case 2: {
        const [len, p2] = readVarint(msg, p1);
        if (p2 + len > msg.length) throw new Error('a malformed BuildKit request cannot be checked here');
        visit(field, msg.subarray(p2, p2 + len));
        p = p2 + len;
        break;
      }
      case 5:
        p = p1 + 4;
        visit(field, undefined);
        break;
      default:
        throw new Error('a malformed BuildKit request cannot be checked here');
    }
  }
  if (p > msg.length) throw new Error('a malformed BuildKit request cannot be checked here');
}

const POLICY_ALLOW = 0;
const POLICY_DENY = 1;
const MATCH_WILDCARD = 0;
const MATCH_REGEX = 2;
/** Sources BuildKit fetches over the network from the engine's host. */
const REMOTE_SOURCES = ['http://*', 'https://*', 'git://*'];

/**
 * Encodes a BuildKit `sourcepolicy.Policy` (version 1) that denies every `docker-image://` source except those
 * matching one of the given regular expressions, and every `http://`, `https://` and `git://` source (fetched by
 * the engine from the host's network). BuildKit lets the last matching rule decide, so the image deny rule comes
 * first.
 *
 * @param allow - Go regular expressions over the whole source identifier (`docker-image://docker.io/...`)
 * @returns the policy's protobuf bytes
 * @internal
 */
export function encodeSourcePolicy(allow: readonly string[]): Buffer {
  const rule = (action: number, identifier: string, match: number) =>
    lengthDelimited(
      2,
      Buffer.concat([
        Buffer.from([0x08, action]),
        lengthDelimited(
          2,
          Buffer.concat([lengthDelimited(1, Buffer.from(identifier)), Buffer.from([0x10, match])]),
        ),
      ]),
    );
  return Buffer.concat([
    Buffer.from([0x08, 0x01]),
    rule(POLICY_DENY, 'docker-image://*', MATCH_WILDCARD),
    ...allow.map((re) => rule(POLICY_ALLOW, re, MATCH_REGEX)),
    // `ADD <url>` and git contexts are fetched by BuildKit in the engine, from the host's network
    ...REMOTE_SOURCES.map((id) => rule(POLICY_DENY, id, MATCH_WILDCARD)),
  ]);
}

/**
 * The image names a `Control/Solve` exports to: the `name` attribute of each exporter (field 13 `Exporters`, each
 * with its attributes in field 2), and of the deprecated single exporter (field 4 `ExporterAttrs`); several names
 * are separated by commas. A frame it cannot read gives none: `rewriteSolve` refuses it.
 */
function exportNamesOf(frame: Buffer): string[] {
  const names: string[] = [];
  const fromAttrs = (entry: Buffer): void => {
    const [key, value] = mapEntry(entry);
    if (key === 'name')
      names.push(
        ...value
          .split(',')
          .map((n) => n.trim())
          .filter((n) => n !== ''),
      );
  };
  try {
    walkFields(frame.subarray(5), (field, value) => {
      if (value === undefined) return;
      if (field === 4) fromAttrs(value);
      else if (field === 13) walkFields(value, (f, v) => v !== undefined && f === 2 && fromAttrs(v));
    });
  } catch {
    return [];
  }
  return names;
}

/** One entry of a protobuf `map<string, string>`: its key (field 1) and value (field 2). */
function mapEntry(entry: Buffer): [string, string] {
  let key = '';
  let value = '';
  walkFields(entry, (f, v) => {
    if (f === 1 && v !== undefined) key = v.toString('utf8');
    else if (f === 2 && v !== undefined) value = v.toString('utf8');
  });
  return [key, value];
}

/** The engine's images, with their digests: what a solve's checks are made against. */
async function listImages(upstream: Upstream): Promise<ImageSummary[]> {
  const reply = await upstream.request({ path: '/images/json', query: { digests: '1' } });
  if (reply.status !== 200) throw new Error(`cannot list the images a build may use (HTTP ${reply.status})`);
  return reply.json<ImageSummary[]>();
}

/**
 * Refuses export names that another tenant's or a shared image holds, as tags and classic builds do: a build
 * exported under `busybox:latest` would move that name for everyone.
 *
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
 */
function checkExportNames(
  list: ImageSummary[],
  names: string[],
  label: TenantLabel,
  policy: ImagePolicy,
): void {
  if (names.length === 0 || policy.allowChangingShared) return;
  const wanted = new Map(names.map((n) => [refKey(n), n]));
  for (const image of list) {
    if (carries(image.Labels, label)) continue;
    for (const tag of image.RepoTags ?? []) {
      const name = wanted.get(refKey(tag));
      if (name !== undefined)
        throw refuse(
          'DOCKHAND_IMAGE_POLICY',
          `the tag ${name} belongs to an image you did not build; pick another name`,
        );
    }
  }
}

/** A tagged reference as one key (`busybox` and `docker.io/library/busybox:latest` are the same). */
function refKey(ref: string): string {
  const { name, tag } = normaliseReference(ref);
  return `${name}:${tag}`;
}

interface ImageSummary {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Labels?: Record<string, string> | null;
}

/**
 * The source identifiers a tenant's build may use, as Go regular expressions: every image the tenant sees, by
 * each of its tags (optionally pinned to one of the image's own digests, as BuildKit pins a resolved tag) and by
 * its name with its own digest. Another tenant's image matches none of them under any name or digest.
 *
 * @param list - the engine's images, with their digests
 * @param label - the tenant label
 * @param policy - the image policy
 * @returns the patterns
 * @internal
 */
export function visibleImageSources(list: ImageSummary[], label: TenantLabel, policy: ImagePolicy): string[] {
  const patterns: string[] = [];
  for (const image of list) {
    if (!imageVisible(image.Labels, label, policy)) continue;
    const digests = [image.Id, ...(image.RepoDigests ?? []).map((d) => d.slice(d.indexOf('@') + 1))];
    const pinned = `@(?:${[...new Set(digests)].map(escapeRegExp).join('|')})`;
    const names = new Set<string>();
    for (const tag of image.RepoTags ?? []) {
      if (tag === '<none>:<none>') continue;
      const { name, tag: t } = normaliseReference(tag);
      names.add(name);
      patterns.push(`^docker-image://${escapeRegExp(`${name}:${t}`)}(?:${pinned})?$`);
    }
    for (const d of image.RepoDigests ?? []) names.add(normaliseReference(d.slice(0, d.indexOf('@'))).name);
    for (const name of names) patterns.push(`^docker-image://${escapeRegExp(name)}${pinned}$`);
  }
  return patterns;
}

/**
 * Normalises an image reference the way Docker does (`busybox` → `docker.io/library/busybox`, tag `latest`).
 *
 * @param ref - a reference without a digest
 * @returns the full name and the tag
 * @internal
 */
export function normaliseReference(ref: string): { name: string; tag: string } {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  const [repo, tag] = colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
  const first = repo.indexOf('/');
  const domain = first === -1 ? '' : repo.slice(0, first);
  const isDomain = domain !== '' && (domain.includes('.') || domain.includes(':') || domain === 'localhost');
  const name = isDomain ? repo : `docker.io/${first === -1 ? `library/${repo}` : repo}`;
  return { name, tag };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
