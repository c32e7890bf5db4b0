import { readFile } from 'node:fs/promises';
import { logRequests, type Middleware, type OperationId, operationIds, type Upstream } from '@dockhand/core';
import type { Logger } from 'pino';
import * as v from 'valibot';
import { parseDocument } from 'yaml';
import { allowRoutes, denyUnknownRoutes } from './allow-routes.ts';
import { buildkitGuard } from './buildkit-guard.ts';
import { hostGuard } from './host-guard.ts';
import { limitClassicBuilds } from './limit-classic-builds.ts';
import { mountPolicy } from './mount-policy.ts';
import { polledStats } from './polled-stats.ts';
import { refuseClassicBuilds } from './refuse-classic-builds.ts';
import { rewriteDockerSocket } from './rewrite-docker-socket.ts';
import { scopeToTenant } from './scope-to-tenant.ts';
import { stampLabels } from './stamp-labels.ts';
import { LABEL_SPEC } from './tenant.ts';
import { tenantNetwork } from './tenant-network.ts';
import { type WorkshopTenantMiddleware, workshopTenant } from './workshop-tenant.ts';

const str = v.pipe(v.string(), v.minLength(1));
const strings = v.array(str);
const labels = v.record(str, v.string());
const tenantLabel = v.pipe(v.string(), v.regex(LABEL_SPEC, 'a tenant label is key=value'));
/** Explicit network subnets: `true` for any, or the IPv4 ranges they must lie within. */
const subnets = v.union([v.boolean(), strings]);
const imagePolicy = v.strictObject({
  showOtherTenants: v.optional(v.boolean()),
  allowChangingShared: v.optional(v.boolean()),
  reserved: v.optional(strings),
});

const entries = {
  workshopTenant: v.strictObject({
    type: v.literal('workshopTenant'),
    tenant: str,
    labelKey: v.optional(str),
    projectDir: v.optional(str),
    projectVolume: str,
    socketVolume: str,
    socketPath: v.optional(str),
    instanceVolumes: v.optional(strings),
    instanceNetworks: v.optional(strings),
    network: v.optional(str),
    publishOn: v.optional(v.union([str, v.literal(false)])),
    projectMount: v.optional(str),
    unsafeOldEngineBinds: v.optional(v.boolean()),
    helperImage: v.optional(str),
    shared: v.optional(v.strictObject({ networks: v.optional(strings), volumes: v.optional(strings) })),
    allowBinds: v.optional(strings),
    networkSubnets: v.optional(subnets),
    localRegistries: v.optional(strings),
    registries: v.optional(strings),
    reservedImages: v.optional(strings),
    classicBuilds: v.optional(v.boolean()),
  }),
  stampLabels: v.strictObject({ type: v.literal('stampLabels'), labels }),
  scopeToTenant: v.strictObject({
    type: v.literal('scopeToTenant'),
    label: tenantLabel,
    shared: v.optional(v.strictObject({ networks: v.optional(strings), volumes: v.optional(strings) })),
    tenantNetworks: v.optional(strings),
    images: v.optional(imagePolicy),
  }),
  mountPolicy: v.strictObject({
    type: v.literal('mountPolicy'),
    allow: v.optional(
      v.strictObject({
        binds: v.optional(strings),
        volumes: v.optional(strings),
        readOnlyVolumes: v.optional(strings),
        volumeDrivers: v.optional(strings),
      }),
    ),
    remap: v.optional(
      v.array(
        v.strictObject({
          path: str,
          volume: str,
          subpath: v.optional(v.string()),
          verifyRoot: v.optional(str),
          unsafeBindFallback: v.optional(v.boolean()),
        }),
      ),
    ),
    labels: v.optional(labels),
    helperImage: v.optional(str),
  }),
  rewriteDockerSocket: v.strictObject({
    type: v.literal('rewriteDockerSocket'),
    socketPaths: v.optional(strings),
    target: v.union([v.strictObject({ volume: str, subpath: str }), v.strictObject({ path: str })]),
  }),
  hostGuard: v.strictObject({
    type: v.literal('hostGuard'),
    capAdd: v.optional(strings),
    logDrivers: v.optional(strings),
    runtimes: v.optional(strings),
    privileged: v.optional(v.boolean()),
    network: v.optional(
      v.strictObject({
        drivers: v.optional(strings),
        options: v.optional(strings),
        subnets: v.optional(subnets),
      }),
    ),
    localRegistries: v.optional(strings),
    registries: v.optional(strings),
  }),
  tenantNetwork: v.strictObject({
    type: v.literal('tenantNetwork'),
    defaultNetwork: v.optional(str),
    publishOn: v.optional(v.union([str, v.literal(false)])),
  }),
  buildkitGuard: v.strictObject({
    type: v.literal('buildkitGuard'),
    labels,
    entitlements: v.optional(strings),
    images: v.optional(v.strictObject({ label: tenantLabel, policy: v.optional(imagePolicy) })),
    localRegistries: v.optional(strings),
    registries: v.optional(strings),
    customFrontends: v.optional(v.boolean()),
  }),
  allowRoutes: v.strictObject({
    type: v.literal('allowRoutes'),
    routes: v.array(v.picklist(operationIds as OperationId[])),
  }),
  denyUnknownRoutes: v.strictObject({ type: v.literal('denyUnknownRoutes') }),
  logRequests: v.strictObject({ type: v.literal('logRequests') }),
  refuseClassicBuilds: v.strictObject({ type: v.literal('refuseClassicBuilds') }),
  limitClassicBuilds: v.strictObject({
    type: v.literal('limitClassicBuilds'),
    concurrent: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  }),
  polledStats: v.strictObject({
    type: v.literal('polledStats'),
    intervalMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100))),
  }),
} as const;

