/**
 * The Docker Engine API route table, up to API v1.47, named by the spec's operationIds.
 *
 * Paths use path-to-regexp syntax. A `*param` matches one or more segments, because the daemon's own router
 * reads those parameters with `{name:.*}` (image names such as `library/busybox` contain slashes).
 *
 * @module
 */

/** One route of the Engine API. */
export interface RouteSpec {
  /** The HTTP method, upper case. */
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
  /** The path template, without the `/v1.xx` prefix. */
  readonly path: string;
  /** The `Upgrade` protocols this route hijacks the connection for, if any. */
  readonly hijack?: readonly string[];
}

/**
 * Every route of the Engine API, keyed by operationId. Routes the daemon serves that the spec leaves out
 * (`/grpc`, `/build/cancel`, checkpoints, `/debug/*`) are included under names of the same style.
 *
 * @example
 * ```ts
 * routes.ContainerCreate; // { method: 'POST', path: '/containers/create' }
 * ```
 */
export const routes = {
  ContainerList: { method: 'GET', path: '/containers/json' },
  ContainerCreate: { method: 'POST', path: '/containers/create' },
  ContainerInspect: { method: 'GET', path: '/containers/*id/json' },
  ContainerTop: { method: 'GET', path: '/containers/*id/top' },
  ContainerLogs: { method: 'GET', path: '/containers/*id/logs' },
  ContainerChanges: { method: 'GET', path: '/containers/*id/changes' },
  ContainerExport: { method: 'GET', path: '/containers/*id/export' },
  ContainerStats: { method: 'GET', path: '/containers/*id/stats' },
  ContainerResize: { method: 'POST', path: '/containers/*id/resize' },
  ContainerStart: { method: 'POST', path: '/containers/*id/start' },
  ContainerStop: { method: 'POST', path: '/containers/*id/stop' },
  ContainerRestart: { method: 'POST', path: '/containers/*id/restart' },
  ContainerKill: { method: 'POST', path: '/containers/*id/kill' },
  ContainerUpdate: { method: 'POST', path: '/containers/*id/update' },
  ContainerRename: { method: 'POST', path: '/containers/*id/rename' },
  ContainerPause: { method: 'POST', path: '/containers/*id/pause' },
  ContainerUnpause: { method: 'POST', path: '/containers/*id/unpause' },
  ContainerAttach: { method: 'POST', path: '/containers/*id/attach', hijack: ['tcp'] },
  ContainerAttachWebsocket: { method: 'GET', path: '/containers/*id/attach/ws', hijack: ['websocket'] },
  ContainerWait: { method: 'POST', path: '/containers/*id/wait' },
  ContainerDelete: { method: 'DELETE', path: '/containers/*id' },
  ContainerArchiveInfo: { method: 'HEAD', path: '/containers/*id/archive' },
  ContainerArchive: { method: 'GET', path: '/containers/*id/archive' },
  PutContainerArchive: { method: 'PUT', path: '/containers/*id/archive' },
  ContainerPrune: { method: 'POST', path: '/containers/prune' },
  ImageList: { method: 'GET', path: '/images/json' },
  ImageBuild: { method: 'POST', path: '/build' },
  BuildPrune: { method: 'POST', path: '/build/prune' },
  ImageCreate: { method: 'POST', path: '/images/create' },
  ImageInspect: { method: 'GET', path: '/images/*name/json' },
  ImageHistory: { method: 'GET', path: '/images/*name/history' },
  ImagePush: { method: 'POST', path: '/images/*name/push' },
  ImageTag: { method: 'POST', path: '/images/*name/tag' },
  ImageDelete: { method: 'DELETE', path: '/images/*name' },
  ImageSearch: { method: 'GET', path: '/images/search' },
  ImagePrune: { method: 'POST', path: '/images/prune' },
  SystemAuth: { method: 'POST', path: '/auth' },
  SystemInfo: { method: 'GET', path: '/info' },
  SystemVersion: { method: 'GET', path: '/version' },
  SystemPing: { method: 'GET', path: '/_ping' },
  SystemPingHead: { method: 'HEAD', path: '/_ping' },
  ImageCommit: { method: 'POST', path: '/commit' },
  SystemEvents: { method: 'GET', path: '/events' },
  SystemDataUsage: { method: 'GET', path: '/system/df' },
  ImageGet: { method: 'GET', path: '/images/*name/get' },
  ImageGetAll: { method: 'GET', path: '/images/get' },
  ImageLoad: { method: 'POST', path: '/images/load' },
  ContainerExec: { method: 'POST', path: '/containers/*id/exec' },
  ExecStart: { method: 'POST', path: '/exec/*id/start', hijack: ['tcp'] },
  ExecResize: { method: 'POST', path: '/exec/*id/resize' },
  ExecInspect: { method: 'GET', path: '/exec/*id/json' },
  VolumeList: { method: 'GET', path: '/volumes' },
  VolumeCreate: { method: 'POST', path: '/volumes/create' },
  VolumeInspect: { method: 'GET', path: '/volumes/*name' },
  VolumeUpdate: { method: 'PUT', path: '/volumes/*name' },
  VolumeDelete: { method: 'DELETE', path: '/volumes/*name' },
  VolumePrune: { method: 'POST', path: '/volumes/prune' },
  NetworkList: { method: 'GET', path: '/networks' },
  NetworkInspect: { method: 'GET', path: '/networks/*id' },
  NetworkDelete: { method: 'DELETE', path: '/networks/*id' },
  NetworkCreate: { method: 'POST', path: '/networks/create' },
  NetworkConnect: { method: 'POST', path: '/networks/*id/connect' },
  NetworkDisconnect: { method: 'POST', path: '/networks/*id/disconnect' },
  NetworkPrune: { method: 'POST', path: '/networks/prune' },
  PluginList: { method: 'GET', path: '/plugins' },
  GetPluginPrivileges: { method: 'GET', path: '/plugins/privileges' },
  PluginPull: { method: 'POST', path: '/plugins/pull' },
  PluginInspect: { method: 'GET', path: '/plugins/*name/json' },
  PluginDelete: { method: 'DELETE', path: '/plugins/*name' },
  PluginEnable: { method: 'POST', path: '/plugins/*name/enable' },
  PluginDisable: { method: 'POST', path: '/plugins/*name/disable' },
  PluginUpgrade: { method: 'POST', path: '/plugins/*name/upgrade' },
  PluginCreate: { method: 'POST', path: '/plugins/create' },
  PluginPush: { method: 'POST', path: '/plugins/*name/push' },
  PluginSet: { method: 'POST', path: '/plugins/*name/set' },
  NodeList: { method: 'GET', path: '/nodes' },
  NodeInspect: { method: 'GET', path: '/nodes/:id' },
  NodeDelete: { method: 'DELETE', path: '/nodes/:id' },
  NodeUpdate: { method: 'POST', path: '/nodes/:id/update' },
  SwarmInspect: { method: 'GET', path: '/swarm' },
  SwarmInit: { method: 'POST', path: '/swarm/init' },
  SwarmJoin: { method: 'POST', path: '/swarm/join' },
  SwarmLeave: { method: 'POST', path: '/swarm/leave' },
  SwarmUpdate: { method: 'POST', path: '/swarm/update' },
  SwarmUnlockkey: { method: 'GET', path: '/swarm/unlockkey' },
  SwarmUnlock: { method: 'POST', path: '/swarm/unlock' },
  ServiceList: { method: 'GET', path: '/services' },
  ServiceCreate: { method: 'POST', path: '/services/create' },
  ServiceInspect: { method: 'GET', path: '/services/:id' },
  ServiceDelete: { method: 'DELETE', path: '/services/:id' },
  ServiceUpdate: { method: 'POST', path: '/services/:id/update' },
  ServiceLogs: { method: 'GET', path: '/services/:id/logs' },
  TaskList: { method: 'GET', path: '/tasks' },
  TaskInspect: { method: 'GET', path: '/tasks/:id' },
  TaskLogs: { method: 'GET', path: '/tasks/:id/logs' },
  SecretList: { method: 'GET', path: '/secrets' },
  SecretCreate: { method: 'POST', path: '/secrets/create' },
  SecretInspect: { method: 'GET', path: '/secrets/:id' },
  SecretDelete: { method: 'DELETE', path: '/secrets/:id' },
  SecretUpdate: { method: 'POST', path: '/secrets/:id/update' },
  ConfigList: { method: 'GET', path: '/configs' },
  ConfigCreate: { method: 'POST', path: '/configs/create' },
  ConfigInspect: { method: 'GET', path: '/configs/:id' },
  ConfigDelete: { method: 'DELETE', path: '/configs/:id' },
  ConfigUpdate: { method: 'POST', path: '/configs/:id/update' },
  DistributionInspect: { method: 'GET', path: '/distribution/*name/json' },
  Session: { method: 'POST', path: '/session', hijack: ['h2c'] },
  Grpc: { method: 'POST', path: '/grpc', hijack: ['h2c'] },
  BuildCancel: { method: 'POST', path: '/build/cancel' },
  ContainerCheckpointList: { method: 'GET', path: '/containers/:id/checkpoints' },
  ContainerCheckpointCreate: { method: 'POST', path: '/containers/:id/checkpoints' },
  ContainerCheckpointDelete: { method: 'DELETE', path: '/containers/:id/checkpoints/:checkpoint' },
  DebugVars: { method: 'GET', path: '/debug/vars' },
  DebugPprofIndex: { method: 'GET', path: '/debug/pprof' },
  DebugPprof: { method: 'GET', path: '/debug/pprof/:name' },
} as const;

/** The name of an Engine API operation, e.g. `'ContainerCreate'`. */
export type OperationId = keyof typeof routes;

/**
 * The names of the `:name` and `*name` parameters in a route path pattern, e.g. `'id'` for `'/containers/:id/json'`.
 */
export type ParamNames<P extends string> = P extends `${string}${':' | '*'}${infer Rest}`
  ? Rest extends `${infer Name}/${infer Tail}`
    ? Name | ParamNames<`/${Tail}`>
    : Rest
  : never;

/**
 * The typed path parameters of an operation.
 *
 * @example
 * ```ts
 * const params: RouteParams<'ContainerInspect'> = { id: 'abc' };
 * ```
 */
export type RouteParams<Op extends OperationId> = { [K in ParamNames<(typeof routes)[Op]['path']>]: string };

/** Every operationId, in table order. */
export const operationIds: readonly OperationId[] = Object.keys(routes) as OperationId[];
