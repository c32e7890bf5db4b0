import { describe, expect, it } from 'vitest';
import { assertUnambiguous, checkedBody, child, field, isObject, repeatedKey, setField } from './fields.ts';

describe('field', () => {
  it('reads the canonical spelling first', () => {
    expect(field({ Privileged: true, privileged: false }, 'Privileged')).toBe(true);
  });

  it('reads any other spelling case-insensitively, as the daemon does', () => {
    expect(field({ privileged: true }, 'Privileged')).toBe(true);
    expect(field({ PRIVILEGED: true }, 'Privileged')).toBe(true);
  });

  it('gives undefined for non-objects and missing fields', () => {
    expect(field(null, 'X')).toBeUndefined();
    expect(field('x', 'X')).toBeUndefined();
    expect(field([1], '0')).toBeUndefined();
    expect(field({}, 'X')).toBeUndefined();
  });
});

describe('setField', () => {
  it('writes the canonical name and removes every other spelling', () => {
    const o: Record<string, unknown> = { privileged: true, PRIVILEGED: true, Other: 1 };
    setField(o, 'Privileged', false);
    expect(o).toEqual({ Privileged: false, Other: 1 });
  });

  it('removes the field when the value is undefined', () => {
    const o: Record<string, unknown> = { binds: ['/a:/b'] };
    setField(o, 'Binds', undefined);
    expect(o).toEqual({});
  });
});

describe('child', () => {
  it('returns the nested object under its canonical name', () => {
    const body: Record<string, unknown> = { hostconfig: { Binds: [] } };
    const hc = child(body, 'HostConfig');
    expect(hc).toEqual({ Binds: [] });
    expect(body).toEqual({ HostConfig: { Binds: [] } });
  });

  it('creates it when missing or not an object', () => {
    const body: Record<string, unknown> = { HostConfig: 'nope' };
    child(body, 'HostConfig').Privileged = false;
    expect(body).toEqual({ HostConfig: { Privileged: false } });
  });
});

describe('isObject', () => {
  it('is true only for plain non-null, non-array objects', () => {
    expect(isObject({})).toBe(true);
    expect(isObject([])).toBe(false);
    expect(isObject(null)).toBe(false);
    expect(isObject('x')).toBe(false);
  });
});

describe('repeatedKey', () => {
  it("gives the first two keys Go's decoder takes for one field, in the order they came", () => {
    expect(repeatedKey({ Config: {}, Other: 1, config: {} })).toEqual(['Config', 'config']);
    expect(repeatedKey({ Binds: [], bindſ: [] })).toEqual(['Binds', 'bindſ']); // U+017F folds to s
    expect(repeatedKey({ a: 1, A: 2, b: 3, B: 4 })).toEqual(['a', 'A']);
  });

  it('gives nothing for keys Go tells apart', () => {
    expect(repeatedKey({ Config: 1, Configs: 2, Κ: 3 })).toBeUndefined();
    expect(repeatedKey({})).toBeUndefined();
  });
});

describe('assertUnambiguous', () => {
  it('accepts a body with one spelling of each field', () => {
    expect(() =>
      assertUnambiguous({ Image: 'busybox', HostConfig: { Privileged: false, Binds: ['/a:/b'] } }),
    ).not.toThrow();
  });

  it('refuses two spellings of one struct field, at any depth, naming both', () => {
    expect(() => assertUnambiguous({ HostConfig: { Privileged: false, privileged: true } })).toThrowError(
      expect.objectContaining({
        code: 'DOCKHAND_AMBIGUOUS_BODY',
        status: 400,
        message: "the request body sets HostConfig.Privileged twice (as 'Privileged' and 'privileged')",
      }),
    );
    // an entry of a list is named like the config errors name one: Mounts[0].Type
    expect(() =>
      assertUnambiguous({ HostConfig: { Mounts: [{ Type: 'volume', type: 'bind' }] } }),
    ).toThrowError("the request body sets HostConfig.Mounts[0].Type twice (as 'Type' and 'type')");
  });

  it('lets map-valued fields (Labels, ...) hold keys that differ only in case', () => {
    expect(() => assertUnambiguous({ Labels: { app: '1', App: '2' } })).not.toThrow();
    expect(() => assertUnambiguous({ DriverOpts: { o: '1', O: '2' } })).not.toThrow();
    expect(() =>
      assertUnambiguous({ NetworkingConfig: { EndpointsConfig: { net: {}, NET: {} } } }),
    ).not.toThrow();
  });

  it('still checks the values inside map-valued fields', () => {
    expect(() =>
      assertUnambiguous({ NetworkingConfig: { EndpointsConfig: { net: { Links: [], links: [] } } } }),
    ).toThrowError(/EndpointsConfig\.net\./);
  });
});

describe('checkedBody', () => {
  it('gives {} for an empty body', async () => {
    await expect(checkedBody(async () => undefined)).resolves.toEqual({});
  });

  it('refuses a body that is not a JSON object', async () => {
    await expect(checkedBody(async () => [1])).rejects.toMatchObject({
      code: 'DOCKHAND_AMBIGUOUS_BODY',
      message: 'the request body must be a JSON object',
    });
    await expect(checkedBody(async () => 'x')).rejects.toMatchObject({ code: 'DOCKHAND_AMBIGUOUS_BODY' });
  });

  it('refuses an ambiguous object', async () => {
    await expect(checkedBody(async () => ({ image: 'a', Image: 'b' }))).rejects.toMatchObject({
      code: 'DOCKHAND_AMBIGUOUS_BODY',
    });
  });
});
