/**
 * The content directory: which channels exist, who offers them, and which DCM serves a
 * (channel, region) pair. Channels come from the origin's JOIN: the name gets a compact u32
 * id kept in the store (stable across restarts), the stream parameters come from the JOIN, and
 * the origin's identity key goes to the agents as the key its segment METAs are signed with.
 *
 * One Dcm per channel ("dcm:<channel>:all") computes the channel's plan; under it one cluster
 * DCM per channel x cluster (cluster-dcm.ts: "dcm:<channel>:t1", "dcm:<channel>:t<tier>:<regions>")
 * owns its nodes' ASSIGNs. Callers ask by (channel, region).
 */
import { ORIGIN_KEY_BYTES } from "../protocol/limits.js";
import type { ChannelInfo, VodInfo } from "../protocol/messages.js";
import type { Logger } from "../seams/log.js";
import { Dcm } from "./dcm/dcm.js";
import type { TopologyName } from "./defaults.js";
import type { NodeStore } from "./store.js";
import type { TopologyEngine } from "./topology/plan.js";
import type { RegionInfo, TierPolicy } from "./topology/tier-types.js";

export interface ChannelEntry {
  info: ChannelInfo;
  /** Node id of the origin offering the channel; null while none does. */
  origin: number | null;
  dcm: Dcm;
  /**
   * When the DCM was made to adopt what resumed nodes report (a failover: its origin's first
   * message here was a RESUME), control's clock; undefined for a DCM that planned from scratch.
   */
  adoptingSince?: number;
}

export interface OriginOffer {
  id: number;
  streamKbps: number;
  segmentMs: number;
  fallbackUrl: string;
  /** A VoD channel: the file (ChannelInfo.vod). */
  vod?: VodInfo;
  /**
   * The offer came with a RESUME (the channel's DCM failed over to this server): a new DCM
   * adopts the topology the nodes report (DcmConfig.adopting, dcm/adoption.ts), from this time
   * (control's clock).
   */
  adoptFrom?: number;
  /**
   * The origin's identity key, hex (NodeRecord.key, from its JOIN): it signs the channel's
   * METAs, and agents get it as ChannelInfo.originKey. Only a raw Ed25519 key (32 bytes) is
   * passed on; anything else leaves originKey out, and agents then cache nothing (fail closed).
   */
  key?: string;
}

export interface ContentDirectoryDeps {
  store: NodeStore;
  logger: Logger;
  topology?: TopologyEngine;
}

export interface ContentDirectoryConfig {
  /** Substreams per channel (the foundation's tree uses 1). */
  k: number;
  maxChildren?: number;
  /** "tiered" (the three-tier engine) or "tree" (the foundation's); default CONTROL_DEFAULTS.topology. */
  topology?: TopologyName;
  tierPolicy?: Partial<TierPolicy>;
  /** Per region: access technology (policy file) for the tier-2 redundancy. */
  regions?: Readonly<Record<string, RegionInfo>>;
  /**
   * Each channel's Dcm `rolloutSlice` (a rebuild's ASSIGNs built a slice per reconcile); set it
   * only where the caller reconciles again while `dcm.rolloutPending > 0`. Default unbounded.
   */
  rolloutSlice?: number;
  /** Each channel's Dcm `changeSlice` (changes repaired per reconcile); the same caveat. Default unbounded. */
  changeSlice?: number;
  /** Each channel's Dcm `planSlice` (nodes of work of a full build per reconcile); the same caveat. Default unbounded. */
  planSlice?: number;
}

export class ContentDirectory {
  readonly #deps: ContentDirectoryDeps;
  readonly #config: ContentDirectoryConfig;
  readonly #byName = new Map<string, ChannelEntry>();
  readonly #byId = new Map<number, ChannelEntry>();

  constructor(deps: ContentDirectoryDeps, config: ContentDirectoryConfig) {
    this.#deps = deps;
    this.#config = config;
  }

  /** An origin offers a channel: creates the entry or updates its stream parameters. */
  offer(name: string, o: OriginOffer): ChannelEntry {
    const info: ChannelInfo = {
      name,
      id: this.#byName.get(name)?.info.id ?? this.#deps.store.channelIdForName(name),
      k: this.#config.k,
      streamKbps: o.streamKbps,
      segmentMs: o.segmentMs,
      fallbackUrl: o.fallbackUrl,
      ...(o.vod === undefined ? {} : { vod: { ...o.vod } }),
      ...originKey(o.key),
    };
    let entry = this.#byName.get(name);
    if (entry === undefined) {
      const dcm = new Dcm(
        { logger: this.#deps.logger, ...(this.#deps.topology ? { topology: this.#deps.topology } : {}) },
        {
          logicalId: dcmLogicalId(name),
          channel: info,
          ...(o.adoptFrom === undefined ? {} : { adopting: true }),
          ...(this.#config.maxChildren === undefined ? {} : { maxChildren: this.#config.maxChildren }),
          ...(this.#config.topology === undefined ? {} : { topology: this.#config.topology }),
          ...(this.#config.tierPolicy === undefined ? {} : { tierPolicy: this.#config.tierPolicy }),
          ...(this.#config.regions === undefined ? {} : { regions: this.#config.regions }),
          ...(this.#config.rolloutSlice === undefined ? {} : { rolloutSlice: this.#config.rolloutSlice }),
          ...(this.#config.changeSlice === undefined ? {} : { changeSlice: this.#config.changeSlice }),
          ...(this.#config.planSlice === undefined ? {} : { planSlice: this.#config.planSlice }),
        },
      );
      entry = {
        info,
        origin: o.id,
        dcm,
        ...(o.adoptFrom === undefined ? {} : { adoptingSince: o.adoptFrom }),
      };
      this.#byName.set(name, entry);
      this.#byId.set(info.id, entry);
    } else {
      entry.info = info;
      entry.origin = o.id;
      entry.dcm.setChannel(info);
    }
    return entry;
  }

  /** The origin stopped offering the channel (left, lost, re-joined without it). */
  withdraw(name: string, originId: number): ChannelEntry | undefined {
    const entry = this.#byName.get(name);
    if (entry === undefined || entry.origin !== originId) return undefined;
    entry.origin = null;
    entry.dcm.setOrigin(null);
    return entry;
  }

  byName(name: string): ChannelEntry | undefined {
    return this.#byName.get(name);
  }

  byId(id: number): ChannelEntry | undefined {
    return this.#byId.get(id);
  }

  all(): ChannelEntry[] {
    return [...this.#byId.values()].sort((a, b) => a.info.id - b.info.id);
  }

  /** The DCM serving (channel, region); undefined for a channel no origin has offered. */
  dcmFor(channel: string, _region: string): Dcm | undefined {
    return this.#byName.get(channel)?.dcm;
  }
}

/** ChannelInfo.originKey from the origin's hex key, when it is a raw Ed25519 key. */
function originKey(hex: string | undefined): { originKey?: Uint8Array } {
  if (hex === undefined || !/^[0-9a-f]+$/i.test(hex) || hex.length !== 2 * ORIGIN_KEY_BYTES) return {};
  return { originKey: new Uint8Array(Buffer.from(hex, "hex")) };
}

export function dcmLogicalId(channel: string): string {
  return `dcm:${channel}:all`;
}
