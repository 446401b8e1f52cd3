import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createRunner, type Component } from '../../src/runtime/runner.js';

const silent = pino({ level: 'silent' });

/** Components that write what happens to them into one shared journal. */
function journaled(journal: string[], name: string, behaviour: { failStart?: boolean; stopMs?: number } = {}) {
  return {
    name,
    async start() {
      journal.push(`start ${name}`);
      if (behaviour.failStart) throw new Error(`${name} cannot start`);
    },
    async stop() {
      if (behaviour.stopMs) await new Promise((r) => setTimeout(r, behaviour.stopMs));
      journal.push(`stop ${name}`);
    },
  } satisfies Component;
}

describe('the runner', () => {
  it('starts components in order and stops them in reverse, across several start calls', async () => {
    const journal: string[] = [];
    const runner = createRunner({ log: silent, shutdownTimeoutMs: 1000 });
    await runner.start(journaled(journal, 'stack'));
    await runner.start(journaled(journal, 'redis'), journaled(journal, 'http'));
    await runner.stop();
    expect(journal).toEqual(['start stack', 'start redis', 'start http', 'stop http', 'stop redis', 'stop stack']);
  });

  it('stops what had started, in reverse, when a component fails to start, and rethrows', async () => {
    const journal: string[] = [];
    const runner = createRunner({ log: silent, shutdownTimeoutMs: 1000 });
    await expect(
      runner.start(
        journaled(journal, 'a'),
        journaled(journal, 'b'),
        journaled(journal, 'c', { failStart: true }),
        journaled(journal, 'd'),
      ),
    ).rejects.toThrow('c cannot start');
    expect(journal).toEqual(['start a', 'start b', 'start c', 'stop b', 'stop a']);
  });

  it('keeps stopping the others when one stop fails', async () => {
    const journal: string[] = [];
    const runner = createRunner({ log: silent, shutdownTimeoutMs: 1000 });
    const broken: Component = {
      name: 'broken',
      start: async () => {},
      stop: async () => {
        throw new Error('cannot stop');
      },
    };
    await runner.start(journaled(journal, 'a'), broken, journaled(journal, 'b'));
    await runner.stop();
    expect(journal).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });

  it('gives up on a component that does not stop within the deadline and stops the rest', async () => {
    const journal: string[] = [];
    const runner = createRunner({ log: silent, shutdownTimeoutMs: 100 });
    const stuck: Component = { name: 'stuck', start: async () => {}, stop: () => new Promise(() => {}) };
    await runner.start(journaled(journal, 'a'), stuck);
    const begun = Date.now();
    await runner.stop();
    expect(Date.now() - begun).toBeLessThan(1000);
    expect(journal).toEqual(['start a', 'stop a']);
  });

  it('stops once however often it is asked, and refuses to start anything after', async () => {
    const journal: string[] = [];
    const runner = createRunner({ log: silent, shutdownTimeoutMs: 1000 });
    await runner.start(journaled(journal, 'a', { stopMs: 20 }));
    await Promise.all([runner.stop(), runner.stop()]);
    await runner.stop();
    expect(journal).toEqual(['start a', 'stop a']);
    await expect(runner.start(journaled(journal, 'late'))).rejects.toThrow('stopping');
  });
});
