/**
 * Simulator scenario congestion-wave (sim/scenarios/congestion-wave.ts, docs/sim.md) at SIM_TEST_NODES nodes (test/helpers/sim-size.ts: 10^4 in the suite), seeded: 10 % of the viewers report lag for 30 s; congestion moves happen, most bad path links are left, the backoff bounds the moves of a fault that follows its child, and the moves stop after the wave.
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
  "congestion-wave at " + NODES + " nodes: moves happen, bad paths left, backoff bounds, moves stop",
  async (t) => {
    // 1 to 1.5 minutes of CPU at 10^4 (docs/sim.md), longer on a loaded machine. The run is
    // synchronous: one turn of the event loop lets ava hear of this timeout first, else its
    // own (3 min without a result, ava.config.js) ends the run however far it got.
    t.timeout(10 * 60_000);
    await turn();
    const r = simulate({ nodes: NODES, scenario: "congestion-wave", seed: 13, heap: false });
    t.log(JSON.stringify({ checks: r.checks, figures: r.figures, measured: r.measured }));
    t.true(r.checks.movesHappened, "congestion moves");
    t.true(r.checks.badPathsLeft, "most lagging path links left within the wave");
    t.true(r.checks.backoffBounds, "the backoff bounds the moves of a fault that follows the child");
    t.true(r.checks.movesStop, "no moves once the wave is over");
    t.true(r.checks.noHandlerErrors);
  },
);
