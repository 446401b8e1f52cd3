/**
 * `npm run simulate`: simulated users for a local API, so a fresh feed has life in it.
 *
 *   npm run simulate -- --url http://127.0.0.1:4000/graphql --users 200 --items 2000 --rate 200 --duration 60 --seed 1
 *   npm run simulate -- --evaluate --seed 1     # offline CTR table (random / popularity / oracle); no server
 *
 * Progress goes to stderr as JSON lines; the summary goes to stdout (JSON, or a table with
 * --evaluate). Exit codes: 0 done, 1 bad arguments or a failed run, 2 the API is unreachable.
 */
import { parseArgs } from 'node:util';
import { createPopulation, type Population } from './sim/behaviour.js';
import { ApiError, PingDocument, type ApiClient } from '../src/client/index.js';
import { drive, localApiClient, type DriveStats } from './sim/driver.js';
import { baselineRankers, graphqlRanker, type Ranker } from './sim/policies.js';
import { evaluateRankers, formatQualityTable } from './sim/quality.js';
import { createWorld } from './sim/world.js';

const USAGE = `usage: npm run simulate -- [options]
  --url URL            GraphQL endpoint of a local API (default http://127.0.0.1:4000/graphql)
  --token JWT          bearer token of a service caller (not needed with AUTH_MODE=dev)
  --users N            simulated users (default 200)
  --items N            catalogue size (default 2000)
  --rate N             target events per second (default 200)
  --duration S         stop after S seconds (default 60)
  --max-events N       stop after N events (default rate × duration)
  --policy P           where lists come from: auto (recommendations if the API has it, else
                       popularity), graphql, popularity, random or oracle (default auto)
  --first N            list length (default 20)
  --seed S             world and behaviour seed (default 1)
  --evaluate           print the offline CTR table instead (no server needed)
  --sessions N         with --evaluate: sessions per user (default 3)
  --steps N            with --evaluate: lists per session (default 10)`;

const log = (msg: string, fields: Record<string, unknown> = {}): void => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), msg, ...fields })}\n`);
};

function fail(message: string, exitCode = 1): never {
  process.stderr.write(`simulate: ${message}\n`);
  process.exit(exitCode);
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:4000/graphql' },
      token: { type: 'string' },
      users: { type: 'string', default: '200' },
      items: { type: 'string', default: '2000' },
      rate: { type: 'string', default: '200' },
      duration: { type: 'string', default: '60' },
      'max-events': { type: 'string' },
      policy: { type: 'string', default: 'auto' },
      first: { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' },
      evaluate: { type: 'boolean', default: false },
      sessions: { type: 'string', default: '3' },
      steps: { type: 'string', default: '10' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }).values;
}
try {
  args = parse();
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

/** A positive number from a flag, or a clear message naming the flag. */
function positive(name: string, value: string | undefined, integer = true): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    fail(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(value)}`);
  return n;
}

const seed = /^\d+$/.test(args.seed) ? Number(args.seed) : args.seed;
const world = createWorld({ seed, users: positive('users', args.users), items: positive('items', args.items) });
const first = positive('first', args.first);

if (args.evaluate) {
  const report = await evaluateRankers({
    world,
    sessionsPerUser: positive('sessions', args.sessions),
    stepsPerSession: positive('steps', args.steps),
    first,
  });
  process.stdout.write(formatQualityTable(report));
  process.exit(0);
}

const rate = positive('rate', args.rate, false);
const durationMs = positive('duration', args.duration, false) * 1000;
const maxEvents = args['max-events'] === undefined ? undefined : positive('max-events', args['max-events']);
const headers: Record<string, string> = args.token ? { authorization: `Bearer ${args.token}` } : {};
const client = ((): ApiClient => {
  try {
    return localApiClient(args.url, headers);
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
})();

/** The ranker for --policy; `auto` prefers the service's own recommendations when it answers. */
async function chooseRanker(policy: string, population: Population): Promise<{ name: string; ranker: Ranker }> {
  const baselines = baselineRankers(population);
  if (policy === 'random' || policy === 'popularity' || policy === 'oracle')
    return { name: policy, ranker: baselines[policy] };
  if (policy !== 'auto' && policy !== 'graphql') fail(`unknown --policy ${policy}\n${USAGE}`);
  const ranker = graphqlRanker(args.url, headers);
  if (policy === 'graphql') return { name: 'graphql', ranker };
  try {
    await ranker(world.users[0]?.id ?? 'u0', first);
    return { name: 'graphql', ranker };
  } catch (error) {
    if (error instanceof ApiError && error.code === 'UNREACHABLE') throw error;
    log('recommendations not usable; showing popularity lists instead', {
      code: error instanceof ApiError ? error.code : undefined,
      error: error instanceof Error ? error.message : String(error),
    });
    return { name: 'popularity', ranker: baselines.popularity };
  }
}

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());

let stats: DriveStats;
let policyName: string;
try {
  const population = createPopulation(world);
  // Reachability first, so a stopped API gets a clear message before any work.
  await client.request(PingDocument, {});
  const chosen = await chooseRanker(args.policy, population);
  policyName = chosen.name;
  log('simulate starting', {
    url: args.url,
    seed,
    users: world.users.length,
    items: world.items.length,
    rate,
    durationMs,
    maxEvents,
    policy: policyName,
  });
  stats = await drive({
    api: client,
    world,
    population,
    ranker: chosen.ranker,
    rate,
    maxDurationMs: durationMs,
    maxEvents,
    first,
    signal: controller.signal,
    afterPublish: async () => {
      log('catalogue and profiles published');
    },
    onProgress: (p) =>
      log('progress', { ...p, achievedRate: Math.round(p.achievedRate), simulatedCtr: round(p.simulatedCtr) }),
  });
} catch (error) {
  if (error instanceof ApiError && error.code === 'UNREACHABLE')
    fail(`${error.message}: is the API running? Start it with \`npm start\`, or pass --url.`, 2);
  if (error instanceof ApiError) fail(`the API refused the simulation: ${error.code}: ${error.message}`);
  throw error;
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

process.stdout.write(
  `${JSON.stringify(
    {
      policy: policyName,
      seed,
      ...stats,
      achievedRate: Math.round(stats.achievedRate),
      simulatedCtr: round(stats.simulatedCtr),
    },
    null,
    2,
  )}\n`,
);
if (stats.stopReason === 'unreachable') fail(`lost the API at ${args.url} during the run`, 2);
process.exit(0);
