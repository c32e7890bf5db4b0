import { assertUnambiguousJson, compose, type Middleware, on } from '@dockhand/core';
import { classicBuild } from './classic-build.ts';
import { argWords, type Instruction, parseDockerfile, parseInstruction } from './dockerfile-parser.ts';
import { refuse } from './errors.ts';
import { checkedBody, field, isObject, setField } from './fields.ts';
import { isImageImport } from './image-import.ts';
import { HELPER_LABEL } from './missing-subpaths.ts';

/** A string's UTF-8 bytes, one character per byte, as the Dockerfile parser reads them. */
const bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

/**
 * The `changes` of a commit or an import, checked, with the labels appended as `LABEL "key"="value"` changes, last.
 *
 * The daemon joins all `changes` values with newlines and parses them as one Dockerfile (moby's `BuildFromConfig`),
 * so a value can reach into the next one: a trailing escape character (`\`, or `` ` `` after an `# escape=`
 * directive) glues the proxy's `LABEL` onto it, and a heredoc takes the lines after it. Each value must therefore
 * be one instruction on one line, starting with its keyword: no line break, no comment or parser directive, no
 * heredoc (`<<`), no trailing `\` or `` ` ``. The builder's parser then checks the outcome: every value reads as one
 * instruction of its own, and the appended labels as the last ones. A change that names one of the keys is refused,
 * in any spelling: quotes and backslashes are removed before looking (the builder's word processing drops them), and
 * a `LABEL` with a variable (`$K=...`) is refused outright, since its key is known only to the engine. Strict on
 * purpose: a workshop's `docker commit --change 'ENV A=1' --change 'CMD ["x"]'` never needs any of these.
 *
 * @param changes - the client's `changes` values
 * @param labels - the labels to append
 * @returns the changes to send
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_LABEL_SPOOF` for a change that is refused
 * @example
 * ```ts
 * stampChanges(['ENV A=1'], { 'dockhand.tenant': 'alice' }); // ['ENV A=1', 'LABEL "dockhand.tenant"="alice"']
 * stampChanges(['ENV A=\\'], { 'dockhand.tenant': 'alice' }); // throws DOCKHAND_LABEL_SPOOF
 * ```
 * @internal
 */
