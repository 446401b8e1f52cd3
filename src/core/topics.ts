/**
 * Every Kafka topic name, in one place. A deployment (or a test file) may prefix them so that
 * several environments share one cluster without colliding.
 */
export interface Topics {
  /** Behaviour events, keyed by userId so one user's events stay in order on one partition. */
  behavior: string;
  /** Behaviour records the stream worker could not decode, with the reason in a header. */
  behaviorDeadLetter: string;
  /** Item catalogue upserts, keyed by itemId; log-compacted (latest version per item). */
  items: string;
  /** Declared user interests, keyed by userId; log-compacted. */
  profiles: string;
  /** Served feeds with the feature vectors the model saw: the training data. */
  impressions: string;
}

export function topicNames(prefix = ''): Topics {
  return {
    behavior: `${prefix}user_behavior`,
    behaviorDeadLetter: `${prefix}user_behavior.dlq`,
    items: `${prefix}item_catalog`,
    profiles: `${prefix}user_profiles`,
    impressions: `${prefix}impressions`,
  };
}

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  configEntries: { name: string; value: string }[];
}

/** What the service creates at start-up when missing. */
export function topicSpecs(topics: Topics, partitions: number, replicationFactor: number): TopicSpec[] {
  const retained = (days: number) => [{ name: 'retention.ms', value: String(days * 24 * 3600 * 1000) }];
  const compacted = [{ name: 'cleanup.policy', value: 'compact' }];
  return [
    { topic: topics.behavior, numPartitions: partitions, replicationFactor, configEntries: retained(30) },
    { topic: topics.behaviorDeadLetter, numPartitions: 1, replicationFactor, configEntries: retained(30) },
    { topic: topics.items, numPartitions: partitions, replicationFactor, configEntries: compacted },
    { topic: topics.profiles, numPartitions: partitions, replicationFactor, configEntries: compacted },
    { topic: topics.impressions, numPartitions: partitions, replicationFactor, configEntries: retained(30) },
  ];
}
