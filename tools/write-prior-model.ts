/**
 * `npm run model:prior [-- --version prior-2 --out models/default.onnx]`: writes the hand-set
 * prior (`src/model/prior.ts`) as a model file. It is the shipped default while it beats the
 * models trained from logged traffic on both `npm run eval` and the simulator
 * (docs/relevance.md).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { priorModel } from '../src/model/prior.js';
import { writeModel } from '../src/model/training.js';
import { projectRoot } from '../src/stack/paths.js';

const { values } = parseArgs({
  options: {
    version: { type: 'string', default: 'prior-2' },
    out: { type: 'string', default: path.join(projectRoot, 'models', 'default.onnx') },
  },
});
await writeModel(values.out, priorModel(values.version));
process.stdout.write(`wrote ${path.relative(process.cwd(), values.out)} (${values.version})\n`);
