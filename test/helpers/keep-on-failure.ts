/**
 * A process test's folder (its processes' logs, databases, identities): removed when the test
 * passed, kept and named on stderr when it failed, so that a failure seen once, in a fresh-clone
 * run or in CI, can still be read afterwards. Call it from the test's t.teardown, where
 * `t.passed` already says how the test ended.
 */
import { rmSync } from "node:fs";

export function removeIfPassed(t: { readonly passed: boolean; readonly title: string }, dir: string): void {
  if (t.passed) rmSync(dir, { recursive: true, force: true });
  else process.stderr.write(`${t.title}: failed; its logs are kept in ${dir}\n`);
}
