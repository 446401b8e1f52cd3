import type { Redis } from 'ioredis';
import type { Authenticate } from './auth/viewer.js';
import type { Config } from './config.js';
import type { Ingest } from './ingest/interactions.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { RedisKeys } from './core/keys.js';
import type { Admin, Kafka } from './streams/kafka.js';
import type { IngestProducer } from './streams/producer.js';
import type { Topics } from './core/topics.js';
import type { FeedCache } from './ranking/cache.js';
import type { ModelArms } from './ranking/model-arms.js';
import type { Ranker } from './ranking/ranker.js';
import type { TrendingCache } from './ranking/recall.js';
import type { ItemCache } from './features/item-features.js';
import type { LiveHub } from './live/hub.js';

export interface DependencyCheck {
  name: 'kafka' | 'redis';
  up: boolean;
  detail?: string;
}

/** The long-lived parts an app instance shares between requests (never per-user state). */
export interface Services {
  config: Config;
  log: Logger;
  metrics: Metrics;
  topics: Topics;
  keys: RedisKeys;
  kafka: Kafka;
  admin: Admin;
  redis: Redis;
  producer: IngestProducer;
  ingest: Ingest;
  authenticate: Authenticate;
  /** Set in start(), before the server listens. */
  ranking: { ranker: Ranker; cache: FeedCache; models: ModelArms; trending: TrendingCache; items: ItemCache };
  /** Live feed and trending subscribers of this instance; set in start(), like `ranking`. */
  live: LiveHub;
  /** Checks Kafka and Redis within the readiness timeout. */
  readiness(): Promise<DependencyCheck[]>;
}
