/**
 * Trains a ranking model from an examples file:
 *
 *   tsx tools/train.ts --examples examples.jsonl --out models/x.onnx --kind lr --version v1
 *
 * Each JSONL line is an example `{"features":[…],"label":0|1,"userId":"…","at":ms}`; the
 * feature names come from `--feature-names a,b,c` or a first line `{"featureNames":[…]}`.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { MODEL_KINDS, type ModelKind } from '../src/model/params.js';
import { trainFromExamples, writeModel, type Example } from '../src/model/training.js';

/** Reads examples from JSONL; a line `{"featureNames": […]}` names the columns. */
async function readExamplesFile(path: string): Promise<{ examples: Example[]; featureNames?: string[] }> {
  const examples: Example[] = [];
  let featureNames: string[] | undefined;
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    line++;
    if (text.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`${path}:${line}: not JSON`);
    }
    const value = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
    if (Array.isArray(value.featureNames)) {
      featureNames = value.featureNames.map(String);
      continue;
    }
    const { features, label, userId, at } = value;
    if (
      !Array.isArray(features) ||
      !features.every((f) => typeof f === 'number') ||
      (label !== 0 && label !== 1) ||
      typeof userId !== 'string' ||
      typeof at !== 'number'
    )
      throw new Error(`${path}:${line}: not an example {features: number[], label: 0|1, userId, at}`);
    examples.push({ features: features, label, userId, at });
  }
  return { examples, featureNames };
}

async function main() {
  const { values } = parseArgs({
    options: {
      examples: { type: 'string' },
      out: { type: 'string' },
      kind: { type: 'string', default: 'lr' },
      version: { type: 'string' },
      'feature-names': { type: 'string' },
      'held-out': { type: 'string', default: 'user' },
      seed: { type: 'string', default: '1' },
    },
  });
  const kind = values.kind as ModelKind;
  if (!values.examples || !values.out || !values.version || !MODEL_KINDS.includes(kind)) {
    process.stderr.write(
      'usage: tsx tools/train.ts --examples file.jsonl --out models/x.onnx --version v1 [--kind lr|fm] [--feature-names a,b,c] [--held-out user|time] [--seed 1]\n',
    );
    process.exit(2);
  }
  const file = await readExamplesFile(values.examples);
  const featureNames = values['feature-names']?.split(',').map((s) => s.trim()) ?? file.featureNames;
  if (!featureNames) {
    process.stderr.write('no feature names: pass --feature-names or start the file with {"featureNames": [...]}\n');
    process.exit(2);
  }
  const started = Date.now();
  const trained = trainFromExamples(file.examples, {
    featureNames,
    kind,
    version: values.version,
    heldOut: { by: values['held-out'] === 'time' ? 'time' : 'user', fraction: 0.2 },
    seed: Number(values.seed),
  });
  await writeModel(values.out, trained.bytes);
  process.stdout.write(
    `${JSON.stringify({ out: values.out, version: values.version, kind, durationMs: Date.now() - started, ...trained.report })}\n`,
  );
}

await main();
