import { builder } from '../builder.js';
import { serviceStatus } from '../../resolvers/queries/status.js';

const DependencyStatus = builder.objectRef<{ name: string; up: boolean; detail: string | null }>('DependencyStatus');
DependencyStatus.implement({
  description: 'Whether one backing system (Kafka or Redis) answered the last check.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The dependency: "kafka" or "redis".' }),
    up: t.exposeBoolean('up', { description: 'True when it answered within the readiness timeout.' }),
    detail: t.exposeString('detail', {
      nullable: true,
      description:
        'What answered when it is up (its topology: brokers and replication, one Redis or a Redis Cluster of so many masters and replicas); why it is down when it is not. For service callers only (null for everyone else).',
    }),
  }),
});

const ServiceStatus = builder.objectRef<{
  ready: boolean;
  dependencies: { name: string; up: boolean; detail: string | null }[];
}>('ServiceStatus');
ServiceStatus.implement({
  description: 'What this API instance can reach right now (the same check as GET /readyz).',
  fields: (t) => ({
    ready: t.exposeBoolean('ready', { description: 'True when every dependency is up.' }),
    dependencies: t.field({
      type: [DependencyStatus],
      description: 'One entry per backing system.',
      resolve: (s) => s.dependencies,
    }),
  }),
});

builder.queryField('status', (t) =>
  t.field({
    type: ServiceStatus,
    description: 'Health of this API instance and its Kafka and Redis connections.',
    resolve: (_root, _args, ctx) => serviceStatus(ctx),
  }),
);