type EntryType = keyof typeof entries;

/** A file mode written in octal: `0660`, `660`, `0o660`. */
const OCTAL_MODE = /^(?:0o?)?[0-7]{3}$/;

const fileSchema = v.strictObject({
  listen: v.optional(str),
  upstream: v.optional(str),
  // a file mode: an octal string ('0660', '660', '0o660') or a number up to 0o777 (YAML 1.2 reads an unquoted
  // 0660 as the decimal 660, a mode nobody meant: found by review, stop 26)
  socketMode: v.optional(
    v.union(
      [
        v.pipe(v.string(), v.regex(OCTAL_MODE)),
        v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0o777)),
      ],
      "must be a file mode in octal, quoted ('0660') or as 0o660",
    ),
  ),
  middleware: v.array(v.looseObject({ type: str })),
});

/** A proxy configuration file, validated, with its pipeline built. */
export interface ProxyConfig {
  /** Where to listen, if the file says. */
  readonly listen?: string;
  /** The engine, if the file says. */
  readonly upstream?: string;
  /** The unix socket's file mode, if the file says. */
  readonly socketMode?: number;
  /** The pipeline, in file order. */
  readonly middleware: Middleware[];
  /**
   * The checks the pipeline makes on the engine before it serves anything (a `workshopTenant`'s instance
   * volumes), for a proxy to run before it listens; present only when the pipeline has some. Rejects with the
   * refusal (a `DockhandError`) when one fails.
   */
  readonly preflight?: (upstream: Upstream, log?: Logger) => Promise<void>;
}

/**
 * A unix socket's file mode written in octal (`'0660'`, `'660'`, `'0o660'`), as `--socket-mode` and `socketMode`
 * take it.
 *
 * @param text - the mode
 * @returns the mode
 * @throws {@link ConfigError} for anything else (`parseInt` read `0690` as `06`, and `99999` gave others access)
 * @example
 * ```ts
 * parseSocketMode('0660'); // 0o660
 * ```
 */
export function parseSocketMode(text: string): number {
  if (!OCTAL_MODE.test(text))
    throw new ConfigError(`socket mode '${text}' is not a file mode in octal (e.g. 0660)`);
  return Number.parseInt(text.replace(/^0o/, ''), 8);
}

/** A configuration file that cannot be used: the message names the file, the key and what is wrong. */
export class ConfigError extends Error {
  /** The stable code: `DOCKHAND_CONFIG_INVALID`. */
  readonly code = 'DOCKHAND_CONFIG_INVALID';
  /** @param message - what is wrong, where */
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string of a parsed document, and `$$` with `$`. A variable
 * that is unset and has no default is an error, and so is any other `$` before a letter or a brace: a reference in
 * another form (compose's `${NAME:?message}`, `$NAME`, a nested default) was kept as text, and every instance got
 * the same literal tenant name (found by review, stop 26).
 */
function substitute(value: unknown, env: NodeJS.ProcessEnv, file: string, path: string): unknown {
  if (typeof value === 'string') {
    return value.replace(
      /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}$]*))?\}|\$(?=[{A-Za-z_])/g,
      (match: string, name?: string, fallback?: string) => {
        if (match === '$$') return '$';
        if (name === undefined)
          throw new ConfigError(
            `${file}: ${path}: a variable reference this file cannot read in '${value}': write \${NAME} or \${NAME:-default} (and $$ for a $)`,
          );
        const got = env[name];
        if (got !== undefined && got !== '') return got;
        if (fallback !== undefined) return fallback;
        throw new ConfigError(`${file}: ${path}: environment variable ${name} is not set`);
      },
    );
  }
  if (Array.isArray(value)) return value.map((x, i) => substitute(x, env, file, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, x]) => [k, substitute(x, env, file, path ? `${path}.${k}` : k)]),
    );
  }
  return value;
}

/** The most specific issue: a union's own issue only says no branch fitted; its first nested one says why. */
function deepest(issue: v.BaseIssue<unknown>): v.BaseIssue<unknown> {
  let i = issue;
  let path = [...(issue.path ?? [])];
  while (i.issues && i.issues.length > 0) {
    i = i.issues[0]!;
    path = [...path, ...(i.path ?? [])];
  }
  return { ...i, path: path as v.BaseIssue<unknown>['path'] };
}

