import test from "ava";
import { generateKeyPairSync } from "node:crypto";
import { TicketSealer } from "../control/trust/ticket.js";
import { NatType, Role } from "../protocol/messages.js";

const IV = { from: 1, to: 13 };

test("tickets' IVs come from pooled random draws: none repeats across refills, and every ticket opens", (t) => {
  const { privateKey } = generateKeyPairSync("ed25519");
  const sealer = new TicketSealer(privateKey);
  const join = {
    key: new Uint8Array(32).fill(7),
    role: Role.AGENT,
    channels: ["news"],
    uploadKbps: 4000,
    nat: NatType.OPEN,
    httpPort: 8080,
  };
  const ivs = new Set<string>();
  // More than two pools' worth (256 IVs each).
  for (let i = 0; i < 600; i++) {
    const ticket = sealer.seal({
      node: i + 1,
      join,
      resumption: new Uint8Array(32).fill(i % 256),
      issuedAt: 1000 + i,
    });
    ivs.add(Buffer.from(ticket.subarray(IV.from, IV.to)).toString("hex"));
    const opened = sealer.open(ticket, 2000);
    t.true(opened.ok && opened.value.node === i + 1 && opened.value.issuedAt === 1000 + i);
  }
  t.is(ivs.size, 600);
});
