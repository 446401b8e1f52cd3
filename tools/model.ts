/**
 * `npm run model -- <command>`: the model registry from a shell (REDIS_URL, REDIS_KEY_PREFIX).
 *
 *   publish models/x.onnx [--activate] [--arm name]   validate and store a model file
 *   list                                              published versions, oldest first
 *   activate <version> [--arm name]                   serve a version in an arm (default: control)
 *   experiment set --id exp1 --arm control:50:v1 --arm treatment:50:v2
 *   experiment show                                   arms, versions and their numbers so far
 *   promote <arm>                                     the arm takes 100 % of users
 *
 * Every change is announced to the API instances, which load and check the models before they
 * serve them. A model whose features differ from the definitions is refused before it is stored.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config.js';
import { armReports } from '../src/experiments/report.js';
import { createLogger } from '../src/logger.js';
import { connectRedis } from '../src/redis/client.js';
import { redisKeys } from '../src/core/keys.js';
import { OnnxFormatError } from '../src/model/onnx-format.js';
import { createModelRegistry, RegistryError, type ExperimentArm } from '../src/model/registry.js';
import { ModelMismatchError } from '../src/model/session.js';

const USAGE = `usage: npm run model -- <command>
  publish <file.onnx> [--activate] [--arm name]
  list
  activate <version> [--arm name]
  experiment set --id <id> --arm name:percent:version [--arm …]
  experiment show
  promote <arm>`;

/** A refusal the user can fix (bad file, unknown version, shares not adding up): exit code 2. */
class UsageError extends Error {}

const out = (line: string) => process.stdout.write(`${line}\n`);
const time = (ms: number) => new Date(ms).toISOString();

/** `name:percent:version` → an arm with its share as a fraction. */
function parseArmSpec(spec: string): ExperimentArm {
  const match = /^([^:]+):(\d+(?:\.\d+)?):(.+)$/.exec(spec);
  if (!match) throw new UsageError(`--arm ${spec}: expected name:percent:version, e.g. treatment:50:v2`);
  const [, name = '', percent = '', version = ''] = match;
  return { name, share: Number(percent) / 100, version };
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      arm: { type: 'string', multiple: true },
      id: { type: 'string' },
      activate: { type: 'boolean', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (!command) throw new UsageError(USAGE);
  const config = loadConfig();
  if (!config.redis.url) throw new UsageError('set REDIS_URL to the Redis the API instances use');
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { component: 'model-cli' });
  const redis = await connectRedis(config.redis.url, log, 'model-cli');
  const keys = redisKeys(config.redis.keyPrefix);
  const registry = createModelRegistry(redis, keys);
  const arm = values.arm?.[0];
  try {
    switch (command) {
      case 'publish': {
        const file = rest[0];
        if (!file) throw new UsageError('publish needs a model file');
        const { model, created } = await registry.publish(await readFile(file), file);
        out(
          `${created ? 'published' : 'already published (same bytes)'} ${model.version} (${model.kind}, ${model.sizeBytes} bytes, sha256 ${model.sha256.slice(0, 12)})`,
        );
        if (values.activate) {
          const e = await registry.activate(model.version, arm);
          out(`activated ${model.version} in experiment ${e.id} revision ${e.revision}`);
        }
        break;
      }
      case 'list': {
        const [models, experiment] = await Promise.all([registry.list(), registry.experiment()]);
        const serving = new Map<string, string[]>();
        for (const a of experiment?.arms ?? []) serving.set(a.version, [...(serving.get(a.version) ?? []), a.name]);
        if (models.length === 0) out('no published models');
        for (const m of models) {
          const arms = serving.get(m.version);
          const metric = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(4) : '–');
          const metrics = m.metrics ? ` auc=${metric(m.metrics.auc)} logLoss=${metric(m.metrics.logLoss)}` : '';
          out(
            `${m.version}\t${m.kind}\tpublished ${time(m.publishedAt)}\ttrained ${m.trainedAt || '–'}${metrics}${arms ? `\tserving: ${arms.join(', ')}` : ''}`,
          );
        }
        break;
      }
      case 'activate': {
        const version = rest[0];
        if (!version) throw new UsageError('activate needs a version (see `list`)');
        const e = await registry.activate(version, arm);
        out(
          `experiment ${e.id} revision ${e.revision}: ${e.arms.map((a) => `${a.name} ${a.share * 100} % ${a.version}`).join(', ')}`,
        );
        break;
      }
      case 'experiment': {
        if (rest[0] === 'set') {
          if (!values.id) throw new UsageError('experiment set needs --id');
          const arms = (values.arm ?? []).map(parseArmSpec);
          const e = await registry.setExperiment(values.id, arms);
          out(
            `experiment ${e.id} revision ${e.revision}: ${e.arms.map((a) => `${a.name} ${a.share * 100} % ${a.version}`).join(', ')}`,
          );
        } else if (rest[0] === 'show') {
          const e = await registry.experiment();
          if (!e) {
            out('no experiment: nothing was activated yet');
            break;
          }
          out(`experiment ${e.id} revision ${e.revision}, changed ${time(e.updatedAt)}`);
          for (const a of await armReports(redis, keys, e)) {
            const ctr = a.ctr === null ? '–' : `${(a.ctr * 100).toFixed(2)} %`;
            out(
              `  ${a.name}\t${a.share * 100} %\t${a.modelVersion}\tfeeds ${a.feeds}\timpressions ${a.impressions}\tclicks ${a.clicks}\tlikes ${a.likes}\thides ${a.hides}\tctr ${ctr}`,
            );
          }
        } else throw new UsageError('experiment set | experiment show');
        break;
      }
      case 'promote': {
        const name = rest[0];
        if (!name) throw new UsageError('promote needs an arm name');
        const e = await registry.promote(name);
        out(`experiment ${e.id} revision ${e.revision}: ${name} now serves ${e.arms[0]?.version} to 100 % of users`);
        break;
      }
      default:
        throw new UsageError(USAGE);
    }
  } finally {
    redis.disconnect();
  }
}

try {
  await main();
} catch (error) {
  const known =
    error instanceof UsageError ||
    error instanceof ConfigError ||
    error instanceof RegistryError ||
    error instanceof ModelMismatchError ||
    error instanceof OnnxFormatError ||
    (error instanceof Error && 'code' in error && error.code === 'ENOENT');
  if (!known) throw error;
  process.stderr.write(`feedrec model: ${error.message}\n`);
  process.exit(2);
}
