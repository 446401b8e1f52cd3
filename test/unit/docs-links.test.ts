import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const docs = [
  'README.md',
  'BENCHMARKS.md',
  ...readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** Markdown links `[text](target)` outside code blocks; backticked paths are not links. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown
    .replace(/^```[\s\S]*?^```/gm, '')
    .replace(/`[^`\n]*`/g, (code) => code.replace(/[[\]()]/g, ' '));
  const targets = [...prose.matchAll(/\[[^\]\n]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] ?? '');
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'));
}

describe('the documentation', () => {
  it.each(docs)('every relative link in %s points to a file or folder in the repository', (doc) => {
    const text = readFileSync(path.join(root, doc), 'utf8');
    const broken = relativeLinks(text)
      .map((target) => decodeURIComponent(target.split('#')[0] ?? ''))
      .filter((target) => !existsSync(path.resolve(root, path.dirname(doc), target)));
    expect(broken, `${doc} links to missing paths`).toEqual([]);
  });

  it('README.md stays short enough to read to the end (under 250 lines)', () => {
    const lines = readFileSync(path.join(root, 'README.md'), 'utf8').split('\n').length;
    expect(lines).toBeLessThan(250);
  });

  it('docs/configuration.md lists every variable src/config.ts reads', () => {
    const config = readFileSync(path.join(root, 'src/config.ts'), 'utf8');
    const schema = config.slice(config.indexOf('const env = z.object({'));
    const variables = [...schema.slice(0, schema.indexOf('\n});')).matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map(
      (m) => m[1],
    );
    expect(variables.length).toBeGreaterThan(50);
    const reference = readFileSync(path.join(root, 'docs/configuration.md'), 'utf8');
    expect(variables.filter((v) => !reference.includes(`\`${v}\``))).toEqual([]);
  });
});
