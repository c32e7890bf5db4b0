export { allowRoutes, DENIED_BY_DEFAULT, denyUnknownRoutes, TENANT_ROUTES } from './allow-routes.ts';
export { buildRefusalsInStream } from './build-refusal.ts';
export { type BuildKitGuardOptions, buildkitGuard } from './buildkit-guard.ts';
export { rewriteSolve } from './buildkit-solve.ts';
export {
  ConfigError,
  loadProxyConfig,
  type ProxyConfig,
  parseProxyConfig,
  parseSocketMode,
} from './config.ts';
export { scopeImageReads } from './create-image.ts';
export { imageNotFound, type MutatorErrorCode, mutatorErrorCodes, notFound, refuse } from './errors.ts';
export { assertUnambiguous, field, foldKey, type JsonObject, setField } from './fields.ts';
export { injectLabelFilter, mergeLabelFilter } from './filters.ts';
export { type HostGuardOptions, hostGuard } from './host-guard.ts';
export { type ImageFacts, type ImagePolicy, imageVisible, reservedName } from './image-policy.ts';
export { type LimitClassicBuildsOptions, limitClassicBuilds } from './limit-classic-builds.ts';
export { HELPER_LABEL } from './missing-subpaths.ts';
export { type MountPolicyOptions, mountPolicy, type Remap } from './mount-policy.ts';
export { holdNames } from './name-holds.ts';
export type { NetworkPolicy } from './network-settings.ts';
export { type OwnedKind, Ownership } from './ownership.ts';
export { type PolledStatsOptions, polledStats } from './polled-stats.ts';
export { checkPsArgs } from './ps-args.ts';
export { refuseClassicBuilds } from './refuse-classic-builds.ts';
export type { RegistryRules } from './registry-host.ts';
export {
  type RewriteSocketOptions,
  rewriteDockerSocket,
  type SocketTarget,
} from './rewrite-docker-socket.ts';
export { type ScopeOptions, scopeToTenant } from './scope-to-tenant.ts';
export { type StampOptions, stampLabels } from './stamp-labels.ts';
export { carries, parseLabel, type TenantLabel } from './tenant.ts';
export { tenantLoopback } from './tenant-loopback.ts';
export { type TenantNetworkOptions, tenantNetwork } from './tenant-network.ts';
export {
  type WorkshopTenantMiddleware,
  type WorkshopTenantOptions,
  workshopTenant,
} from './workshop-tenant.ts';
