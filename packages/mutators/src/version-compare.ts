/**
 * Compares two API versions.
 *
 * @param version - e.g. `'1.45'`
 * @param min - e.g. `'1.41'`
 * @returns whether `version >= min`
 * @example
 * ```ts
 * versionAtLeast('1.45', '1.41'); // true
 * ```
 */
export function versionAtLeast(version: string, min: string): boolean {
  const a = version.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}
