/**
 * Congestion detection (FIG. 9): every heartbeat carries, per parent, the last sequence
 * number the node received from it and, per child, the last one it sent. Joining the two ends
 * of a link over two successive heartbeat intervals tells how far the child lags behind what
 * its parent sent. Pure: the DCM's congestion monitor (control/congestion-monitor.ts) collects
 * the samples and decides which verdicts to act on now (move backoff, spare coded links); planMove
 * in repair.ts moves the child's substreams on that link to another parent.
 *
 * Rule: lag = sent - received (u32 sequence arithmetic; a child ahead counts as 0). A link is
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
}

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

const U32 = 0x1_0000_0000;

/** a - b on u32 sequence numbers, as a signed distance (RFC 1982 style). */
export function seqDiff(a: number, b: number): number {
  const d = (((a - b) % U32) + U32) % U32;
  return d >= U32 / 2 ? d - U32 : d;
}

function lagOf(s: LinkSample): number {
  return Math.max(0, seqDiff(s.sentSeq, s.recvSeq));
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
    const growth = lag - lagOf(p);
    const sent = seqDiff(s.sentSeq, p.sentSeq);
    if (lag >= policy.lagPackets && growth >= 0 && sent > 0)
      out.push({ parent: s.parent, child: s.child, lag, growth });
  }
  return out.sort((a, b) => b.lag - a.lag || a.child - b.child || a.parent - b.parent);
}
