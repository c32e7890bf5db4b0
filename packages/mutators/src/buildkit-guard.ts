import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { Duplex, PassThrough } from 'node:stream';
import { compose, DockhandError, type Middleware, on, type Upstream } from '@dockhand/core';
import type { Logger } from 'pino';
import { answerBuildRefused } from './build-refusal.ts';
import {
  checkSourceLookup,
  namespaceOf,
  scopedRef,
  scopedSession,
  scopedSessionHeaders,
  scopeImageLookup,
  scopeStatus,
} from './buildkit-namespace.ts';
import { relayProgress } from './buildkit-progress.ts';
import { labelResult } from './buildkit-result.ts';
import {
  CONTROL_SOLVE,
  checkSolve,
  GATEWAY_SOLVE,
  reframe,
  type SolveFields,
  type SolveRules,
  unframe,
  withoutExportNames,
  withTenantOptions,
} from './buildkit-solve.ts';
import { engineApiVersion, versionAtLeast } from './engine-version.ts';
import { refuse } from './errors.ts';
import { type ExportNames, exportNames } from './export-names.ts';
import { type ImageFacts, type ImagePolicy, imageVisible } from './image-policy.ts';
import { normaliseReference } from './image-reference.ts';
import { lastString, lengthDelimited, stringMapEntry, stringMapOf } from './protobuf-wire.ts';
import { hostRegistryCheck } from './registry-host.ts';
import { parseLabel, type TenantLabel } from './tenant.ts';

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
  /**
   * Registries on the engine's host (`localhost:5000`) that build caches and pushes may reach, as `hostGuard`'s
   * option of the same name. Every other registry on the engine's host is refused.
   */
  readonly localRegistries?: readonly string[];
  /** The only registries build caches and pushes may use, as `hostGuard`'s option of the same name. */
  readonly registries?: readonly string[];
  /**
   * Let builds run frontends other than the engine's own Dockerfile frontend: a `# syntax=` line's image, or a
   * `gateway.v0` frontend. Off by default: such a frontend is a program that writes the build's steps inside the
   * engine, where the guard does not read them. With it off, a `# syntax=` line is ignored.
   */
  readonly customFrontends?: boolean;
}

/** Control methods a tenant may not call: they act on every tenant's builds. */
const DENIED_METHODS = new Set([
  '/moby.buildkit.v1.Control/Prune',
  '/moby.buildkit.v1.Control/ListenBuildHistory',
  '/moby.buildkit.v1.Control/UpdateBuildHistory',
]);
/**
 * The calls a build may make, as `docker buildx` and BuildKit clients make them; every other is refused, the
 * gateway's interactive build containers among them (`NewContainer`, `ExecProcess`: their settings are not read).
 */
const ALLOWED_METHODS = new Set([
  '/moby.buildkit.v1.Control/Solve',
  '/moby.buildkit.v1.Control/Status',
  '/moby.buildkit.v1.Control/Session',
  '/moby.buildkit.v1.Control/ListWorkers',
  '/moby.buildkit.v1.Control/Info',
  '/moby.buildkit.v1.frontend.LLBBridge/Solve',
  '/moby.buildkit.v1.frontend.LLBBridge/ResolveImageConfig',
  '/moby.buildkit.v1.frontend.LLBBridge/ResolveSourceMeta',
  '/moby.buildkit.v1.frontend.LLBBridge/ReadFile',
  '/moby.buildkit.v1.frontend.LLBBridge/ReadDir',
  '/moby.buildkit.v1.frontend.LLBBridge/StatFile',
  '/moby.buildkit.v1.frontend.LLBBridge/Evaluate',
  '/moby.buildkit.v1.frontend.LLBBridge/Ping',
  '/moby.buildkit.v1.frontend.LLBBridge/Return',
  '/moby.buildkit.v1.frontend.LLBBridge/Inputs',
  '/moby.buildkit.v1.frontend.LLBBridge/Warn',
  '/grpc.health.v1.Health/Check',
  '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
]);
/**
 * `Control/DiskUsage` lists every tenant's build cache records, with the command of each step (`docker buildx du
 * --verbose`): it is answered with none, as `/system/df` answers `BuildCache`.
 */
