import { GraphQLError, Kind } from 'graphql';
import { builder } from '../builder.js';

const invalid = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

function parseDate(value: unknown): Date {
  const date =
    typeof value === 'string' ? new Date(value) : typeof value === 'number' ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) throw invalid(`DateTime must be an ISO-8601 string or epoch milliseconds`);
  return date;
}

builder.scalarType('DateTime', {
  description: 'A point in time: an ISO-8601 string on output; an ISO-8601 string or epoch milliseconds on input.',
  serialize: (value) => value.toISOString(),
  parseValue: parseDate,
  parseLiteral: (ast) => {
    if (ast.kind === Kind.STRING) return parseDate(ast.value);
    if (ast.kind === Kind.INT || ast.kind === Kind.FLOAT) return parseDate(Number(ast.value));
    throw invalid('DateTime must be an ISO-8601 string or epoch milliseconds');
  },
});
