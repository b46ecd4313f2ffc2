#!/usr/bin/env node
// `npx pz …`: runs the TypeScript CLI through tsx (installed with the project).
import { register } from 'tsx/esm/api';

register();
await import('./pz.ts');
