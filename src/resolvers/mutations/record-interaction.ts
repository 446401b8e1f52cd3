import { actingUser } from '../../auth/viewer.js';
import type { GraphQLContext } from '../../context.js';
import { AppError } from '../../core/errors.js';
import type { InteractionRequest } from '../../ingest/interactions.js';
import type { BehaviorEvent } from '../../core/events.js';
import type { Produced } from '../../streams/producer.js';
import type { InteractionResultShape, RecordedShape } from '../shapes.js';

interface InteractionArgs {
  eventId?: string | null;
  userId?: string | null;
  itemId: string;
  action: string;
  occurredAt?: Date | null;
}

const toRequest = (ctx: GraphQLContext, input: InteractionArgs): InteractionRequest => ({
  ...input,
  userId: actingUser(ctx.viewer, input.userId),
});

export async function recordInteraction(ctx: GraphQLContext, input: InteractionArgs): Promise<RecordedShape> {
  const [outcome] = await ctx.domain.ingest.recordInteractions([toRequest(ctx, input)]);
  if (!outcome) throw new AppError('INTERNAL_SERVER_ERROR', 'no outcome for the event');
  if (!outcome.ok) throw outcome.error;
  return recorded(outcome);
}

const recorded = ({ event, produced }: { event: BehaviorEvent; produced: Produced }): RecordedShape => ({
  eventId: event.eventId,
  userId: event.userId,
  partition: produced.partition,
  offset: produced.offset,
  occurredAt: new Date(event.occurredAt),
});

const inputError = (error: AppError) => ({
  code: error.code,
  message: error.message,
  field: error.details.field ?? null,
});

export async function recordInteractions(ctx: GraphQLContext, inputs: InteractionArgs[]) {
  // An entry for a user the viewer may not act for is rejected on its own, like an invalid one.
  const refused = new Map<number, AppError>();
  const requests: InteractionRequest[] = [];
  const positions: number[] = [];
  inputs.forEach((input, index) => {
    try {
      requests.push(toRequest(ctx, input));
      positions.push(index);
    } catch (error) {
      if (!(error instanceof AppError) || error.code === 'UNAUTHENTICATED') throw error;
      refused.set(index, error);
    }
  });
  const outcomes = await ctx.domain.ingest.recordInteractions(requests).catch((error: unknown) => {
    throw byInputPosition(error, positions, inputs.length);
  });
  const results: InteractionResultShape[] = inputs.map((_, index) => ({ index, recorded: null, error: null }));
  for (const [index, error] of refused) {
    results[index] = {
      index,
      recorded: null,
      error: inputError(error),
    };
  }
  outcomes.forEach((outcome, i) => {
    const index = positions[i] ?? 0;
    results[index] = outcome.ok
      ? { index, error: null, recorded: recorded(outcome) }
      : {
          index,
          recorded: null,
          error: inputError(outcome.error),
        };
  });
  return { results };
}

/** A failure's per-entry eventIds, re-indexed from the entries sent on to the inputs as given. */
function byInputPosition(error: unknown, positions: readonly number[], inputs: number): unknown {
  if (!(error instanceof AppError) || !Array.isArray(error.details.eventIds)) return error;
  const sent = error.details.eventIds as unknown[];
  const eventIds = Array.from({ length: inputs }, (): unknown => null);
  positions.forEach((position, i) => (eventIds[position] = sent[i] ?? null));
  return new AppError(error.code, error.message, { ...error.details, eventIds });
}
