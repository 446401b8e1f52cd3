/**
 * The project's own GraphQL client, for the simulator, the benchmarks and the tests. Every
 * operation it sends is a typed document generated from `operations/*.graphql` against the
 * checked-in `schema.graphql` (`npm run codegen`), so a schema change that breaks a caller breaks
 * `npm run typecheck` instead of a benchmark run. Queries and mutations go over HTTP (fetch);
 * subscriptions over graphql-ws.
 */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type DocumentNode } from 'graphql';
import { createClient, type Client, type FormattedExecutionResult, type Sink } from 'graphql-ws';
import WebSocket from 'ws';
import { isRecord } from '../core/records.js';

export * from './generated/graphql.js';
export type { TypedDocumentNode };

/** One entry of a GraphQL response's `errors`. */
export interface GraphQLErrorEntry {
  message: string;
  path?: (string | number)[];
  extensions?: Record<string, unknown>;
}

/** A GraphQL-over-HTTP answer: the HTTP status and the body, `data` typed by the document. */
export interface GraphQLResult<TResult> {
  status: number;
  data?: TResult | null;
  errors?: GraphQLErrorEntry[];
}

export interface RequestOptions {
  /** Sent with the request, e.g. `{ authorization: 'Bearer …' }`. */
  headers?: Record<string, string>;
  /** Gives up (ApiError TIMEOUT, retryable) when no answer came within this long. Default 30 s. */
  timeoutMs?: number;
}

/**
 * A failed call, with the `extensions.code` the API gave, or our own for transport failures
 * (`UNREACHABLE`, `TIMEOUT`, `HTTP_<status>` for an answer without GraphQL data).
 */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: string,
    message: string,
    /** Whether sending the same request again may succeed (same idempotency keys). */
    readonly retryable: boolean,
    readonly errors: readonly GraphQLErrorEntry[] = [],
  ) {
    super(message);
  }
}

/** Codes the API gives for conditions that pass, plus our own TIMEOUT. */
const RETRYABLE = new Set(['RATE_LIMITED', 'UNAVAILABLE', 'TIMEOUT']);
const DEFAULT_TIMEOUT_MS = 30_000;

const printed = new WeakMap<DocumentNode, string>();

/** The text of a document, printed once per document (load generators send the same ones often). */
export function querySource(document: DocumentNode): string {
  let text = printed.get(document);
  if (text === undefined) {
    text = print(document);
    printed.set(document, text);
  }
  return text;
}

/** The JSON body of a GraphQL-over-HTTP POST, for load generators that send prepared bodies. */
export function requestBody<TResult, TVariables>(
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
): string {
  return JSON.stringify({ query: querySource(document), variables });
}

/**
 * POSTs a query text as it is. Only for documents that codegen cannot type on purpose (invalid or
 * hostile input in tests); everything else goes through `execute`.
 */
export async function executeText<TResult = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  options: RequestOptions = {},
): Promise<GraphQLResult<TResult>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...options.headers },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    if (error instanceof Error && error.name === 'TimeoutError')
      throw new ApiError('TIMEOUT', `no answer from ${url} within ${timeoutMs} ms`, true);
    const cause = error instanceof Error && isRecord(error.cause) ? error.cause : {};
    const detail = typeof cause.code === 'string' ? cause.code : error instanceof Error ? error.message : '';
    throw new ApiError('UNREACHABLE', `cannot reach ${url} (${detail})`, false);
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(`HTTP_${res.status}`, `${url} answered HTTP ${res.status} without a JSON body`, false);
  }
  // The body is the server's GraphQL answer; its shape is the document's, which is what we asked for.
  return { status: res.status, ...(isRecord(body) ? (body as Omit<GraphQLResult<TResult>, 'status'>) : {}) };
}

/**
 * Runs one operation over HTTP and returns the status with `data` and `errors` as the API gave
 * them; GraphQL errors are the caller's to read. Throws an ApiError only when no GraphQL answer
 * came (unreachable, timed out, not JSON).
 */
export function execute<TResult, TVariables>(
  url: string,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
  options: RequestOptions = {},
): Promise<GraphQLResult<TResult>> {
  return executeText<TResult>(url, querySource(document), variables as Record<string, unknown>, options);
}

/**
 * Runs one operation that is expected to succeed: resolves with `data`, or throws an ApiError
 * carrying the first error's code (retryable when the API said so or the code is a passing one).
 */
export async function request<TResult, TVariables>(
  url: string,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
  options: RequestOptions = {},
): Promise<TResult> {
  const { status, data, errors = [] } = await execute(url, document, variables, options);
  const [first] = errors;
  if (first !== undefined || !isRecord(data)) {
    const extensions = first?.extensions ?? {};
    const code = typeof extensions.code === 'string' ? extensions.code : `HTTP_${status}`;
    const message = first?.message ?? 'no data in the answer';
    throw new ApiError(code, message, extensions.retryable === true || RETRYABLE.has(code), errors);
  }
  return data;
}

/** `execute` and `request` bound to one endpoint and its default headers and timeout. */
export interface ApiClient {
  readonly url: string;
  execute<TResult, TVariables>(
    document: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
    options?: RequestOptions,
  ): Promise<GraphQLResult<TResult>>;
  request<TResult, TVariables>(
    document: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
    options?: RequestOptions,
  ): Promise<TResult>;
}

export function createApiClient(url: string, defaults: RequestOptions = {}): ApiClient {
  const merge = (options: RequestOptions = {}): RequestOptions => ({
    timeoutMs: options.timeoutMs ?? defaults.timeoutMs,
    headers: { ...defaults.headers, ...options.headers },
  });
  return {
    url,
    execute: (document, variables, options) => execute(url, document, variables, merge(options)),
    request: (document, variables, options) => request(url, document, variables, merge(options)),
  };
}

/** What a subscriber receives per event: typed `data`, or the errors that ended it. */
export type SubscriptionResult<TResult> = FormattedExecutionResult<TResult, unknown>;

export interface LiveOptions {
  /** Sent in `connection_init`, e.g. `{ authorization: 'Bearer …' }`. */
  connectionParams?: Record<string, unknown>;
  /** Reconnect attempts after a dropped socket. Default 0: a drop shows as an error, not a repair. */
  retryAttempts?: number;
}

/** One graphql-ws socket; subscriptions on it are typed by their documents. */
export interface LiveClient {
  /** Subscribes; returns the function that unsubscribes. */
  subscribe<TResult, TVariables>(
    document: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
    sink: Sink<SubscriptionResult<TResult>>,
  ): () => void;
  on: Client['on'];
  dispose(): Promise<void>;
}

/** A graphql-ws client for the service at `url` (its http(s) GraphQL endpoint; the socket shares the path). */
export function createLiveClient(url: string, options: LiveOptions = {}): LiveClient {
  const target = new URL(url);
  target.protocol = target.protocol === 'https:' ? 'wss:' : 'ws:';
  const client = createClient({
    url: target.toString(),
    webSocketImpl: WebSocket,
    connectionParams: options.connectionParams ?? {},
    retryAttempts: options.retryAttempts ?? 0,
  });
  return {
    subscribe: (document, variables, sink) =>
      client.subscribe({ query: querySource(document), variables: variables as Record<string, unknown> }, sink),
    on: client.on,
    dispose: async () => client.dispose(),
  };
}
