/**
 * Simulator scenario flash-crowd (sim/scenarios/flash-crowd.ts, docs/sim.md) at SIM_TEST_NODES nodes (test/helpers/sim-size.ts: 10^4 in the suite), seeded: N viewers join over 60 s; every one is placed and no node is lost.
 * Outcomes only, no timings (those are npm run sim's). SIM_TEST_NODES sets the node count
 * (a smaller one to try the scenario quickly); the run's figures go to the test's log.
 *
 * @heavy soak: 10^4 simulated nodes against the real control, tens of seconds of CPU
 */
import { setImmediate as turn } from "node:timers/promises";
import test from "ava";
import { simulate } from "../sim/main.js";
import { SIM_TEST_NODES } from "./helpers/sim-size.js";

const NODES = SIM_TEST_NODES;

test("flash-crowd at " + NODES + " nodes: all placed, none lost", async (t) => {
  // 1 to 1.5 minutes of CPU at 10^4 (docs/sim.md), longer on a loaded machine. The run is
  // synchronous: one turn of the event loop lets ava hear of this timeout first, else its
  // own (3 min without a result, ava.config.js) ends the run however far it got.
  t.timeout(10 * 60_000);
  await turn();
  const r = simulate({ nodes: NODES, scenario: "flash-crowd", seed: 13, heap: false });
  t.log(JSON.stringify({ checks: r.checks, figures: r.figures, measured: r.measured }));
  t.true(r.checks.allPlaced, "every viewer placed");
  t.true(r.checks.noneLost, "no node lost");
  t.true(r.checks.originUp);
  t.true(r.checks.noHandlerErrors);
  t.is(r.figures.placed, NODES);
});
