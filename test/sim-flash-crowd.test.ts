/**
 * Simulator scenario flash-crowd (sim/scenarios/flash-crowd.ts, docs/sim.md) at SIM_TEST_NODES nodes (test/helpers/sim-size.ts: 2,000 in the suite, 10^4 the target), seeded: N viewers join over 60 s; every one is placed and no node is lost.
 * Outcomes only, no timings (those are npm run sim's). SIM_TEST_NODES sets the node count
 * (a smaller one to try the scenario quickly); the run's figures go to the test's log.
 */
import test from "ava";
import { simulate } from "../sim/main.js";
import { SIM_TEST_NODES } from "./helpers/sim-size.js";

const NODES = SIM_TEST_NODES;

test("flash-crowd at " + NODES + " nodes: all placed, none lost", (t) => {
  // Control at 10^4 nodes is slow today (issue 13): the run takes minutes of wall time.
  t.timeout(60 * 60_000);
  const r = simulate({ nodes: NODES, scenario: "flash-crowd", seed: 13, heap: false });
  t.log(JSON.stringify({ checks: r.checks, figures: r.figures, measured: r.measured }));
  t.true(r.checks.allPlaced, "every viewer placed");
  t.true(r.checks.noneLost, "no node lost");
  t.true(r.checks.originUp);
  t.true(r.checks.noHandlerErrors);
  t.is(r.figures.placed, NODES);
});
