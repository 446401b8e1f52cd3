import { describe, expect, it } from 'vitest';
import { ScriptReplyError } from '../../src/redis/lua.js';
import { isDeterministicRedisError } from '../../src/redis/client.js';

/** An error reply as ioredis raises it (redis-errors' ReplyError). */
const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

describe('which Redis errors a stream batch retries', () => {
  it('gives up on what the same command will get again: script errors, wrong types, bad replies', () => {
    expect(isDeterministicRedisError(reply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(
      true,
    );
    expect(isDeterministicRedisError(reply('ERR user_script:12: attempt to compare nil with number script: …'))).toBe(
      true,
    );
    expect(isDeterministicRedisError(new ScriptReplyError('applyUser: expected a list'))).toBe(true);
  });

  it('keeps retrying connection failures and transient replies', () => {
    expect(isDeterministicRedisError(new Error('Connection is closed.'))).toBe(false);
    for (const message of [
      'OOM command not allowed when used memory > maxmemory',
      'BUSY Redis is busy running a script',
      'LOADING Redis is loading the dataset in memory',
      'READONLY You can not write against a read only replica.',
      'CLUSTERDOWN The cluster is down',
      'TRYAGAIN Multiple keys request during rehashing of slot',
    ])
      expect(isDeterministicRedisError(reply(message)), message).toBe(false);
    expect(isDeterministicRedisError('not an error')).toBe(false);
  });
});