export function stampChanges(changes: readonly string[], labels: Readonly<Record<string, string>>): string[] {
  const keys = Object.keys(labels);
  const named = `the label ${keys.join(', ')} is set by the workshop`;
  const oneLine = () =>
    refuse(
      'DOCKHAND_LABEL_SPOOF',
      `${named}, after your changes: each change must be one instruction on one line, without a comment, parser directive, heredoc (<<) or trailing escape character`,
    );
  for (const change of changes) {
    // quotes and escapes removed rather than refused: `LABEL description="two words"` is common and harmless
    const plain = change.replace(/["'\\]/g, '').toLowerCase();
    if (keys.some((k) => plain.includes(k.toLowerCase())))
      throw refuse('DOCKHAND_LABEL_SPOOF', `${named} and cannot be changed`);
    if (/[\r\n]/.test(change) || change.includes('<<')) throw oneLine();
    if (!/^[\t ]*[A-Za-z]/.test(change) || /[\\`][\s\u0085]*$/.test(change)) throw oneLine();
    let ins = parseInstruction(bytes(change));
    if (ins.keyword === 'onbuild') ins = parseInstruction(ins.args);
    if (ins.keyword === 'label' && change.includes('$'))
      throw refuse('DOCKHAND_LABEL_SPOOF', `${named}; a LABEL change cannot use variables ($)`);
  }
  const stamps = Object.entries(labels).map(([k, v]) => `LABEL ${JSON.stringify(k)}=${JSON.stringify(v)}`);
  const all = [...changes, ...stamps];
  // what the daemon parses: each change one instruction of its own, the stamps last and unchanged
  const parsed = parseDockerfile(bytes(all.join('\n')));
  const alone = all.map((c) => parseDockerfile(bytes(c)));
  if (
    parsed.length !== all.length ||
    alone.some(
      (p, i) => p.length !== 1 || p[0]!.keyword !== parsed[i]!.keyword || p[0]!.args !== parsed[i]!.args,
    )
  )
    throw oneLine();
  return all;
}

/**
 * Refuses Dockerfile instructions that set one of the keys as a label: a `LABEL` (or an `ONBUILD LABEL`) that names
 * a key in any spelling (quotes and escape characters removed before looking, as the builder's word processing
 * drops them), or whose key is a variable (`LABEL $K=...`, known only to the builder). The classic builder gives
 * the `labels` parameter to a build's last image only: every earlier step's container and image, and every
 * earlier stage, has the labels the Dockerfile gives it, so a `LABEL dockhand.tenant=<victim>` made them the
 * victim's (found by review, stop 20).
 *
 * @param instructions - the Dockerfile's instructions, or the triggers of an image it builds from (as parsed)
 * @param keys - the label keys the workshop sets
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_LABEL_SPOOF`
 * @example
 * ```ts
 * refuseLabelInstructions(parseDockerfile('FROM x\nLABEL dockhand.tenant=bob\n'), ['dockhand.tenant']); // throws
 * ```
 * @internal
 */
export function refuseLabelInstructions(instructions: readonly Instruction[], keys: readonly string[]): void {
  for (const outer of instructions) {
    const ins = outer.keyword === 'onbuild' ? parseInstruction(outer.args) : outer;
    if (ins.keyword !== 'label') continue;
    const named = `the label ${keys.join(', ')} is set by the workshop`;
    // the parser's text is one character per byte: read as UTF-8 before folding case, as the key is
    const plain = Buffer.from(ins.args, 'latin1')
      .toString('utf8')
      .replace(/["'\\`]/g, '')
      .toLowerCase();
    if (keys.some((k) => plain.includes(k.toLowerCase())))
      throw refuse('DOCKHAND_LABEL_SPOOF', `${named}; a LABEL instruction cannot set it`);
    // `key=value` pairs, or the legacy `LABEL key value`: a key with a variable is known only to the builder
    for (const word of argWords(ins.args)) {
      const eq = word.indexOf('=');
      if ((eq === -1 ? word : word.slice(0, eq)).includes('$'))
        throw refuse('DOCKHAND_LABEL_SPOOF', `${named}; a LABEL key cannot be a variable ($)`);
      if (eq === -1) break;
    }
  }
}

/** Replaces the query's `changes` with {@link stampChanges}'s. */
function stampQuery(query: URLSearchParams, labels: Readonly<Record<string, string>>): void {
  const changes = stampChanges(query.getAll('changes'), labels);
  query.delete('changes');
  for (const change of changes) query.append('changes', change);
}

/** Options of {@link stampLabels}. */
export interface StampOptions {
  /** The labels to put on everything the tenant creates; they override any the client sets. */
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Adds the tenant's labels to everything it creates: containers, volumes and networks (body `Labels`), images
 * built (`/build`'s `labels` query parameter), committed (a last `LABEL` change, and the config's `Labels` when the client sends a config; the change
 * wins over any spelling of the key in the client's changes) or imported (a last `LABEL` change). `changes` that
 * name a key, or could reach into the `LABEL` change after them, are refused (see `stampChanges`).
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
      const given = await ctx.request.json();
      if (ctx.operation === 'ImageCommit' && (given === undefined || given === null)) {
        // no config: the daemon takes the container's (which carries the tenant's labels), and `changes` build on
        // it (`ENV PATH=/x:$PATH`, `WORKDIR sub`); a config of ours made them build on nothing (found by review,
        // stop 24: the image lost its PATH and did not start). The last LABEL change is ours
        stampQuery(ctx.request.query, labels);
        await next();
        return;
      }
      const body = await checkedBody(async () => given);
      const current = field(body, 'Labels');
      setField(body, 'Labels', { ...(isObject(current) ? current : {}), ...labels });
      if (ctx.operation === 'ImageCommit') {
        // the daemon applies `changes` after the config: the last LABEL, ours, wins over any spelling of the key
        stampQuery(ctx.request.query, labels);
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
      assertUnambiguousJson(raw, 'the labels parameter');
    }
    // the engine makes each of these a LABEL step of its own, in key order: one of the helpers' label ran before
    // the tenant's, and that step's container carried it alone (found by review, stop 26)
    if (current !== null && typeof current === 'object' && Object.hasOwn(current, HELPER_LABEL))
      throw refuse(
        'DOCKHAND_LABEL_SPOOF',
        `the label ${HELPER_LABEL} is set by the workshop; use another key`,
      );
    ctx.request.query.set('labels', JSON.stringify({ ...current, ...labels }));
    const classic = await classicBuild(ctx);
    // and the helpers' label: a classic build step carries the Dockerfile's labels and no tenant label, and one
    // labelled as a helper was swept, racing the builder's own removal, with the instance (review, stop 23)
    if (classic) refuseLabelInstructions(parseDockerfile(classic.dockerfile), [...keys, HELPER_LABEL]);
    await next();
  });

  const importImage: Middleware = on('ImageCreate', async (ctx, next) => {
    if (isImageImport(ctx.request.query)) {
      stampQuery(ctx.request.query, labels);
    }
    await next();
  });

  return compose([inBody, build, importImage]);
}
