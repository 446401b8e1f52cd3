/**
 * Queries run compiled: graphql-jit turns an operation into one JavaScript function (variables'
 * coercion, field resolution and result completion included), compiled once per parsed document
 * and operation name (from its second run on, see RUNS_BEFORE_COMPILING), then reused. For
 * `recommendations` with a list of 500 candidate ids, the interpreted executor spent more of a
 * request coercing that list and walking the result than the ranking itself. Only queries are
 * compiled: mutations and subscriptions keep yoga's executor.
 *
 * The compiled functions hang off the parsed documents, which yoga keeps in its document cache
 * (bounded by count and bytes, see document-cache.ts), so there are never more of them than of
 * cached documents, and an evicted document takes its compiled function with it. Every plugin
 * hook (error masking, metrics, limits) still applies: only the function that runs the operation
 * is swapped.
 */
import {
  getOperationAST,
  OperationTypeNode,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';

/**
 * Per parsed document and operation name: how often it ran interpreted, then its compiled form (or
 * the errors that kept it from compiling).
 */
type Entry = number | CompiledQuery | ExecutionResult;
const byDocument = new WeakMap<DocumentNode, Map<string, Entry>>();

/**
 * Runs before an operation is compiled. Compiling costs more than parsing, so a document is
 * compiled only once it comes again: a client sending a new document every time gets the
 * interpreter, and cannot make the API compile on each request.
 */
export const RUNS_BEFORE_COMPILING = 1;

/** The operation's compiled form, once it has run RUNS_BEFORE_COMPILING times; else null. */
export function compiledFor(args: ExecutionArgs): CompiledQuery | null {
  let byName = byDocument.get(args.document);
  if (!byName) {
    byName = new Map();
    byDocument.set(args.document, byName);
  }
  const name = args.operationName ?? '';
  const entry = byName.get(name) ?? 0;
  if (typeof entry === 'number') {
    if (entry < RUNS_BEFORE_COMPILING) {
      byName.set(name, entry + 1);
      return null;
    }
    const compiled = compileQuery(args.schema, args.document, args.operationName ?? undefined);
    byName.set(name, compiled);
    return isCompiledQuery(compiled) ? compiled : null;
  }
  // A document that does not compile runs interpreted: the interpreter reports its errors.
  return isCompiledQuery(entry) ? entry : null;
}

export function useCompiledQueries(): Plugin {
  return {
    onExecute: ({ args, setExecuteFn }) => {
      const execution = args as ExecutionArgs;
      if (getOperationAST(execution.document, execution.operationName)?.operation !== OperationTypeNode.QUERY) return;
      const query = compiledFor(execution);
      if (!query) return;
      setExecuteFn((run: ExecutionArgs) => query.query(run.rootValue, run.contextValue, run.variableValues ?? {}));
    },
  };
}
