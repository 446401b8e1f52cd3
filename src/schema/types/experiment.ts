import { builder } from '../builder.js';
import { experiment, type ExperimentView } from '../../resolvers/queries/experiment.js';
import type { ArmReport } from '../../experiments/report.js';

type ArmShape = ArmReport & { servedVersion: string | null };

const ExperimentArm = builder.objectRef<ArmShape>('ExperimentArm').implement({
  description:
    "One arm of the experiment: its share of users, its model, and what that model's feeds earned (impressions and the clicks, likes and hides that followed them within the attribution window).",
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The arm, e.g. "control" or "treatment".' }),
    share: t.exposeFloat('share', { description: 'Fraction of users assigned to it, from 0 to 1.' }),
    modelVersion: t.exposeString('modelVersion', { description: 'The model version the registry names for it.' }),
    servedVersion: t.string({
      nullable: true,
      description: 'The version this API instance serves in it right now (differs from modelVersion until it reloads).',
      resolve: (a) => a.servedVersion,
    }),
    feeds: t.exposeInt('feeds', { description: 'Feeds computed by this arm and model version.' }),
    impressions: t.exposeInt('impressions', { description: 'Items shown in those feeds.' }),
    clicks: t.exposeInt('clicks', { description: 'Shown items the user clicked (once per impression).' }),
    likes: t.exposeInt('likes', { description: 'Shown items the user liked.' }),
    hides: t.exposeInt('hides', { description: 'Shown items the user hid ("not interested").' }),
    ctr: t.exposeFloat('ctr', { nullable: true, description: 'Clicks per impression; null before any impression.' }),
  }),
});

const Experiment = builder.objectRef<ExperimentView>('Experiment').implement({
  description: 'The running model experiment: which model each arm serves and how each arm does.',
  fields: (t) => ({
    id: t.exposeString('id', { description: 'Part of the assignment hash: a new id reshuffles users between arms.' }),
    revision: t.exposeInt('revision', { description: 'Increases with every change of arms, shares or versions.' }),
    updatedAt: t.field({
      type: 'DateTime',
      description: 'When it last changed.',
      resolve: (e) => new Date(e.updatedAt),
    }),
    arms: t.field({
      type: [ExperimentArm],
      description: 'The arms, in assignment order.',
      resolve: (e) => e.arms.map((a) => ({ ...a, servedVersion: e.served.get(a.name) ?? null })),
    }),
  }),
});

builder.queryField('experiment', (t) =>
  t.field({
    type: Experiment,
    nullable: true,
    description:
      'The model experiment and its per-arm numbers (service callers only); null before any model was activated.',
    resolve: (_root, _args, ctx) => experiment(ctx),
  }),
);
