/**
 * Upload cap shedding (pure). The Pacer never sends above the configured upload rate, so a node
 * whose children ask for more than its cap would only build a queue and deliver everything late.
 * Once per heartbeat interval the guard looks at the Pacer's live backlog expressed as time
 * (bytes / rate) — the least that was queued during the interval (Pacer.takeLowWater), so a
 * queue that peaks after each burst (a segment forwarded at once) and drains again is not an
 * overload, whenever in the interval the check happens to run — above `maxQueueDelayMs` for
 * `overChecks` intervals in a row, it sheds
 * one child — the lowest priority one — and the HEARTBEAT says how many were shed (resources.shed),
 * so control moves them (their links also fall behind: the congestion rule). A new ASSIGN
 * clears the shed list: control has re-planned with what it now knows.
 *
 * Priority, lowest first: plain TREE children (tier-3 leaves and sub-trees), last in the ASSIGN
 * first; erasure-coded children next; mesh neighbours are never shed (tier 1 must stay
 * c-connected, flooding covers a slow neighbour).
 */
import { LinkAlgorithm, type ChildLink } from "../../protocol/messages.js";
import { addressKey } from "../../seams/transport.js";

export interface UploadGuardConfig {
  /** Live queue, as time at the cap, above which the node is over its cap. */
  maxQueueDelayMs: number;
  /** Intervals in a row over the cap before one child is shed. */
  overChecks: number;
}

export const DEFAULT_UPLOAD_GUARD: UploadGuardConfig = { maxQueueDelayMs: 400, overChecks: 2 };

export class UploadGuard {
  readonly #config: UploadGuardConfig;
  readonly #shed = new Set<string>();
  #over = 0;

  constructor(config: Partial<UploadGuardConfig> = {}) {
    this.#config = { ...DEFAULT_UPLOAD_GUARD, ...config };
  }

  /** Children shed since the last ASSIGN. */
  get shedCount(): number {
    return this.#shed.size;
  }

  isShed(key: string): boolean {
    return this.#shed.size > 0 && this.#shed.has(key);
  }

  /** A new ASSIGN: every child gets its chance again. */
  reset(): void {
    this.#shed.clear();
    this.#over = 0;
  }

  /**
   * One interval's check: `queuedBytes` of live data wait in the Pacer, which sends
   * `rateBytesPerSec` (0: no cap, nothing to do). Returns the child shed now, if any.
   */
  check(queuedBytes: number, rateBytesPerSec: number, children: readonly ChildLink[]): ChildLink | undefined {
    if (rateBytesPerSec <= 0) return undefined;
    const delayMs = (queuedBytes / rateBytesPerSec) * 1000;
    if (delayMs <= this.#config.maxQueueDelayMs) {
      this.#over = 0;
      return undefined;
    }
    if (++this.#over < this.#config.overChecks) return undefined;
    this.#over = 0;
    const victim = lowestPriority(children, this.#shed);
    if (victim !== undefined) this.#shed.add(addressKey(victim));
    return victim;
  }
}

function lowestPriority(children: readonly ChildLink[], shed: ReadonlySet<string>): ChildLink | undefined {
  for (const wanted of [LinkAlgorithm.TREE, LinkAlgorithm.FEC_TREE]) {
    for (let i = children.length - 1; i >= 0; i--) {
      const c = children[i]!;
      if ((c.algorithm ?? LinkAlgorithm.TREE) === wanted && !shed.has(addressKey(c))) return c;
    }
  }
  return undefined;
}
