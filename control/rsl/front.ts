/**
 * The front of a control process (docs/resilience.md): it owns the UDP socket nodes send to and
 * routes each datagram by the channel it is about to the server that holds that channel's DCM —
 * a local one (a DCM worker on one machine, the process's own ControlCenter on several), which
 * gets the bytes untouched and authenticates them itself, or a server on another machine, in
 * which case the node gets a REDIRECT hint naming that server's endpoint (never larger than what
 * came in). The front reads the envelope and the channel field only: it authenticates nothing
 * and keeps no per-node state, so losing a worker loses nothing the front knew. A HEARTBEAT or
 * LEAVE written the canonical way is routed from a peek at its channel field
 * (protocol/envelope-peek.ts) and decoded once, by its server; anything else is decoded here.
 *
 *   JOIN                  the first channel it names (an origin's JOIN also asks the service
 *                         manager for the channel's DCM); no channel (an idle box): any local server
 *   HEARTBEAT, LEAVE,     the channel id in the body
 *   RESUME
 *   anything else         dropped and counted
 */
import { decodeControl, encodeControl } from "../../protocol/control-codec.js";
import { classifyDatagram } from "../../protocol/data-codec.js";
import { peekChannel } from "../../protocol/envelope-peek.js";
import { MAX_CONTROL_BYTES, WIRE_VERSION } from "../../protocol/limits.js";
import { type ControlMessage, MsgType, Role } from "../../protocol/messages.js";
import type { Clock } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import { addressKey, type Address, type Transport } from "../../seams/transport.js";
import { ControlMetrics } from "../metrics.js";

/** A control server in this process that the front hands datagrams to. */
export interface LocalServer {
  readonly id: string;
  deliver(data: Buffer, from: Address): void;
}

/** What the front asks the RSL. */
export interface FrontRouting {
  /** The server holding the channel's DCM now, if any. */
  ownerOf(channel: string): string | undefined;
  /** A channel's name from its compact id (every channel the deployment knows). */
  channelName(id: number): string | undefined;
  /** A channel's compact id, when known. */
  channelId(name: string): number | undefined;
  /** An origin offers the channel: make sure its DCM gets an owner (asynchronous: settles when it has one or cannot). */
  want(channel: string): Promise<unknown>;
  /** A server of this process, if `id` is one. */
  local(id: string): LocalServer | undefined;
  /** Any server of this process (for an idle box, or a JOIN for a channel nobody serves). */
  anyLocal(): LocalServer | undefined;
  /** Where a server of another process receives (REDIRECT). */
  endpointOf(id: string): Address | undefined;
}

export interface FrontDeps {
  clock: Clock;
  transport: Transport;
  routing: FrontRouting;
  logger: Logger;
}

export class FrontMetrics {
  routed = 0;
  readonly dropped = new Map<string, number>();
  redirects = 0;
}

export class ControlFront {
  readonly metrics = new FrontMetrics();
  readonly #deps: FrontDeps;
  #seq = 0;

  constructor(deps: FrontDeps) {
    this.#deps = deps;
  }

  get local(): Address {
    return this.#deps.transport.local;
  }

  start(): void {
    this.#deps.transport.onDatagram((data, from) => this.onDatagram(data, from));
  }

  stop(): void {
    this.#deps.transport.onDatagram(() => {});
  }

  /** Sends a server's datagram out of the front's socket. */
  send(data: Uint8Array, to: Address): void {
    this.#deps.transport.send(data, to);
  }

  onDatagram(data: Buffer, from: Address): void {
    if (data.length > 0 && data.length <= MAX_CONTROL_BYTES && classifyDatagram(data) === "data")
      return this.#drop("data");
    // HEARTBEAT and LEAVE, the bulk of what comes in: routed by a peek at the channel field,
    // not a full decode (the server decodes and authenticates it, as it does every datagram).
    const id = data.length <= MAX_CONTROL_BYTES ? peekChannel(data) : undefined;
    if (id !== undefined) return this.#routeByChannel(this.#deps.routing.channelName(id) ?? "", data, from);
    const r = decodeControl(data);
    if (!r.ok) return this.#drop("malformed");
    const msg = r.value;
    const channel = this.#channelOf(msg);
    const { routing } = this.#deps;
    if (channel === undefined) {
      // An idle box watches nothing: any server can recruit it.
      const any = msg.type === MsgType.JOIN ? routing.anyLocal() : undefined;
      if (any === undefined) return this.#drop("no_channel");
      return this.#deliver(any, data, from);
    }
    const owner = routing.ownerOf(channel);
    if (owner === undefined) {
      if (msg.type === MsgType.JOIN && msg.body.role === Role.ORIGIN) {
        // The channel's first origin: the service manager gives its DCM an owner, then this
        // JOIN goes there (once; if none could be had, the origin's resend tries again).
        void routing.want(channel).then(() => {
          if (routing.ownerOf(channel) !== undefined) this.onDatagram(data, from);
        });
        return;
      }
      // An agent's JOIN for a channel nobody serves is answered (UNKNOWN_CHANNEL, signed) by any
      // server; anything else waits for the owner (the node resends).
      const any = msg.type === MsgType.JOIN ? routing.anyLocal() : undefined;
      if (any === undefined) return this.#drop("no_owner");
      return this.#deliver(any, data, from);
    }
    const local = routing.local(owner);
    if (local !== undefined) return this.#deliver(local, data, from);
    this.#redirect(channel, owner, data.length, from);
  }

  /** A peeked HEARTBEAT or LEAVE: as onDatagram routes one (its owner; none: it waits, the node resends). */
  #routeByChannel(channel: string, data: Buffer, from: Address): void {
    const owner = this.#deps.routing.ownerOf(channel);
    if (owner === undefined) return this.#drop("no_owner");
    const local = this.#deps.routing.local(owner);
    if (local !== undefined) return this.#deliver(local, data, from);
    this.#redirect(channel, owner, data.length, from);
  }

  #channelOf(msg: ControlMessage): string | undefined {
    switch (msg.type) {
      case MsgType.JOIN:
        return msg.body.channels[0];
      case MsgType.HEARTBEAT:
      case MsgType.LEAVE:
      case MsgType.RESUME:
        return this.#deps.routing.channelName(msg.body.channel) ?? "";
      default:
        return "";
    }
  }

  #deliver(server: LocalServer, data: Buffer, from: Address): void {
    this.metrics.routed++;
    server.deliver(data, from);
  }

  /** REDIRECT to the owner's endpoint: unauthenticated, and never larger than the request. */
  #redirect(channel: string, owner: string, inBytes: number, to: Address): void {
    const endpoint = this.#deps.routing.endpointOf(owner);
    if (endpoint === undefined) return this.#drop("owner_unknown");
    this.#seq = (this.#seq + 1) >>> 0;
    let buf: Buffer;
    try {
      buf = encodeControl({
        v: WIRE_VERSION,
        type: MsgType.REDIRECT,
        sender: 0,
        seq: this.#seq,
        ts: this.#deps.clock.now(),
        body: { channel: this.#deps.routing.channelId(channel) ?? 0, endpoints: [endpoint] },
      });
    } catch {
      return this.#drop("redirect_encode");
    }
    if (buf.length > inBytes) return this.#drop("redirect_too_large");
    this.metrics.redirects++;
    this.#deps.logger.debug("redirect", { channel, owner, to: addressKey(to) });
    this.#deps.transport.send(buf, to);
  }

  #drop(reason: string): void {
    ControlMetrics.bump(this.metrics.dropped, reason);
  }
}
