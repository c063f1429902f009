/**
 * A node's control-session timing, below the programs so that the agent's session, the origin's
 * and the simulator's viewers (sim/viewer.ts) read the same figures: the JOIN intervals an agent
 * session defaults to, and how often an unauthenticated REJOIN hint is acted on. Beside
 * control-link.ts (the session's messages) and control-failover.ts (its reassociation, and the
 * JOIN back-off these intervals start from).
 */
import { SECOND } from "../seams/clock.js";
import { JOIN_BACKOFF } from "./control-failover.js";

/** The agent session's JOIN intervals, ms (agent/config.ts's defaults). */
export const SESSION_TIMING = {
  joinRetryMs: JOIN_BACKOFF.baseMs,
  joinRetryCapMs: JOIN_BACKOFF.capMs,
  unknownChannelRetryMs: 2 * SECOND,
  refusedRetryMs: 5 * SECOND,
};

/** An unauthenticated REJOIN hint is acted on at most this often, ms (a forged one costs a handshake). */
export const REJOIN_HINT_MS = 10 * SECOND;
