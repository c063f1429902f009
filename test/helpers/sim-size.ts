/**
 * How many nodes the simulator scenario tests run (test/sim-*.test.ts). Issue 13 asks for 10^4;
 * at control's speed today a 10^4 scenario takes 3 to 10 minutes of this 2-core machine each
 * (churn did not finish in 3), too long for `npm test`, so the suite runs them at 2,000 until
 * control is faster. `SIM_TEST_NODES=10000 npx ava test/sim-*.test.ts` runs them at 10^4.
 */
const raw = process.env.SIM_TEST_NODES ?? "2000";
const n = Number(raw);
if (!Number.isInteger(n) || n < 10) throw new Error(`SIM_TEST_NODES must be an integer >= 10, got "${raw}"`);

export const SIM_TEST_NODES = n;
