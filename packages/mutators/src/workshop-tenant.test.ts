import { type OperationId, type RequestSummary, routes, untouchedTest } from '@dockhand/core';
import { describe, expect, it } from 'vitest';
import { workshopTenant } from './workshop-tenant.ts';

describe('workshopTenant: the routes no rule of the preset reads', () => {
  it('are only those that name nothing a tenant could reach past (a new route must be reviewed here)', () => {
    const test = untouchedTest(workshopTenant({ tenant: 't', projectVolume: 'p', socketVolume: 's' }));
    expect(test).toBeDefined();
    // every route, naming an object by a full id the ownership cache does not know, with no query and no body:
    // what the proxy would pass to the engine as bytes, past every middleware
    const untouched = Object.entries(routes)
      .filter(([operation, route]) => {
        const params: Record<string, string> = {};
        for (const m of route.path.matchAll(/\{(\w+)\}/g)) params[m[1]!] = 'a'.repeat(64);
        const request: RequestSummary = {
          method: route.method,
          operation: operation as OperationId,
          params,
          apiVersion: undefined,
          query: new URLSearchParams(),
          bodyLength: 0,
          contentType: undefined,
        };
        return test!(request);
      })
      .map(([operation]) => operation);
    // none before the instance's volumes have been checked on the engine (stop 19): once they have,
    // test/tenant/instance-volumes.test.ts shows only the engine's version and health (the BuildKit session a
    // client opens on /session is put in the tenant's namespace by buildkitGuard)
    expect(untouched.sort()).toEqual([]);
  });
});
