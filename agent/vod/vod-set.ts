/**
 * The VoD channels an agent carries (agent/vod/vod.ts), keyed by channel id: made from the channels
 * JOIN_ACK announced, and the demultiplexer in front of them — a data packet, an ASSIGN or a
 * HEARTBEAT of a VoD channel goes to its VodChannel, everything else stays with the live one.
 * Keeps agent.ts to a few lines of wiring.
 */
import type { Pacer } from "../../dataplane/pacer.js";
import { readU32 } from "../../protocol/data-codec.js";
import { DATA_HEADER_BYTES } from "../../protocol/limits.js";
import type { AssignBody, ChannelInfo, HeartbeatBody, Resources, VodInfo } from "../../protocol/messages.js";
import type { Clock } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import type { Address } from "../../seams/transport.js";
import type { ChunkStore } from "../store/chunk-store.js";
import { VodChannel, type VodStatus } from "./vod.js";

export interface VodSetDeps {
  clock: Clock;
  logger: Logger;
  pacer: Pacer;
  store: ChunkStore;
  fetch: typeof fetch;
}

export interface VodSetConfig {
  seqWindow: number;
  formerParentGraceMs: number;
  /** Tests only: false takes unsigned METAs (AgentConfig.verifySegments; default true). */
  verifySegments?: boolean;
}

export class VodSet {
  readonly #deps: VodSetDeps;
  readonly #config: VodSetConfig;
  readonly #byId = new Map<number, VodChannel>();

  constructor(deps: VodSetDeps, config: VodSetConfig) {
    this.#deps = deps;
    this.#config = config;
  }

  get size(): number {
    return this.#byId.size;
  }

  /** After JOIN_ACK: a VodChannel for every VoD channel announced (kept across re-joins). */
  update(channels: readonly ChannelInfo[]): void {
    for (const info of channels) {
      if (info.vod === undefined) {
        this.#deps.logger.warn("extra_channel_not_vod", { channel: info.name });
        continue;
      }
      const known = this.#byId.get(info.id);
      if (known !== undefined) {
        known.metas.rekey(info.id, info.originKey); // a new origin (key) since the last JOIN_ACK
        continue;
      }
      const v = new VodChannel(this.#deps, { ...this.#config, info: info as ChannelInfo & { vod: VodInfo } });
      v.start();
      this.#byId.set(info.id, v);
      // An older control sends no origin key: nothing of the channel can be cached (fail closed).
      if (!v.metas.canVerify)
        this.#deps.logger.warn("origin_key_missing", { channel: info.name, id: info.id });
      this.#deps.logger.info("vod_joined", {
        channel: info.name,
        id: info.id,
        chunks: v.chunks,
        ...info.vod,
      });
    }
  }

  byName(name: string): VodChannel | undefined {
    for (const v of this.#byId.values()) if (v.name === name) return v;
    return undefined;
  }

  /** A data datagram of a VoD channel goes to it (true); any other stays with the caller (false). */
  onDatagram(buf: Uint8Array, from: Address): boolean {
    if (this.#byId.size === 0 || buf.length < DATA_HEADER_BYTES) return false;
    const v = this.#byId.get(readU32(buf, 4)); // data header: channel at offset 4
    if (v === undefined) return false;
    v.onDatagram(buf, from);
    return true;
  }

  /** An ASSIGN of a VoD channel goes to it (true). */
  onAssign(a: AssignBody): boolean {
    const v = this.#byId.get(a.channel);
    if (v === undefined) return false;
    v.setAssignment(a);
    return true;
  }

  heartbeat(
    ts: number,
    channel: ChannelInfo,
    resources: Resources,
  ): Omit<HeartbeatBody, "assignVersion"> | undefined {
    return this.#byId.get(channel.id)?.heartbeat(ts, resources);
  }

  status(): VodStatus[] {
    return [...this.#byId.values()].map((v) => v.status());
  }

  stop(): void {
    for (const v of this.#byId.values()) v.stop();
  }
}
