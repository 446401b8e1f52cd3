import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Kind, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.js';
import { projectRoot } from '../../src/stack/paths.js';

const dir = path.join(projectRoot, 'operations');
const files = readdirSync(dir).filter((f) => f.endsWith('.graphql'));
// One document, as codegen sees them: fragments may be used across files.
const document = parse(files.map((f) => readFileSync(path.join(dir, f), 'utf8')).join('\n'));

describe("the clients' operations", () => {
  it('are all valid against the schema the server builds, not only the printed copy codegen reads', () => {
    expect(files.length).toBeGreaterThan(0);
    expect(validate(schema, document).map((e) => e.message)).toEqual([]);
  });

  it('each have a name of their own, so metrics and logs can tell them apart', () => {
    const names = document.definitions.flatMap((d) =>
      d.kind === Kind.OPERATION_DEFINITION ? [d.name?.value ?? '(anonymous)'] : [],
    );
    expect(names).not.toContain('(anonymous)');
    expect(new Set(names).size).toBe(names.length);
  });
});