const DISK_USAGE = '/moby.buildkit.v1.Control/DiskUsage';
/** A build: it stays open until the build ends. */
const CONTROL_SOLVE_PATH = '/moby.buildkit.v1.Control/Solve';
const CONTROL_STATUS_PATH = '/moby.buildkit.v1.Control/Status';
const SOLVES: ReadonlyMap<string, SolveFields> = new Map([
  [CONTROL_SOLVE_PATH, CONTROL_SOLVE],
  ['/moby.buildkit.v1.frontend.LLBBridge/Solve', GATEWAY_SOLVE],
]);
const PERMISSION_DENIED = '7';
/** The gateway call that returns a client-side build's result, with the image config the exporter writes. */
const RETURN = '/moby.buildkit.v1.frontend.LLBBridge/Return';
/** The gateway's calls: each names its build (its `Control/Solve` ref) in {@link BUILD_ID}. */
const GATEWAY = '/moby.buildkit.v1.frontend.LLBBridge/';
/** The metadata header by which gateway calls name their build (its `Control/Solve` ref). */
const BUILD_ID = 'buildkit-controlapi-buildid';
/** The headers by which a client opening a session (`Control/Session`, `/session`) names it, and its shared key. */
const SESSION_ID = 'x-docker-expose-session-uuid';
const SESSION_KEY = 'x-docker-expose-session-sharedkey';
/**
 * Calls read whole and rewritten before they are sent, besides the solves and `Return`: each names a build or a
 * session, which is put in the tenant's namespace, or a source whose sessions are checked.
 */
const SCOPED: ReadonlyMap<string, (message: Buffer, namespace: string) => Buffer> = new Map([
  ['/moby.buildkit.v1.Control/Status', scopeStatus],
  ['/moby.buildkit.v1.frontend.LLBBridge/ResolveImageConfig', scopeImageLookup],
  ['/moby.buildkit.v1.frontend.LLBBridge/ResolveSourceMeta', checkSourceLookup],
]);

/**
 * Reads BuildKit's gRPC on a hijacked `/grpc` connection (what `docker build` and `docker buildx` use with the
 * engine's BuildKit), so that builds obey the tenant rules too. Every `Solve` (`checkSolve`, `withTenantOptions`):
 * - gets the tenant's labels as `label:` frontend attributes (the image a Dockerfile build produces carries them)
 *   and a cache-mount namespace of the tenant's own (`RUN --mount=type=cache` is not shared between tenants);
 * - is refused when it asks for an entitlement that is not allowed (`network.host`, `security.insecure`), sets
 *   extra hosts or a cgroup parent, imports or exports build cache through a backend other than a registry, the
 *   client or inline, or through a registry on the engine's host, or pushes to one;
 * - runs the engine's own Dockerfile frontend only, unless `customFrontends` (a `# syntax=` line is ignored);
 * - has the LLB a client built itself read step by step, with the same rules.
 *
 * What BuildKit names engine-wide, the tenant names in its own namespace (`dockhand-<hash of its labels>-`): build
 * refs (a solve's, a status request's, the build a gateway call names), session ids (the session a client opens on
 * `/session` or `Control/Session`, the session a solve or an image lookup uses, a `/build`'s) and shared keys. A
 * tenant that learns another's ref or session id reaches only its own builds and sessions; LLB and source policies
 * the client built may name only sessions in its namespace.
 *
 * Calls are allowed by name: those `docker buildx` makes. The control calls that act on every tenant's builds
 * (cache prune, build history) are refused, and `DiskUsage` is answered with no records. The proxy terminates
 * HTTP/2 on both sides; every other allowed call is passed through as it is.
 *
 * @param options - the labels, the allowed entitlements, the image limit, the registries and frontends allowed
 * @returns the middleware
 * @example
 * ```ts
 * buildkitGuard({ labels: { 'dockhand.tenant': 'alice' } });
 * ```
 */
