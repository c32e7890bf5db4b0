import { compose, type Middleware, on } from '@dockhand/core';
import { refuse } from './errors.ts';
import { checkedBody, field, isObject, setField } from './fields.ts';

/** Refuses a `changes` value that plainly sets one of the keys (any line of it: the daemon splits on newlines). */
function refuseLabelChanges(query: URLSearchParams, keys: readonly string[]): void {
  for (const change of query.getAll('changes')) {
    if (/^\s*label\b/im.test(change) && keys.some((k) => change.includes(k))) {
      throw refuse(
        'DOCKHAND_LABEL_SPOOF',
        `the label ${keys.join(', ')} is set by the workshop and cannot be changed`,
      );
    }
  }
}

/** Appends `LABEL "key"="value"` changes last, so that they win over any spelling a client found. */
function appendLabelChanges(query: URLSearchParams, labels: Readonly<Record<string, string>>): void {
  for (const [k, v] of Object.entries(labels))
    query.append('changes', `LABEL ${JSON.stringify(k)}=${JSON.stringify(v)}`);
}

/** Options of {@link stampLabels}. */
export interface StampOptions {
  /** The labels to put on everything the tenant creates; they override any the client sets. */
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Adds the tenant's labels to everything it creates: containers, volumes and networks (body `Labels`), images
 * built (`/build`'s `labels` query parameter), committed (the config's `Labels` and a last `LABEL` change, which
 * wins over any spelling of the key in the client's changes) or imported (a last `LABEL` change).
 * Exec sessions need none: they are tracked through their container. A label the client sets under one of these
 * keys is overwritten, so a tenant cannot claim another's label.
 *
 * @param options - the labels
 * @returns the middleware
 * @example
 * ```ts
 * stampLabels({ labels: { 'dockhand.tenant': 'alice' } });
 * ```
 */
export function stampLabels(options: StampOptions): Middleware {
  const labels = { ...options.labels };
  const keys = Object.keys(labels);
  if (keys.length === 0) throw new TypeError('stampLabels() needs at least one label');

  const inBody: Middleware = on(
    ['ContainerCreate', 'VolumeCreate', 'NetworkCreate', 'ImageCommit'],
    async (ctx, next) => {
      const body = await checkedBody(() => ctx.request.json());
      const current = field(body, 'Labels');
      setField(body, 'Labels', { ...(isObject(current) ? current : {}), ...labels });
      if (ctx.operation === 'ImageCommit') {
        refuseLabelChanges(ctx.request.query, keys);
        // the daemon applies `changes` after the config: the last LABEL, ours, wins over any spelling of the key
        appendLabelChanges(ctx.request.query, labels);
      }
      ctx.request.setJson(body);
      await next();
    },
  );

  const build: Middleware = on('ImageBuild', async (ctx, next) => {
    const raw = ctx.request.query.get('labels');
    let current: Record<string, string> = {};
    if (raw) {
      try {
        current = JSON.parse(raw);
      } catch {
        throw refuse('DOCKHAND_AMBIGUOUS_BODY', 'the labels parameter is not valid JSON');
      }
    }
    ctx.request.query.set('labels', JSON.stringify({ ...current, ...labels }));
    await next();
  });

  const importImage: Middleware = on('ImageCreate', async (ctx, next) => {
    if (ctx.request.query.get('fromSrc') !== null) {
      refuseLabelChanges(ctx.request.query, keys);
      appendLabelChanges(ctx.request.query, labels);
    }
    await next();
  });

  return compose([inBody, build, importImage]);
}
