import { assertUnambiguousJson } from '@dockhand/core';
import { refuse } from './errors.ts';
import { field, isObject, type JsonObject, repeatedKey, setField } from './fields.ts';
import { bytesOf, fieldsOf, lengthDelimited, mapOf } from './protobuf-wire.ts';

/** The metadata keys of a result that hold an image's config: `containerimage.config`, and one per platform. */
const CONFIG_KEY = /^containerimage\.config(?:\/|$)/;

/**
 * Gives the image a client-side build returns the tenant's labels. The client of such a build (buildx, with the
 * Dockerfile frontend run through `LLBBridge/Solve`) sends the result back with `LLBBridge/Return`
 * (`ReturnRequest`: `Result` 1, whose `metadata` 10 holds the image config the exporter writes as it is): the
 * client can change that config, or leave it out. Each `containerimage.config` entry gets the labels, over any the
 * client set, in a new `Result` appended to the request: the receiver merges it, and a later map entry wins. A
 * build that stores an image must return its config.
 *
 * @param message - the `ReturnRequest`'s protobuf bytes
 * @param labels - the tenant's labels
 * @param storesImage - whether the build's exporter stores an image
 * @returns the rewritten request
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
 * @internal
 */
export function labelResult(
  message: Buffer,
  labels: readonly (readonly [string, string])[],
  storesImage: boolean,
): Buffer {
  const results = bytesOf(message, 1);
  if (results.length === 0) return message; // an error, returned as such
  const metadata = new Map<string, Uint8Array>();
  for (const result of results) for (const [key, value] of mapOf(result, 10)) metadata.set(key, value);
  const configs = [...metadata].filter(([key]) => CONFIG_KEY.test(key));
  if (storesImage) {
    // the config the exporter reads: for a result of one ref, `containerimage.config`; for a result of refs by
    // platform, `containerimage.config/<id>` for each platform `refs.platforms` names. The receiver merges the
    // results, and the last of the `ref` (1, 3) and `refs` (2, 4) fields set decides which it is
    let last: { no: number; bytes?: Uint8Array } | undefined;
    let set = 0;
    for (const result of results)
      for (const f of fieldsOf(result))
        if (f.no >= 1 && f.no <= 4) {
          last = f;
          set++;
        }
    // a decoder may merge a oneof message sent twice where this engine's replaces it: one is read alike
    if (set > 1)
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        'a result that sets its ref more than once cannot be checked here',
      );
    // refs by platform (2, 4: a map of refs in field 1): the exporter reads the first platform's config when there
    // is one ref, and `containerimage.config` when there is none
    const refs =
      last && (last.no === 2 || last.no === 4)
        ? new Set(mapOf(last.bytes ?? new Uint8Array(), 1).map(([k]) => k))
        : undefined;
    const needed =
      refs && refs.size > 0 ? platformConfigKeys(metadata.get('refs.platforms')) : ['containerimage.config'];
    if (needed.length === 0)
      throw refuse('DOCKHAND_IMAGE_POLICY', 'a result of refs by platform must name its platforms here');
    for (const key of needed) {
      if (!metadata.has(key))
        throw refuse(
          'DOCKHAND_IMAGE_POLICY',
          `a build that stores an image must return its config here (${key})`,
        );
    }
  }
  if (configs.length === 0) return message;
  const entries = configs.map(([key, value]) =>
    lengthDelimited(
      10,
      Buffer.concat([lengthDelimited(1, Buffer.from(key)), lengthDelimited(2, labelled(value, labels))]),
    ),
  );
  return Buffer.concat([message, lengthDelimited(1, Buffer.concat(entries))]);
}

/** The config keys of the platforms a result names in `refs.platforms` (`{"Platforms": [{"ID": ...}]}`). */
function platformConfigKeys(bytes: Uint8Array | undefined): string[] {
  if (bytes === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw refuse('DOCKHAND_IMAGE_POLICY', 'a result whose platforms are not JSON cannot be checked here');
  }
  assertUnambiguousJson(Buffer.from(bytes).toString('utf8'), "a result's platforms");
  if (parsed === null) return [];
  if (!isObject(parsed))
    throw refuse('DOCKHAND_IMAGE_POLICY', 'a result of that shape cannot be checked here');
  oneSpelling(parsed, '');
  const platforms = field(parsed, 'Platforms') ?? [];
  if (platforms !== null && !Array.isArray(platforms))
    throw refuse('DOCKHAND_IMAGE_POLICY', 'a result of that shape cannot be checked here');
  return (platforms ?? []).map((p: unknown) => {
    if (!isObject(p)) throw refuse('DOCKHAND_IMAGE_POLICY', 'a result of that shape cannot be checked here');
    oneSpelling(p, 'Platforms.');
    const id = field(p, 'ID') ?? '';
    if (typeof id !== 'string')
      throw refuse('DOCKHAND_IMAGE_POLICY', 'a result of that shape cannot be checked here');
    return `containerimage.config/${id}`;
  });
}

/** An image config (JSON) with the labels set in `config.Labels`, written once in canonical spelling. */
function labelled(bytes: Uint8Array, labels: readonly (readonly [string, string])[]): Buffer {
  let image: unknown;
  try {
    image = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw refuse('DOCKHAND_IMAGE_POLICY', 'an image config that is not JSON cannot be checked here');
  }
  assertUnambiguousJson(Buffer.from(bytes).toString('utf8'), 'an image config');
  if (!isObject(image)) throw refuse('DOCKHAND_IMAGE_POLICY', 'an image config must be an object here');
  oneSpelling(image, '');
  const config = field(image, 'config') ?? {};
  if (!isObject(config))
    throw refuse('DOCKHAND_IMAGE_POLICY', 'an image config of that shape cannot be checked here');
  oneSpelling(config, 'config.');
  const current = field(config, 'Labels') ?? {};
  if (!isObject(current))
    throw refuse('DOCKHAND_IMAGE_POLICY', 'image labels of that shape cannot be checked here');
  const next: Record<string, unknown> = { ...current };
  for (const [k, v] of labels) next[k] = v;
  setField(config, 'Labels', next);
  setField(image, 'config', config);
  return Buffer.from(JSON.stringify(image));
}

/** Refuses an object that sets a field twice in spellings Go's decoder matches alike (`config` and `Config`). */
function oneSpelling(object: JsonObject, path: string): void {
  const twice = repeatedKey(object);
  if (twice !== undefined)
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      `an image config that sets ${path}${twice[1]} twice cannot be checked here`,
    );
}
