/**
 * Simulator scenario region-outage (sim/scenarios/region-outage.ts, docs/sim.md) at SIM_TEST_NODES nodes (test/helpers/sim-size.ts: 10^4 in the suite), seeded: region 0 goes dark; exactly its nodes are declared lost and every other viewer is repaired onto live parents.
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

test(
  "region-outage at " + NODES + " nodes: the dark region lost, the rest repaired, none lost outside",
  async (t) => {
    // 1 to 1.5 minutes of CPU at 10^4 (docs/sim.md), longer on a loaded machine. The run is
    // synchronous: one turn of the event loop lets ava hear of this timeout first, else its
    // own (3 min without a result, ava.config.js) ends the run however far it got.
    t.timeout(10 * 60_000);
    await turn();
    const r = simulate({ nodes: NODES, scenario: "region-outage", seed: 13, heap: false });
    t.log(JSON.stringify({ checks: r.checks, figures: r.figures, measured: r.measured }));
    t.true(r.checks.outageDetected, "every node of the dark region declared lost");
    t.true(r.checks.restRepaired, "every other viewer placed on live parents");
    t.true(r.checks.noneLostOutside, "no node lost outside the region");
    t.true(r.checks.noHandlerErrors);
    t.true((r.figures.dark ?? 0) > 0);
    t.is(r.figures.lostInside, r.figures.dark);
  },
);
