/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
/** Why a feed was pushed. The values are lower case, as the strings this field carried before it was an enum. */
export type FeedTrigger =
  /** A batch job recomputed features, e.g. the daily long-horizon preferences (`triggerDetail`: the run). */
  | 'batch'
  /** The user's behaviour (their recorded interactions) changed their features, and with them the feed's items or order. */
  | 'behaviour'
  /** The experiment changed without a new version, e.g. arm shares or a promotion (`triggerDetail`: `experiment <id> revision <n>`). */
  | 'experiment'
  /** This instance started serving another model version (`triggerDetail`: the version, or `arm version` pairs). */
  | 'model'
  /** The feed at subscription time: the first payload of every subscription. */
  | 'subscribed'
  /** A behaviour pattern set or withdrew a tag on the user (`triggerDetail` names it, e.g. `pet_lover set`). Pushed even when the items stay the same: the tag shows in the reasons and the user features. */
  | 'tag';

/** What a user did with an item. SKIP and HIDE are negative signals; a hidden item is never shown again. */
export type InteractionAction =
  /** The user opened the item. */
  | 'CLICK'
  /** The user commented on the item. */
  | 'COMMENT'
  /** "Not interested": the item is never recommended to this user again. */
  | 'HIDE'
  /** The user liked the item. */
  | 'LIKE'
  /** The user shared the item: the strongest positive signal. */
  | 'SHARE'
  /** The user scrolled past quickly: counts against the item and its category. */
  | 'SKIP'
  /** The item was on screen long enough to count as seen. */
  | 'VIEW';

/** One behaviour event, as the client saw it happen. */
export type InteractionInput = {
  /** What the user did. */
  action: InteractionAction;
  /** Idempotency key: send the same eventId when retrying and the event counts once. Generated when omitted. */
  eventId?: string | null | undefined;
  /** The item acted on. */
  itemId: string;
  /** When it happened (event time). Defaults to now; at most 7 days old and 5 minutes ahead. */
  occurredAt?: string | null | undefined;
  /** Whose behaviour this is. Defaults to the viewer; only a service may name another user. */
  userId?: string | null | undefined;
};

/** A catalogue entry to create or replace. */
export type ItemInput = {
  /** Who published it. */
  authorId?: string | null | undefined;
  /** The category (an id-like name such as "pets"). */
  category?: string | null | undefined;
  /** When it was published. Omitted: its age is unknown, and it is never treated as new (no exploration slot). */
  createdAt?: string | null | undefined;
  /** The catalogue id. */
  id: string;
  /** Up to 32 tags. */
  tags?: Array<string> | null | undefined;
};

/** Interests a user declares, e.g. at sign-up. */
export type UserProfileInput = {
  /** Up to 32 categories, e.g. ["pets", "travel"]. */
  interests: Array<string>;
  /** Defaults to the viewer; only a service may name another user. */
  userId?: string | null | undefined;
};

export type UpsertItemsMutationVariables = Exact<{
  inputs: Array<ItemInput> | ItemInput;
}>;

export type UpsertItemsMutation = {
  upsertItems: {
    items: Array<{
      id: string;
      category: string | null;
      tags: Array<string>;
      authorId: string | null;
      createdAt: string | null;
    }>;
  };
};

export type UpdateUserProfileMutationVariables = Exact<{
  input: UserProfileInput;
}>;

export type UpdateUserProfileMutation = {
  updateUserProfile: { userId: string; interests: Array<string>; updatedAt: string };
};

export type TrendingQueryVariables = Exact<{
  category?: string | null | undefined;
  first?: number | null | undefined;
}>;

export type TrendingQuery = { trending: Array<{ id: string; category: string | null; trendingScore: number | null }> };

export type UserFeaturesQueryVariables = Exact<{
  userId: string;
}>;

export type UserFeaturesQuery = {
  userFeatures: {
    userId: string;
    latestEventAt: string | null;
    windows: Array<{ window: string; counts: Array<{ category: string; action: InteractionAction; count: number }> }>;
    tags: Array<{ tag: string; since: string; until: string; rule: string; reason: string; eventIds: Array<string> }>;
  };
};

export type RecordInteractionMutationVariables = Exact<{
  input: InteractionInput;
}>;

export type RecordInteractionMutation = {
  recordInteraction: { eventId: string; userId: string; partition: number; offset: string; occurredAt: string };
};

