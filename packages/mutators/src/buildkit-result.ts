import { refuse } from './errors.ts';
import { field, foldKey, isObject, type JsonObject, setField } from './fields.ts';
import { bytesOf, lengthDelimited, mapOf } from './protobuf-wire.ts';

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
  if (storesImage && configs.length === 0)
    throw refuse('DOCKHAND_IMAGE_POLICY', 'a build that stores an image must return its config here');
  if (configs.length === 0) return message;
  const entries = configs.map(([key, value]) =>
    lengthDelimited(
      10,
      Buffer.concat([lengthDelimited(1, Buffer.from(key)), lengthDelimited(2, labelled(value, labels))]),
    ),
  );
  return Buffer.concat([message, lengthDelimited(1, Buffer.concat(entries))]);
}

/** An image config (JSON) with the labels set in `config.Labels`, written once in canonical spelling. */
function labelled(bytes: Uint8Array, labels: readonly (readonly [string, string])[]): Buffer {
  let image: unknown;
  try {
    image = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw refuse('DOCKHAND_IMAGE_POLICY', 'an image config that is not JSON cannot be checked here');
  }
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
  const seen = new Set<string>();
  for (const key of Object.keys(object)) {
    const folded = foldKey(key);
    if (seen.has(folded))
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        `an image config that sets ${path}${key} twice cannot be checked here`,
      );
    seen.add(folded);
  }
}
