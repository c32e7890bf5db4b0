import { match } from 'path-to-regexp';
import { coreError } from './errors.ts';
import { type OperationId, type RouteSpec, routes } from './routes.ts';

/** What a request path resolves to: the route the daemon will serve it with, read the way the daemon reads it. */
export interface ResolvedPath {
  /** The operationId, or `undefined` when no route of the Engine API matches. */
  readonly operation: OperationId | undefined;
  /** The route's table entry, when there is one. */
  readonly route: RouteSpec | undefined;
  /** The path parameters, percent-decoded (a `*` parameter keeps its slashes). */
  readonly params: Record<string, string>;
  /** The API version from a `/v1.xx` prefix, or `undefined` when the path has none. */
  readonly apiVersion: string | undefined;
  /** The canonical path without the version prefix: decoded; a trailing `/` is kept, as the daemon keeps it. */
  readonly path: string;
  /**
   * Set when the path has `//`, `.` or `..` segments: the clean path the daemon would redirect to (301).
   * Nothing is routed or executed for such a request.
   */
  readonly redirect?: string;
}

interface CompiledRoute {
  readonly operation: OperationId;
  readonly spec: RouteSpec;
  readonly match: (path: string) => false | { params: Record<string, string | string[] | undefined> };
}

const VERSION = /^v[0-9]+(?:\.[0-9]+)*$/;
/** Paths that need no canonicalisation: no escapes, no empty, dot or trailing segments, no odd bytes. */
const SIMPLE = /^(?:\/[A-Za-z0-9_\-:@+,;=!$&'()*~][A-Za-z0-9_\-.:@+,;=!$&'()*~]*)+$|^\/$/;

const byKey = new Map<string, CompiledRoute[]>();
for (const [operation, spec] of Object.entries(routes) as [OperationId, RouteSpec][]) {
  const compiled: CompiledRoute = {
    operation,
    spec,
    match: match(spec.path, { decode: false, sensitive: true, trailing: false }) as CompiledRoute['match'],
  };
  const key = `${spec.method} ${firstSegment(spec.path)}`;
  const list = byKey.get(key) ?? [];
  list.push(compiled);
  byKey.set(key, list);
}

function firstSegment(path: string): string {
  const end = path.indexOf('/', 1);
  return end === -1 ? path.slice(1) : path.slice(1, end);
}

/**
 * Decodes a raw request path into segments the way the daemon reads `URL.Path`, and tells whether it is clean.
 * Refuses what could be read two ways: encoded slashes or backslashes, double encoding (`%25`), NUL and control
 * bytes.
 *
 * @param rawPath - the path part of the request target, without the query
 * @returns the cleaned segments, whether the path ends in `/`, and whether it was already clean (no `//`, `.`
 *   or `..` segments)
 * @throws {@link DockhandError} `DOCKHAND_AMBIGUOUS_PATH` or `DOCKHAND_BAD_REQUEST`
 * @internal
 */
export function canonicalSegments(rawPath: string): {
  segments: string[];
  trailing: boolean;
  clean: boolean;
} {
  if (rawPath[0] !== '/') throw coreError('DOCKHAND_BAD_REQUEST', `invalid request path: ${rawPath}`);
  const parts = rawPath.split('/');
  const trailing = rawPath.length > 1 && rawPath.endsWith('/');
  const out: string[] = [];
  let clean = true;
  for (let i = 1; i < parts.length; i++) {
    const raw = parts[i]!;
    if (raw === '') {
      if (!(trailing && i === parts.length - 1)) clean = false;
      continue;
    }
    if (/%(?:2f|5c|25|00)/i.test(raw)) {
      throw coreError(
        'DOCKHAND_AMBIGUOUS_PATH',
        `ambiguous request path (encoded '/', '\\' or '%'): ${rawPath}`,
      );
    }
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch (err) {
      throw coreError('DOCKHAND_BAD_REQUEST', `invalid escape in request path: ${rawPath}`, err);
    }
    if (/[\u0000-\u001f\u007f\\]/.test(seg)) {
      throw coreError('DOCKHAND_AMBIGUOUS_PATH', `ambiguous request path (control byte or '\\'): ${rawPath}`);
    }
    if (seg === '.' || seg === '..') {
      clean = false;
      if (seg === '..') out.pop();
      continue;
    }
    out.push(seg);
  }
  return { segments: out, trailing, clean };
}

