import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import {
  FeedUpdatedDocument,
  RecommendedIdsDocument,
  RecordInteractionCountsDocument,
  requestBody,
} from '../src/client/index.js';
import { priorModel } from '../src/model/prior.js';
import { createModelRegistry } from '../src/model/registry.js';
import { projectRoot } from '../src/stack/paths.js';
import { eventually, gql, startApp, testConfig } from './helpers.js';
import { metricsText, seedCatalogue } from './model-helpers.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string }[];
}

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * Metric names in a PromQL expression: identifiers that are not functions, keywords, label names
 * (inside `{…}` or `by (…)`) or durations (inside `[…]`).
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/(?<![A-Za-z0-9_:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, '0')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = new Set<string>();
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*(?=\s*(\(?))/g)) {
    if (m[1] === '(' || PROMQL_WORDS.has(m[0])) continue;
    names.add(m[0]);
  }
  return [...names];
}

const dashboard = JSON.parse(readFileSync(path.join(projectRoot, 'ops/grafana/feedrec-dashboard.json'), 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string }[] };
};
const alertExprs = [
  ...readFileSync(path.join(projectRoot, 'ops/prometheus/alerts.yml'), 'utf8').matchAll(
    /expr: (?:>-\n((?: {10}.*\n)+)|(.*))/g,
  ),
].map((m) => (m[1] ?? m[2] ?? '').replace(/\s+/g, ' ').trim());

describe('the Grafana dashboard and the alert rules', () => {
  const config = testConfig('dash', { RATE_LIMIT_EVENTS_PER_SEC: '100000', RATE_LIMIT_MUTATIONS_PER_SEC: '100000' });
  let app: App;
  beforeAll(async () => {
    app = await startApp(config);
  });
  afterAll(() => app?.stop());

  it('is a well-formed dashboard: unique panel ids, a Prometheus data source variable, queries on every graph', () => {
    expect(dashboard.uid).toBe('feedrec-pipeline');
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource' }),
    );
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(stream_freshness_ms_bucket{a="b"}[5m]))) / clamp_min(x, 1e-9)',
      ),
    ).toEqual(['stream_freshness_ms_bucket', 'x']);
    expect(alertExprs.length).toBeGreaterThanOrEqual(5);
  });

  it('queries only metrics a live instance exports, once traffic has gone through every part', async () => {
    // Traffic through each part: ingestion and the stream, feeds, an experiment click, a live
    // push, a model reload, a client error and a readiness check.
    await seedCatalogue(app);
    const feed = await gql(app.url, RecommendedIdsDocument, { userId: 'dash-1', first: 5 });
    const shown = feed.data!.recommendations.items[0]!.item.id;
    await gql(app.url, RecordInteractionCountsDocument, {
      inputs: [{ userId: 'dash-1', itemId: shown, action: 'CLICK' }],
    });
    await gql(app.url, RecommendedIdsDocument, { userId: 'not an id!' });
    await fetch(app.url.replace(/\/graphql$/, '/readyz'));
    const registry = createModelRegistry(app.services.redis, app.services.keys);
    await registry.publish(priorModel('dash-2'), 'test');
    await registry.activate('dash-2');
    const live = new AbortController();
    const subscription = await fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: requestBody(FeedUpdatedDocument, { userId: 'dash-1', first: 5 }),
      signal: live.signal,
    });
    const reader = subscription.body!.getReader();
    let received = '';
    while (!received.includes('feedUpdated')) received += new TextDecoder().decode((await reader.read()).value);
    live.abort();

    const used = new Map<string, string>();
    for (const p of dashboard.panels)
      for (const t of p.targets ?? []) for (const name of metricNames(t.expr)) used.set(name, p.title);
    for (const expr of alertExprs) for (const name of metricNames(expr)) used.set(name, 'alert rules');
    const exported = (text: string) =>
      new Set([...text.matchAll(/^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/gm)].map((m) => m[1]));
    const missing = await eventually(
      async () => {
        const names = exported(await metricsText(app));
        const absent = [...used.keys()].filter((n) => !names.has(n));
        return absent.length === 0 ? absent : false;
      },
      { timeoutMs: 20_000 },
    ).catch(async () => {
      const names = exported(await metricsText(app));
      return [...used].filter(([n]) => !names.has(n)).map(([n, where]) => `${n} (${where})`);
    });
    expect(missing).toEqual([]);
    expect(used.size).toBeGreaterThan(15);
  });
});
