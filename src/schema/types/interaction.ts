import type { InputErrorShape, InteractionResultShape, RecordedShape } from '../../resolvers/shapes.js';
import { builder } from '../builder.js';
import { recordInteraction, recordInteractions } from '../../resolvers/mutations/record-interaction.js';

export const InteractionAction = builder.enumType('InteractionAction', {
  description: 'What a user did with an item. SKIP and HIDE are negative signals; a hidden item is never shown again.',
  values: {
    VIEW: { description: 'The item was on screen long enough to count as seen.' },
    CLICK: { description: 'The user opened the item.' },
    LIKE: { description: 'The user liked the item.' },
    COMMENT: { description: 'The user commented on the item.' },
    SHARE: { description: 'The user shared the item: the strongest positive signal.' },
    SKIP: { description: 'The user scrolled past quickly: counts against the item and its category.' },
    HIDE: { description: '"Not interested": the item is never recommended to this user again.' },
  } as const,
});

export const InteractionInput = builder.inputType('InteractionInput', {
  description: 'One behaviour event, as the client saw it happen.',
  fields: (t) => ({
    eventId: t.id({
      required: false,
      description:
        'Idempotency key: send the same eventId when retrying and the event counts once. Generated when omitted.',
    }),
    userId: t.id({
      required: false,
      description: 'Whose behaviour this is. Defaults to the viewer; only a service may name another user.',
    }),
    itemId: t.id({ required: true, description: 'The item acted on.' }),
    action: t.field({ type: InteractionAction, required: true, description: 'What the user did.' }),
    occurredAt: t.field({
      type: 'DateTime',
      required: false,
      description: 'When it happened (event time). Defaults to now; at most 7 days old and 5 minutes ahead.',
    }),
  }),
});

const RecordInteractionPayload = builder.objectRef<RecordedShape>('RecordInteractionPayload').implement({
  description: 'The event is durable in Kafka (acknowledged by all in-sync replicas).',
  fields: (t) => ({
    eventId: t.exposeID('eventId', { description: 'The idempotency key the event was stored with.' }),
    userId: t.exposeID('userId', { description: 'The user the event was recorded for.' }),
    partition: t.exposeInt('partition', {
      description: 'Kafka partition of the behaviour topic that holds the event.',
    }),
    offset: t.exposeString('offset', {
      description: 'Kafka offset of the event in that partition (a 64-bit integer, as a string).',
    }),
    occurredAt: t.field({ type: 'DateTime', description: 'The event time used.', resolve: (p) => p.occurredAt }),
  }),
});

export const InputError = builder.objectRef<InputErrorShape>('InputError').implement({
  description: 'Why one entry of a batch was rejected. A rejected entry writes nothing.',
  fields: (t) => ({
    code: t.exposeString('code', { description: 'Stable code to branch on: BAD_USER_INPUT or FORBIDDEN.' }),
    message: t.exposeString('message', { description: 'What is wrong, for people.' }),
    field: t.exposeString('field', { nullable: true, description: 'The input field at fault, when one is.' }),
  }),
});

const InteractionResult = builder.objectRef<InteractionResultShape>('InteractionResult').implement({
  description: 'The outcome of one entry of recordInteractions, in input order.',
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Position of the entry in the input list.' }),
    accepted: t.boolean({
      description: 'True when the event is durable in Kafka.',
      resolve: (r) => r.recorded !== null,
    }),
    recorded: t.field({
      type: RecordInteractionPayload,
      nullable: true,
      description: 'Where the event was stored, when accepted.',
      resolve: (r) => r.recorded,
    }),
    error: t.field({
      type: InputError,
      nullable: true,
      description: 'Why it was rejected, when it was.',
      resolve: (r) => r.error,
    }),
  }),
});

const RecordInteractionsPayload = builder
  .objectRef<{ results: InteractionResultShape[] }>('RecordInteractionsPayload')
  .implement({
    description: 'Per-entry results of a batch: valid entries are durable, invalid ones wrote nothing.',
    fields: (t) => ({
      results: t.field({
        type: [InteractionResult],
        description: 'One result per input entry, in input order.',
        resolve: (p) => p.results,
      }),
      acceptedCount: t.int({
        description: 'Entries now durable in Kafka.',
        resolve: (p) => p.results.filter((r) => r.recorded).length,
      }),
      rejectedCount: t.int({
        description: 'Entries rejected (see their error).',
        resolve: (p) => p.results.filter((r) => r.error).length,
      }),
    }),
  });

builder.mutationField('recordInteraction', (t) =>
  t.field({
    type: RecordInteractionPayload,
    description:
      "Records one behaviour event. Resolves once it is durable in Kafka; the viewer's features and feed reflect it shortly after.",
    args: { input: t.arg({ type: InteractionInput, required: true, description: 'The event.' }) },
    resolve: (_root, args, ctx) => recordInteraction(ctx, args.input),
  }),
);

builder.mutationField('recordInteractions', (t) =>
  t.field({
    type: RecordInteractionsPayload,
    description:
      'Records up to 500 events in one request, with a result per entry. Invalid entries are rejected individually.',
    args: {
      inputs: t.arg({
        type: [InteractionInput],
        required: true,
        description: 'The events, in the order they happened.',
      }),
    },
    resolve: (_root, args, ctx) => recordInteractions(ctx, args.inputs),
  }),
);
