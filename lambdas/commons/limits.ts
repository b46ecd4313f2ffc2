type Env = Record<string, string | undefined>;

/** Largest request body accepted (bytes); a larger one is a 413. */
export function maxBodyBytes(env: Env = process.env, fallback = 262_144): number {
  const n = Number(env['MAX_BODY_BYTES']);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}
