/**
 * Whether a `POST /images/create` is an import (`docker import`) rather than a pull, as the engine decides it: a
 * pull whenever its first `fromImage` is not empty, whatever `fromSrc` says (moby's `postImagesCreate`). A request
 * with both was checked as an import while the engine pulled (found by review, stop 27).
 *
 * @param query - the request's query
 * @returns `true` for an import
 * @example
 * ```ts
 * isImageImport(new URLSearchParams('fromSrc=-&repo=app')); // true
 * isImageImport(new URLSearchParams('fromImage=busybox&fromSrc=-')); // false: a pull
 * ```
 * @internal
 */
export function isImageImport(query: Pick<URLSearchParams, 'get'>): boolean {
  return (query.get('fromImage') ?? '') === '';
}