export function buildkitGuard(options: BuildKitGuardOptions): Middleware {
  const labels = Object.entries(options.labels);
  const solveRules: SolveRules = {
    labels,
    allowed: new Set(options.entitlements ?? []),
    namespace: namespaceOf(labels),
    customFrontends: options.customFrontends ?? false,
  };
  const checkRegistries = hostRegistryCheck(options);
  // the builds running through this proxy, by ref: a client-side build's result names its build by ref
  const builds = new Map<string, RunningBuild>();
  const activity: BuildActivity = { builds: 0, removals: new Set() };
  const images = options.images && { label: parseLabel(options.images.label), policy: options.images.policy };
  // BuildKit through `/build?version=2` runs in the engine without a Solve this guard could give a policy to
  const legacy: Middleware = on(['ImageBuild', 'BuildCancel'], async (ctx, next) => {
    // a build id names no tenant; the only builds it cancels are BuildKit builds through /build, refused here
    if (images && ctx.operation === 'BuildCancel') {
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        'cancelling a build by id is not available here; stop the build from its client (Ctrl-C)',
      );
    }
    if (images && ctx.request.query.get('version') === '2') {
      // inside a 200 stream, as the engine reports a BuildKit build that failed: dockerode's and testcontainers'
      // builds rejected a refusal's status by throwing where nothing could catch it, and the process died (found by
      // review, stop 25)
      answerBuildRefused(
        ctx,
        'DOCKHAND_IMAGE_POLICY',
        // (a classic build may be turned off here too: `workshopTenant({ classicBuilds: false })`)
        'BuildKit builds through /build cannot be limited to your images here; use docker buildx (the default docker build), or a classic build (DOCKER_BUILDKIT=0) where this workshop allows it',
      );
      return;
    }
    if (ctx.operation !== 'ImageBuild') {
      await next();
      return;
    }
    // a classic build, too, looks an image name up only when it reaches the step that reads it
    activity.builds++;
    let open = true;
    const over = () => {
      if (open) activity.builds--;
      open = false;
    };
    try {
      await next();
    } catch (err) {
      over();
      throw err;
    }
    if (ctx.response === undefined) over();
    else ctx.response.onEnd(over);
  });
  // what BuildKit names engine-wide outside `/grpc`, in the tenant's namespace: the session a client opens on
  // `/session` (and its shared key, which names the snapshots of its files), and a `/build`'s session and build id
  const names: Middleware = on(['Session', 'ImageBuild', 'BuildCancel'], async (ctx, next) => {
    const namespace = solveRules.namespace;
    if (ctx.operation === 'Session') {
      const headers = ctx.request.headers;
      const scoped = scopedSessionHeaders(
        namespace,
        headers.get(SESSION_ID) ?? '',
        headers.get(SESSION_KEY) ?? '',
      );
      headers.set('X-Docker-Expose-Session-Uuid', scoped.id);
      headers.set('X-Docker-Expose-Session-Sharedkey', scoped.sharedKey);
    } else {
      const query = ctx.request.query;
      const session = query.get('session');
      if (session !== null) query.set('session', scopedSession(namespace, session));
      const idParam = ctx.operation === 'BuildCancel' ? 'id' : 'buildid';
      const id = query.get(idParam);
      if (id) query.set(idParam, scopedRef(namespace, id));
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
    // export names are looked up one by one, as the engine reads them; the listing gives the visible images
    const names = images ? exportNames(upstream, images.label, images.policy ?? {}) : undefined;
    const sourcePolicy = images
      ? async (names_: string[]) => {
          await names?.check(names_);
          // a removal that began before this build did ends first: the policy names what is left
          await Promise.allSettled(activity.removals);
          const list = await listImages(upstream);
          const refused = await refusedRegistries(list, (hosts) => checkRegistries(hosts, upstream));
          return encodeSourcePolicy(
            visibleImageSources(list, images.label, images.policy ?? {}, (r) => !refused.has(r)),
          );
        }
      : undefined;
    ctx.onHijack((client, engine, early) =>
      intercept(client, engine, early, {
        solve: solveRules,
        builds,
        activity,
        checkRegistries: (hosts) => checkRegistries(hosts, upstream),
        log,
        ...(sourcePolicy ? { sourcePolicy } : {}),
        ...(names ? { names } : {}),
      }),
    );
    await next();
  });
  // a build's source policy allows the tenant's own tags as names, which the engine may resolve at any step of
  // the build: a name the tenant let go of meanwhile could be another tenant's image by then
  const removals: Middleware = on(['ImageDelete', 'ImagePrune'], async (_ctx, next) => {
    if (activity.builds > 0)
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        'images cannot be removed here while one of your builds runs (the build may still read them by name); remove them when it has ended',
      );
    const done = next();
    activity.removals.add(done);
    try {
      await done;
    } finally {
      activity.removals.delete(done);
    }
  });
  return compose(images ? [legacy, names, removals, grpc] : [names, grpc]);
}

