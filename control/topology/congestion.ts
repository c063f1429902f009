/**
 * Congestion detection (FIG. 9): every heartbeat carries, per parent, the last sequence
 * number the node received from it and, per child, the last one it sent. Joining the two ends
 * of a link over two successive heartbeat intervals tells how far the child lags behind what
 * its parent sent. Pure: the DCM's congestion monitor (control/congestion-monitor.ts) collects
 * the samples and decides which verdicts to act on now (move backoff, spare coded links); planMove
 * in plan-repair.ts moves the child's substreams on that link to another parent.
 *
 * Rule: lag = sent - received (16-bit sequence arithmetic: the heartbeat carries the low 16 bits of
 * each sequence number; a child ahead counts as 0). A link is
 * congested when the lag is at least `lagPackets` now, it did not shrink since the previous
 * interval, and the parent did send something in the interval (an idle link is not
 * congested, it is a dead parent, which the heartbeat timeout handles).
 */

export interface LinkSample {
  parent: number;
  child: number;
  /** The parent's last sequence number sent to the child (parent's heartbeat). */
  sentSeq: number;
  /** The child's last sequence number received from the parent (child's heartbeat). */
  recvSeq: number;
  /**
   * The child heard nothing on this link for longer than the monitor's freshness window: its
   * lag is then at least STALE_LAG, whatever the 16-bit numbers say (a link dead for more than
   * 2^15 packets would otherwise wrap around and look healthy).
   */
  stale?: boolean;
}

/** The lag of a link on which the child has heard nothing lately: the most 16 bits can tell. */
export const STALE_LAG = 0x7fff;

export interface CongestionPolicy {
  /** Packets behind at which a link counts as congested. */
  lagPackets: number;
}

export const DEFAULT_CONGESTION: CongestionPolicy = { lagPackets: 64 };

export interface CongestedLink {
  parent: number;
  child: number;
  lag: number;
  /** Lag growth over the interval (>= 0). */
  growth: number;
}

/** The heartbeat's lastSeq is the low 16 bits (protocol/control-bodies.ts): compared mod 2^16. */
const SEQ_SPACE = 0x1_0000;

/** a - b on 16-bit sequence numbers (the heartbeat's), as a signed distance (RFC 1982 style). */
export function seqDiff(a: number, b: number): number {
  const d = (((a - b) % SEQ_SPACE) + SEQ_SPACE) % SEQ_SPACE;
  return d >= SEQ_SPACE / 2 ? d - SEQ_SPACE : d;
}

function lagOf(s: LinkSample): number {
  return linkLag(s.sentSeq, s.recvSeq, s.stale === true);
}

/** How far a link's child is behind its parent: sent - received (>= 0), at least STALE_LAG when stale. */
export function linkLag(sentSeq: number, recvSeq: number, stale: boolean): number {
  const lag = Math.max(0, seqDiff(sentSeq, recvSeq));
  return stale ? Math.max(lag, STALE_LAG) : lag;
}

/**
 * The rule on one link over one interval, from the previous sample's lag and sent seq and the
 * current ones: congested when the lag reached lagPackets, did not shrink, and the parent sent.
 */
export function isCongested(
  prevLag: number,
  prevSentSeq: number,
  lag: number,
  sentSeq: number,
  policy: CongestionPolicy,
): boolean {
  return lag >= policy.lagPackets && lag - prevLag >= 0 && seqDiff(sentSeq, prevSentSeq) > 0;
}

/** congestedLinks' order: worst lag first, then child, then parent. */
export function byLag(a: CongestedLink, b: CongestedLink): number {
  return b.lag - a.lag || a.child - b.child || a.parent - b.parent;
}

/** Links congested over the interval between two rounds of samples, worst first. */
export function congestedLinks(
  previous: readonly LinkSample[],
  current: readonly LinkSample[],
  policy: CongestionPolicy = DEFAULT_CONGESTION,
): CongestedLink[] {
  const before = new Map(previous.map((s) => [`${s.parent}>${s.child}`, s]));
  const out: CongestedLink[] = [];
  for (const s of current) {
    const p = before.get(`${s.parent}>${s.child}`);
    if (p === undefined) continue;
    const lag = lagOf(s);
    const prevLag = lagOf(p);
    if (isCongested(prevLag, p.sentSeq, lag, s.sentSeq, policy))
      out.push({ parent: s.parent, child: s.child, lag, growth: lag - prevLag });
  }
  return out.sort(byLag);
}
