import test from "ava";
import { HostAliasTransport } from "../common/host-alias-transport.js";
import { ManualClock } from "../seams/manual-clock.js";
import { MemoryNetwork } from "../seams/memory-transport.js";
import type { Address } from "../seams/transport.js";

// The simulated network stands in for slirp: the guest is 10.0.2.15, the host's loopback
// world (control, origin) is reached from the guest at 10.0.2.2.
function bench() {
  const clock = new ManualClock();
  const net = new MemoryNetwork(clock, { latencyMs: 1 });
  const hostSide = net.bind("10.0.2.2", 7700);
  const guest = new HostAliasTransport(net.bind("10.0.2.15", 5000), "10.0.2.2");
  return { clock, net, hostSide, guest };
}

test("datagrams to the host's loopback go to the alias", (t) => {
  const { clock, hostSide, guest } = bench();
  const got: Address[] = [];
  hostSide.onDatagram((_d, from) => got.push(from));
  guest.send(Buffer.from("join"), { address: "127.0.0.1", port: 7700 });
  clock.advance(5);
  t.deepEqual(got, [{ address: "10.0.2.15", port: 5000 }]);
});

test("datagrams from the alias are reported as from 127.0.0.1, others unchanged", (t) => {
  const { clock, hostSide, guest } = bench();
  const from: Address[] = [];
  guest.onDatagram((_d, f) => from.push(f));
  hostSide.send(Buffer.from("assign"), { address: "10.0.2.15", port: 5000 });
  clock.advance(5);
  t.deepEqual(from, [{ address: "127.0.0.1", port: 7700 }]);
  t.deepEqual(guest.local, { address: "10.0.2.15", port: 5000 });
});

test("addresses off the loopback pass through both ways", (t) => {
  const { clock, guest, net } = bench();
  const lanPeer = net.bind("192.0.2.7", 9);
  const atPeer: Address[] = [];
  const atGuest: Address[] = [];
  lanPeer.onDatagram((_d, f) => atPeer.push(f));
  guest.onDatagram((_d, f) => atGuest.push(f));
  guest.send(Buffer.from("x"), { address: "192.0.2.7", port: 9 });
  lanPeer.send(Buffer.from("y"), { address: "10.0.2.15", port: 5000 });
  clock.advance(5);
  t.deepEqual(atPeer, [{ address: "10.0.2.15", port: 5000 }]);
  t.deepEqual(atGuest, [{ address: "192.0.2.7", port: 9 }]);
});
