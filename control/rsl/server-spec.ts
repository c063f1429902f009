/**
 * What a control server (a ControlCenter behind the front) is made from, as plain data that
 * crosses into a worker thread (structured clone: the trust policy's Sets and Maps and the
 * region policy's bigint tables travel as they are), and the one function that builds the
 * server from it, so an in-process server and a worker are the same server.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { rawPublicKey } from "../../protocol/auth.js";
import type { Clock } from "../../seams/clock.js";
import type { Logger } from "../../seams/log.js";
import type { Address } from "../../seams/transport.js";
import { ControlCenter, type ChannelRouting } from "../control-center.js";
import type { TopologyName } from "../defaults.js";
import type { RegionPolicy } from "../regions.js";
import type { NodeStore } from "../store.js";
import type { TrustPolicy } from "../trust/enrolment.js";
import { RelayTransport } from "./relay-transport.js";

export interface ServerSpec {
  /** The server's id in the RSL (ServerInfo.id). */
  id: string;
  /** SQLite file shared by the servers of one machine (WAL: one writer at a time, readers never wait). */
  db: string;
  /** Control's identity, PKCS#8 DER: every server of a deployment holds the same one. */
  identityPkcs8: Uint8Array;
  heartbeatMs: number;
  topology: TopologyName;
  regions?: RegionPolicy;
  trust: { policy: TrustPolicy; verify: boolean };
  /** The front's address: what nodes send to. */
  front: Address;
}

export function exportIdentity(privateKey: KeyObject): Uint8Array {
  return new Uint8Array(privateKey.export({ format: "der", type: "pkcs8" }));
}

export function importIdentity(pkcs8: Uint8Array): { publicKey: Uint8Array; privateKey: KeyObject } {
  const privateKey = createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" });
  return { privateKey, publicKey: rawPublicKey(privateKey) };
}

/** A server behind the front: its ControlCenter and the transport the front feeds. */
export interface BuiltServer {
  control: ControlCenter;
  transport: RelayTransport;
}

export function buildServer(
  spec: ServerSpec,
  deps: {
    clock: Clock;
    store: NodeStore;
    logger: Logger;
    routing: ChannelRouting;
    send: (data: Uint8Array, to: Address) => void;
  },
): BuiltServer {
  const transport = new RelayTransport(spec.front, deps.send);
  const control = new ControlCenter(
    {
      clock: deps.clock,
      transport,
      store: deps.store,
      logger: deps.logger,
      identity: importIdentity(spec.identityPkcs8),
      routing: deps.routing,
    },
    {
      heartbeatMs: spec.heartbeatMs,
      topology: spec.topology,
      ...(spec.regions === undefined ? {} : { regions: spec.regions }),
      trust: { policy: spec.trust.policy, ...(spec.trust.verify ? {} : { verify: false }) },
    },
  );
  return { control, transport };
}
