/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
  'mutation UpsertItems($inputs: [ItemInput!]!) {\n  upsertItems(inputs: $inputs) {\n    items {\n      id\n      category\n      tags\n      authorId\n      createdAt\n    }\n  }\n}\n\nmutation UpdateUserProfile($input: UserProfileInput!) {\n  updateUserProfile(input: $input) {\n    userId\n    interests\n    updatedAt\n  }\n}\n\nquery Trending($category: String, $first: Int) {\n  trending(category: $category, first: $first) {\n    id\n    category\n    trendingScore\n  }\n}': typeof types.UpsertItemsDocument;
  'query UserFeatures($userId: ID!) {\n  userFeatures(userId: $userId) {\n    userId\n    latestEventAt\n    windows {\n      window\n      counts {\n        category\n        action\n        count\n      }\n    }\n    tags {\n      tag\n      since\n      until\n      rule\n      reason\n      eventIds\n    }\n  }\n}': typeof types.UserFeaturesDocument;
  'mutation RecordInteraction($input: InteractionInput!) {\n  recordInteraction(input: $input) {\n    ...Recorded\n  }\n}\n\nmutation RecordInteractions($inputs: [InteractionInput!]!) {\n  recordInteractions(inputs: $inputs) {\n    acceptedCount\n    rejectedCount\n    results {\n      index\n      accepted\n      recorded {\n        ...Recorded\n      }\n      error {\n        code\n        message\n        field\n      }\n    }\n  }\n}\n\nmutation RecordInteractionCounts($inputs: [InteractionInput!]!) {\n  recordInteractions(inputs: $inputs) {\n    acceptedCount\n    rejectedCount\n  }\n}\n\nfragment Recorded on RecordInteractionPayload {\n  eventId\n  userId\n  partition\n  offset\n  occurredAt\n}': typeof types.RecordInteractionDocument;
  'subscription FeedUpdated($userId: ID, $first: Int) {\n  feedUpdated(userId: $userId, first: $first) {\n    trigger\n    triggerDetail\n    entered\n    left\n    feed {\n      computedAt\n      items {\n        rank\n        score\n        reasons\n        item {\n          id\n          category\n        }\n      }\n    }\n  }\n}\n\nsubscription TrendingUpdated($category: String, $first: Int) {\n  trendingUpdated(category: $category, first: $first) {\n    entered\n    left\n    items {\n      score\n      item {\n        id\n      }\n    }\n  }\n}': typeof types.FeedUpdatedDocument;
  'query Recommendations($userId: ID, $first: Int, $candidates: [ID!], $exclude: [ID!]) {\n  recommendations(\n    userId: $userId\n    first: $first\n    candidates: $candidates\n    exclude: $exclude\n  ) {\n    ...FeedSummary\n    items {\n      ...FeedEntry\n    }\n  }\n}\n\nquery RecommendedIds($userId: ID, $first: Int) {\n  recommendations(userId: $userId, first: $first) {\n    ...FeedSummary\n    items {\n      item {\n        id\n      }\n    }\n  }\n}\n\nquery Experiment {\n  experiment {\n    id\n    revision\n    arms {\n      name\n      share\n      modelVersion\n      servedVersion\n      feeds\n      impressions\n      clicks\n      likes\n      hides\n      ctr\n    }\n  }\n}\n\nfragment FeedSummary on Feed {\n  modelVersion\n  arm\n  computedAt\n  computeMs\n  degraded\n}\n\nfragment FeedEntry on FeedItem {\n  rank\n  score\n  reasons\n  item {\n    id\n    category\n    tags\n  }\n}': typeof types.RecommendationsDocument;
  'query Status {\n  status {\n    ready\n    dependencies {\n      name\n      up\n      detail\n    }\n  }\n}\n\nquery Ping {\n  __typename\n}': typeof types.StatusDocument;
};
const documents: Documents = {
  'mutation UpsertItems($inputs: [ItemInput!]!) {\n  upsertItems(inputs: $inputs) {\n    items {\n      id\n      category\n      tags\n      authorId\n      createdAt\n    }\n  }\n}\n\nmutation UpdateUserProfile($input: UserProfileInput!) {\n  updateUserProfile(input: $input) {\n    userId\n    interests\n    updatedAt\n  }\n}\n\nquery Trending($category: String, $first: Int) {\n  trending(category: $category, first: $first) {\n    id\n    category\n    trendingScore\n  }\n}':
    types.UpsertItemsDocument,
  'query UserFeatures($userId: ID!) {\n  userFeatures(userId: $userId) {\n    userId\n    latestEventAt\n    windows {\n      window\n      counts {\n        category\n        action\n        count\n      }\n    }\n    tags {\n      tag\n      since\n      until\n      rule\n      reason\n      eventIds\n    }\n  }\n}':
    types.UserFeaturesDocument,
  'mutation RecordInteraction($input: InteractionInput!) {\n  recordInteraction(input: $input) {\n    ...Recorded\n  }\n}\n\nmutation RecordInteractions($inputs: [InteractionInput!]!) {\n  recordInteractions(inputs: $inputs) {\n    acceptedCount\n    rejectedCount\n    results {\n      index\n      accepted\n      recorded {\n        ...Recorded\n      }\n      error {\n        code\n        message\n        field\n      }\n    }\n  }\n}\n\nmutation RecordInteractionCounts($inputs: [InteractionInput!]!) {\n  recordInteractions(inputs: $inputs) {\n    acceptedCount\n    rejectedCount\n  }\n}\n\nfragment Recorded on RecordInteractionPayload {\n  eventId\n  userId\n  partition\n  offset\n  occurredAt\n}':
    types.RecordInteractionDocument,
  'subscription FeedUpdated($userId: ID, $first: Int) {\n  feedUpdated(userId: $userId, first: $first) {\n    trigger\n    triggerDetail\n    entered\n    left\n    feed {\n      computedAt\n      items {\n        rank\n        score\n        reasons\n        item {\n          id\n          category\n        }\n      }\n    }\n  }\n}\n\nsubscription TrendingUpdated($category: String, $first: Int) {\n  trendingUpdated(category: $category, first: $first) {\n    entered\n    left\n    items {\n      score\n      item {\n        id\n      }\n    }\n  }\n}':
    types.FeedUpdatedDocument,
  'query Recommendations($userId: ID, $first: Int, $candidates: [ID!], $exclude: [ID!]) {\n  recommendations(\n    userId: $userId\n    first: $first\n    candidates: $candidates\n    exclude: $exclude\n  ) {\n    ...FeedSummary\n    items {\n      ...FeedEntry\n    }\n  }\n}\n\nquery RecommendedIds($userId: ID, $first: Int) {\n  recommendations(userId: $userId, first: $first) {\n    ...FeedSummary\n    items {\n      item {\n        id\n      }\n    }\n  }\n}\n\nquery Experiment {\n  experiment {\n    id\n    revision\n    arms {\n      name\n      share\n      modelVersion\n      servedVersion\n      feeds\n      impressions\n      clicks\n      likes\n      hides\n      ctr\n    }\n  }\n}\n\nfragment FeedSummary on Feed {\n  modelVersion\n  arm\n  computedAt\n  computeMs\n  degraded\n}\n\nfragment FeedEntry on FeedItem {\n  rank\n  score\n  reasons\n  item {\n    id\n    category\n    tags\n  }\n}':
    types.RecommendationsDocument,
  'query Status {\n  status {\n    ready\n    dependencies {\n      name\n      up\n      detail\n    }\n  }\n}\n\nquery Ping {\n  __typename\n}':
    types.StatusDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(
  source: 'mutation UpsertItems($inputs: [ItemInput!]!) {\n  upsertItems(inputs: $inputs) {\n    items {\n      id\n      category\n      tags\n      authorId\n      createdAt\n    }\n  }\n}\n\nmutation UpdateUserProfile($input: UserProfileInput!) {\n  updateUserProfile(input: $input) {\n    userId\n    interests\n    updatedAt\n  }\n}\n\nquery Trending($category: String, $first: Int) {\n  trending(category: $category, first: $first) {\n    id\n    category\n    trendingScore\n  }\n}',
): (typeof documents)['mutation UpsertItems($inputs: [ItemInput!]!) {\n  upsertItems(inputs: $inputs) {\n    items {\n      id\n      category\n      tags\n      authorId\n      createdAt\n    }\n  }\n}\n\nmutation UpdateUserProfile($input: UserProfileInput!) {\n  updateUserProfile(input: $input) {\n    userId\n    interests\n    updatedAt\n  }\n}\n\nquery Trending($category: String, $first: Int) {\n  trending(category: $category, first: $first) {\n    id\n    category\n    trendingScore\n  }\n}'];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(
  source: 'query UserFeatures($userId: ID!) {\n  userFeatures(userId: $userId) {\n    userId\n    latestEventAt\n    windows {\n      window\n      counts {\n        category\n        action\n        count\n      }\n    }\n    tags {\n      tag\n      since\n      until\n      rule\n      reason\n      eventIds\n    }\n  }\n}',
): (typeof documents)['query UserFeatures($userId: ID!) {\n  userFeatures(userId: $userId) {\n    userId\n    latestEventAt\n    windows {\n      window\n      counts {\n        category\n        action\n        count\n      }\n    }\n    tags {\n      tag\n      since\n      until\n      rule\n      reason\n      eventIds\n    }\n  }\n}'];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(
  source: 'mutation RecordInteraction($input: InteractionInput!) {\n  recordInteraction(input: $input) {\n    ...Recorded\n  }\n}\n\nmutation RecordInteractions($inputs: [InteractionInput!]!) {\n  recordInteractions(inputs: $inputs) {\n    acceptedCount\n    rejectedCount\n    results {\n      index\n      accepted\n      recorded {\n        ...Recorded\n      }\n      error {\n        code\n        message\n        field\n      }\n    }\n  }\n}\n\nmutation RecordInteractionCounts($inputs: [InteractionInput!]!) {\n  recordInteractions(inputs: $inputs) {\n    acceptedCount\n    rejectedCount\n  }\n}\n\nfragment Recorded on RecordInteractionPayload {\n  eventId\n  userId\n  partition\n  offset\n  occurredAt\n}',
): (typeof documents)['mutation RecordInteraction($input: InteractionInput!) {\n  recordInteraction(input: $input) {\n    ...Recorded\n  }\n}\n\nmutation RecordInteractions($inputs: [InteractionInput!]!) {\n  recordInteractions(inputs: $inputs) {\n    acceptedCount\n    rejectedCount\n    results {\n      index\n      accepted\n      recorded {\n        ...Recorded\n      }\n      error {\n        code\n        message\n        field\n      }\n    }\n  }\n}\n\nmutation RecordInteractionCounts($inputs: [InteractionInput!]!) {\n  recordInteractions(inputs: $inputs) {\n    acceptedCount\n    rejectedCount\n  }\n}\n\nfragment Recorded on RecordInteractionPayload {\n  eventId\n  userId\n  partition\n  offset\n  occurredAt\n}'];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(
  source: 'subscription FeedUpdated($userId: ID, $first: Int) {\n  feedUpdated(userId: $userId, first: $first) {\n    trigger\n    triggerDetail\n    entered\n    left\n    feed {\n      computedAt\n      items {\n        rank\n        score\n        reasons\n        item {\n          id\n          category\n        }\n      }\n    }\n  }\n}\n\nsubscription TrendingUpdated($category: String, $first: Int) {\n  trendingUpdated(category: $category, first: $first) {\n    entered\n    left\n    items {\n      score\n      item {\n        id\n      }\n    }\n  }\n}',
): (typeof documents)['subscription FeedUpdated($userId: ID, $first: Int) {\n  feedUpdated(userId: $userId, first: $first) {\n    trigger\n    triggerDetail\n    entered\n    left\n    feed {\n      computedAt\n      items {\n        rank\n        score\n        reasons\n        item {\n          id\n          category\n        }\n      }\n    }\n  }\n}\n\nsubscription TrendingUpdated($category: String, $first: Int) {\n  trendingUpdated(category: $category, first: $first) {\n    entered\n    left\n    items {\n      score\n      item {\n        id\n      }\n    }\n  }\n}'];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(
  source: 'query Recommendations($userId: ID, $first: Int, $candidates: [ID!], $exclude: [ID!]) {\n  recommendations(\n    userId: $userId\n    first: $first\n    candidates: $candidates\n    exclude: $exclude\n  ) {\n    ...FeedSummary\n    items {\n      ...FeedEntry\n    }\n  }\n}\n\nquery RecommendedIds($userId: ID, $first: Int) {\n  recommendations(userId: $userId, first: $first) {\n    ...FeedSummary\n    items {\n      item {\n        id\n      }\n    }\n  }\n}\n\nquery Experiment {\n  experiment {\n    id\n    revision\n    arms {\n      name\n      share\n      modelVersion\n      servedVersion\n      feeds\n      impressions\n      clicks\n      likes\n      hides\n      ctr\n    }\n  }\n}\n\nfragment FeedSummary on Feed {\n  modelVersion\n  arm\n  computedAt\n  computeMs\n  degraded\n}\n\nfragment FeedEntry on FeedItem {\n  rank\n  score\n  reasons\n  item {\n    id\n    category\n    tags\n  }\n}',
): (typeof documents)['query Recommendations($userId: ID, $first: Int, $candidates: [ID!], $exclude: [ID!]) {\n  recommendations(\n    userId: $userId\n    first: $first\n    candidates: $candidates\n    exclude: $exclude\n  ) {\n    ...FeedSummary\n    items {\n      ...FeedEntry\n    }\n  }\n}\n\nquery RecommendedIds($userId: ID, $first: Int) {\n  recommendations(userId: $userId, first: $first) {\n    ...FeedSummary\n    items {\n      item {\n        id\n      }\n    }\n  }\n}\n\nquery Experiment {\n  experiment {\n    id\n    revision\n    arms {\n      name\n      share\n      modelVersion\n      servedVersion\n      feeds\n      impressions\n      clicks\n      likes\n      hides\n      ctr\n    }\n  }\n}\n\nfragment FeedSummary on Feed {\n  modelVersion\n  arm\n  computedAt\n  computeMs\n  degraded\n}\n\nfragment FeedEntry on FeedItem {\n  rank\n  score\n  reasons\n  item {\n    id\n    category\n    tags\n  }\n}'];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(
  source: 'query Status {\n  status {\n    ready\n    dependencies {\n      name\n      up\n      detail\n    }\n  }\n}\n\nquery Ping {\n  __typename\n}',
): (typeof documents)['query Status {\n  status {\n    ready\n    dependencies {\n      name\n      up\n      detail\n    }\n  }\n}\n\nquery Ping {\n  __typename\n}'];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> =
  TDocumentNode extends DocumentNode<infer TType, any> ? TType : never;
