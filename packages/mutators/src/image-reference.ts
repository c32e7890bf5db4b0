/**
 * Normalises an image reference the way Docker does (`busybox` → `docker.io/library/busybox`, tag `latest`).
 *
 * @param ref - a reference without a digest
 * @returns the full name and the tag
 * @internal
 */
export function normaliseReference(ref: string): { name: string; tag: string } {
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
  return { name: `${domain}/${path}`, tag };
}
