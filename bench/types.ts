export interface BenchContext {
  /** The service's GraphQL endpoint. */
  url: string;
  /** A bare graphql-yoga endpoint with fixed answers, for throughput ratios. */
  referenceUrl: string;
  brokers: string[];
  redisUrl: string;
  /** The topic and key prefix the service under test uses. */
  prefix: string;
  quick: boolean;
}

export interface Row {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  /** The same quantity measured for a reference in the same run. */
  reference?: { name: string; value: number };
  runs?: number[];
}

export interface Scenario {
  group: string;
  name: string;
  run(ctx: BenchContext): Promise<Row[]>;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
