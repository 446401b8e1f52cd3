/** What GraphiQL shows on first load: a query that works against a fresh local stack. */
export const defaultQuery = `# Welcome to feedrec: real-time feed recommendations.
# Press the run button to check this instance's Kafka and Redis.

query Status {
  status {
    ready
    dependencies { name up detail }
  }
}
`;
