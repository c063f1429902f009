/**
 * bench:ingest's baseline: a bare node:dgram receiver that only counts datagrams — what one Node
 * process on this machine can take off a UDP socket at all. A child process of bench/ingest.ts
 * (IPC channel): it binds 127.0.0.1 (port 0) with the receive buffer control asks for, says
 * `{ready, port, pid, recvBufferBytes}` (what the kernel granted), and answers `{count}` to every
 * `"count"` message. It ends when its parent goes.
 *
 *   node --import tsx tools/ingest/bare.ts <recvBufferBytes>
 */
import dgram from "node:dgram";

const asked = Number(process.argv[2] ?? 0);
if (process.send === undefined) throw new Error("tools/ingest/bare.ts runs as a child with an IPC channel");
const send = process.send.bind(process);

let count = 0;
const socket = dgram.createSocket("udp4");
socket.on("message", () => {
  count++;
});
socket.bind(0, "127.0.0.1", () => {
  if (asked > 0) {
    try {
      socket.setRecvBufferSize(asked);
    } catch {
      // Refused: the default stays; recvBufferBytes below says what it is.
    }
  }
  send({
    ready: true,
    port: socket.address().port,
    pid: process.pid,
    recvBufferBytes: socket.getRecvBufferSize(),
  });
});
process.on("message", (m) => {
  if (m === "count") send({ count });
});
process.on("disconnect", () => socket.close(() => process.exit(0)));
