/**
 * Defaults more than one program shares, kept once: the control center's UDP endpoint, which
 * `tiercast control` binds by default and `tiercast agent` and `tiercast origin` send to by
 * default. Each program's own defaults live beside it (control/defaults.ts, agent/config.ts,
 * origin/origin.ts) and its option spec reads them from there.
 */

/** Control's UDP port: what control binds and the agent and the origin are pointed at. */
export const CONTROL_PORT = 7700;

/** Loopback: a program listens on, and talks to, this host only until told otherwise. */
export const LOOPBACK = "127.0.0.1";

/** Where the agent and the origin find control unless told (`--control`). */
export const DEFAULT_CONTROL_ENDPOINT: { readonly host: string; readonly port: number } = Object.freeze({
  host: LOOPBACK,
  port: CONTROL_PORT,
});
