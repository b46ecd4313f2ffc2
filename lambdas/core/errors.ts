/**
 * Errors the domain raises for bad outside input. Handlers turn them into 4xx answers of the
 * shape `{"error": {"code", "message", "field"}}` (README "POST /postbacks"); nothing is stored when one is thrown.
 */
export class InputError extends Error {
  constructor(
    /** Machine-readable reason, e.g. `invalid_clickref`, `missing_field`. */
    readonly code: string,
    message: string,
    /** The failing field as the caller sent it, e.g. `items[1].quantity` or `data.udo.order_id`. */
    readonly field?: string,
    /** HTTP status the handler answers with (400 unless said otherwise, e.g. 413). */
    readonly status = 400,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * An InputError about a native field (`campaign`), told in the sender's words: the field renamed by
 * the source's mapping (`data.udo.site_region`), in the message too. Anything else is rethrown as is.
 */
export function renamed(err: unknown, event: { rename: (path: ReadonlyArray<PropertyKey>) => string }): unknown {
  if (!(err instanceof InputError) || err.field === undefined) return err;
  const field = event.rename([err.field]);
  return field === err.field ? err : new InputError(err.code, err.message.replace(err.field, field), field, err.status);
}