export type RecordInteractionsMutationVariables = Exact<{
  inputs: Array<InteractionInput> | InteractionInput;
}>;

export type RecordInteractionsMutation = {
  recordInteractions: {
    acceptedCount: number;
    rejectedCount: number;
    results: Array<{
      index: number;
      accepted: boolean;
      recorded: { eventId: string; userId: string; partition: number; offset: string; occurredAt: string } | null;
      error: { code: string; message: string; field: string | null } | null;
    }>;
  };
};

export type RecordInteractionCountsMutationVariables = Exact<{
  inputs: Array<InteractionInput> | InteractionInput;
}>;

export type RecordInteractionCountsMutation = { recordInteractions: { acceptedCount: number; rejectedCount: number } };

export type RecordedFragment = {
  eventId: string;
  userId: string;
  partition: number;
  offset: string;
  occurredAt: string;
};

export type FeedUpdatedSubscriptionVariables = Exact<{
  userId?: string | null | undefined;
  first?: number | null | undefined;
}>;

export type FeedUpdatedSubscription = {
  feedUpdated: {
    trigger: FeedTrigger;
    triggerDetail: string | null;
    entered: Array<string>;
    left: Array<string>;
    feed: {
      computedAt: string;
      items: Array<{
        rank: number;
        score: number;
        reasons: Array<string>;
        item: { id: string; category: string | null };
      }>;
    };
  };
};

export type TrendingUpdatedSubscriptionVariables = Exact<{
  category?: string | null | undefined;
  first?: number | null | undefined;
}>;

export type TrendingUpdatedSubscription = {
  trendingUpdated: {
    entered: Array<string>;
    left: Array<string>;
    items: Array<{ score: number; item: { id: string } }>;
  };
};

export type RecommendationsQueryVariables = Exact<{
  userId?: string | null | undefined;
  first?: number | null | undefined;
  candidates?: Array<string> | string | null | undefined;
  exclude?: Array<string> | string | null | undefined;
}>;

export type RecommendationsQuery = {
  recommendations: {
    modelVersion: string;
    arm: string | null;
    computedAt: string;
    computeMs: number;
    degraded: boolean;
    items: Array<{
      rank: number;
      score: number;
      reasons: Array<string>;
      item: { id: string; category: string | null; tags: Array<string> };
    }>;
  };
};

export type RecommendedIdsQueryVariables = Exact<{
  userId?: string | null | undefined;
  first?: number | null | undefined;
}>;

export type RecommendedIdsQuery = {
  recommendations: {
    modelVersion: string;
    arm: string | null;
    computedAt: string;
    computeMs: number;
    degraded: boolean;
    items: Array<{ item: { id: string } }>;
  };
};

export type ExperimentQueryVariables = Exact<{ [key: string]: never }>;

export type ExperimentQuery = {
  experiment: {
    id: string;
    revision: number;
    arms: Array<{
      name: string;
      share: number;
      modelVersion: string;
      servedVersion: string | null;
      feeds: number;
      impressions: number;
      clicks: number;
      likes: number;
      hides: number;
      ctr: number | null;
    }>;
  } | null;
};

export type FeedSummaryFragment = {
  modelVersion: string;
  arm: string | null;
  computedAt: string;
  computeMs: number;
  degraded: boolean;
};

export type FeedEntryFragment = {
  rank: number;
  score: number;
  reasons: Array<string>;
  item: { id: string; category: string | null; tags: Array<string> };
};

export type StatusQueryVariables = Exact<{ [key: string]: never }>;

export type StatusQuery = {
  status: { ready: boolean; dependencies: Array<{ name: string; up: boolean; detail: string | null }> };
};

export type PingQueryVariables = Exact<{ [key: string]: never }>;

export type PingQuery = { __typename: 'Query' };