/** An issue's message in plain words. */
function describe(issue: v.BaseIssue<unknown>): string {
  if (
    issue.kind === 'schema' &&
    issue.expected === 'never' &&
    issue.type !== undefined &&
    /key/i.test(issue.message)
  ) {
    return `unknown key ${issue.received}`;
  }
  return issue.message;
}

function issuePath(prefix: string, issue: v.BaseIssue<unknown>): string {
  const keys = (issue.path ?? []).map((p) => String(p.key));
  return [prefix, ...keys]
    .filter(Boolean)
    .join('.')
    .replace(/\.(\d+)(?=\.|$)/g, '[$1]');
}

/**
 * Parses and validates a proxy configuration (YAML or JSON) and builds its pipeline. Unknown middleware types,
 * unknown keys and wrong values are errors at startup, never warnings.
 *
 * @param text - the file's content
 * @param file - its name, for messages
 * @param env - the environment for `${VAR}` substitution
 * @returns the configuration
 * @throws {@link ConfigError} naming the file, the key and what is wrong
 * @example
 * ```ts
 * const config = parseProxyConfig('middleware:\n  - type: hostGuard\n', 'tenant.yaml');
 * ```
 */
export function parseProxyConfig(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): ProxyConfig {
  let doc: unknown;
  try {
    // a warning is an error too: an unknown tag (`!!js/function`) was only warned of, and its value used as text
    // (found by review, stop 26)
    const parsed = parseDocument(text);
    const trouble = parsed.errors[0] ?? parsed.warnings[0];
    if (trouble) throw trouble;
    doc = parsed.toJS();
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML or JSON: ${(err as Error).message}`);
  }
  doc = substitute(doc, env, file, '');
  const top = v.safeParse(fileSchema, doc);
  if (!top.success) {
    const issue = deepest(top.issues[0]);
    throw new ConfigError(`${file}: ${issuePath('', issue) || '(top level)'}: ${describe(issue)}`);
  }
  const middleware = top.output.middleware.map((entry, i): Middleware => {
    const where = `middleware[${i}]`;
    if (!Object.hasOwn(entries, entry.type)) {
      throw new ConfigError(
        `${file}: ${where}.type: unknown middleware type '${entry.type}' (known: ${Object.keys(entries).join(', ')})`,
      );
    }
    const type = entry.type as EntryType;
    const parsed = v.safeParse(entries[type], entry);
    if (!parsed.success) {
      const issue = deepest(parsed.issues[0]);
      throw new ConfigError(`${file}: ${issuePath(where, issue)}: ${describe(issue)}`);
    }
    try {
      return build(type, parsed.output as never);
    } catch (err) {
      // what a middleware refuses when it is made names the entry too (found by review, stop 26)
      throw new ConfigError(`${file}: ${where}: ${(err as Error).message}`);
    }
  });
  const checks = middleware.flatMap((mw) => {
    const verify = (mw as Partial<WorkshopTenantMiddleware>).verifyInstanceVolumes;
    return typeof verify === 'function' ? [verify] : [];
  });
  const mode = top.output.socketMode;
  return {
    ...(checks.length > 0
      ? {
          preflight: async (upstream: Upstream, log?: Logger) => {
            for (const check of checks) await check(upstream, log);
          },
        }
      : {}),
    ...(top.output.listen ? { listen: top.output.listen } : {}),
    ...(top.output.upstream ? { upstream: top.output.upstream } : {}),
    ...(mode !== undefined ? { socketMode: typeof mode === 'number' ? mode : parseSocketMode(mode) } : {}),
    middleware,
  };
}

function build(type: EntryType, o: Record<string, never>): Middleware {
  const { type: _t, ...opts } = o as Record<string, unknown>;
  switch (type) {
    case 'workshopTenant':
      return workshopTenant(opts as never);
    case 'stampLabels':
      return stampLabels(opts as never);
    case 'scopeToTenant':
      return scopeToTenant(opts as never);
    case 'mountPolicy':
      return mountPolicy(opts as never);
    case 'rewriteDockerSocket':
      return rewriteDockerSocket(opts as never);
    case 'hostGuard':
      return hostGuard(opts as never);
    case 'tenantNetwork':
      return tenantNetwork(opts as never);
    case 'buildkitGuard':
      return buildkitGuard(opts as never);
    case 'allowRoutes':
      return allowRoutes((opts as { routes: OperationId[] }).routes);
    case 'denyUnknownRoutes':
      return denyUnknownRoutes();
    case 'logRequests':
      return logRequests();
    case 'refuseClassicBuilds':
      return refuseClassicBuilds();
    case 'limitClassicBuilds':
      return limitClassicBuilds(opts as never);
    case 'polledStats':
      return polledStats(opts as never);
  }
}

/**
 * Reads a configuration file; see {@link parseProxyConfig}.
 *
 * @param file - the path
 * @param env - the environment for `${VAR}` substitution
 * @returns the configuration
 * @example
 * ```ts
 * const { middleware } = await loadProxyConfig('tenant.yaml');
 * ```
 */
export async function loadProxyConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProxyConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`);
  }
  return parseProxyConfig(text, file, env);
}
