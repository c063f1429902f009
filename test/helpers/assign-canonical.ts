/**
 * The canonical form of an assignment, as one string: the body's JSON without the version, the
 * parts, the parents' HTTP ports and the epoch, the children sorted by node. The reference the
 * tests hold control/assign-body.ts's sameAssignment and the DCMs' ASSIGN state against.
 */
import type { AssignBody } from "../../protocol/messages.js";

/** What an ASSIGN's receiver would act on. */
export function canonicalAssignment(b: AssignBody): string {
  const children = [...b.children].sort((x, y) => x.node - y.node);
  return JSON.stringify([
    b.channel,
    b.k,
    b.tier,
    b.parents,
    children,
    b.role ?? null,
    b.cluster ?? null,
    b.fec ?? null,
    b.mesh ?? null,
  ]);
}
