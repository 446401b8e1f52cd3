/**
 * Prints the Pothos schema to schema.graphql (sorted). With --check, exits 1 when the checked-in
 * file differs from what the code builds, so a stale schema cannot land.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { printSchema } from 'graphql';
import { schema } from '../src/schema/index.js';
import { projectRoot } from '../src/stack/paths.js';

const file = path.join(projectRoot, 'schema.graphql');
const printed = `${printSchema(schema)}\n`;

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    /* missing counts as stale */
  }
  if (current !== printed) {
    process.stderr.write('schema.graphql is stale: run `npm run schema:print` and commit the result.\n');
    process.exit(1);
  }
  process.stdout.write('schema.graphql is up to date.\n');
} else {
  writeFileSync(file, printed);
  process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}