/**
 * Resolves a request to its Engine API route, path parameters and API version, reading the path as the daemon's
 * router does: a path with `//`, `.` or `..` segments is answered with a redirect to its clean form (nothing is
 * executed for it), and a trailing `/` is significant (only `/networks/` has a route).
 *
 * @param method - the HTTP method
 * @param rawPath - the path part of the request target, without the query
 * @returns the resolution; `operation` is `undefined` for a path no route matches
 * @throws {@link DockhandError} when the path could be read two ways
 * @example
 * ```ts
 * resolvePath('GET', '/v1.45/containers/abc/json');
 * // { operation: 'ContainerInspect', params: { id: 'abc' }, apiVersion: '1.45', path: '/containers/abc/json', ... }
 * resolvePath('GET', '//containers/json').redirect; // '/containers/json'
 * ```
 */
export function resolvePath(method: string, rawPath: string): ResolvedPath {
  let path: string;
  let apiVersion: string | undefined;
  let trailing = false;
  if (SIMPLE.test(rawPath)) {
    path = rawPath;
    const first = firstSegment(rawPath);
    if (VERSION.test(first)) {
      apiVersion = first.slice(1);
      path = rawPath.slice(first.length + 1) || '/';
    }
  } else {
    const c = canonicalSegments(rawPath);
    trailing = c.trailing && c.segments.length > 0;
    if (!c.clean) {
      return {
        operation: undefined,
        route: undefined,
        params: {},
        apiVersion: undefined,
        path: rawPath,
        redirect:
          c.segments.length === 0 ? '/' : `${encodePath(`/${c.segments.join('/')}`)}${trailing ? '/' : ''}`,
      };
    }
    const segments = c.segments;
    if (segments[0] !== undefined && VERSION.test(segments[0])) apiVersion = segments.shift()!.slice(1);
    path = `/${segments.join('/')}${trailing && segments.length > 0 ? '/' : ''}`;
  }
  // a trailing slash is significant to the daemon's router: only `/networks/` is registered with one
  const lookup = trailing ? (method === 'GET' && path === '/networks/' ? '/networks' : undefined) : path;
  const candidates = lookup === undefined ? undefined : byKey.get(`${method} ${firstSegment(lookup)}`);
  let found: { route: CompiledRoute; params: Record<string, string> } | undefined;
  if (candidates && lookup !== undefined) {
    for (const route of candidates) {
      const m = route.match(lookup);
      if (!m) continue;
      if (found) {
        throw coreError(
          'DOCKHAND_AMBIGUOUS_PATH',
          `ambiguous request path: ${method} ${path} is both ${found.route.operation} and ${route.operation}`,
        );
      }
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.params)) {
        if (v !== undefined) params[k] = Array.isArray(v) ? v.join('/') : v;
      }
      found = { route, params };
    }
  }
  return {
    operation: found?.route.operation,
    route: found?.route.spec,
    params: found?.params ?? {},
    apiVersion,
    path,
  };
}

function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(
    /%(?:3A|40|2B|2C|3B|3D|21|24|26|27|28|29|2A)/gi,
    decodeURIComponent,
  );
}

/**
 * Builds the path to forward from a route template and (possibly changed) parameters.
 *
 * @param spec - the route
 * @param params - the parameter values; a `*` parameter may contain `/`
 * @param apiVersion - the version prefix to keep, if any
 * @returns the encoded path
 * @example
 * ```ts
 * buildPath(routes.ImageInspect, { name: 'library/busybox' }, '1.45'); // '/v1.45/images/library/busybox/json'
 * ```
 */
export function buildPath(spec: RouteSpec, params: Record<string, string>, apiVersion?: string): string {
  const path = spec.path.replace(/([:*])(\w+)/g, (_, kind: string, name: string) => {
    const value = params[name] ?? '';
    return kind === '*' ? value.split('/').map(encodeSegment).join('/') : encodeSegment(value);
  });
  return apiVersion === undefined ? path : `/v${apiVersion}${path}`;
}

/**
 * Encodes a canonical path (decoded segments) for the wire.
 *
 * @param path - a canonical path as in {@link ResolvedPath.path}
 * @param apiVersion - the version prefix to keep, if any
 * @returns the encoded path
 * @internal
 */
export function encodePath(path: string, apiVersion?: string): string {
  return withVersion(path === '/' ? '/' : path.split('/').map(encodeSegment).join('/'), apiVersion);
}

/**
 * Puts a `/v1.xx` prefix in front of a path, as the daemon's routes take it (`/` becomes `/v1.xx`).
 *
 * @param path - a path starting with `/`
 * @param apiVersion - the version, or `undefined` for none
 * @returns the path with its version prefix
 * @internal
 */
export function withVersion(path: string, apiVersion: string | undefined): string {
  return apiVersion === undefined ? path : `/v${apiVersion}${path === '/' ? '' : path}`;
}
