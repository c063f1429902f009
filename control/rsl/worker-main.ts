/**
 * A DCM worker (one-machine mode, docs/resilience.md): a worker thread running one control
 * server — a ControlCenter behind the main process's front. It opens its own connection to the
 * machine's SQLite store, takes control's identity from the main process, and talks to the main
 * process over its parent port only:
 *
 *   main -> worker   dgrams {batch}          datagrams the front routed here (datagram-batch.ts)
 *                    epochs {epochs}         this server's channels and their fencing epochs
 *                    view {id, path}         an admin GET route (answered with reply)
 *                    revoke {id, key, reason} a revoked key: end its sessions here
 *                    stop {}                 stop the server, close the store, exit
 *   worker -> main   ready {}                the server is started
 *                    sends {batch}           datagrams for the front's socket
 *                    reply {id, result}      an admin answer
 *
 * It holds nothing the main process needs back: if it dies, the RSL gives its channels to a
 * fresh worker, which rebuilds from the nodes' RESUMEs and heartbeats.
 */
import { parentPort, workerData } from "node:worker_threads";
import { systemClock } from "../../seams/clock.js";
import { jsonLogger, LineBatch, type Level } from "../../seams/log.js";
import { adminRoute } from "../admin-http.js";
import { SqliteNodeStore } from "../store.js";
import { BatchQueue, type DatagramBatch, forEachDatagram } from "./datagram-batch.js";
import { InboundQueue } from "./inbound.js";
import { buildServer, type ServerSpec } from "./server-spec.js";

export interface WorkerData {
  spec: ServerSpec;
  logLevel: Level;
}

export type ToWorker =
  | { t: "dgrams"; batch: DatagramBatch }
  | { t: "epochs"; epochs: Record<string, number> }
  | { t: "view"; id: number; path: string }
  | { t: "revoke"; id: number; key: Uint8Array; reason: string }
  | { t: "stop" };

export type FromWorker =
  { t: "ready" } | { t: "sends"; batch: DatagramBatch } | { t: "reply"; id: number; result: unknown };

function run(): void {
  const port = parentPort;
  if (port === null) throw new Error("worker-main runs in a worker thread");
  const { spec, logLevel } = workerData as WorkerData;
  // Log lines leave once per loop turn (a write from a worker is a message to the main thread),
  // and whatever is gathered when the thread ends, however it ends (stop, an uncaught error).
  const lines = new LineBatch(
    (text) => process.stdout.write(text),
    (fn) => setImmediate(fn),
  );
  process.on("exit", () => lines.flush());
  const logger = jsonLogger(systemClock, {
    proc: "control",
    level: logLevel,
    write: (line) => lines.push(line),
  }).child({ server: spec.id });
  const store = new SqliteNodeStore(spec.db);
  let epochs: Record<string, number> = {};
  const post = (m: FromWorker): void => port.postMessage(m);
  const outbox = new BatchQueue((batch, transfer) => port.postMessage({ t: "sends", batch }, transfer));
  const { control, transport } = buildServer(spec, {
    clock: systemClock,
    store,
    logger,
    routing: { epochOf: (channel) => epochs[channel] },
    send: (data, to) => outbox.push(data, to),
  });
  control.start();
  // Heartbeats first, and never more than a few ms of datagrams per loop turn (inbound.ts).
  const inbound = new InboundQueue({
    defer: (fn) => setImmediate(fn),
    now: () => performance.now(),
    deliver: (data, from) => transport.deliver(data, from),
  });
  port.on("message", (m: ToWorker) => {
    switch (m.t) {
      case "dgrams":
        forEachDatagram(m.batch, (data, from) => inbound.push(data, from));
        control.metrics.inboundDropped = inbound.dropped;
        control.metrics.inboundYields = inbound.yields;
        return;
      case "epochs":
        epochs = m.epochs;
        return;
      case "view":
        post({ t: "reply", id: m.id, result: adminRoute(control, m.path) });
        return;
      case "revoke":
        post({ t: "reply", id: m.id, result: control.endSessionsOf(m.key, m.reason) });
        return;
      case "stop":
        inbound.stop();
        control.stop();
        outbox.flush();
        lines.flush();
        store.close();
        port.close();
        return;
    }
  });
  post({ t: "ready" });
}

run();
