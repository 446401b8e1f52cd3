import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (two levels above this file), where `stack/` and `.cache/` live. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