export const RecordedFragmentDoc = {
  kind: 'Document',
  definitions: [
    {
      kind: 'FragmentDefinition',
      name: { kind: 'Name', value: 'Recorded' },
      typeCondition: { kind: 'NamedType', name: { kind: 'Name', value: 'RecordInteractionPayload' } },
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          { kind: 'Field', name: { kind: 'Name', value: 'eventId' } },
          { kind: 'Field', name: { kind: 'Name', value: 'userId' } },
          { kind: 'Field', name: { kind: 'Name', value: 'partition' } },
          { kind: 'Field', name: { kind: 'Name', value: 'offset' } },
          { kind: 'Field', name: { kind: 'Name', value: 'occurredAt' } },
        ],
      },
    },
  ],
} as unknown as DocumentNode<RecordedFragment, unknown>;
export const FeedSummaryFragmentDoc = {
  kind: 'Document',
  definitions: [
    {
      kind: 'FragmentDefinition',
      name: { kind: 'Name', value: 'FeedSummary' },
      typeCondition: { kind: 'NamedType', name: { kind: 'Name', value: 'Feed' } },
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          { kind: 'Field', name: { kind: 'Name', value: 'modelVersion' } },
          { kind: 'Field', name: { kind: 'Name', value: 'arm' } },
          { kind: 'Field', name: { kind: 'Name', value: 'computedAt' } },
          { kind: 'Field', name: { kind: 'Name', value: 'computeMs' } },
          { kind: 'Field', name: { kind: 'Name', value: 'degraded' } },
        ],
      },
    },
  ],
} as unknown as DocumentNode<FeedSummaryFragment, unknown>;
export const FeedEntryFragmentDoc = {
  kind: 'Document',
  definitions: [
    {
      kind: 'FragmentDefinition',
      name: { kind: 'Name', value: 'FeedEntry' },
      typeCondition: { kind: 'NamedType', name: { kind: 'Name', value: 'FeedItem' } },
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          { kind: 'Field', name: { kind: 'Name', value: 'rank' } },
          { kind: 'Field', name: { kind: 'Name', value: 'score' } },
          { kind: 'Field', name: { kind: 'Name', value: 'reasons' } },
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'item' },
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'Field', name: { kind: 'Name', value: 'id' } },
                { kind: 'Field', name: { kind: 'Name', value: 'category' } },
                { kind: 'Field', name: { kind: 'Name', value: 'tags' } },
              ],
            },
          },
        ],
      },
    },
  ],
} as unknown as DocumentNode<FeedEntryFragment, unknown>;
export const UpsertItemsDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'mutation',
      name: { kind: 'Name', value: 'UpsertItems' },
      variableDefinitions: [
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'inputs' } },
          type: {
            kind: 'NonNullType',
            type: {
              kind: 'ListType',
              type: { kind: 'NonNullType', type: { kind: 'NamedType', name: { kind: 'Name', value: 'ItemInput' } } },
            },
          },
        },
      ],
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'upsertItems' },
            arguments: [
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'inputs' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'inputs' } },
              },
            ],
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                {
                  kind: 'Field',
                  name: { kind: 'Name', value: 'items' },
                  selectionSet: {
                    kind: 'SelectionSet',
                    selections: [
                      { kind: 'Field', name: { kind: 'Name', value: 'id' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'category' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'tags' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'authorId' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'createdAt' } },
                    ],
                  },
                },
              ],
            },
          },
        ],
      },
    },
  ],
} as unknown as DocumentNode<UpsertItemsMutation, UpsertItemsMutationVariables>;
export const UpdateUserProfileDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'mutation',
      name: { kind: 'Name', value: 'UpdateUserProfile' },
      variableDefinitions: [
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'input' } },
          type: { kind: 'NonNullType', type: { kind: 'NamedType', name: { kind: 'Name', value: 'UserProfileInput' } } },
        },
      ],
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'updateUserProfile' },
            arguments: [
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'input' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'input' } },
              },
            ],
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'Field', name: { kind: 'Name', value: 'userId' } },
                { kind: 'Field', name: { kind: 'Name', value: 'interests' } },
                { kind: 'Field', name: { kind: 'Name', value: 'updatedAt' } },
              ],
            },
          },
        ],
      },
    },
  ],
} as unknown as DocumentNode<UpdateUserProfileMutation, UpdateUserProfileMutationVariables>;
export const TrendingDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'query',
      name: { kind: 'Name', value: 'Trending' },
      variableDefinitions: [
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'category' } },
          type: { kind: 'NamedType', name: { kind: 'Name', value: 'String' } },
        },
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'first' } },
          type: { kind: 'NamedType', name: { kind: 'Name', value: 'Int' } },
        },
      ],
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'trending' },
            arguments: [
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'category' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'category' } },
              },
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'first' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'first' } },
              },
            ],
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'Field', name: { kind: 'Name', value: 'id' } },
                { kind: 'Field', name: { kind: 'Name', value: 'category' } },
                { kind: 'Field', name: { kind: 'Name', value: 'trendingScore' } },
              ],
            },
          },
        ],
      },
    },
  ],
} as unknown as DocumentNode<TrendingQuery, TrendingQueryVariables>;
export const UserFeaturesDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'query',
      name: { kind: 'Name', value: 'UserFeatures' },
      variableDefinitions: [
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'userId' } },
          type: { kind: 'NonNullType', type: { kind: 'NamedType', name: { kind: 'Name', value: 'ID' } } },
        },
      ],
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'userFeatures' },
            arguments: [
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'userId' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'userId' } },
              },
            ],
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'Field', name: { kind: 'Name', value: 'userId' } },
                { kind: 'Field', name: { kind: 'Name', value: 'latestEventAt' } },
                {
                  kind: 'Field',
                  name: { kind: 'Name', value: 'windows' },
                  selectionSet: {
                    kind: 'SelectionSet',
                    selections: [
                      { kind: 'Field', name: { kind: 'Name', value: 'window' } },
                      {
                        kind: 'Field',
                        name: { kind: 'Name', value: 'counts' },
                        selectionSet: {
                          kind: 'SelectionSet',
                          selections: [
                            { kind: 'Field', name: { kind: 'Name', value: 'category' } },
                            { kind: 'Field', name: { kind: 'Name', value: 'action' } },
                            { kind: 'Field', name: { kind: 'Name', value: 'count' } },
                          ],
                        },
                      },
                    ],
                  },
                },
                {
                  kind: 'Field',
                  name: { kind: 'Name', value: 'tags' },
                  selectionSet: {
                    kind: 'SelectionSet',
                    selections: [
                      { kind: 'Field', name: { kind: 'Name', value: 'tag' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'since' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'until' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'rule' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'reason' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'eventIds' } },
                    ],
                  },
                },
              ],
            },
          },
        ],
      },
    },
  ],
} as unknown as DocumentNode<UserFeaturesQuery, UserFeaturesQueryVariables>;
export const RecordInteractionDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'mutation',
      name: { kind: 'Name', value: 'RecordInteraction' },
      variableDefinitions: [
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'input' } },
          type: { kind: 'NonNullType', type: { kind: 'NamedType', name: { kind: 'Name', value: 'InteractionInput' } } },
        },
      ],
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'recordInteraction' },
            arguments: [
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'input' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'input' } },
              },
            ],
            selectionSet: {
              kind: 'SelectionSet',
              selections: [{ kind: 'FragmentSpread', name: { kind: 'Name', value: 'Recorded' } }],
            },
          },
        ],
      },
    },
    {
      kind: 'FragmentDefinition',
      name: { kind: 'Name', value: 'Recorded' },
      typeCondition: { kind: 'NamedType', name: { kind: 'Name', value: 'RecordInteractionPayload' } },
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          { kind: 'Field', name: { kind: 'Name', value: 'eventId' } },
          { kind: 'Field', name: { kind: 'Name', value: 'userId' } },
          { kind: 'Field', name: { kind: 'Name', value: 'partition' } },
          { kind: 'Field', name: { kind: 'Name', value: 'offset' } },
          { kind: 'Field', name: { kind: 'Name', value: 'occurredAt' } },
        ],
      },
    },
  ],
} as unknown as DocumentNode<RecordInteractionMutation, RecordInteractionMutationVariables>;
export const RecordInteractionsDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'mutation',
      name: { kind: 'Name', value: 'RecordInteractions' },
      variableDefinitions: [
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'inputs' } },
          type: {
            kind: 'NonNullType',
            type: {
              kind: 'ListType',
              type: {
                kind: 'NonNullType',
                type: { kind: 'NamedType', name: { kind: 'Name', value: 'InteractionInput' } },
              },
            },
          },
        },
      ],
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'recordInteractions' },
            arguments: [
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'inputs' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'inputs' } },
              },
            ],
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'Field', name: { kind: 'Name', value: 'acceptedCount' } },
                { kind: 'Field', name: { kind: 'Name', value: 'rejectedCount' } },
                {
                  kind: 'Field',
                  name: { kind: 'Name', value: 'results' },
                  selectionSet: {
                    kind: 'SelectionSet',
                    selections: [
                      { kind: 'Field', name: { kind: 'Name', value: 'index' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'accepted' } },
                      {
                        kind: 'Field',
                        name: { kind: 'Name', value: 'recorded' },
                        selectionSet: {
                          kind: 'SelectionSet',
                          selections: [{ kind: 'FragmentSpread', name: { kind: 'Name', value: 'Recorded' } }],
                        },
                      },
                      {
                        kind: 'Field',
                        name: { kind: 'Name', value: 'error' },
                        selectionSet: {
                          kind: 'SelectionSet',
                          selections: [
                            { kind: 'Field', name: { kind: 'Name', value: 'code' } },
                            { kind: 'Field', name: { kind: 'Name', value: 'message' } },
                            { kind: 'Field', name: { kind: 'Name', value: 'field' } },
                          ],
                        },
                      },
                    ],
                  },
                },
              ],
            },
          },
        ],
      },
    },
    {
      kind: 'FragmentDefinition',
      name: { kind: 'Name', value: 'Recorded' },
      typeCondition: { kind: 'NamedType', name: { kind: 'Name', value: 'RecordInteractionPayload' } },
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          { kind: 'Field', name: { kind: 'Name', value: 'eventId' } },
          { kind: 'Field', name: { kind: 'Name', value: 'userId' } },
          { kind: 'Field', name: { kind: 'Name', value: 'partition' } },
          { kind: 'Field', name: { kind: 'Name', value: 'offset' } },
          { kind: 'Field', name: { kind: 'Name', value: 'occurredAt' } },
        ],
      },
    },
  ],
} as unknown as DocumentNode<RecordInteractionsMutation, RecordInteractionsMutationVariables>;
export const RecordInteractionCountsDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'mutation',
      name: { kind: 'Name', value: 'RecordInteractionCounts' },
      variableDefinitions: [
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'inputs' } },
          type: {
            kind: 'NonNullType',
            type: {
              kind: 'ListType',
              type: {
                kind: 'NonNullType',
                type: { kind: 'NamedType', name: { kind: 'Name', value: 'InteractionInput' } },
              },
            },
          },
        },
      ],
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'recordInteractions' },
            arguments: [
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'inputs' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'inputs' } },
              },
            ],
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'Field', name: { kind: 'Name', value: 'acceptedCount' } },
                { kind: 'Field', name: { kind: 'Name', value: 'rejectedCount' } },
              ],
            },
          },
        ],
      },
    },
  ],
} as unknown as DocumentNode<RecordInteractionCountsMutation, RecordInteractionCountsMutationVariables>;
export const FeedUpdatedDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'subscription',
      name: { kind: 'Name', value: 'FeedUpdated' },
      variableDefinitions: [
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'userId' } },
          type: { kind: 'NamedType', name: { kind: 'Name', value: 'ID' } },
        },
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'first' } },
          type: { kind: 'NamedType', name: { kind: 'Name', value: 'Int' } },
        },
      ],
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'feedUpdated' },
            arguments: [
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'userId' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'userId' } },
              },
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'first' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'first' } },
              },
            ],
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'Field', name: { kind: 'Name', value: 'trigger' } },
                { kind: 'Field', name: { kind: 'Name', value: 'triggerDetail' } },
                { kind: 'Field', name: { kind: 'Name', value: 'entered' } },
                { kind: 'Field', name: { kind: 'Name', value: 'left' } },
                {
                  kind: 'Field',
                  name: { kind: 'Name', value: 'feed' },
                  selectionSet: {
                    kind: 'SelectionSet',
                    selections: [
                      { kind: 'Field', name: { kind: 'Name', value: 'computedAt' } },
                      {
                        kind: 'Field',
                        name: { kind: 'Name', value: 'items' },
                        selectionSet: {
                          kind: 'SelectionSet',
                          selections: [
                            { kind: 'Field', name: { kind: 'Name', value: 'rank' } },
                            { kind: 'Field', name: { kind: 'Name', value: 'score' } },
                            { kind: 'Field', name: { kind: 'Name', value: 'reasons' } },
                            {
                              kind: 'Field',
                              name: { kind: 'Name', value: 'item' },
                              selectionSet: {
                                kind: 'SelectionSet',
                                selections: [
                                  { kind: 'Field', name: { kind: 'Name', value: 'id' } },
                                  { kind: 'Field', name: { kind: 'Name', value: 'category' } },
                                ],
                              },
                            },
                          ],
                        },
                      },
                    ],
                  },
                },
              ],
            },
          },
        ],
      },
    },
  ],
} as unknown as DocumentNode<FeedUpdatedSubscription, FeedUpdatedSubscriptionVariables>;
export const TrendingUpdatedDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'subscription',
      name: { kind: 'Name', value: 'TrendingUpdated' },
      variableDefinitions: [
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'category' } },
          type: { kind: 'NamedType', name: { kind: 'Name', value: 'String' } },
        },
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'first' } },
          type: { kind: 'NamedType', name: { kind: 'Name', value: 'Int' } },
        },
      ],
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'trendingUpdated' },
            arguments: [
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'category' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'category' } },
              },
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'first' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'first' } },
              },
            ],
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'Field', name: { kind: 'Name', value: 'entered' } },
                { kind: 'Field', name: { kind: 'Name', value: 'left' } },
                {
                  kind: 'Field',
                  name: { kind: 'Name', value: 'items' },
                  selectionSet: {
                    kind: 'SelectionSet',
                    selections: [
                      { kind: 'Field', name: { kind: 'Name', value: 'score' } },
                      {
                        kind: 'Field',
                        name: { kind: 'Name', value: 'item' },
                        selectionSet: {
                          kind: 'SelectionSet',
                          selections: [{ kind: 'Field', name: { kind: 'Name', value: 'id' } }],
                        },
                      },
                    ],
                  },
                },
              ],
            },
          },
        ],
      },
    },
  ],
} as unknown as DocumentNode<TrendingUpdatedSubscription, TrendingUpdatedSubscriptionVariables>;
export const RecommendationsDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'query',
      name: { kind: 'Name', value: 'Recommendations' },
      variableDefinitions: [
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'userId' } },
          type: { kind: 'NamedType', name: { kind: 'Name', value: 'ID' } },
        },
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'first' } },
          type: { kind: 'NamedType', name: { kind: 'Name', value: 'Int' } },
        },
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'candidates' } },
          type: {
            kind: 'ListType',
            type: { kind: 'NonNullType', type: { kind: 'NamedType', name: { kind: 'Name', value: 'ID' } } },
          },
        },
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'exclude' } },
          type: {
            kind: 'ListType',
            type: { kind: 'NonNullType', type: { kind: 'NamedType', name: { kind: 'Name', value: 'ID' } } },
          },
        },
      ],
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'recommendations' },
            arguments: [
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'userId' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'userId' } },
              },
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'first' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'first' } },
              },
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'candidates' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'candidates' } },
              },
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'exclude' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'exclude' } },
              },
            ],
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'FragmentSpread', name: { kind: 'Name', value: 'FeedSummary' } },
                {
                  kind: 'Field',
                  name: { kind: 'Name', value: 'items' },
                  selectionSet: {
                    kind: 'SelectionSet',
                    selections: [{ kind: 'FragmentSpread', name: { kind: 'Name', value: 'FeedEntry' } }],
                  },
                },
              ],
            },
          },
        ],
      },
    },
    {
      kind: 'FragmentDefinition',
      name: { kind: 'Name', value: 'FeedSummary' },
      typeCondition: { kind: 'NamedType', name: { kind: 'Name', value: 'Feed' } },
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          { kind: 'Field', name: { kind: 'Name', value: 'modelVersion' } },
          { kind: 'Field', name: { kind: 'Name', value: 'arm' } },
          { kind: 'Field', name: { kind: 'Name', value: 'computedAt' } },
          { kind: 'Field', name: { kind: 'Name', value: 'computeMs' } },
          { kind: 'Field', name: { kind: 'Name', value: 'degraded' } },
        ],
      },
    },
    {
      kind: 'FragmentDefinition',
      name: { kind: 'Name', value: 'FeedEntry' },
      typeCondition: { kind: 'NamedType', name: { kind: 'Name', value: 'FeedItem' } },
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          { kind: 'Field', name: { kind: 'Name', value: 'rank' } },
          { kind: 'Field', name: { kind: 'Name', value: 'score' } },
          { kind: 'Field', name: { kind: 'Name', value: 'reasons' } },
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'item' },
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'Field', name: { kind: 'Name', value: 'id' } },
                { kind: 'Field', name: { kind: 'Name', value: 'category' } },
                { kind: 'Field', name: { kind: 'Name', value: 'tags' } },
              ],
            },
          },
        ],
      },
    },
  ],
} as unknown as DocumentNode<RecommendationsQuery, RecommendationsQueryVariables>;
export const RecommendedIdsDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'query',
      name: { kind: 'Name', value: 'RecommendedIds' },
      variableDefinitions: [
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'userId' } },
          type: { kind: 'NamedType', name: { kind: 'Name', value: 'ID' } },
        },
        {
          kind: 'VariableDefinition',
          variable: { kind: 'Variable', name: { kind: 'Name', value: 'first' } },
          type: { kind: 'NamedType', name: { kind: 'Name', value: 'Int' } },
        },
      ],
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'recommendations' },
            arguments: [
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'userId' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'userId' } },
              },
              {
                kind: 'Argument',
                name: { kind: 'Name', value: 'first' },
                value: { kind: 'Variable', name: { kind: 'Name', value: 'first' } },
              },
            ],
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'FragmentSpread', name: { kind: 'Name', value: 'FeedSummary' } },
                {
                  kind: 'Field',
                  name: { kind: 'Name', value: 'items' },
                  selectionSet: {
                    kind: 'SelectionSet',
                    selections: [
                      {
                        kind: 'Field',
                        name: { kind: 'Name', value: 'item' },
                        selectionSet: {
                          kind: 'SelectionSet',
                          selections: [{ kind: 'Field', name: { kind: 'Name', value: 'id' } }],
                        },
                      },
                    ],
                  },
                },
              ],
            },
          },
        ],
      },
    },
    {
      kind: 'FragmentDefinition',
      name: { kind: 'Name', value: 'FeedSummary' },
      typeCondition: { kind: 'NamedType', name: { kind: 'Name', value: 'Feed' } },
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          { kind: 'Field', name: { kind: 'Name', value: 'modelVersion' } },
          { kind: 'Field', name: { kind: 'Name', value: 'arm' } },
          { kind: 'Field', name: { kind: 'Name', value: 'computedAt' } },
          { kind: 'Field', name: { kind: 'Name', value: 'computeMs' } },
          { kind: 'Field', name: { kind: 'Name', value: 'degraded' } },
        ],
      },
    },
  ],
} as unknown as DocumentNode<RecommendedIdsQuery, RecommendedIdsQueryVariables>;
export const ExperimentDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'query',
      name: { kind: 'Name', value: 'Experiment' },
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'experiment' },
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'Field', name: { kind: 'Name', value: 'id' } },
                { kind: 'Field', name: { kind: 'Name', value: 'revision' } },
                {
                  kind: 'Field',
                  name: { kind: 'Name', value: 'arms' },
                  selectionSet: {
                    kind: 'SelectionSet',
                    selections: [
                      { kind: 'Field', name: { kind: 'Name', value: 'name' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'share' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'modelVersion' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'servedVersion' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'feeds' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'impressions' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'clicks' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'likes' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'hides' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'ctr' } },
                    ],
                  },
                },
              ],
            },
          },
        ],
      },
    },
  ],
} as unknown as DocumentNode<ExperimentQuery, ExperimentQueryVariables>;
export const StatusDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'query',
      name: { kind: 'Name', value: 'Status' },
      selectionSet: {
        kind: 'SelectionSet',
        selections: [
          {
            kind: 'Field',
            name: { kind: 'Name', value: 'status' },
            selectionSet: {
              kind: 'SelectionSet',
              selections: [
                { kind: 'Field', name: { kind: 'Name', value: 'ready' } },
                {
                  kind: 'Field',
                  name: { kind: 'Name', value: 'dependencies' },
                  selectionSet: {
                    kind: 'SelectionSet',
                    selections: [
                      { kind: 'Field', name: { kind: 'Name', value: 'name' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'up' } },
                      { kind: 'Field', name: { kind: 'Name', value: 'detail' } },
                    ],
                  },
                },
              ],
            },
          },
        ],
      },
    },
  ],
} as unknown as DocumentNode<StatusQuery, StatusQueryVariables>;
export const PingDocument = {
  kind: 'Document',
  definitions: [
    {
      kind: 'OperationDefinition',
      operation: 'query',
      name: { kind: 'Name', value: 'Ping' },
      selectionSet: {
        kind: 'SelectionSet',
        selections: [{ kind: 'Field', name: { kind: 'Name', value: '__typename' } }],
      },
    },
  ],
} as unknown as DocumentNode<PingQuery, PingQueryVariables>;
