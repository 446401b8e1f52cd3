import { describe, expect, it } from 'vitest';
import {
  decodeBehavior,
  decodeImpression,
  decodeOrSkip,
  DecodeError,
  encodeEvent,
  engagedCount,
  generateEventId,
  isValidId,
  isEngaged,
  type ImpressionEvent,
} from '../../src/core/events.js';
import { decodeFeedRefresh, encodeFeedRefresh } from '../../src/core/feed-refresh.js';
import { decodeUserChanged, encodeUserChanged } from '../../src/core/user-changed.js';

const impression: ImpressionEvent = {
  v: 1,
  impressionId: 'imp-1',
  userId: 'u1',
  servedAt: 1_700_000_000_000,
  modelVersion: 'prior-2',
  featureNames: ['a', 'b'],
  items: [
    { itemId: 'i1', rank: 1, score: 0.9, modelScore: 0.4, exploration: false, features: [1, 2] },
    { itemId: 'i2', rank: 2, score: 0.5, modelScore: 0.2, exploration: true, features: [3, 4] },
  ],
  arm: 'control',
  experimentId: 'exp1',
};

describe('the impression contract', () => {
  it('reads back what the API writes', () => {
    expect(decodeImpression(encodeEvent(impression))).toEqual(impression);
  });

  it.each([
    ['a row with fewer values than feature names', { items: [{ ...impression.items[0], features: [1] }] }],
    ['a feature that is not a number', { items: [{ ...impression.items[0], features: [1, 'x'] }] }],
    ['an invalid user id', { userId: 'has space' }],
    ['a servedAt that is not an epoch-ms integer', { servedAt: 'yesterday' }],
    ['items that are not a list', { items: {} }],
    ['another schema version', { v: 2 }],
  ])('refuses %s', (_what, change) => {
    expect(() => decodeImpression(JSON.stringify({ ...impression, ...change }))).toThrow(DecodeError);
  });

  it('lets readers skip what does not decode, and nothing else', () => {
    expect(decodeOrSkip(decodeImpression, Buffer.from('not json'))).toBeNull();
    expect(decodeOrSkip(decodeImpression, encodeEvent(impression))?.userId).toBe('u1');
    expect(() =>
      decodeOrSkip(() => {
        throw new TypeError('a bug, not bad data');
      }, null),
    ).toThrow(TypeError);
  });
});

describe('server-made eventIds', () => {
  it('are valid ids of 16 characters, and do not repeat', () => {
    const ids = Array.from({ length: 10_000 }, generateEventId);
    expect(ids.filter((id) => !isValidId(id) || id.length !== 16)).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('engagement', () => {
  it('counts clicks, likes, comments and shares, not views, skips or hides', () => {
    expect(['VIEW', 'SKIP', 'HIDE'].map((a) => isEngaged(a as never))).toEqual([false, false, false]);
    expect(['CLICK', 'LIKE', 'COMMENT', 'SHARE'].map((a) => isEngaged(a as never))).toEqual([true, true, true, true]);
    expect(engagedCount({ VIEW: 100, CLICK: 3, LIKE: 2, COMMENT: 1, SHARE: 1, SKIP: 7, HIDE: 9 })).toBe(7);
  });

  it('decodes only the actions it knows', () => {
    const event = { v: 1, eventId: 'e1', userId: 'u1', itemId: 'i1', occurredAt: 1, receivedAt: 2 };
    expect(decodeBehavior(JSON.stringify({ ...event, action: 'LIKE' })).action).toBe('LIKE');
    expect(() => decodeBehavior(JSON.stringify({ ...event, action: 'LOVE' }))).toThrow(DecodeError);
  });
});

describe('the user-changed notice', () => {
  it('round-trips between the worker and the hub', () => {
    const notice = { users: ['u1', 'u2'], at: 42, receivedAt: [40, null] };
    expect(decodeUserChanged(encodeUserChanged(notice))).toEqual(notice);
  });

  it('refuses a notice without a user list, and reads a missing time as now', () => {
    expect(() => decodeUserChanged('{"users":"u1"}')).toThrow('users is not a list');
    expect(() => decodeUserChanged('[1]')).toThrow('not an object');
    expect(decodeUserChanged('{"users":["u1"]}', 7)).toEqual({ users: ['u1'], at: 7, receivedAt: undefined });
  });
});

describe('the feed-refresh notice', () => {
  it('round-trips between the batch and the hub', () => {
    const notice = { trigger: 'batch' as const, detail: 'long-horizon lt-2026-12-01T00:00:00.000Z', at: 42 };
    expect(decodeFeedRefresh(encodeFeedRefresh(notice))).toEqual(notice);
    expect(decodeFeedRefresh(encodeFeedRefresh({ trigger: 'batch', at: 7 }))).toEqual({ trigger: 'batch', at: 7 });
  });

  it('trims the detail and drops a blank one', () => {
    expect(decodeFeedRefresh('{"trigger":"batch","detail":"  run 7 ","at":1}')).toEqual({
      trigger: 'batch',
      detail: 'run 7',
      at: 1,
    });
    expect(decodeFeedRefresh('{"trigger":"batch","detail":"   ","at":1}')).toEqual({ trigger: 'batch', at: 1 });
  });

  it.each([
    ['text that is not JSON', 'batch done', 'not JSON'],
    ['a list', '["batch"]', 'not an object'],
    ['a model trigger (models reach instances through the registry)', '{"trigger":"model","at":1}', 'is not "batch"'],
    ['no trigger', '{"at":1}', 'is not "batch"'],
    ['no time', '{"trigger":"batch"}', 'at is not'],
    ['a time that is not a number', '{"trigger":"batch","at":"today"}', 'at is not'],
    ['a detail that is not text', '{"trigger":"batch","detail":7,"at":1}', 'detail is not a string'],
    ['a detail too long to show', JSON.stringify({ trigger: 'batch', detail: 'x'.repeat(201), at: 1 }), 'longer than'],
  ])('refuses %s', (_what, message, error) => {
    expect(() => decodeFeedRefresh(message)).toThrow(error);
  });
});
