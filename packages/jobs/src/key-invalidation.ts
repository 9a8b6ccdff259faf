import type { EventBus } from '@tollgate/core';
import type { Repositories } from '@tollgate/store';

/*
 * A key's cached record (gateway/key-resolver) holds its plan and its subscription's status;
 * whoever changes either tells every instance to drop the records of the keys concerned.
 */

interface InvalidationDeps {
  repos: Repositories;
  bus: EventBus;
}

/** Keys of subscriptions whose plan or status changed. */
export async function invalidateKeys(deps: InvalidationDeps, subscriptionIds: readonly string[]): Promise<void> {
  if (subscriptionIds.length === 0) return;
  await publish(deps, await deps.repos.keys.hashesForSubscriptions(subscriptionIds));
}

/** Keys of a plan whose limits, entitlements or terms changed. */
export async function invalidatePlanKeys(deps: InvalidationDeps, planId: string): Promise<void> {
  await publish(deps, await deps.repos.keys.hashesForPlan(planId));
}

async function publish({ bus }: InvalidationDeps, keyHashes: string[]): Promise<void> {
  if (keyHashes.length > 0) await bus.publish({ topic: 'keys.invalidate', keyHashes });
}
