/**
 * Settings given with `-c key=value` only. go-live.md keeps every setting in `cdk.json`, because a
 * `-c` lasts one command: the next plain `npx cdk deploy` goes back to `cdk.json` — from live to a
 * dry run, or from the brand's campaign to the demo one — without a word. `cdk synth`/`deploy`
 * therefore warn about every key whose value differs from the one `cdk.json` holds.
 */

export interface ContextOverride {
  key: string;
  value: unknown;
  /** What `cdk.json` holds for the key (undefined: the key is not there). */
  inFile: unknown;
}

/** A list given on the command line may be JSON or comma-separated: both are the same list. */
const sameValue = (given: unknown, inFile: unknown): boolean => {
  if (JSON.stringify(given) === JSON.stringify(inFile)) return true;
  if (typeof given !== 'string') return false;
  if (Array.isArray(inFile)) return given === inFile.join(',') || given === JSON.stringify(inFile);
  return typeof inFile !== 'object' && given === String(inFile);
};

/**
 * The keys of `cdk.json`'s context (CDK's own `@aws-cdk/…` flags aside) whose value in effect
 * differs from the file's: they came from `-c` (or a user-level `~/.cdk.json`).
 */
export function contextOverrides(fileContext: Record<string, unknown>, inEffect: (key: string) => unknown): ContextOverride[] {
  const out: ContextOverride[] = [];
  for (const [key, inFile] of Object.entries(fileContext)) {
    if (key.startsWith('@')) continue;
    const value = inEffect(key);
    if (value !== undefined && !sameValue(value, inFile)) out.push({ key, value, inFile });
  }
  return out;
}

export const OVERRIDE_WARNING_ID = 'partnerize-s2s:command-line-override';

export const overrideMessage = (o: ContextOverride): string =>
  `${o.key} is ${JSON.stringify(o.value)} from the command line (-c) only; cdk.json says ${JSON.stringify(o.inFile)}. ` +
  'The next `npx cdk deploy` without that -c goes back to the cdk.json value: put it in cdk.json (docs/go-live.md).';
