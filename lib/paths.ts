import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The project root (where package.json and package-lock.json live). */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export const lambdaEntry = (name: string): string => join(PROJECT_ROOT, 'lambdas', `${name}.ts`);
