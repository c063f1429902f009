/**
 * The RSL coordinators (control/rsl/): one contract run against LocalCoordinator (memory) and
 * EtcdCoordinator (a real etcd on loopback ports, tools/etcd.ts), then what only etcd can
 * show: a real process SIGKILLed while it holds a lease (its ownership and leadership go within
 * the TTL, seen through the other process's watch; the next owner gets a higher epoch), the
 * election handing over, and etcd stopped for 3 s and restarted (both coordinators recover:
 * servers listed again, watches firing, one leader, epochs never lower).
 *
 * No sleeping and hoping: every wait is on a condition with a deadline. Without etcd the etcd
 * tests fail under CI and are skipped, loudly, elsewhere (test/helpers/needs.ts).
 *
 * @heavy privileged, processes: a real etcd per test, and a child process killed while it holds a lease
 */
import test, { type ExecutionContext } from "ava";
import { Etcd3 } from "etcd3";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Coordinator, Ownership, ServerInfo } from "../control/rsl/coordinator.js";
import { EtcdCoordinator } from "../control/rsl/etcd-coordinator.js";
import { LocalCoordinator } from "../control/rsl/local-coordinator.js";
import { MemoryNodeStore } from "../control/memory-store.js";
import { systemClock } from "../seams/clock.js";
import { MemoryLogger } from "../seams/log.js";
import type { EtcdChildPlan } from "./helpers/etcd-child.js";
import { EtcdServer } from "../tools/etcd.js";
import { needs } from "./helpers/needs.js";

const CHILD = fileURLToPath(new URL("./helpers/etcd-child.ts", import.meta.url));
const A: ServerInfo = { id: "ctl-a", endpoint: "127.0.0.1:7701", admin: "127.0.0.1:8701" };
const B: ServerInfo = { id: "ctl-b", endpoint: "127.0.0.1:7702" };

const hasEtcd = needs(test, "test/rsl-coordinator.test.ts", ["etcd"]);
/**
 * Every etcd test runs alone: each starts its own etcd (a process with raft timers), and six
 * at once on this 2-core machine would measure the machine; the ones that time leases must
 * not compete for the CPU either.
 */
const etcdTest = hasEtcd ? test.serial : test.skip;

/** Resolves with f()'s first value that is not undefined/false; fails after `deadlineMs`. */
async function until<T>(
  what: string,
  f: () => T | undefined | false | Promise<T | undefined | false>,
  deadlineMs = 5000,
): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const ids = (c: Coordinator): string[] =>
  c
    .servers()
    .map((s) => s.id)
    .sort();

// --- the contract, against both ---

interface Fixture {
  /** The coordinators servers A and B use (one and the same object for LocalCoordinator). */
  a: Coordinator;
  b: Coordinator;
  /** Ends a server as its death would: local unregisters it, etcd closes it (its lease goes). */
  kill(who: "a" | "b"): Promise<void>;
}

type Kind = "local" | "etcd";

async function fixture(t: ExecutionContext, kind: Kind): Promise<Fixture> {
  if (kind === "local") {
    const store = new MemoryNodeStore();
    const c = new LocalCoordinator({
      clock: systemClock,
      channelIdForName: (n) => store.channelIdForName(n),
    });
    t.teardown(() => c.close());
    await c.register(A);
    await c.register(B);
    return { a: c, b: c, kill: async (who) => c.unregister(who === "a" ? A.id : B.id) };
  }
  const etcd = await EtcdServer.start();
  t.teardown(() => etcd.close());
  const prefix = `/tiercast-test-${randomBytes(4).toString("hex")}/`;
  const make = (): EtcdCoordinator =>
    // the contract does not time leases (a kill closes the coordinator, which revokes): a long
    // TTL keeps a loaded test machine from expiring one
    new EtcdCoordinator({ clock: systemClock }, { endpoints: [etcd.endpoint], prefix, leaseTtlSeconds: 10 });
  const a = make();
  const b = make();
  t.teardown(() => Promise.all([a.close(), b.close()]).then(() => undefined));
  await a.register(A);
  await b.register(B);
  return { a, b, kill: (who) => (who === "a" ? a : b).close() };
}

const contract = (
  kind: Kind,
  title: string,
  body: (t: ExecutionContext, f: Fixture) => Promise<void>,
): void => {
  (kind === "etcd" ? etcdTest : test)(`${kind}: ${title}`, async (t) => body(t, await fixture(t, kind)));
};

