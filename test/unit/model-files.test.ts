import { describe, expect, it } from 'vitest';
import { RANKING_FEATURES } from '../../src/features/ranking-features.js';
import { METADATA_KEYS, parseModelMetadata } from '../../src/model/metadata.js';
import { decodeModelInfo, withMetadataEntry } from '../../src/model/onnx-format.js';
import { priorModel } from '../../src/model/prior.js';
import { joinImpressions } from '../../src/model/training.js';

describe('model files and training labels', () => {
  it('a model can carry its evaluation numbers in its metadata, weights untouched', () => {
    const bytes = priorModel('p-1');
    const evaluation = { dataset: 'ml-100k', results: [{ name: 'service', recall20: 0.24 }] };
    const annotated = withMetadataEntry(bytes, METADATA_KEYS.evaluation, JSON.stringify(evaluation));
    expect(Buffer.from(annotated.subarray(0, bytes.length)).equals(Buffer.from(bytes))).toBe(true);
    const meta = parseModelMetadata(decodeModelInfo(annotated).metadata);
    expect(meta.version).toBe('p-1');
    expect(meta.featureNames).toEqual([...RANKING_FEATURES]);
    expect(meta.evaluation).toEqual(evaluation);
    // Annotating again replaces what a reader sees.
    const again = withMetadataEntry(annotated, METADATA_KEYS.evaluation, JSON.stringify({ dataset: 'other' }));
    expect(parseModelMetadata(decodeModelInfo(again).metadata).evaluation).toEqual({ dataset: 'other' });
  });

  it('refuses to annotate something that is not a model', () => {
    expect(() => withMetadataEntry(new Uint8Array([1, 2, 3]), 'evaluation', '{}')).toThrow();
  });

  it('labels a served item by engagement the service received after serving it, whatever the event time says', () => {
    const servedAt = 1_000_000;
    const impression = {
      impressionId: 'i1',
      modelVersion: 'm',
      userId: 'u1',
      servedAt,
      featureNames: ['f'],
      items: [
        { itemId: 'a', rank: 1, score: 0.5, features: [1] },
        { itemId: 'b', rank: 2, score: 0.4, features: [2] },
      ],
    };
    const examples = joinImpressions(
      [impression],
      [
        // Replayed history: backdated event time, received after the feed was served.
        { userId: 'u1', itemId: 'a', action: 'LIKE', occurredAt: servedAt - 86_400_000, receivedAt: servedAt + 5 },
        // Received before the feed was served: not a reaction to it.
        { userId: 'u1', itemId: 'b', action: 'LIKE', occurredAt: servedAt + 10, receivedAt: servedAt - 5 },
      ],
      { labelWindowMs: 60_000 },
    );
    expect(examples.map((e) => e.label)).toEqual([1, 0]);
  });
});
