/**
 * Control's receive buffer (issue 13): what the kernel granted is read back, a clamp is told
 * apart and logged with the sysctl that lifts it. Real UDP sockets on 127.0.0.1.
 */
import test from "ava";
import { logRecvBuffer } from "../control/main.js";
import { MemoryLogger } from "../seams/log.js";
import { UdpTransport } from "../seams/udp-transport.js";

test("a modest receive buffer is granted and logged; one above the kernel's limit is reported clamped", async (t) => {
  const small = await UdpTransport.bind({ host: "127.0.0.1", port: 0, recvBufferBytes: 64 * 1024 });
  t.teardown(() => small.close());
  t.is(small.requestedRecvBufferBytes, 64 * 1024);
  t.true(small.recvBufferBytes >= 64 * 1024, `${small.recvBufferBytes} bytes reported`);
  t.false(small.recvBufferClamped);
  const quiet = new MemoryLogger();
  logRecvBuffer(small, quiet);
  t.deepEqual(
    quiet.lines.map((l) => l.event),
    ["recv_buffer"],
  );

  // 1 GiB is above any net.core.rmem_max a host sets (4 MiB here).
  const huge = await UdpTransport.bind({ host: "127.0.0.1", port: 0, recvBufferBytes: 1 << 30 });
  t.teardown(() => huge.close());
  t.true(huge.recvBufferClamped, `${huge.recvBufferBytes} bytes reported`);
  const logger = new MemoryLogger();
  logRecvBuffer(huge, logger);
  const warn = logger.lines.find((l) => l.event === "recv_buffer_clamped");
  t.truthy(warn);
  t.is(warn?.requestedBytes, 1 << 30);
  t.regex(String(warn?.fix), /sysctl -w net\.core\.rmem_max=1073741824/);

  // No request: the kernel's default, nothing to warn about.
  const plain = await UdpTransport.bind({ host: "127.0.0.1", port: 0 });
  t.teardown(() => plain.close());
  t.is(plain.requestedRecvBufferBytes, undefined);
  t.false(plain.recvBufferClamped);
  t.true(plain.recvBufferBytes > 0);
});
