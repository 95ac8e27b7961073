// Which acting side a deletion gets: the local tree's gate, or the S3 target (no SDK loaded here:
// the store was opened by the context).
import type { Context } from '../../context.ts';
import { DeleteGate, type DeletionTarget } from './gate.ts';
import { S3Target } from './s3-target.ts';

export function openDeletionTarget(ctx: Pick<Context, 'store' | 'config'>, dryRun: boolean): DeletionTarget {
  return ctx.store.capabilities.kind === 's3' ? new S3Target(ctx.store, dryRun) : new DeleteGate(ctx.config.root, dryRun);
}
