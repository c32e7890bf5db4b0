/**
 * Normalises an image reference the way Docker does (`busybox` → `docker.io/library/busybox`, tag `latest`).
 *
 * @param ref - a reference without a digest
 * @returns the full name, the tag, and whether the reference gave one
 * @internal
 */
export function normaliseReference(ref: string): { name: string; tag: string; tagged: boolean } {
  const at = ref.indexOf('@');
  const base = at === -1 ? ref : ref.slice(0, at);
  const slash = base.lastIndexOf('/');
  const colon = base.lastIndexOf(':');
  const [repo, tag] = colon > slash ? [base.slice(0, colon), base.slice(colon + 1)] : [base, 'latest'];
  // as distribution/reference's ParseNormalizedNamed: a first component is a registry when it has a `.` or a
  // `:`, is `localhost`, or is not all lower case; `index.docker.io` is `docker.io`, whose official images are
  // under `library/`
  const first = repo.indexOf('/');
  const head = first === -1 ? '' : repo.slice(0, first);
  const isDomain = first !== -1 && (/[.:]/.test(head) || head === 'localhost' || head.toLowerCase() !== head);
  let domain = isDomain ? head : 'docker.io';
  let path = isDomain ? repo.slice(first + 1) : repo;
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  return { name: `${domain}/${path}`, tag, tagged: colon > slash };
}

/**
 * A reference without its tag or digest, as given.
 *
 * @param name - an image reference
 * @returns its repository part
 * @example
 * ```ts
 * repositoryOf('localhost:5000/app:1'); // 'localhost:5000/app'
 * ```
 * @internal
 */
export function repositoryOf(name: string): string {
  const at = name.indexOf('@');
  const base = at === -1 ? name : name.slice(0, at);
  const colon = base.indexOf(':', base.lastIndexOf('/') + 1);
  return colon === -1 ? base : base.slice(0, colon);
}

/**
 * The `name:tag` the daemon makes of a `repo` and `tag` parameter: a tag given in `repo` counts unless `tag`
 * replaces it, and `latest` when there is none.
 *
 * @param repo - the `repo` parameter (of a tag, a commit, an import)
 * @param tag - the `tag` parameter, `''` when there is none
 * @returns the name the image gets
 * @example
 * ```ts
 * repoTag('app:1', ''); // 'app:1'
 * ```
 * @internal
 */
export function repoTag(repo: string, tag: string): string {
  const slash = repo.lastIndexOf('/');
  const colon = repo.indexOf(':', slash + 1);
  const name = colon === -1 ? repo : repo.slice(0, colon);
  return `${name}:${tag || (colon === -1 ? '' : repo.slice(colon + 1)) || 'latest'}`;
}

/**
 * A repository name in its familiar form, as the daemon names it in its messages: without `docker.io/` (or
 * `index.docker.io/`), and without `library/` before a name of one component.
 *
 * @param name - a repository name (`docker.io/library/busybox`), without tag or digest
 * @returns its familiar form (`busybox`)
 * @example
 * ```ts
 * familiarName('docker.io/team/app'); // 'team/app'
 * ```
 * @internal
 */
export function familiarName(name: string): string {
  return name.replace(/^(?:docker\.io|index\.docker\.io)\//, '').replace(/^library\/([^/]+)$/, '$1');
}
