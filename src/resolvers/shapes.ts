/**
 * What resolvers return, in the form the schema's object types expose. Resolvers own these shapes;
 * the schema imports them (never the other way round).
 */
import type { ItemFeatures } from '../features/item-features.js';

/** An accepted interaction: where Kafka stored it. */
export interface RecordedShape {
  eventId: string;
  userId: string;
  partition: number;
  offset: string;
  occurredAt: Date;
}

/** Why one entry of a batch was rejected. */
export interface InputErrorShape {
  code: string;
  message: string;
  field: string | null;
}

/** One entry of a batch: recorded, or rejected with an error. */
export interface InteractionResultShape {
  index: number;
  recorded: RecordedShape | null;
  error: InputErrorShape | null;
}

export interface ItemShape {
  id: string;
  category: string | null;
  tags: string[];
  authorId: string | null;
  createdAt: Date | null;
  /** Decayed popularity, when the item was read from the feature store. */
  popularity?: number | null;
  /** The item's trending score, when it was read from a trending list. */
  trendingScore?: number | null;
}

/** The GraphQL view of an item read from the feature store. */
export const itemShape = (f: ItemFeatures): ItemShape => ({
  id: f.itemId,
  category: f.category,
  tags: f.tags,
  authorId: f.authorId,
  createdAt: f.createdAt === null ? null : new Date(f.createdAt),
  popularity: f.known ? f.popularity : null,
});