for (const kind of ["local", "etcd"] as const) {
  contract(kind, "registered servers are listed by every server, with their details", async (t, { a, b }) => {
    for (const c of [a, b]) {
      await until("both servers listed", () => ids(c).join() === [A.id, B.id].join());
      t.deepEqual(
        c.servers().find((s) => s.id === A.id),
        A,
      );
      t.true(c.lastContact() <= Date.now() && c.lastContact() > Date.now() - 5000);
    }
    t.is(a.ownership("dcm:news:t1"), undefined);
    t.deepEqual(a.allOwnership(), []);
  });

  contract(kind, "assign is a compare-and-set on the epoch, and epochs only grow", async (t, { a, b }) => {
    const id = "dcm:news:t1";
    const first = await a.assign(id, A.id, null);
    t.truthy(first);
    if (first === undefined) return;
    t.deepEqual(a.ownership(id), first);
    t.is(await b.assign(id, B.id, null), undefined, "create-only fails when owned");
    t.is(await b.assign(id, B.id, first.epoch + 1000), undefined, "a wrong epoch fails");
    t.is(await b.assign(id, "ctl-nobody", first.epoch), undefined, "an unknown server cannot own");
    const moved = await b.assign(id, B.id, first.epoch);
    t.truthy(moved);
    if (moved === undefined) return;
    t.is(moved.server, B.id);
    t.true(moved.epoch > first.epoch);
    t.is(await a.assign(id, A.id, first.epoch), undefined, "the old epoch is stale now");
    await until("a sees the move", () => a.ownership(id)?.epoch === moved.epoch);
    // epochs of different logical ids compare too (agents compare them per channel)
    const other = await a.assign("dcm:news:t2:eu", A.id, null);
    t.true((other?.epoch ?? 0) > moved.epoch);
    await until("both listed by b", () => b.allOwnership().length === 2);
    t.deepEqual(
      b
        .allOwnership()
        .map((o) => o.logicalId)
        .sort(),
      ["dcm:news:t1", "dcm:news:t2:eu"],
    );
  });

  contract(kind, "concurrent assigns of one id: exactly one wins", async (t, { a, b }) => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? a : b).assign("dcm:race:t1", i % 2 === 0 ? A.id : B.id, null),
      ),
    );
    const won = results.filter((r): r is Ownership => r !== undefined);
    t.is(won.length, 1);
    await until("both agree", () => a.ownership("dcm:race:t1")?.epoch === won[0]?.epoch);
    await until("both agree", () => b.ownership("dcm:race:t1")?.epoch === won[0]?.epoch);
  });

  contract(kind, "a dead server's ownerships go with it; the next owner's epoch is higher", async (t, f) => {
    const { a, b } = f;
    const x = await a.assign("dcm:x:t1", A.id, null);
    const y = await a.assign("dcm:y:t1", A.id, null);
    const z = await b.assign("dcm:z:t1", B.id, null);
    t.truthy(x && y && z);
    await until("b sees all three", () => b.allOwnership().length === 3);
    let changes = 0;
    const off = b.onChange(() => changes++);
    await f.kill("a");
    await until("A gone for b", () => !ids(b).includes(A.id) && b.ownership("dcm:x:t1") === undefined, 5000);
    t.is(b.ownership("dcm:y:t1"), undefined);
    t.deepEqual(b.ownership("dcm:z:t1"), z);
    t.true(changes > 0, "onChange fired");
    off();
    const seen = changes;
    const again = await b.assign("dcm:x:t1", B.id, null);
    t.true((again?.epoch ?? 0) > (y?.epoch ?? Infinity) && (again?.epoch ?? 0) > (z?.epoch ?? Infinity));
    await until("assigned", () => b.ownership("dcm:x:t1")?.server === B.id);
    await new Promise((r) => setImmediate(r));
    t.is(changes, seen, "no call after unsubscribing");
  });

  contract(kind, "channel ids: one per name, the same on every server", async (t, { a, b }) => {
    const names = Array.from({ length: 8 }, (_, i) => `channel-${i}`);
    const fromA = await Promise.all(names.map((n) => a.channelId(n)));
    const fromB = await Promise.all(names.map((n) => b.channelId(n)));
    t.deepEqual(fromA, fromB);
    t.is(new Set(fromA).size, names.length);
    for (const id of fromA) t.true(Number.isInteger(id) && id >= 1 && id <= 0xffff_ffff);
    t.is(await a.channelId("channel-3"), fromA[3] ?? -1);
  });

  contract(kind, "a lone campaigner leads, and steps down when closed", async (t, { a }) => {
    const calls: boolean[] = [];
    a.campaign((leader) => calls.push(leader));
    await until("leader", () => a.leader && calls.length === 1);
    t.deepEqual(calls, [true]);
    await a.close();
    t.false(a.leader);
    t.deepEqual(calls, [true, false]);
  });
}

