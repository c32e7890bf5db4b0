import { describe, expect, it } from 'vitest';
import { injectLabelFilter, mergeLabelFilter, rewriteFilterRefs } from './filters.ts';

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