/** The BuildKit builds of this proxy and the image removals in flight, which must not overlap. */
interface BuildActivity {
  /** How many builds are running: `Control/Solve` calls open, classic `/build` answers not ended. */
  builds: number;
  /** The image removals the engine has not answered yet. */
  readonly removals: Set<Promise<unknown>>;
}

/** A build running through this proxy. */
interface RunningBuild {
  /** Whether it stores an image (its result must carry the tenant's labels). */
  readonly storesImage: boolean;
  /** The full names its image was given when it ended (`[]` if refused), where it has names to give. */
  readonly named?: Promise<readonly string[]>;
}

interface Rules {
  solve: SolveRules;
  /** The builds running through this proxy, by ref. */
  builds: Map<string, RunningBuild>;
  /** Counts the running builds. */
  activity: BuildActivity;
  checkRegistries: (hosts: readonly string[]) => Promise<void>;
  log: Logger;
  /**
   * When images are limited: refuses the image names a `Control/Solve` exports to that another tenant's or a
   * shared image holds, and builds the `SourcePolicy` to give it.
   */
  sourcePolicy?: (exportNames: string[]) => Promise<Buffer>;
  /**
   * When images are limited: the image names a `Control/Solve` stores its image under are taken out of the
   * request and given by the proxy when the build has ended, checked again then.
   */
  names?: ExportNames;
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
  server.on('stream', (stream, headers, _flags, rawHeaders) =>
    forwardStream(stream, headers, rawHeaders, upstream, rules),
  );
  server.emit('connection', inbound);
}

function forwardStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  rawHeaders: string[],
  upstream: ClientHttp2Session,
  rules: Rules,
): void {
  const path = String(headers[':path'] ?? '');
  stream.on('error', () => {});
  if (path === DISK_USAGE) {
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.alloc(5)); // an empty DiskUsageResponse
    return;
  }
  if (!ALLOWED_METHODS.has(path)) {
    rules.log.warn({ code: 'DOCKHAND_ROUTE_DENIED', path }, 'BuildKit call refused');
    grpcError(
      stream,
      DENIED_METHODS.has(path)
        ? `${path.split('/').pop()} acts on every tenant's builds and is not allowed here`
        : `the BuildKit call ${path} is not allowed here`,
    );
    return;
  }
  if (path === CONTROL_SOLVE_PATH) {
    // open from its first byte to its end: a build reads image names until it ends
    rules.activity.builds++;
    stream.once('close', () => rules.activity.builds--);
  }
  let request: http2.ClientHttp2Stream;
  let buildId: string | undefined;
  try {
    const out = forwardedHeaders(rawHeaders);
    scopeHeaders(path, out, rules.solve.namespace);
    request = upstream.request(out, { endStream: false });
    buildId = out[BUILD_ID] as string | undefined;
  } catch (err) {
    const code = DockhandError.is(err) ? err.code : 'DOCKHAND_AMBIGUOUS_BODY';
    rules.log.warn({ code, path }, (err as Error).message);
    grpcError(stream, (err as Error).message);
    return;
  }
  request.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
  stream.on('close', () => {
    if (!request.closed) request.close(http2.constants.NGHTTP2_CANCEL);
  });
  let trailers: IncomingHttpHeaders | undefined;
  // the names a Control/Solve stores its image under, given when the engine has answered (see rewrite), and
  // what became of them, for the build's progress (relayProgress)
  let naming: string[] = [];
  let named: (names: readonly string[]) => void = () => {};
  const namedNames = new Promise<readonly string[]>((resolve) => {
    named = resolve;
  });
  stream.once('close', () => named([]));
  // the build a Control/Status follows, as the engine knows it
  let statusRef = '';
  request.on('response', (h) => {
    // the client may have reset its stream while the engine answered
    if (stream.destroyed || stream.closed) {
      request.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    const response: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(h))
      if (v !== undefined && (!k.startsWith(':') || k === ':status')) response[k] = v as string | string[];
    stream.respond(response, { waitForTrailers: true });
    stream.on('wantTrailers', () => {
      const t: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(trailers ?? statusOf(h)))
        if (v !== undefined && !k.startsWith(':')) t[k] = v as string | string[];
      stream.sendTrailers(t);
    });
    if (path === CONTROL_STATUS_PATH) {
      relayProgress(request, stream, () => rules.builds.get(statusRef)?.named);
      return;
    }
    if (path !== CONTROL_SOLVE_PATH || rules.names === undefined) {
      request.pipe(stream);
      return;
    }
    // the answer (one message: the exporters' response) is held until the image has its names
    const answer: Buffer[] = [];
    request.on('data', (c: Buffer) => answer.push(c));
    request.on('end', () => {
      const names = naming;
      const body = Buffer.concat(answer);
      const status = (trailers ?? statusOf(h))['grpc-status'];
      if (names.length === 0 || status !== '0' || rules.names === undefined) {
        named([]);
        stream.end(body);
        return;
      }
      giveNames(body, names, rules.names)
        .then(({ answer, full }) => {
          named(full);
          stream.end(answer);
        })
        .catch((err: Error) => {
          named([]);
          rules.log.warn({ code: DockhandError.is(err) ? err.code : 'DOCKHAND_IMAGE_POLICY' }, err.message);
          trailers = { 'grpc-status': PERMISSION_DENIED, 'grpc-message': encodeURIComponent(err.message) };
          stream.end();
        })
        .catch(() => stream.destroy());
    });
  });
  request.on('trailers', (t) => {
    trailers = t;
  });
  const solve = SOLVES.get(path);
  const scoped = SCOPED.get(path);
  if (!solve && !scoped && path !== RETURN) {
    stream.pipe(request);
    return;
  }
  // a solve, a result returned, or a call that names a build or a session: read whole, checked, rewritten, sent
  const rewrite = async (frame: Buffer): Promise<Buffer> => {
    const message = unframe(frame);
    if (scoped) {
      const rewritten = scoped(message, rules.solve.namespace);
      if (path === CONTROL_STATUS_PATH) statusRef = lastString(rewritten, 1);
      return reframe(rewritten);
    }
    if (!solve) {
      // the build as the engine knows it: scopeHeaders put it in the tenant's namespace
      const build = buildId === undefined ? undefined : rules.builds.get(buildId);
      if (build === undefined)
        throw refuse(
          'DOCKHAND_IMAGE_POLICY',
          'a result must be returned for a build started through this proxy',
        );
      return reframe(labelResult(message, rules.solve.labels, build.storesImage));
    }
    const facts = checkSolve(message, solve, rules.solve);
    await rules.checkRegistries(facts.registries);
    const policy =
      solve.sourcePolicy !== undefined ? await rules.sourcePolicy?.(facts.exportNames) : undefined;
    let unnamed: Buffer = message;
    if (solve === CONTROL_SOLVE && rules.names !== undefined)
      ({ message: unnamed, names: naming } = withoutExportNames(message));
    const rewritten = withTenantOptions(unnamed, rules.solve, solve, policy);
    if (solve === CONTROL_SOLVE && facts.ref !== '') {
      // a second solve of a ref the engine refuses, but its exporter must not stand for the first's
      if (rules.builds.has(facts.ref))
        throw refuse(
          'DOCKHAND_IMAGE_POLICY',
          `a build with the ref ${facts.ref.slice(rules.solve.namespace.length + 1)} is already running here`,
        );
      const build: RunningBuild = {
        storesImage: facts.storesImage,
        ...(naming.length > 0 ? { named: namedNames } : {}),
      };
      rules.builds.set(facts.ref, build);
      const forget = () => {
        if (rules.builds.get(facts.ref) === build) rules.builds.delete(facts.ref);
      };
      // the client may have gone while the checks waited on the engine
      if (stream.closed || stream.destroyed) forget();
      else stream.on('close', forget);
    }
    return rewritten;
  };
  const chunks: Buffer[] = [];
  let length = 0;
  const tooLong = `a BuildKit request of more than ${MAX_MESSAGE >> 20} MiB cannot be checked here`;
  stream.on('data', (c: Buffer) => {
    if (length > MAX_FRAME) return;
    length += c.length;
    // a frame declares its length in its first 5 bytes: one over the limit is refused before it is sent
    const declared = chunks.length === 0 && c.length >= 5 ? c.readUInt32BE(1) : 0;
    if (length > MAX_FRAME || declared > MAX_MESSAGE) {
      length = MAX_FRAME + 1;
      chunks.length = 0;
      rules.log.warn({ code: 'DOCKHAND_BODY_TOO_LARGE', path }, tooLong);
      request.close(http2.constants.NGHTTP2_CANCEL);
      grpcError(stream, tooLong);
      return;
    }
    chunks.push(c);
  });
  stream.on('end', () => {
    if (length > MAX_FRAME) return;
    Promise.resolve()
      .then(() => rewrite(Buffer.concat(chunks)))
      .then((rewritten) => request.end(rewritten))
      .catch((err: Error) => {
        rules.log.warn({ code: DockhandError.is(err) ? err.code : 'DOCKHAND_AMBIGUOUS_BODY' }, err.message);
        request.close(http2.constants.NGHTTP2_CANCEL);
        grpcError(stream, err.message);
      })
      // nothing a client does to its stream may end the proxy
      .catch(() => stream.destroy());
  });
}

