import { randomUUID } from 'node:crypto';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { GraphQLError, Kind, type ExecutionArgs } from 'graphql';
import { createYoga, type CORSOptions, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { GraphQLContext } from '../context.js';
import { AppError } from '../core/errors.js';
import { schema } from '../schema/index.js';
import type { Config } from '../config.js';
import type { Domain } from '../context.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { defaultQuery } from './graphiql.js';
import { isLoopbackOrigin } from './origin.js';
import { boundedSourceCache } from './document-cache.js';
import { useCompiledQueries } from './compiled-execution.js';
import { useGraphQLJsSubscribe } from './subscription-engine.js';

/**
 * graphql-armor's refusals carry no code; give each one `QUERY_LIMIT_EXCEEDED` and the limit's name
 * so clients can tell "make the query smaller" from other validation errors.
 */
const tagRefusal = (limit: string) => (_ctx: unknown, error: GraphQLError) => {
  Object.assign(error.extensions, { code: 'QUERY_LIMIT_EXCEEDED', limit });
};

const requestIdPattern = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Operation names that may become a metric label: a GraphQL name of at most 64 characters. */
const labelNamePattern = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;

/**
 * Distinct operation names one instance records before every further name is counted as `other`.
 * Operation names come from clients, and each distinct label value is a new time series in
 * /metrics; our own clients use a few dozen names, so 200 leaves room without letting a client
 * grow the scrape without bound.
 */
export const MAX_OPERATION_NAME_LABELS = 200;

/**
 * Maps a client's operation name onto a bounded set of label values: `anonymous`, `other`, or
 * one of the first MAX_OPERATION_NAME_LABELS well-formed names seen.
 */
export function createOperationLabels(max = MAX_OPERATION_NAME_LABELS) {
  const seen = new Set<string>();
  return {
    label(name: string | null | undefined): string {
      if (name == null || name === '') return 'anonymous';
      if (!labelNamePattern.test(name)) return 'other';
      if (seen.has(name)) return name;
      if (seen.size >= max) return 'other';
      seen.add(name);
      return name;
    },
    size: () => seen.size,
  };
}

/** Records every operation's duration and outcome in `graphql_operation_duration_ms`. */
function metricsPlugin(metrics: Metrics): Plugin {
  const labels = createOperationLabels();
  const observe = (args: ExecutionArgs, type: string, started: number, failed: boolean) => {
    const operation = args.document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION);
    metrics.graphqlDuration.observe(
      {
        operation_type: type,
        operation_name: labels.label(
          args.operationName ?? (operation && 'name' in operation ? operation.name?.value : undefined),
        ),
        outcome: failed ? 'error' : 'ok',
      },
      performance.now() - started,
    );
  };
  return {
    onExecute: ({ args }) => {
      const started = performance.now();
      return {
        onExecuteDone: ({ result }) => {
          const failed = 'errors' in result && Array.isArray(result.errors) && result.errors.length > 0;
          observe(args, 'query_or_mutation', started, failed);
        },
      };
    },
  };
}

/**
 * Turns domain errors into coded GraphQL errors, gives every other GraphQL error a code, and masks
 * anything unexpected: the client sees a generic message and the request id; the log has it all.
 */
export function maskError({ log, metrics }: { log: Logger; metrics: Metrics }) {
  return (error: unknown, message: string): GraphQLError => {
    const original = error instanceof GraphQLError ? (error.originalError ?? undefined) : error;
    const gqlError = error instanceof GraphQLError ? error : undefined;
    const requestId = (gqlError?.extensions?.requestId as string | undefined) ?? undefined;
    let result: GraphQLError;
    if (original instanceof AppError) {
      result = new GraphQLError(original.message, {
        nodes: gqlError?.nodes,
        path: gqlError?.path,
        extensions: { code: original.code, retryable: original.retryable, ...pick(original.details) },
      });
    } else if (gqlError && (!original || original instanceof GraphQLError)) {
      // graphql-js reports variables that do not fit their types as 'Variable "$x" got invalid
      // value …': that is bad input from the client, not a malformed operation.
      const fallback = gqlError.message.startsWith('Variable "$') ? 'BAD_USER_INPUT' : 'GRAPHQL_VALIDATION_FAILED';
      const code = (gqlError.extensions?.code as string | undefined) ?? fallback;
      result = new GraphQLError(gqlError.message, {
        nodes: gqlError.nodes,
        path: gqlError.path,
        extensions: { ...gqlError.extensions, code },
      });
    } else {
      log.error({ err: original ?? error, requestId, path: gqlError?.path }, 'unexpected error');
      result = new GraphQLError(message, {
        nodes: gqlError?.nodes,
        path: gqlError?.path,
        extensions: { code: 'INTERNAL_SERVER_ERROR', requestId },
      });
    }
    metrics.graphqlErrors.inc({ code: String(result.extensions.code) });
    return result;
  };
}

