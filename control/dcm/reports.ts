/**
 * What the nodes say of themselves to their channel's DCM: per node its placement (RESUME) and
 * its last heartbeat (packed: heartbeat-report.ts), with how many heartbeats came and how many
 * the watchdog's stale-link check judged; and the ASSIGN versions nodes reported before this DCM
 * sent them one (adoption: numbering continues from them). Owns those two maps; the Dcm writes
 * them through the methods here, adoption and the watchdog read them. Imports nothing of the
 * DCM's but the topology's report types.
 */
import { childAt, childCount, type HeartbeatReport, parentAt, parentSlots } from "../heartbeat-report.js";
import type { NodeReport, ReportedPlacement } from "../topology/adopt.js";

/** A node's reports: its placement (RESUME) and its last heartbeat. */
interface Reported {
  placement?: ReportedPlacement;
  hb?: HeartbeatReport;
  /** Heartbeats seen, and how many the stale-link check has judged. */
  seq: number;
  judged: number;
}

export class NodeReports {
  readonly #reports = new Map<number, Reported>();
  /** ASSIGN versions nodes reported before this DCM sent them one: numbering continues from them. */
  readonly #carried = new Map<number, number>();

  /** A heartbeat came from `id` (packed). */
  heartbeat(id: number, hb: HeartbeatReport): void {
    const r = this.#reportOf(id);
    r.hb = hb;
    r.seq++;
  }

  /** `id` resumed: its placement, when it reported one. */
  resumed(id: number, placement: ReportedPlacement | undefined): void {
    const r = this.#reportOf(id);
    if (placement !== undefined) r.placement = placement;
  }

  /** The last heartbeat of `id`, packed. */
  hb(id: number): HeartbeatReport | undefined {
    return this.#reports.get(id)?.hb;
  }

  /**
   * The stale-link check judges the heartbeats of `id`: false when none came since it last did
   * (nothing new to judge), true otherwise; they count as judged from now on.
   */
  judge(id: number): boolean {
    const r = this.#reports.get(id);
    if (r === undefined) return false;
    const fresh = r.seq !== r.judged;
    r.judged = r.seq;
    return fresh;
  }

  /** Nodes with a report. */
  ids(): number[] {
    return [...this.#reports.keys()];
  }

  /** What adoption reads of a node's reports (topology/adopt.ts). */
  nodeReport(id: number): NodeReport | undefined {
    const r = this.#reports.get(id);
    if (r === undefined) return undefined;
    const out: NodeReport = {};
    if (r.placement !== undefined) out.placement = r.placement;
    const hb = r.hb;
    if (hb !== undefined) {
      out.parents = Array.from({ length: parentSlots(hb) }, (_, j) => parentAt(hb, j));
      out.children = Array.from({ length: childCount(hb) }, (_, i) => childAt(hb, i));
    }
    return out;
  }

  /** Every node the reports name: parents, children (heartbeats) and mesh neighbours (placements). */
  named(): Set<number> {
    const named = new Set<number>();
    for (const r of this.#reports.values()) {
      const hb = r.hb;
      if (hb !== undefined) {
        for (let j = 0; j < parentSlots(hb); j++) {
          const p = parentAt(hb, j);
          if (p !== null) named.add(p);
        }
        for (let i = 0; i < childCount(hb); i++) named.add(childAt(hb, i));
      }
      for (const m of r.placement?.mesh ?? []) named.add(m);
    }
    return named;
  }

  /** The ASSIGN version `id` reported before this DCM sent it one, if any. */
  carried(id: number): number | undefined {
    return this.#carried.get(id);
  }

  /** `id` reported applying ASSIGN `version`: numbering will continue from the latest reported. */
  carry(id: number, version: number): void {
    this.#carried.set(id, Math.max(this.#carried.get(id) ?? 0, version));
  }

  /** The carried version of `id`, which leaves (its first ASSIGN from this DCM takes it). */
  takeCarried(id: number): number | undefined {
    const version = this.#carried.get(id);
    if (version !== undefined) this.#carried.delete(id);
    return version;
  }

  /** Forgets `id`. */
  delete(id: number): void {
    this.#reports.delete(id);
    this.#carried.delete(id);
  }

  /** Forgets every node `keep` says no. */
  retain(keep: (id: number) => boolean): void {
    for (const id of [...this.#reports.keys()]) if (!keep(id)) this.#reports.delete(id);
    for (const id of [...this.#carried.keys()]) if (!keep(id)) this.#carried.delete(id);
  }

  #reportOf(id: number): Reported {
    let r = this.#reports.get(id);
    // Every field from the start: all four in the object itself (a field added later costs a
    // PropertyArray, ≈ 40 B a node).
    if (r === undefined)
      this.#reports.set(id, (r = { placement: undefined, hb: undefined, seq: 0, judged: 0 }));
    return r;
  }
}
