/**
 * Simulator scenario control-kill (sim/scenarios/control-kill.ts, docs/sim.md) at SIM_TEST_NODES nodes (test/helpers/sim-size.ts: 10^4 in the suite), seeded: control stops, a fresh one takes the same store, identity and port; every viewer resumes and is placed, nobody is lost.
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

test("control-kill at " + NODES + " nodes: everyone resumed and placed, none lost", async (t) => {
  // 1 to 1.5 minutes of CPU at 10^4 (docs/sim.md), longer on a loaded machine. The run is
  // synchronous: one turn of the event loop lets ava hear of this timeout first, else its
  // own (3 min without a result, ava.config.js) ends the run however far it got.
  t.timeout(10 * 60_000);
  await turn();
  const r = simulate({ nodes: NODES, scenario: "control-kill", seed: 13, heap: false });
  t.log(JSON.stringify({ checks: r.checks, figures: r.figures, measured: r.measured }));
  t.true(r.checks.everyoneBack, "every viewer in a session the new control knows, placed");
  t.true(r.checks.noneLostByNewControl);
  t.true(r.checks.noHandlerErrors);
  t.true((r.figures.resumed ?? 0) > 0, "sessions resumed with their tickets");
  t.not(r.figures.failoverMs, null);
});
