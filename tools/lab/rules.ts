/**
 * The network lab's impairment rules as text (pure), applied per host link by build.ts:
 * the nftables ruleset that drops UDP at random on eth0 (egress and ingress, netdev hooks, so a
 * drop is silent like a wire), and the tc tbf arguments of an upload cap.
 */
import { DEFAULT_UP_QUEUE_MS } from "./plan.js";

/** The nftables ruleset for a host: drop `lossPercent` of UDP leaving and entering eth0. */
export function lossRuleset(lossPercent: number): string {
  // numgen over 10000 gives 0.01 % steps.
  const cut = Math.round(lossPercent * 100);
  const drop = `meta l4proto udp numgen random mod 10000 < ${cut} drop`;
  return [
    "table netdev lab {",
    `  chain up { type filter hook egress device "eth0" priority 0; ${drop}; }`,
    `  chain down { type filter hook ingress device "eth0" priority 0; ${drop}; }`,
    "}",
    "",
  ].join("\n");
}

/**
 * tbf arguments for an upload cap: 50 ms of burst (at least 4 full frames), a queue of `queueMs`
 * (default 50). The burst is the agents' pacer burst (dataplane/pacer.ts): tbf dequeues from a
 * kernel timer, which runs late on a loaded 2-core machine, and a bucket smaller than what the
 * pacer may send back to back turns every late dequeue of more than 10 ms into drops that no
 * modem's uplink makes.
 */
export function tbfArgs(upKbps: number, queueMs = DEFAULT_UP_QUEUE_MS): string[] {
  const burst = Math.max(4 * 1514, Math.ceil((upKbps * 1000) / 8 / 20));
  return ["rate", `${upKbps}kbit`, "burst", String(burst), "latency", `${queueMs}ms`];
}
