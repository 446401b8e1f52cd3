import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { App } from '../src/app.js';
import type { Config } from '../src/config.js';
import { RANKING_FEATURES } from '../src/features/ranking-features.js';
import { buildModel } from '../src/model/graphs.js';
import { priorModel } from '../src/model/prior.js';
import { tempDir } from './helpers.js';

const exec = promisify(execFile);

/** A logistic regression over `featureNames` with the given weights (zeros by default). */
export function lrModel(
  version: string,
  options: { weights?: number[]; bias?: number; featureNames?: readonly string[] } = {},
): Uint8Array {
  const names = [...(options.featureNames ?? RANKING_FEATURES)];
  const n = names.length;
  return buildModel(
    {
      kind: 'lr',
      weights: Float32Array.from(options.weights ?? new Array<number>(n).fill(0)),
      bias: options.bias ?? -2,
      mean: new Float32Array(n),
      std: new Float32Array(n).fill(1),
    },
    { featureNames: names, version, kind: 'lr', trainedAt: new Date().toISOString() },
  );
}

/** The hand-set prior with its weights negated: a deliberately bad ranker. */
export function invertedPrior(version: string): Uint8Array {
  return priorModel(version, -1);
}

const dir = tempDir('models');

/** Writes model bytes to a temporary file and returns its path. */
export function modelFile(name: string, bytes: Uint8Array): string {
  const file = path.join(dir, `${name}.onnx`);
  writeFileSync(file, bytes);
  return file;
}

/** Runs `npm run model -- …` against the config's Redis and prefix; resolves with exit code and output. */
export async function modelCli(
  config: Config,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'tools/model.ts', ...args], {
      env: {
        ...process.env,
        REDIS_URL: config.redis.url,
        REDIS_KEY_PREFIX: config.redis.keyPrefix,
        LOG_LEVEL: 'warn',
      },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export { CATEGORIES, seedCatalogue } from './helpers.js';

/** The text of an instance's /metrics. */
export async function metricsText(app: App): Promise<string> {
  const res = await fetch(app.url.replace(/\/graphql$/, '/metrics'));
  return res.text();
}
