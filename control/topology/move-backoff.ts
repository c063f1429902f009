/**
 * Backoff for congestion moves (FIG. 9), per child x substream. A congested link is moved
 * (planMove) to another parent; when the fault follows the substream or the child — a lossy
 * last mile, a firewall dropping one coded substream at the child's ingress — the replacement
 * link shows the same symptom and, without a brake, the DCM moves it again every other
 * heartbeat, each time with ASSIGNs and make-before-break churn for three nodes and no gain.
 *
 * Rule, per key (the DCM uses `<child>/<substream>`: the key outlives the parent it is moved from):
 * - `lagging(key, now)` records that a link carrying the key lags; the first sighting opens
 *   a streak.
 * - An urgent link may move at once on the first sighting; after m moves in the streak the next
 *   one waits `min(capMs, baseMs x 2^(m-1))` from the last move (base, 2 base, 4 base... cap).
 * - A spare link (not urgent: congestion-monitor.ts) waits `capMs` from the streak's start or
 *   from its last move, whichever is later: at most one move per cap.
 * - A key not seen lagging for `resetAfterMs` is forgotten (the streak ends: the next move is
 *   immediate again). `sweep` does it; the map therefore holds only keys that lagged lately.
 *
 * Pure: no clock of its own, `now` (ms, from the injected Clock) comes with every call.
 */

export interface MoveBackoffPolicy {
  /** Wait after the first move of a streak, ms; doubles with every further move. */
  baseMs: number;
  /** Longest wait between two moves of a key, ms (and a spare link's wait). */
  capMs: number;
  /** A key not seen lagging this long starts afresh, ms. */
  resetAfterMs: number;
}

export const DEFAULT_MOVE_BACKOFF: MoveBackoffPolicy = { baseMs: 4000, capMs: 60_000, resetAfterMs: 30_000 };

interface Streak {
  firstBadAt: number;
  lastBadAt: number;
  /** Moves in this streak. */
  moves: number;
  lastMoveAt: number | undefined;
}

export class MoveBackoff {
  readonly policy: MoveBackoffPolicy;
  readonly #streaks = new Map<string, Streak>();

  constructor(policy: Partial<MoveBackoffPolicy> = {}) {
    this.policy = { ...DEFAULT_MOVE_BACKOFF, ...policy };
  }

  /** Keys in a streak. */
  get size(): number {
    return this.#streaks.size;
  }

  /** Moves of the key in its current streak (0: none, or no streak). */
  moves(key: string): number {
    return this.#streaks.get(key)?.moves ?? 0;
  }

  /** Wait after the m-th move of a streak, ms (0 for m = 0). */
  delayAfter(moves: number): number {
    if (moves <= 0) return 0;
    return Math.min(this.policy.capMs, this.policy.baseMs * 2 ** Math.min(moves - 1, 52));
  }

  /** A link carrying `key` lags now. */
  lagging(key: string, now: number): void {
    const s = this.#streaks.get(key);
    if (s === undefined)
      this.#streaks.set(key, { firstBadAt: now, lastBadAt: now, moves: 0, lastMoveAt: undefined });
    else s.lastBadAt = Math.max(s.lastBadAt, now);
  }

  /** ms before the key may be moved (0: now); `urgent` false for a spare link. */
  waitMs(key: string, now: number, urgent: boolean): number {
    const s = this.#streaks.get(key);
    if (s === undefined) return urgent ? 0 : this.policy.capMs;
    const due = urgent
      ? s.lastMoveAt === undefined
        ? now
        : s.lastMoveAt + this.delayAfter(s.moves)
      : (s.lastMoveAt ?? s.firstBadAt) + this.policy.capMs;
    return Math.max(0, due - now);
  }

  /** The key was moved now; returns the wait before an urgent move of it, ms. */
  moved(key: string, now: number): number {
    this.lagging(key, now);
    const s = this.#streaks.get(key)!;
    s.moves = Math.min(s.moves + 1, 1_000_000);
    s.lastMoveAt = now;
    return this.delayAfter(s.moves);
  }

  /** Forgets the keys not seen lagging for resetAfterMs (their links have been healthy). */
  sweep(now: number): void {
    for (const [key, s] of this.#streaks)
      if (now - s.lastBadAt >= this.policy.resetAfterMs) this.#streaks.delete(key);
  }
}