function pick(details: Record<string, unknown>) {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) if (k !== 'retryable' && v !== undefined) out[k] = v;
  return out;
}

/**
 * Cross-origin access. With JWTs any origin may call (a token is a bearer header a page must
 * hold, never a cookie the browser adds by itself), without credentials. Without authentication
 * (dev) every caller is a service, so only the page's own origin and pages on this machine get
 * CORS headers: another site open in the same browser cannot read the API.
 */
function corsFor(mode: Config['auth']['mode']): CORSOptions | ((request: Request) => CORSOptions) {
  if (mode !== 'dev') return { credentials: false };
  return (request) => {
    const origin = request.headers.get('origin');
    return origin && isLoopbackOrigin(origin) ? { origin, credentials: false } : false;
  };
}

export type Yoga = YogaServerInstance<Record<string, unknown>, GraphQLContext>;

/** The GraphQL endpoint: schema, limits against hostile queries, metrics, error masking, context. */
export interface GraphQLServerDeps {
  config: Pick<Config, 'limits' | 'graphiql' | 'auth'>;
  log: Logger;
  metrics: Metrics;
  domain: Domain;
}

export function createGraphQLServer({ config, log, metrics, domain }: GraphQLServerDeps): Yoga {
  const { limits } = config;
  return createYoga<Record<string, unknown>, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    cors: corsFor(config.auth.mode),
    logging: false,
    // Parsed documents cached by their text, bounded by size as well as count (see document-cache.ts).
    parserAndValidationCache: { documentCache: boundedSourceCache(), errorCache: boundedSourceCache() },
    graphiql: config.graphiql ? { title: 'feedrec', defaultQuery, subscriptionsProtocol: 'WS' } : false,
    // GraphiQL with its assets inlined: it works on networks that cannot reach a CDN.
    renderGraphiQL,
    maskedErrors: { maskError: maskError({ log, metrics }) },
    context: async (initial) => {
      const request = initial.request as Request | undefined;
      const connectionParams = initial.connectionParams as Record<string, unknown> | undefined;
      const header = request?.headers.get('x-request-id');
      const requestId = header && requestIdPattern.test(header) ? header : randomUUID();
      const authorization =
        request?.headers.get('authorization') ??
        (typeof connectionParams?.authorization === 'string' ? connectionParams.authorization : undefined) ??
        (typeof connectionParams?.Authorization === 'string' ? connectionParams.Authorization : undefined);
      let viewer;
      try {
        viewer = await domain.authenticate(authorization);
      } catch (error) {
        if (error instanceof AppError)
          throw new GraphQLError(error.message, { extensions: { code: error.code }, originalError: error });
        throw error;
      }
      return { requestId, log: log.child({ requestId }), domain, viewer, loaders: domain.loaders() };
    },
    plugins: [
      EnvelopArmorPlugin({
        maxDepth: { n: limits.maxDepth, onReject: [tagRefusal('depth')] },
        maxAliases: { n: limits.maxAliases, onReject: [tagRefusal('aliases')] },
        maxDirectives: { n: limits.maxDirectives, onReject: [tagRefusal('directives')] },
        maxTokens: { n: limits.maxTokens, onReject: [tagRefusal('tokens')] },
        costLimit: { maxCost: limits.maxCost, onReject: [tagRefusal('cost')] },
        blockFieldSuggestion: { enabled: false },
      }),
      metricsPlugin(metrics),
      useGraphQLJsSubscribe(),
      useCompiledQueries(),
    ],
  });
}
