/**
 * The pace of a full build run in steps (engine.ts buildSteps, diff.ts assignDiffSteps, a DCM's
 * rebuild): the phases count the nodes of work they did, and a step ends once `per` of them are
 * done. A small build is then one step (the whole of it at once, as before steps existed), a
 * build of 10^5 nodes about a hundred.
 */
export class StepMeter {
  #done = 0;

  constructor(readonly per: number) {}

  /** Counts n nodes of work; true when a step is full (the caller yields; the count starts again). */
  add(n: number): boolean {
    this.#done += n;
    if (this.#done < this.per) return false;
    this.#done = 0;
    return true;
  }
}
