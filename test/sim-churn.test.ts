/**
 * Simulator scenario churn (sim/scenarios/churn.ts, docs/sim.md) at SIM_TEST_NODES nodes (test/helpers/sim-size.ts: 10^4 in the suite), seeded: viewers leave and as many join at 5 % of N per minute, for 30 s (each further 30 s costs about 15 s of CPU at 10^4 and checks nothing new); every viewer present ends placed on live parents, nobody is lost.
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

test("churn at " + NODES + " nodes: everyone present placed on live parents, none lost", async (t) => {
  // 1 to 1.5 minutes of CPU at 10^4 (docs/sim.md), longer on a loaded machine. The run is
  // synchronous: one turn of the event loop lets ava hear of this timeout first, else its
  // own (3 min without a result, ava.config.js) ends the run however far it got.
  t.timeout(10 * 60_000);
  await turn();
  const r = simulate({ nodes: NODES, scenario: "churn", seed: 13, heap: false, minutes: 0.5 });
  t.log(JSON.stringify({ checks: r.checks, figures: r.figures, measured: r.measured }));
  t.true(r.checks.allPlaced, "every present viewer placed on live parents");
  t.true(r.checks.newcomersPlaced, "every newcomer placed");
  t.true(r.checks.noneLost, "a LEAVE is not a loss");
  t.true(r.checks.noHandlerErrors);
  t.true((r.figures.left ?? 0) > 0 && r.figures.left === r.figures.joined);
});
