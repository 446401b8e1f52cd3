import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { eventually, spawnWorker, uniquePrefix } from './helpers.js';

describe('npm run worker', () => {
  it('serves its stream metrics, health and readiness, and stops cleanly on SIGTERM', async () => {
    const prefix = uniquePrefix('worker-proc');
    const child = spawnWorker(prefix, { LOG_LEVEL: 'info' }, 'pipe');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const match = /"metricsPort":(\d+)/.exec(line);
          if (match) resolve(Number(match[1]));
        });
      });
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      await eventually(async () => (await fetch(`${base}/readyz`)).status === 200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain('stream_batch_duration_ms');
      expect(metrics).toContain('stream_events_total');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
