import { describe, expect, it } from 'vitest';
import { createOperationLabels, MAX_OPERATION_NAME_LABELS } from '../../src/http/graphql.js';

describe('operation name labels', () => {
  it('keeps well-formed names, folds long, malformed and surplus names into `other`', () => {
    const labels = createOperationLabels();
    expect(labels.label(undefined)).toBe('anonymous');
    expect(labels.label('Ping')).toBe('Ping');
    expect(labels.label(`N${'A'.repeat(64)}`)).toBe('other');
    expect(labels.label('not a name')).toBe('other');
    for (let i = 0; i < 100_000; i++) labels.label(`Q${i}`);
    expect(labels.size()).toBe(MAX_OPERATION_NAME_LABELS);
    expect(labels.label('Ping')).toBe('Ping');
    expect(labels.label('Q99999')).toBe('other');
  });
});