/**
 * The largest request message the guard reads whole (16 MiB, BuildKit's default message limit), and its frame: a
 * larger one is refused before it is held in memory.
 */
const MAX_MESSAGE = 16 << 20;
const MAX_FRAME = MAX_MESSAGE + 5;

/**
 * Gives the image a `Control/Solve` stored its names ({@link ExportNames}), and the answer its `image.name`, as
 * the engine's exporter would have set it.
 *
 * @param answer - the engine's answer: one frame of a `SolveResponse` (`ExporterResponse`, map field 1)
 * @param names - the names taken out of the request
 * @param exportNames - the tenant's checks and tagging
 * @returns the answer to send the client, and the names in full (for the build's progress)
 */
async function giveNames(
  answer: Buffer,
  names: readonly string[],
  exportNames: ExportNames,
): Promise<{ answer: Buffer; full: string[] }> {
  let response: Buffer;
  try {
    response = unframe(answer);
  } catch {
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      'the image a build stored cannot be named here (an answer not read)',
    );
  }
  const id = stringMapOf(response, 1)
    .filter(([k]) => k === 'containerimage.config.digest')
    .at(-1)?.[1];
  if (id === undefined || !/^sha256:[0-9a-f]{64}$/.test(id))
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      'the image a build stored cannot be named here (the engine gave no id)',
    );
  await exportNames.give(id, names);
  // as the engine's exporter names them, in its progress and its answer: in full, with the tag only where one was
  // given (found by review, stop 26: `naming to docker.io/library/x:latest` where the engine shows `.../x`)
  const full = [
    ...new Set(
      names.map((n) => normaliseReference(n)).map((r) => (r.tagged ? `${r.name}:${r.tag}` : r.name)),
    ),
  ];
  return {
    answer: reframe(Buffer.concat([response, stringMapEntry(1, 'image.name', full.join(','))])),
    full,
  };
}

/**
 * The status to end a call with when the engine sent no trailers: the one in its answer's headers (a gRPC
 * trailers-only answer), or `UNKNOWN` when there is none (an HTTP error), never a success the engine did not give.
 */
