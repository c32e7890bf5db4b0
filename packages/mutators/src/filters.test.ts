import { describe, expect, it } from 'vitest';
import { injectLabelFilter, mergeLabelFilter, rewriteFilterRefs, scopeFilters } from './filters.ts';

const LABEL = 'dockhand.tenant=alice';

describe('mergeLabelFilter', () => {
  it('adds the label filter when the client sent none', () => {
    expect(JSON.parse(mergeLabelFilter(null, LABEL))).toEqual({ label: [LABEL] });
    expect(JSON.parse(mergeLabelFilter('', LABEL))).toEqual({ label: [LABEL] });
    expect(JSON.parse(mergeLabelFilter('{}', LABEL))).toEqual({ label: [LABEL] });
  });

  it("keeps the client's other filters", () => {
    expect(JSON.parse(mergeLabelFilter('{"status":["running"],"name":["web"]}', LABEL))).toEqual({
      status: ['running'],
      name: ['web'],
      label: [LABEL],
    });
  });

  it("ANDs with the client's own label filters in the map form", () => {
    expect(JSON.parse(mergeLabelFilter('{"label":["app=web"]}', LABEL))).toEqual({
      label: ['app=web', LABEL],
    });
  });

  it('handles the legacy form {"label":{"a=b":true}}', () => {
    expect(JSON.parse(mergeLabelFilter('{"label":{"app=web":true}}', LABEL))).toEqual({
      label: { 'app=web': true, [LABEL]: true },
    });
  });

  it('adds the label in the legacy form when the client uses it for other filters (the docker CLI and compose do)', () => {
    // the daemon reads one form per request: {"name":{"x":true},"label":["a=b"]} is a 400 "invalid filter"
    expect(JSON.parse(mergeLabelFilter('{"name":{"web":true}}', LABEL))).toEqual({
      name: { web: true },
      label: { [LABEL]: true },
    });
  });

  it('cannot be undone by a client label filter naming another tenant: both must hold', () => {
    const merged = JSON.parse(mergeLabelFilter('{"label":["dockhand.tenant=bob"]}', LABEL));
    expect(merged.label).toContain(LABEL);
    expect(merged.label).toContain('dockhand.tenant=bob');
  });

  it.each([
    ['not JSON', '{label'],
    ['a JSON array', '["label"]'],
    ['JSON null', 'null'],
    ['a JSON string', '"label=x"'],
    ['a label filter that is a string', '{"label":"app=web"}'],
    ['a label filter that is a number', '{"label":1}'],
  ])('refuses %s with a 400 in the daemon shape', (_what, raw) => {
    expect(() => mergeLabelFilter(raw, LABEL)).toThrowError(
      expect.objectContaining({
        status: 400,
        code: 'DOCKHAND_BAD_FILTERS',
        message: `invalid filter '${raw}'`,
      }),
    );
  });
});

describe('injectLabelFilter', () => {
  it('leaves exactly one filters parameter, the merged one', () => {
    const q = new URLSearchParams();
    q.append('filters', '{"status":["exited"]}');
    q.append('filters', '{"label":["dockhand.tenant=bob"]}');
    q.set('all', '1');
    injectLabelFilter(q, LABEL);
    expect(q.getAll('filters')).toHaveLength(1);
    expect(JSON.parse(q.get('filters')!)).toEqual({ status: ['exited'], label: [LABEL] });
    expect(q.get('all')).toBe('1');
  });

  it('adds the parameter when there is none', () => {
    const q = new URLSearchParams('all=1');
    injectLabelFilter(q, LABEL);
    expect(JSON.parse(q.get('filters')!)).toEqual({ label: [LABEL] });
  });
});

describe('rewriteFilterRefs', () => {
  const upper = async (v: string) => v.toUpperCase();

  it('rewrites the values of the keys named, in both forms, and leaves the rest', async () => {
    expect(
      await rewriteFilterRefs('{"before":["a"],"status":["running"]}', { before: upper, since: upper }),
    ).toBe('{"before":["A"],"status":["running"]}');
    expect(
      await rewriteFilterRefs('{"since":{"b":true},"label":{"x=y":true}}', { before: upper, since: upper }),
    ).toBe('{"since":{"B":true},"label":{"x=y":true}}');
  });

  it('gives the value back untouched when none of the keys is there, or there are no filters', async () => {
    expect(await rewriteFilterRefs('{"status":["exited"]}', { before: upper })).toBe('{"status":["exited"]}');
    expect(await rewriteFilterRefs(null, { before: upper })).toBeNull();
    expect(await rewriteFilterRefs('', { before: upper })).toBe('');
  });

  it('throws what resolve throws, and refuses filters that are not a map', async () => {
    await expect(
      rewriteFilterRefs('{"before":["x"]}', {
        before: async () => {
          throw new Error('No such container: x');
        },
      }),
    ).rejects.toThrow('No such container: x');
    await expect(rewriteFilterRefs('[1]', { before: upper })).rejects.toMatchObject({
      code: 'DOCKHAND_BAD_FILTERS',
    });
    await expect(rewriteFilterRefs('{"before":"x"}', { before: upper })).rejects.toMatchObject({
      code: 'DOCKHAND_BAD_FILTERS',
    });
    await expect(rewriteFilterRefs('{', { before: upper })).rejects.toMatchObject({
      code: 'DOCKHAND_BAD_FILTERS',
    });
  });
});

describe('scopeFilters', () => {
  const upper = async (v: string) => v.toUpperCase();
  const resolvers = { before: upper, since: upper };
  // what the container list forwarded before it read the client's filters once: merged, then rewritten
  const twoReads = async (raw: string | null) =>
    (await rewriteFilterRefs(mergeLabelFilter(raw, LABEL), resolvers)) ?? '';

  it.each([
    null,
    '',
    '{}',
    '{"status":["running"]}',
    '{"before":["a"],"status":["running"]}',
    '{"label":["app=web"],"since":["b"]}',
    '{"since":{"b":true},"label":{"x=y":true}}',
    '{"since":{"b":true},"status":{"exited":true}}',
    '{"label":["dockhand.tenant=bob"],"before":["a","c"]}',
  ])('forwards what merging and then rewriting forwarded, for %j', async (raw) => {
    expect(await scopeFilters(raw, LABEL, resolvers)).toBe(await twoReads(raw));
  });

  it('gives the label filter alone when the client sent none', async () => {
    expect(await scopeFilters(null, LABEL, resolvers)).toBe(`{"label":["${LABEL}"]}`);
  });

  it.each([
    ['not JSON', '{label'],
    ['a JSON array', '["label"]'],
    ['a label filter that is a string', '{"label":"app=web"}'],
    ['a reference filter that is a string', '{"before":"x"}'],
    ['a key named twice', '{"before":["a"],"before":["b"]}'],
  ])('refuses %s as the two readings did, naming what the client sent', async (_what, raw) => {
    const before = await twoReads(raw).catch((err: unknown) => err);
    const now = await scopeFilters(raw, LABEL, resolvers).catch((err: unknown) => err);
    expect(before).toBeInstanceOf(Error);
    // (a reference filter of the wrong shape was named with the label filter already added)
    expect(now).toMatchObject({ code: (before as { code: string }).code, status: 400 });
    if ((before as { code: string }).code === 'DOCKHAND_BAD_FILTERS')
      expect(now).toMatchObject({ message: `invalid filter '${raw}'` });
  });

  it('throws what a resolver throws', async () => {
    await expect(
      scopeFilters('{"before":["x"]}', LABEL, {
        before: async () => {
          throw new Error('No such container: x');
        },
      }),
    ).rejects.toThrow('No such container: x');
  });
});
