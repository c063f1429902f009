/**
 * A control process reduced to its RSL coordinator, for the tests that kill one for real
 * (test/rsl-coordinator.test.ts): `node --import tsx test/helpers/etcd-child.ts '<plan JSON>'`
 * registers with etcd, takes a logical id, campaigns when told to, prints one JSON line
 * `{"ready":true,"epoch":<n>,"leader":<bool>,"lease":...}` and then does nothing but keep its
 * lease alive until it is killed.
 */
import { EtcdCoordinator } from "../../control/rsl/etcd-coordinator.js";
import { systemClock } from "../../seams/clock.js";

export interface EtcdChildPlan {
  endpoint: string;
  prefix: string;
  id: string;
  logicalId: string;
  ttl: number;
  /** Campaign, and report ready only once elected. */
  campaign: boolean;
}

const plan = JSON.parse(process.argv[2] ?? "{}") as EtcdChildPlan;
const c = new EtcdCoordinator(
  { clock: systemClock },
  { endpoints: [plan.endpoint], prefix: plan.prefix, leaseTtlSeconds: plan.ttl },
);
await c.register({ id: plan.id, endpoint: "127.0.0.1:1" });
const owned = await c.assign(plan.logicalId, plan.id, c.ownership(plan.logicalId)?.epoch ?? null);
if (owned === undefined) throw new Error(`could not take ${plan.logicalId}`);
if (plan.campaign) {
  await new Promise<void>((resolve) =>
    c.campaign((leader) => {
      if (leader) resolve();
    }),
  );
}
process.stdout.write(JSON.stringify({ ready: true, epoch: owned.epoch, leader: c.leader }) + "\n");
setInterval(() => undefined, 60_000);
