import { describe, expect, it } from 'vitest';
import type { Context } from './context.ts';
import {
  compose,
  type Middleware,
  on,
  type RequestSummary,
  routesOf,
  untouchedTest,
  untouchedWhen,
  when,
} from './middleware.ts';

const fakeCtx = (operation?: string) => ({ operation, state: {} }) as unknown as Context;

describe('compose', () => {
  it('runs middleware onion-style', async () => {
    const order: string[] = [];
    const mw =
      (name: string): Middleware =>
      async (_ctx, next) => {
        order.push(`${name}>`);
        await next();
        order.push(`<${name}`);
      };
    await compose([mw('a'), mw('b')])(fakeCtx(), async () => {
      order.push('engine');
    });
    expect(order).toEqual(['a>', 'b>', 'engine', '<b', '<a']);
  });

  it('throws TypeError for a non-function when built', () => {
    expect(() => compose([(async () => {}) as Middleware, 'x' as unknown as Middleware])).toThrow(TypeError);
  });

  it('rejects a second next()', async () => {
    const twice: Middleware = async (_ctx, next) => {
      await next();
      await next();
    };
    await expect(compose([twice, async (_c, n) => n()])(fakeCtx(), async () => {})).rejects.toThrow(
      /more than once/,
    );
  });

  it('propagates a synchronous throw as a rejection', async () => {
    const boom = (() => {
      throw new Error('boom');
    }) as unknown as Middleware;
    await expect(compose([boom, boom])(fakeCtx(), async () => {})).rejects.toThrow('boom');
  });

  it('passes a request by the middleware declared for other routes without going through each', async () => {
    // a pipeline of many route-scoped parts (the workshop preset has dozens) does not grow the stack per part: a
    // request reaches the engine past 20,000 of them, where going through each overflowed the stack
    const seen: string[] = [];
    const others = Array.from({ length: 20_000 }, () => on('ContainerCreate', async () => {}));
    const pipeline = compose([
      ...others,
      on('ContainerList', async (ctx, next) => {
        seen.push(`list ${ctx.operation}`);
        await next();
      }),
      async (_ctx, next) => {
        seen.push('every route');
        await next();
      },
    ]);
    await pipeline(fakeCtx('ContainerList'), async () => {
      seen.push('engine');
    });
    await pipeline(fakeCtx(undefined), async () => {
      seen.push('engine');
    });
    expect(seen).toEqual(['list ContainerList', 'every route', 'engine', 'every route', 'engine']);
  });

  it('does not ask a when() predicate on the routes its middleware’s on() leaves out', async () => {
    const asked: string[] = [];
    const pipeline = compose([
      when(
        (ctx) => {
          asked.push(String(ctx.operation));
          return true;
        },
        on('ContainerCreate', async (_ctx, next) => next()),
      ),
      async (_ctx, next) => next(),
    ]);
    await pipeline(fakeCtx('ContainerList'), async () => {});
    await pipeline(fakeCtx('ContainerCreate'), async () => {});
    expect(asked).toEqual(['ContainerCreate']);
  });

  it('still runs a route-scoped middleware on its own route, in its place', async () => {
    const order: string[] = [];
    const mw =
      (name: string): Middleware =>
      async (_ctx, next) => {
        order.push(name);
        await next();
      };
    const pipeline = compose([
      mw('a'),
      on('ContainerCreate', mw('create')),
      mw('b'),
      on('ContainerList', mw('list')),
    ]);
    await pipeline(fakeCtx('ContainerCreate'), async () => {
      order.push('engine');
    });
    expect(order).toEqual(['a', 'create', 'b', 'engine']);
  });
});

describe('on / when', () => {
  it('runs only on the selected routes, by operationId or METHOD /path', async () => {
    const seen: string[] = [];
    const mw = on(
      ['ContainerCreate', 'POST /volumes/create', 'GET /containers/{id}/json'],
      async (ctx, next) => {
        seen.push(String(ctx.operation));
        await next();
      },
    );
    for (const op of ['ContainerCreate', 'VolumeCreate', 'ContainerInspect', 'ContainerList', undefined]) {
      await mw(fakeCtx(op), async () => {});
    }
    expect(seen).toEqual(['ContainerCreate', 'VolumeCreate', 'ContainerInspect']);
  });

  it('refuses an unknown route name when built', () => {
    expect(() => on('ContainerFrobnicate' as 'ContainerCreate', async () => {})).toThrow(TypeError);
    expect(() => on('GET /nope' as 'ContainerCreate', async () => {})).toThrow(TypeError);
  });

  it('when() follows its predicate', async () => {
    let ran = 0;
    const mw = when(
      (ctx) => ctx.operation === undefined,
      async (_c, next) => {
        ran++;
        await next();
      },
    );
    await mw(fakeCtx(), async () => {});
    await mw(fakeCtx('ContainerList'), async () => {});
    expect(ran).toBe(1);
  });

  it('routesOf() tells the routes a pipeline can act on, and undefined for "every request"', () => {
    const any: Middleware = (_ctx, next) => next();
    expect(routesOf(any)).toBeUndefined();
    expect(routesOf(on('ContainerCreate', any))).toEqual(new Set(['ContainerCreate']));
    expect(routesOf(on(['POST /containers/{id}/start', 'VolumeCreate'], any))).toEqual(
      new Set(['ContainerStart', 'VolumeCreate']),
    );
    expect(routesOf(compose([]))).toEqual(new Set());
    expect(routesOf(compose([on('ContainerCreate', any), when(() => true, on('ImageList', any))]))).toEqual(
      new Set(['ContainerCreate', 'ImageList']),
    );
    // one middleware on every request makes the whole pipeline act on every request
    expect(routesOf(compose([on('ContainerCreate', any), any]))).toBeUndefined();
    expect(routesOf(when(() => true, any))).toBeUndefined();
  });
});