function statusOf(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  if (headers['grpc-status'] !== undefined)
    return { 'grpc-status': headers['grpc-status'], 'grpc-message': headers['grpc-message'] ?? '' };
  return {
    'grpc-status': '2',
    'grpc-message': encodeURIComponent(
      `the engine answered HTTP ${headers[':status']} without a gRPC status`,
    ),
  };
}

/** Metadata a gRPC client may send more than once: the methods a session serves. */
const REPEATABLE = new Set(['x-docker-expose-session-grpc-method']);

/**
 * The request headers to send the engine, from the fields as they came (`headers` joins a repeated field with
 * `, `): the pseudo-headers but `:path` and `:method` and the connection's own fields left out, `te` as gRPC has it.
 *
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_AMBIGUOUS_BODY` for a field sent more than once that may
 *   not be (the engine would read one of them, Node's client refuses some)
 */
function forwardedHeaders(rawHeaders: string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const k = rawHeaders[i]!.toLowerCase();
    const v = rawHeaders[i + 1]!;
    if (k.startsWith(':') && k !== ':path' && k !== ':method') continue;
    if (k === 'connection' || k === 'host' || k === 'te') continue;
    const seen = out[k];
    if (seen !== undefined && !REPEATABLE.has(k))
      throw refuse('DOCKHAND_AMBIGUOUS_BODY', `the header ${k} must be sent once`);
    out[k] = seen === undefined ? v : [...(Array.isArray(seen) ? seen : [seen]), v];
  }
  out.te = 'trailers';
  return out;
}

/**
 * Puts the build a gateway call names, and the session a `Control/Session` call opens, in the tenant's namespace:
 * each header set to one value, so that the engine reads the name the guard wrote.
 *
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY` for a name that cannot be read one way
 */
function scopeHeaders(path: string, out: Record<string, string | string[]>, namespace: string): void {
  const one = (name: string): string => {
    const value = out[name];
    if (Array.isArray(value)) throw refuse('DOCKHAND_IMAGE_POLICY', `the header ${name} must be sent once`);
    return value ?? '';
  };
  if (path.startsWith(GATEWAY)) {
    if (one(BUILD_ID) === '') throw refuse('DOCKHAND_IMAGE_POLICY', 'a gateway call must name its build');
    out[BUILD_ID] = scopedRef(namespace, one(BUILD_ID));
  }
  if (path === '/moby.buildkit.v1.Control/Session') {
    const scoped = scopedSessionHeaders(namespace, one(SESSION_ID), one(SESSION_KEY));
    out[SESSION_ID] = scoped.id;
    out[SESSION_KEY] = scoped.sharedKey;
  }
}

/**
 * Answers a call with `PermissionDenied` and the message, or resets it when its answer has begun; nothing when the
 * client has already reset it (a refusal may come after the guard waited on the engine).
 */