// --- etcd only ---

async function etcdPair(
  t: ExecutionContext,
  ttl: number,
): Promise<{
  etcd: EtcdServer;
  a: EtcdCoordinator;
  b: EtcdCoordinator;
  prefix: string;
  logger: MemoryLogger;
}> {
  const etcd = await EtcdServer.start();
  t.teardown(() => etcd.close());
  const prefix = `/tiercast-test-${randomBytes(4).toString("hex")}/`;
  const logger = new MemoryLogger();
  const make = (who: string): EtcdCoordinator =>
    new EtcdCoordinator(
      { clock: systemClock, logger: logger.child({ who }) },
      { endpoints: [etcd.endpoint], prefix, leaseTtlSeconds: ttl },
    );
  const a = make("a");
  const b = make("b");
  t.teardown(() => Promise.all([a.close(), b.close()]).then(() => undefined));
  await a.register(A);
  await b.register(B);
  return { etcd, a, b, prefix, logger };
}

/** Campaigns for several coordinators and records who leads; `overlaps` lists any moment two did. */
class Leaders {
  readonly #leading = new Set<string>();
  readonly overlaps: string[] = [];

  campaign(name: string, c: Coordinator): void {
    c.campaign((leader) => {
      if (leader) this.#leading.add(name);
      else this.#leading.delete(name);
      if (this.#leading.size > 1) this.overlaps.push([...this.#leading].join(" and "));
    });
  }

  current(): string[] {
    return [...this.#leading];
  }
}

/** The election keys in etcd (the layout is EtcdCoordinator's: `<prefix>election/<server id>`). */
async function candidates(etcd: EtcdServer, prefix: string): Promise<string[]> {
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    return (await client.getAll().prefix(`${prefix}election/`).keys())
      .map((k) => k.slice(prefix.length))
      .sort();
  } finally {
    client.close();
  }
}

etcdTest("etcd: the election hands over when the leader closes, never two leaders", async (t) => {
  const { etcd, a, b, prefix } = await etcdPair(t, 5);
  const leaders = new Leaders();
  leaders.campaign("a", a);
  await until("a leads", () => a.leader);
  leaders.campaign("b", b);
  // b's election key is in etcd, behind a's
  const keys = await until("b's election key", async () => {
    const keys = await candidates(etcd, prefix);
    return keys.length === 2 && keys;
  });
  t.deepEqual(keys, [`election/${A.id}`, `election/${B.id}`]);
  t.deepEqual(leaders.current(), ["a"]);
  t.false(b.leader);
  const closed = Date.now();
  await a.close();
  await until("b leads", () => b.leader, 3000);
  t.log(`b elected ${Date.now() - closed} ms after the leader closed`);
  t.deepEqual(leaders.current(), ["b"]);
  t.deepEqual(leaders.overlaps, []);
});

for (const ttl of [1, 2]) {
  etcdTest(
    `etcd: SIGKILL of a process holding a lease (TTL ${ttl} s): ownership and leadership go, next epoch higher`,
    async (t) => {
      const etcd = await EtcdServer.start();
      t.teardown(() => etcd.close());
      const prefix = `/tiercast-test-${randomBytes(4).toString("hex")}/`;
      const logicalId = "dcm:news:t1";
      const plan: EtcdChildPlan = {
        endpoint: etcd.endpoint,
        prefix,
        id: "ctl-child",
        logicalId,
        ttl,
        campaign: true,
      };
      const child = spawn(process.execPath, ["--import", "tsx", CHILD, JSON.stringify(plan)], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      t.teardown(() => {
        child.kill("SIGKILL");
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      const ready = await new Promise<{ epoch: number; leader: boolean }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child not ready in 20 s: ${stderr}`)), 20_000);
        createInterface({ input: child.stdout }).on("line", (line) => {
          const msg = JSON.parse(line) as { ready?: boolean; epoch: number; leader: boolean };
          if (msg.ready === true) {
            clearTimeout(timer);
            resolve(msg);
          }
        });
        child.once("exit", (code) => reject(new Error(`child exited (${code}): ${stderr}`)));
      });
      t.true(ready.leader);

      const b = new EtcdCoordinator(
        { clock: systemClock },
        { endpoints: [etcd.endpoint], prefix, leaseTtlSeconds: ttl },
      );
      t.teardown(() => b.close());
      await b.register(B);
      b.campaign(() => undefined);
      t.deepEqual(b.ownership(logicalId), { logicalId, server: "ctl-child", epoch: ready.epoch });
      t.deepEqual(ids(b), [B.id, "ctl-child"]);
      t.false(b.leader);

      let goneAt: number | undefined;
      let serverGoneAt: number | undefined;
      b.onChange(() => {
        goneAt ??= b.ownership(logicalId) === undefined ? Date.now() : undefined;
        serverGoneAt ??= ids(b).includes("ctl-child") ? undefined : Date.now();
      });
      const killed = Date.now();
      child.kill("SIGKILL");
      await exited;
      const deadline = ttl * 1000 + 1500; // etcd checks for expired leases every 500 ms
      const gone = await until("ownership gone (watch)", () => goneAt, deadline);
      await until("server gone (watch)", () => serverGoneAt, deadline);
      const led = await until("b leads", () => b.leader && Date.now(), deadline);
      t.log(
        `TTL ${ttl} s: ownership gone ${gone - killed} ms after SIGKILL, server entry ${(serverGoneAt ?? 0) - killed} ms, b leader ${led - killed} ms`,
      );
      t.true(gone - killed <= deadline);
      const next = await b.assign(logicalId, B.id, null);
      t.truthy(next);
      t.true((next?.epoch ?? 0) > ready.epoch, `epoch ${next?.epoch} > ${ready.epoch}`);
    },
  );
}

for (const ttl of [1, 2]) {
  etcdTest(
    `etcd: etcd stopped 3 s and restarted (TTL ${ttl} s): both recover, epochs never lower`,
    async (t) => {
      const { etcd, a, b, logger } = await etcdPair(t, ttl);
      const leaders = new Leaders();
      leaders.campaign("a", a);
      leaders.campaign("b", b);
      await until("one leader", () => leaders.current().length === 1);
      const before = new Map<string, number>();
      for (const [id, c, s] of [
        ["dcm:a:t1", a, A],
        ["dcm:b:t1", b, B],
      ] as const) {
        const o = await c.assign(id, s.id, null);
        if (o === undefined) throw new Error(`assign ${id}`);
        before.set(id, o.epoch);
      }
      const maxBefore = Math.max(...before.values());
      await until("b sees both", () => b.allOwnership().length === 2);

      let changesB = 0;
      b.onChange(() => changesB++);
      const stopped = Date.now();
      await etcd.stop();
      await new Promise((r) => setTimeout(r, 3000)); // the outage itself, not a wait for a result
      await etcd.resume();
      const back = Date.now();
      t.log(`TTL ${ttl} s: etcd down ${back - stopped} ms`);

      for (const [name, c] of [
        ["a", a],
        ["b", b],
      ] as const) {
        await until(`${name} lists both servers`, () => ids(c).join() === [A.id, B.id].join(), 10_000);
        await until(`${name} keeps its lease alive again`, () => c.lastContact() >= back, 10_000);
      }
      const leader = await until("a leader again", () => leaders.current()[0], 10_000);
      t.log(
        `TTL ${ttl} s: leader ${leader} ${Date.now() - back} ms after etcd came back; leases lost: ${lost(logger)}`,
      );

      // watches fire again: a write by one is seen by the other
      const fresh = await a.assign("dcm:after:t1", A.id, null);
      t.truthy(fresh);
      await until("b's watch delivers it", () => b.ownership("dcm:after:t1")?.epoch === fresh?.epoch, 5000);
      t.true((fresh?.epoch ?? 0) > maxBefore, "a new epoch is above every epoch before the outage");
      t.true(changesB > 0);
      // an ownership that survived kept its epoch or went up; one under a lost lease is gone
      for (const [id, epoch] of before) {
        const now = b.ownership(id);
        if (now !== undefined) t.true(now.epoch >= epoch, `${id}: ${now.epoch} >= ${epoch}`);
        else t.true(lost(logger) > 0, `${id} gone although no lease was lost`);
      }
      const again = await b.assign("dcm:b:t1", B.id, b.ownership("dcm:b:t1")?.epoch ?? null);
      t.true((again?.epoch ?? 0) > (fresh?.epoch ?? Infinity));
      if (ttl === 1) t.true(lost(logger) > 0, "3 s > 2 x TTL: etcd3 gave the lease up and it was replaced");
      t.deepEqual(leaders.overlaps, [], "never two leaders");
    },
  );
}

function lost(logger: MemoryLogger): number {
  return logger.lines.filter((l) => l.event === "rsl_lease_lost").length;
}
