/**
 * The control center's defaults, in one place: `tiercast control`'s option spec (control/main.ts),
 * the demo (cli/demo.ts) and the library (ControlCenter, ContentDirectory, Dcm, startControl) all
 * read them here, so a setting left out means the same thing to the command and to a test that
 * builds a ControlCenter. docs/control.md's option table is checked against the spec
 * (test/docs-options.test.ts).
 */
import { CONTROL_PORT, LOOPBACK } from "../common/defaults.js";

/** The topology engines control can run (`--topology`). */
export const TOPOLOGIES = ["tree", "tiered"] as const;
export type TopologyName = (typeof TOPOLOGIES)[number];

/** Every default of control, each with its reason. */
export const CONTROL_DEFAULTS = {
  /** UDP socket: loopback until an operator opens it up. */
  host: LOOPBACK,
  port: CONTROL_PORT,
  /** Admin HTTP: loopback, beside the UDP port. It holds the bearer-token API: keep it off the internet. */
  adminHost: LOOPBACK,
  adminPort: CONTROL_PORT + 1,
  /** SQLite file (node ids, channels, history); the identity and the admin token sit beside it. */
  db: ".tiercast/control.db",
  /** The interval nodes are told to heartbeat at (JOIN_ACK.heartbeatMs). */
  heartbeatMs: 1000,
  /** Heartbeats missed before a node is lost: one lost datagram, or two, is not a departure. */
  missedHeartbeats: 3,
  /**
   * The three-tier engine (docs/topology.md): what production runs, so the library default too
   * (most control tests run it). `tree`, the foundation's capacity-aware tree, is chosen by name.
   */
  topology: "tiered" as TopologyName,
  /** Substreams per channel unless the region policy's `topology.k` says otherwise. */
  k: 1,
  /** Any key may join (demo, lab); production sets `token` or `allowlist`. */
  enrolment: "open",
  /** With etcd: a server silent this long, s, loses its DCMs to the others. */
  leaseTtlS: 2,
  /** One DCM worker behind the UDP front: a crashed worker's channels move to a fresh one. */
  workers: 1,
  /**
   * UDP receive buffer, bytes: 8 MiB holds about 10,000 datagrams (the kernel counts each at its
   * allocation, ~768 bytes for a heartbeat) while a slice of admission work runs. The kernel's
   * default (208 KiB) overflowed in issue 13's flash crowd.
   */
  recvBufferBytes: 8 << 20,
  logLevel: "info",
} as const;