function grpcError(stream: ServerHttp2Stream, message: string): void {
  if (stream.destroyed || stream.closed) return;
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

const POLICY_ALLOW = 0;
const POLICY_DENY = 1;
const MATCH_WILDCARD = 0;
const MATCH_REGEX = 2;
/** Sources BuildKit fetches over the network from the engine's host. */
const REMOTE_SOURCES = ['http://*', 'https://*', 'git://*'];
/**
 * Sources the engine makes from an OCI layout a client's session serves (`--build-context name=oci-layout://`): the
 * layout's config names the layers' diff ids as the client says, which an engine with the containerd image store
 * keys cached layers by.
 */
const SESSION_LAYOUT_SOURCES = ['oci-layout://*'];
/**
 * A context the client uploads over its own session (`docker build -` with a tar on stdin): BuildKit fetches a URL
 * whose host is exactly `buildkit-session` from the sessions of the build, and any other from the network.
 */
const SESSION_UPLOAD = 'http://buildkit-session/*';

/**
 * Encodes a BuildKit `sourcepolicy.Policy` (version 1) that denies every `docker-image://` source except those
 * matching one of the given regular expressions, every `http://`, `https://` and `git://` source (fetched by
 * the engine from the host's network) but a context the client uploads over its session, and every
 * `oci-layout://` source (layers as a client's session describes them). BuildKit lets the last matching rule
 * decide, so the image deny rule comes first.
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
    ...[...REMOTE_SOURCES, ...SESSION_LAYOUT_SOURCES].map((id) => rule(POLICY_DENY, id, MATCH_WILDCARD)),
    // but not a context the client uploads over its own session (`docker build - < context.tar`): BuildKit reads
    // the host `buildkit-session` from the build's sessions, never from the network (found by review, stop 26)
    rule(POLICY_ALLOW, SESSION_UPLOAD, MATCH_WILDCARD),
  ]);
}

/** The engine's images, with their digests: what a solve's checks are made against. */
async function listImages(upstream: Upstream): Promise<ImageSummary[]> {
  const reply = await upstream.request({ path: '/images/json', query: { digests: '1' } });
  if (reply.status !== 200) throw new Error(`cannot list the images a build may use (HTTP ${reply.status})`);
  return reply.json<ImageSummary[]>();
}

interface ImageSummary extends ImageFacts {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
}

/**
 * The source identifiers a tenant's build may use, as Go regular expressions: every image the tenant sees, by
 * each of its tags (optionally pinned to one of the image's own digests, as BuildKit pins a resolved tag) and by
 * its name with its own digest. Another tenant's image matches none of them under any name or digest.
 *
 * @param list - the engine's images, with their digests
 * @param label - the tenant label
 * @param policy - the image policy
 * @param registryAllowed - whether a build may use images of a registry (as `normaliseReference` names it:
 *   `docker.io`, `127.0.0.1:5000`); the others get no pattern
 * @returns the patterns
 * @internal
 */
export function visibleImageSources(
  list: ImageSummary[],
  label: TenantLabel,
  policy: ImagePolicy,
  registryAllowed: (registry: string) => boolean = () => true,
): string[] {
  const patterns: string[] = [];
  const allowed = (name: string) => registryAllowed(name.slice(0, name.indexOf('/')));
  for (const image of list) {
    if (!imageVisible(image, label, policy)) continue;
    const digests = [image.Id, ...(image.RepoDigests ?? []).map((d) => d.slice(d.indexOf('@') + 1))];
    const pinned = `@(?:${[...new Set(digests)].map(escapeRegExp).join('|')})`;
    const names = new Set<string>();
    for (const tag of image.RepoTags ?? []) {
      if (tag === '<none>:<none>') continue;
      const { name, tag: t } = normaliseReference(tag);
      if (!allowed(name)) continue;
      names.add(name);
      patterns.push(`^docker-image://${escapeRegExp(`${name}:${t}`)}(?:${pinned})?$`);
    }
    for (const d of image.RepoDigests ?? []) {
      const { name } = normaliseReference(d.slice(0, d.indexOf('@')));
      if (allowed(name)) names.add(name);
    }
    for (const name of names) patterns.push(`^docker-image://${escapeRegExp(name)}${pinned}$`);
  }
  return patterns;
}

/**
 * The registries of the images a tenant sees that its builds may not contact (`hostRegistryCheck`'s refusals):
 * BuildKit contacts an image's registry when a build asks to pull (`--pull`, an LLB resolve mode), so a tag
 * naming the engine's host or another tenant's container address would have the engine connect there (found by
 * review, stop 21).
 */
async function refusedRegistries(
  list: ImageSummary[],
  check: (hosts: readonly string[]) => Promise<void>,
): Promise<Set<string>> {
  const registries = new Set<string>();
  for (const image of list) {
    for (const ref of [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])]) {
      if (ref === '<none>:<none>') continue;
      const name = normaliseReference(ref.includes('@') ? ref.slice(0, ref.indexOf('@')) : ref).name;
      registries.add(name.slice(0, name.indexOf('/')));
    }
  }
  const refused = new Set<string>();
  for (const registry of registries) {
    try {
      await check([registry]);
    } catch (err) {
      if (!DockhandError.is(err) || err.code !== 'DOCKHAND_HOST_ESCAPE') throw err;
      refused.add(registry);
    }
  }
  return refused;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
