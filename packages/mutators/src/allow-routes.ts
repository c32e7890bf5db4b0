import {
  type Context,
  DockhandError,
  type Middleware,
  type OperationId,
  operationIds,
  type RequestSummary,
  routes,
  untouchedWhen,
} from '@dockhand/core';
import { versionAtLeast } from './engine-version.ts';
import { refuse } from './errors.ts';

const SWARM = /^(Swarm|Node|Service|Task|Secret|Config)/;
const NOT_A_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

/**
 * The refusal of a denied route, in the form the daemon uses when the feature is not there, so that clients
 * probing for it (`docker inspect` tries every object type) behave as they do against an engine without it.
 */
function denial(ctx: Context): DockhandError {
  const op = ctx.operation!;
  if (op === 'PluginInspect')
    return new DockhandError('DOCKHAND_NOT_FOUND', 404, `plugin "${ctx.params.name}" not found`);
  if (SWARM.test(op) && !/^Swarm(Init|Join)$/.test(op))
    return new DockhandError('DOCKHAND_ROUTE_DENIED', 503, NOT_A_MANAGER);
  return refuse('DOCKHAND_ROUTE_DENIED', `${op} (${ctx.method} ${ctx.path}) is not allowed here`);
}

/** Route families denied by default: swarm, services, nodes, tasks, secrets, configs, plugins, checkpoints, debug. */
export const DENIED_BY_DEFAULT: readonly OperationId[] = operationIds.filter((op) =>
  /^(Swarm|Node|Service|Task|Secret|Config|Plugin|GetPluginPrivileges|ContainerCheckpoint|Debug)/.test(op),
);

/** Every operation a workshop tenant may use: the whole Engine API less {@link DENIED_BY_DEFAULT}. */
export const TENANT_ROUTES: readonly OperationId[] = operationIds.filter(
  (op) => !DENIED_BY_DEFAULT.includes(op),
);

/**
 * The oldest API version served: engines before 25 still serve 1.12 to 1.23, where `start` applies a
 * `HostConfig` body and other legacy rules hold; Engine 25 and later refuse them themselves.
 */
const MIN_API_VERSION = '1.24';

function tooOld(apiVersion: string | undefined): boolean {
  return apiVersion !== undefined && !versionAtLeast(apiVersion, MIN_API_VERSION);
}

/**
 * Whether a body is a form the daemon's Go handlers would read parameters from: `r.FormValue` parses a urlencoded
 * body and, through `ParseMultipartForm`, a multipart one.
 */
function isForm(contentType: string | null | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/x-www-form-urlencoded' || type.startsWith('multipart/');
}

/**
 * Whether a `Content-Type` is read here as the engine reads it: Go's `mime.ParseMediaType` lowercases and trims
 * it with Unicode rules on its UTF-8 (`applİcation/...` with U+0130 is `application/...`, U+00A0 and U+0085 are
 * trimmed), which JavaScript's own rules do not match. Only a value of tab, space and visible ASCII is read alike.
 */
function readableType(contentType: string | null | undefined): boolean {
  return /^[\t\x20-\x7e]*$/.test(contentType ?? '');
}

/** What both route gates let through untouched: a known route, a supported version, no form body. */
function admissible(req: RequestSummary): boolean {
  return (
    req.operation !== undefined &&
    !tooOld(req.apiVersion) &&
    readableType(req.contentType) &&
    !isForm(req.contentType)
  );
}

/** The route gates' checks on every request: a known route, a supported API version, no form body. */
function checkRequest(ctx: Context): void {
  if (ctx.operation === undefined) {
    throw refuse(
      'DOCKHAND_ROUTE_DENIED',
      `${ctx.method} ${ctx.path} is not part of the Docker Engine API this proxy serves`,
    );
  }
  if (tooOld(ctx.apiVersion)) {
    throw refuse(
      'DOCKHAND_API_TOO_OLD',
      `client version ${ctx.apiVersion} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  }
}

/**
 * Refuses a form body, urlencoded or multipart: the daemon's Go handlers read query parameters with `r.Form` and
 * `r.FormValue`, which take them from such a body too, so `filters`, `repo`, `networkmode`, `remote`, ... could be
 * smuggled past every check made on the query.
 */
function refuseFormBody(ctx: Context): void {
  const type = ctx.request.headers.get('content-type');
  if (!readableType(type)) {
    throw refuse(
      'DOCKHAND_AMBIGUOUS_BODY',
      `${ctx.method} ${ctx.path}: a Content-Type with bytes other than printable ASCII is not accepted here (the engine could read it as a form)`,
    );
  }
  if (isForm(type)) {
    throw refuse(
      'DOCKHAND_AMBIGUOUS_BODY',
      `${ctx.method} ${ctx.path}: a form body (urlencoded or multipart) is not accepted here (send parameters in the URL)`,
    );
  }
}

/**
 * Refuses every route that is not on the list, every path that is no Engine API route (fail closed), every
 * form-encoded body (the daemon would read it as query parameters the policy never saw), and API versions before
 * 1.24 in the path (legacy behaviour that older engines still serve, such as `start` applying a `HostConfig`).
 *
 * @param list - the operationIds to allow
 * @returns the middleware
 * @example
 * ```ts
 * allowRoutes(['SystemPing', 'SystemVersion', 'ContainerList']);
 * ```
 */
export function allowRoutes(list: readonly OperationId[]): Middleware {
  for (const op of list)
    if (!Object.hasOwn(routes, op)) throw new TypeError(`allowRoutes(): unknown route '${op}'`);
  const allowed = new Set<string>(list);
  // what it lets through, it leaves untouched: such requests may take the proxy's byte lane
  return untouchedWhen(
    (req) => admissible(req) && allowed.has(req.operation!),
    async (ctx, next) => {
      checkRequest(ctx);
      if (!allowed.has(ctx.operation!)) throw denial(ctx);
      refuseFormBody(ctx);
      await next();
    },
  );
}

/**
 * Refuses every path that is no Engine API route (e.g. `/libpod/...`), so that a policy can never be bypassed
 * by a route it does not know, every form-encoded body (the daemon would read it as query parameters), and API
 * versions before 1.24 in the path.
 *
 * @returns the middleware
 * @example
 * ```ts
 * createProxy({ upstream, middleware: [denyUnknownRoutes(), ...] });
 * ```
 */
export function denyUnknownRoutes(): Middleware {
  return untouchedWhen(admissible, async (ctx, next) => {
    checkRequest(ctx);
    refuseFormBody(ctx);
    await next();
  });
}
