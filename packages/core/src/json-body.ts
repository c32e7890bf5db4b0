/**
 * A JSON body as the engine's Go server writes one (`json.Encoder.Encode`): the value on one line, ended by a
 * newline. The proxy's own answers (refusals, `ctx.respond`, `setJson`) are written so, as the engine's are.
 *
 * @param value - the value
 * @returns the body's bytes
 * @example
 * ```ts
 * jsonBody({ message: 'No such container: x' }).toString(); // '{"message":"No such container: x"}\n'
 * ```
 * @internal
 */
export function jsonBody(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value)}\n`);
}
