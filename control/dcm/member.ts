/**
 * A channel's member as its DCM sees it (DcmMember), and the two pure readings of one the DCM
 * makes: the engine's TierNode, and what an update changed (the topology's inputs, or only the
 * address other nodes' ASSIGNs name). Owns no state; imports nothing of the DCM's.
 */
import { NatType } from "../../protocol/messages.js";
import type { TierNode } from "../topology/tier-types.js";

/** A member (or the origin) as the DCM sees it. */
export interface DcmMember {
  id: number;
  address: string;
  port: number;
  region: string;
  uploadKbps: number;
  joinedAt: number;
  /** Three-tier engine: NAT type (default UNKNOWN), waypoint box, preferred-eligible (default false). */
  nat?: NatType;
  waypoint?: boolean;
  eligible?: boolean;
  /** LAN HTTP port: children repair missing segments from it. */
  httpPort?: number;
  /** False for a recruit: an idle box offered to relay a channel it does not watch (default true). */
  watching?: boolean;
}

/** A member as the three-tier engine reads it. */
export function toTierNode(m: DcmMember): TierNode {
  return {
    id: m.id,
    region: m.region,
    uploadKbps: m.uploadKbps,
    nat: m.nat ?? NatType.UNKNOWN,
    role: m.waypoint === true ? "waypoint" : "agent",
    eligible: m.waypoint === true || m.eligible === true,
    joinedAt: m.joinedAt,
    watching: m.watching !== false,
  };
}

/**
 * What replacing `before` by `after` changes (null: absent): "topology" when the engine's inputs
 * changed (a member or the origin came or went, or its region, capacity, NAT, role or watching
 * did), "address" when only its address or port did (only the ASSIGNs that name it change),
 * else "none".
 */
export function memberChange(
  before: DcmMember | null,
  after: DcmMember | null,
): "topology" | "address" | "none" {
  if (
    before === null ||
    after === null ||
    before.id !== after.id ||
    before.region !== after.region ||
    before.uploadKbps !== after.uploadKbps ||
    before.joinedAt !== after.joinedAt ||
    before.nat !== after.nat ||
    before.waypoint !== after.waypoint ||
    before.eligible !== after.eligible ||
    before.watching !== after.watching
  )
    return before !== null || after !== null ? "topology" : "none";
  return before.address !== after.address || before.port !== after.port ? "address" : "none";
}
