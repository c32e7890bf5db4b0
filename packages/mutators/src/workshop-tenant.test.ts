import { untouchedTest } from '@dockhand/core';
import { describe, expect, it } from 'vitest';
import { laneRoutes } from '../test/lane-routes.ts';
import { workshopTenant } from './workshop-tenant.ts';

describe('workshopTenant: the routes no rule of the preset reads', () => {
  it('are only those that name nothing a tenant could reach past (a new route must be reviewed here)', () => {
    const preset = workshopTenant({ tenant: 't', projectVolume: 'p', socketVolume: 's' });
    expect(untouchedTest(preset)).toBeDefined();
    // every route, naming an object by a full id the ownership cache does not know, with no query and no body:
    // what the proxy would pass to the engine as bytes, past every middleware
    const untouched = laneRoutes(preset);
    // none before the instance's volumes have been checked on the engine (stop 19): once they have,
    // test/tenant/instance-volumes.test.ts shows only the engine's version and health (the BuildKit session a
    // client opens on /session is put in the tenant's namespace by buildkitGuard)
    expect(untouched).toEqual([]);
  });
});