describe('untouchedWhen / untouchedTest', () => {
  const any: Middleware = (_ctx, next) => next();
  const req = (operation: string | undefined, params: Record<string, string> = {}): RequestSummary =>
    ({
      method: 'GET',
      operation,
      params,
      apiVersion: undefined,
      query: new URLSearchParams(),
      bodyLength: 0,
      contentType: undefined,
    }) as RequestSummary;
  const verdicts = (mw: Middleware, ...requests: RequestSummary[]) => {
    const test = untouchedTest(mw);
    return test === undefined ? undefined : requests.map(test);
  };

  it('takes routes outside on() as untouched, and a middleware on every request as touching all', () => {
    expect(
      verdicts(on('ContainerCreate', any), req('ContainerCreate'), req('ImageList'), req(undefined)),
    ).toEqual([false, true, true]);
    expect(untouchedTest(any)).toBeUndefined();
    expect(verdicts(compose([]), req('ContainerCreate'))).toEqual([true]);
  });

  it('lets a declaration open requests a middleware leaves alone, on its routes or on every route', () => {
    const owned = untouchedWhen((r) => r.params.id === 'mine', on('ContainerInspect', any));
    expect(
      verdicts(owned, req('ContainerInspect', { id: 'mine' }), req('ContainerInspect', { id: 'x' })),
    ).toEqual([true, false]);
    expect(verdicts(owned, req('ImageList'))).toEqual([true]);
    // the declaration keeps the routes the middleware names
    expect(routesOf(owned)).toEqual(new Set(['ContainerInspect']));
    // a middleware on every request, declared: only its declaration decides
    const everywhere = untouchedWhen((r) => r.method === 'GET', any);
    expect(verdicts(everywhere, req('ImageList'), { ...req('ImageList'), method: 'POST' })).toEqual([
      true,
      false,
    ]);
    expect(routesOf(everywhere)).toBeUndefined();
  });

  it('carries declarations through on(), when() and compose(), and needs every member to agree', () => {
    const mine = untouchedWhen((r) => r.params.id === 'mine', any);
    const scoped = on(['ContainerInspect', 'ContainerStart'], mine);
    expect(
      verdicts(scoped, req('ContainerInspect', { id: 'mine' }), req('ContainerStart', { id: 'x' })),
    ).toEqual([true, false]);
    expect(verdicts(scoped, req('ImageList', { id: 'x' }))).toEqual([true]);
    expect(
      verdicts(
        when(() => true, scoped),
        req('ContainerStart', { id: 'mine' }),
        req('ContainerStart'),
      ),
    ).toEqual([true, false]);
    const pipeline = compose([scoped, on('ContainerStart', any)]);
    expect(
      verdicts(pipeline, req('ContainerInspect', { id: 'mine' }), req('ContainerStart', { id: 'mine' })),
    ).toEqual([true, false]);
    // one undeclared middleware on every request closes the lane for the whole pipeline
    expect(untouchedTest(compose([scoped, any]))).toBeUndefined();
    expect(untouchedTest(compose([untouchedWhen(() => true, any), scoped]))).toBeDefined();
  });

  it('narrows, never widens, a middleware that already carries a declaration', () => {
    const getOnly = untouchedWhen((r) => r.method === 'GET', any);
    const post = { ...req('ImageList'), method: 'POST' };
    expect(
      verdicts(
        untouchedWhen(() => true, getOnly),
        req('ImageList'),
        post,
      ),
    ).toEqual([true, false]);
    // a compose() of on() parts is declared: its routes stay closed whatever the outer test says
    const parts = compose([on('ContainerCreate', any), on('ContainerStart', any)]);
    expect(
      verdicts(
        untouchedWhen(() => true, parts),
        req('ContainerCreate'),
        req('ImageList'),
      ),
    ).toEqual([false, true]);
  });

  it('still runs the middleware when the pipeline is run', async () => {
    const seen: string[] = [];
    const mw = untouchedWhen(
      () => true,
      async (ctx, next) => {
        seen.push(String(ctx.operation));
        await next();
      },
    );
    await compose([mw])(fakeCtx('ImageList'), async () => {});
    expect(seen).toEqual(['ImageList']);
    expect(() => untouchedWhen('x' as unknown as () => boolean, any)).toThrow(TypeError);
  });
});
