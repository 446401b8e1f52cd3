import type { GraphQLContext } from '../../context.js';
import { LazyLoaders } from '../../loaders/index.js';

/**
 * Lets a subscription's context go idle once its first result is computed. The context lives as
 * long as the subscription (every push is executed with it), but pushes are ranked and read with
 * state of their own, so it need not keep what the first result used:
 *
 * - its DataLoaders, which hold every feature that result read: swapped for ones created on first
 *   use (clearing their caches is not enough: each DataLoader also keeps its last batch, keys and
 *   callbacks, until a new one starts);
 * - its child logger, bound to the request id: swapped for the instance's (see Domain.log).
 *
 * Plain assignments keep the context's shape: redefining `loaders` as an accessor turned every idle
 * subscription's context into a dictionary of its own, 832 bytes of it.
 */
export function releaseFirstResult(ctx: GraphQLContext): void {
  ctx.loaders = new LazyLoaders(ctx.domain);
  ctx.log = ctx.domain.log;
}
