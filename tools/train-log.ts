/**
 * `npm run model:train -- --version v2 [--kind lr|fm] [--from ISO] [--to ISO] [--out models/v2.onnx]`:
 * trains the ranking model from the impressions and behaviour logged in Kafka (KAFKA_BROKERS,
 * KAFKA_TOPIC_PREFIX) and writes an ONNX file carrying its feature list, version and held-out
 * metrics. Deploy it by pointing MODEL_PATH at it.
 */
import { parseArgs } from 'node:util';
import { failWith, loadConfigOrExit, timeOption } from './cli.js';
import { DAY } from '../src/features/definitions.js';
import { createLogger } from '../src/logger.js';
import { createKafka } from '../src/streams/kafka.js';
import { topicNames } from '../src/core/topics.js';
import { trainFromLog } from '../src/model/log-training.js';
import { MODEL_KINDS, type ModelKind } from '../src/model/params.js';
import { writeModel } from '../src/model/training.js';

const fail = failWith('feedrec model:train');
const config = loadConfigOrExit('feedrec model:train');
const { values } = parseArgs({
  options: {
    version: { type: 'string' },
    kind: { type: 'string', default: 'lr' },
    from: { type: 'string' },
    to: { type: 'string' },
    out: { type: 'string' },
    'label-window-min': { type: 'string', default: '10' },
  },
});
const version = values.version ?? fail('--version is required (e.g. --version v2)');
if (!(MODEL_KINDS as readonly string[]).includes(values.kind)) fail(`--kind must be one of ${MODEL_KINDS.join(', ')}`);
const to = timeOption(values.to, 'to', Date.now(), fail);
const from = timeOption(values.from, 'from', to - 7 * DAY, fail);
const labelWindowMin = Number(values['label-window-min']);
if (!(labelWindowMin > 0)) fail('--label-window-min must be a positive number of minutes');
const brokers = config.kafka.brokers ?? fail('set KAFKA_BROKERS to the cluster whose logs to train on');
const log = createLogger(config.logLevel, { component: 'train' });
const trained = await trainFromLog({
  kafka: createKafka({ brokers, clientId: `${config.kafka.clientId}-train`, logger: log }),
  topics: topicNames(config.kafka.topicPrefix),
  from,
  to,
  kind: values.kind as ModelKind,
  version,
  labelWindowMs: labelWindowMin * 60_000,
  log,
});
const out = values.out ?? `models/${version}.onnx`;
await writeModel(out, trained.bytes);
process.stdout.write(
  `${JSON.stringify({ out, version, kind: values.kind, impressions: trained.impressions, examples: trained.examples, report: trained.report })}\n`,
);
