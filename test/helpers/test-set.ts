/**
 * Which suite is running, and the one budget that differs between the two.
 *
 * `npm test` (CI) runs every seeded fuzz loop at its full count. `npm run test:fast`
 * (TIERCAST_TEST_SET=fast, set by ava.fast.config.js) runs the first fifth of the very same
 * seeded sequence: the loops draw their mutants from a seeded PRNG one after another, so the fast
 * loop's mutants are a prefix of the full suite's, and a failure it finds, the full suite finds
 * too. The 100,000-mutant loops were a third of the fast loop's CPU.
 */
export const FAST_SET = process.env.TIERCAST_TEST_SET === "fast";

/** How many iterations a seeded fuzz loop whose full count is `full` runs in this suite. */
export function fuzzIterations(full: number): number {
  return FAST_SET ? Math.ceil(full / 5) : full;
}
