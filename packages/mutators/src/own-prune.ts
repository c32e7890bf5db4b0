import type { Context } from '@dockhand/core';
import { servesRequestVersion } from './engine-version.ts';
import { refuse } from './errors.ts';
import { matchKVList, parseFilterArgs } from './filters.ts';
import type { Ownership } from './ownership.ts';
import { carries, type TenantLabel } from './tenant.ts';
import { engineClock, engineTime, untilInstant } from './until-filter.ts';

/** The filters the engine's container and network prunes take (moby's `containersAcceptedFilters`). */
const ACCEPTED = new Set(['label', 'label!', 'until']);

/**
 * A container or network prune done from the tenant's own list, in place of the engine's: `POST /containers/prune`
 * removes the tenant's stopped containers one by one, `POST /networks/prune` its networks that no container uses,
 * with the engine's own filters (`label`, `label!`) and answer.
 *
 * The engine's prune asks every container on it whether it runs, under that container's lock, before it applies
 * a label filter, and runs one container or network prune at a time: a tenant that held its own container's lock
 * (an archive of it left unread) made every other tenant's prune wait as long, and answered the others `409 a
 * prune operation is already running` meanwhile (found by review, stop 27: 3 ms, then 5.0 s). From the tenant's
 * list, a prune waits only on the tenant's own containers.
 *
 * An `until` filter is read as the engine reads it, on the engine's clock (`untilInstant`); one given twice, or in
 * a form not read here for certain, leaves the prune to the engine (`false`), which answers it in its own words.
 *
 * @param ctx - the prune's context
 * @param label - the tenant's label
 * @param own - the tenant's ownership cache, which forgets what was removed
 * @returns whether the prune was answered
 * @throws {@link @dockhand/core!DockhandError} 400 for a filter the engine's prune does not take, in its words;
 *   502 `DOCKHAND_ENGINE_LOOKUP_FAILED` when the tenant's list cannot be read
 * @example
 * ```ts
 * on(['ContainerPrune', 'NetworkPrune'], async (ctx, next) => {
 *   if (!(await pruneOwn(ctx, label, own))) await next();
 * });
 * ```
 * @internal
 */
export async function pruneOwn(ctx: Context, label: TenantLabel, own: Ownership): Promise<boolean> {
  const args = parseFilterArgs(ctx.request.query.get('filters'));
  for (const key of args.keys())
    if (!ACCEPTED.has(key)) throw refuse('DOCKHAND_BAD_FILTERS', `invalid filter '${key}'`);
  let until: bigint | undefined;
  if (args.has('until')) {
    const values = [...args.get('until')!.keys()];
    const clock = values.length === 1 ? await engineClock(ctx.upstream) : undefined;
    until = clock === undefined ? undefined : untilInstant(values[0]!, clock);
    if (until === undefined) return false;
  }
  // a version the engine does not serve is the engine's to refuse, in its words (found by review, stop 27)
  if (!(await servesRequestVersion(ctx))) return false;
  const wanted = [...(args.get('label')?.keys() ?? [])];
  const unwanted = [...(args.get('label!')?.keys() ?? [])];
  // as moby's `matchLabels`: every `label` among the labels, and not every `label!` (a `label!` with no values
  // matches every object, and so keeps them all: found by review, stop 27)
  const matches = (labels: Record<string, string> | null | undefined) =>
    carries(labels, label) &&
    matchKVList(labels, wanted) &&
    !(args.has('label!') && (unwanted.length === 0 || matchKVList(labels, unwanted)));
  const tenant = [`${label.key}=${label.value}`];
  if (ctx.operation === 'ContainerPrune') {
    // not running: created, exited, dead (a paused or restarting container runs, to the engine)
    const listed = await list<{
      Id: string;
      Labels?: Record<string, string> | null;
      SizeRw?: number;
      Created?: number;
    }>(
      ctx,
      `/containers/json?all=1&size=1&filters=${encodeURIComponent(JSON.stringify({ label: tenant, status: ['created', 'exited', 'dead'] }))}`,
    );
    const chosen: typeof listed = [];
    for (const c of listed)
      if (matches(c.Labels) && (until === undefined || (await createdBy(ctx, c, until)))) chosen.push(c);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of chosen) {
      // as the engine's prune: no force, no volumes; one started meanwhile stays
      if (!(await removed(ctx, `/containers/${c.Id}`))) continue;
      own.forget('container', c.Id);
      deleted.push(c.Id);
      reclaimed += c.SizeRw && c.SizeRw > 0 ? c.SizeRw : 0;
    }
    ctx.respond(200, { ContainersDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: reclaimed });
    return true;
  }
  const listed = await list<{
    Id: string;
    Name: string;
    Created?: string;
    Labels?: Record<string, string> | null;
  }>(ctx, `/networks?filters=${encodeURIComponent(JSON.stringify({ label: tenant }))}`);
  const chosen: typeof listed = [];
  for (const n of listed) {
    if (!matches(n.Labels)) continue;
    if (until !== undefined) {
      const created = engineTime(n.Created ?? '');
      if (created === undefined) return false; // (the engine's to decide: nothing is removed yet)
      if (created.ns > until) continue;
    }
    chosen.push(n);
  }
  const deleted: string[] = [];
  // (one that a container uses stays: the engine refuses its removal)
  for (const n of chosen) {
    if (!(await removed(ctx, `/networks/${n.Id}`))) continue;
    own.forget('network', n.Id);
    deleted.push(n.Name);
  }
  ctx.respond(200, { NetworksDeleted: deleted.length > 0 ? deleted : null });
  return true;
}

/**
 * Whether a container was created at or before `until` (the engine keeps one created after it). The list gives
 * whole seconds; within `until`'s own second, the container's inspect tells the nanoseconds (it waits on that
 * container's lock, which is the tenant's own).
 */
async function createdBy(ctx: Context, c: { Id: string; Created?: number }, until: bigint): Promise<boolean> {
  const second = BigInt(c.Created ?? 0) * NS;
  if (second > until) return false;
  if (second + NS - 1n <= until) return true;
  const reply = await ctx.upstream.request({ path: `/containers/${c.Id}/json` });
  if (reply.status !== 200) {
    await reply.text();
    return false; // gone meanwhile
  }
  const created = engineTime((await reply.json<{ Created?: string }>()).Created ?? '');
  return created !== undefined && created.ns <= until;
}

const NS = 1_000_000_000n;

/** The tenant's list, from the engine. */
async function list<T>(ctx: Context, path: string): Promise<T[]> {
  const reply = await ctx.upstream.request({ path });
  if (reply.status !== 200) {
    await reply.text();
    throw refuse(
      'DOCKHAND_ENGINE_LOOKUP_FAILED',
      'the Docker API proxy could not list what to prune; try again',
    );
  }
  return (await reply.json<T[] | null>()) ?? [];
}

/** Whether the engine removed the object. */
async function removed(ctx: Context, path: string): Promise<boolean> {
  const reply = await ctx.upstream.request({ method: 'DELETE', path });
  await reply.text();
  return reply.status === 204;
}
