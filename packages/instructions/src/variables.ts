const PLACEHOLDER = /\\?\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * Replaces `{{ NAME }}` placeholders in a page with the workshop's values. Names are case-sensitive;
 * unknown names are left as they are, and `\{{ NAME }}` is kept literally (without the backslash).
 *
 * @param source - the markdown text
 * @param variables - the values, by name
 * @returns the text with every known placeholder replaced
 * @example
 * ```ts
 * substituteVariables('Open {{ IDE_URL }}', { IDE_URL: 'http://localhost:8443' });
 * // 'Open http://localhost:8443'
 * ```
 */
export function substituteVariables(source: string, variables: Readonly<Record<string, string>>): string {
  if (!source.includes('{{')) return source;
  return source.replace(PLACEHOLDER, (whole, name: string) => {
    if (whole.startsWith('\\')) return whole.slice(1);
    return Object.hasOwn(variables, name) ? (variables[name] ?? '') : whole;
  });
}

/**
 * Collects workshop variables from environment variables named `DOCKHAND_VAR_<NAME>`.
 *
 * @param env - the environment to read (usually `process.env`)
 * @returns the variables, by `<NAME>`
 * @example
 * ```ts
 * variablesFromEnv({ DOCKHAND_VAR_IDE_URL: 'http://localhost:8443' }); // { IDE_URL: 'http://localhost:8443' }
 * ```
 */
export function variablesFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith('DOCKHAND_VAR_') && key.length > 13 && value !== undefined) {
      variables[key.slice(13)] = value;
    }
  }
  return variables;
}
