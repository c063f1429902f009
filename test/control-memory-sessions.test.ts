/**
 * Control's session table as it is kept for memory's sake (control/trust/sessions.ts): one buffer
 * per session, the handshake's private key let go. What goes in comes out (keys, the node's
 * ephemeral or RESUME nonce, control's public ephemeral, its RESUME_ACK nonce), the tag keys
 * tag and check as before, and a sealed message is byte for byte what the codec makes of it
 * with its tag (encodeTagged appends the tag to the untagged encoding).
 */
import test from "ava";
import fc from "fast-check";
import { createHmac, randomBytes } from "node:crypto";
import { SessionTable } from "../control/trust/sessions.js";
import { checkTag, encodeTagged } from "../protocol/auth.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { newEphemeral, type SessionKeys } from "../protocol/handshake.js";
import { ReplayWindow } from "../protocol/replay-window.js";
import { type ControlMessage, MsgType } from "../protocol/messages.js";

function keys(): SessionKeys {
  const okm = randomBytes(96);
  return {
    nodeToControl: okm.subarray(0, 32),
    controlToNode: okm.subarray(32, 64),
    resumption: okm.subarray(64),
  };
}

const ack = (seq: number, ts: number, epoch?: number): ControlMessage =>
  ({
    v: 1,
    type: MsgType.HEARTBEAT_ACK,
    sender: 0,
    seq,
    ts,
    body: epoch === undefined ? {} : { epoch },
  }) as ControlMessage;

test("a JOIN's session gives back its keys, the node's ephemeral and control's public key, not its private key", (t) => {
  const table = new SessionTable();
  const k = keys();
  const own = newEphemeral();
  const nodeEpk = randomBytes(32);
  const s = table.set({
    node: 7,
    keyHex: "ab".repeat(32),
    nodeEpk,
    own,
    keys: k,
    openedAt: 1_779_021_356_789,
  });
  t.is(table.get(7), s);
  t.true(Buffer.from(s.keys.nodeToControl).equals(k.nodeToControl));
  t.true(Buffer.from(s.keys.controlToNode).equals(k.controlToNode));
  t.true(Buffer.from(s.keys.resumption).equals(k.resumption));
  t.true(Buffer.from(s.nodeEpk).equals(nodeEpk));
  t.true(Buffer.from(s.own!.publicKey).equals(own.publicKey));
  t.false("privateKey" in s.own!, "the handshake's private key is not kept");
  t.is(s.resumeNonce, undefined);
  t.is(s.keyHex, "ab".repeat(32));
  t.is(s.openedAt, 1_779_021_356_789);
  // Copies: the caller's buffers may be reused.
  nodeEpk.fill(0);
  k.nodeToControl.fill(0);
  t.false(Buffer.from(s.nodeEpk).equals(nodeEpk));
  t.false(Buffer.from(s.keys.nodeToControl).equals(k.nodeToControl));
});

test("a resumed session gives back the RESUME nonce, control's nonce and no ephemeral", (t) => {
  const table = new SessionTable();
  const k = keys();
  const nodeNonce = randomBytes(16);
  const resumeNonce = randomBytes(16);
  const s = table.set({
    node: 9,
    keyHex: "cd".repeat(32),
    nodeEpk: nodeNonce,
    resumeNonce,
    keys: k,
    openedAt: 5,
  });
  t.true(Buffer.from(s.nodeEpk).equals(nodeNonce));
  t.true(Buffer.from(s.resumeNonce!).equals(resumeNonce));
  t.is(s.own, undefined);
  t.true(Buffer.from(s.keys.resumption).equals(k.resumption));
  table.drop(9);
  t.is(table.get(9), undefined);
  t.is(table.size, 0);
});

test("open() checks the tag with the node's key, then the counter; seal() tags with control's key and counts", (t) => {
  const table = new SessionTable();
  const k = keys();
  const s = table.set({
    node: 3,
    keyHex: "",
    nodeEpk: randomBytes(32),
    own: newEphemeral(),
    keys: k,
    openedAt: 0,
  });
  const hb = encodeTagged(ack(1, 1000), k.nodeToControl);
  t.is(table.open(s, hb, 1), "ok");
  t.is(table.open(s, hb, 1), "replay");
  t.is(table.open(s, encodeTagged(ack(2, 1000), k.controlToNode), 2), "tag");
  const sealed = table.seal(s, ack(0, 2000, 4));
  t.true(checkTag(sealed, k.controlToNode));
  const r = decodeControl(sealed);
  t.true(r.ok && r.value.seq === 1 && s.sent === 1);
});

test("a sealed HEARTBEAT_ACK is the codec's bytes with the tag, for any seq, ts and epoch", (t) => {
  const key = randomBytes(32);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }),
      fc.boolean(),
      (seq, ts, epoch, withAuth) => {
        const msg = ack(seq, ts, epoch);
        if (withAuth) msg.auth = new Uint8Array(16).fill(9);
        const want = encodeControl({ ...msg, auth: new Uint8Array(16) });
        const at = want.length - 16;
        createHmac("sha256", key).update(want.subarray(0, at)).digest().copy(want, at, 0, 16);
        t.true(encodeTagged(msg, key).equals(want));
      },
    ),
    { numRuns: 2000 },
  );
});

test("a session's replay window accepts exactly what protocol/replay-window.ts's ReplayWindow accepts", (t) => {
  const table = new SessionTable();
  // Steps from the highest counter so far: mostly in order, lost, reordered or replayed, some
  // jumps across the window's edge; and now and then a raw counter (any u32, or not one).
  const step = fc.oneof(
    { weight: 20, arbitrary: fc.integer({ min: -6, max: 3 }) },
    { weight: 2, arbitrary: fc.integer({ min: -1100, max: 1100 }) },
    { weight: 1, arbitrary: fc.constantFrom(-1025, -1024, -1023, 1023, 1024, 1025) },
  );
  const raw = fc.oneof(
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.constantFrom(-1, 0.5, 2 ** 32, Number.NaN),
  );
  const moves = fc.array(
    fc.oneof(
      { weight: 30, arbitrary: step.map((d) => ({ d })) },
      { weight: 1, arbitrary: raw.map((c) => ({ c })) },
    ),
    { minLength: 1, maxLength: 3000, size: "max" },
  );
  fc.assert(
    fc.property(moves, (xs) => {
      const s = table.set({ node: 1, keyHex: "", nodeEpk: randomBytes(32), keys: keys(), openedAt: 0 });
      const w = new ReplayWindow();
      let highest = 0;
      for (const x of xs) {
        const c = "c" in x ? x.c : Math.max(0, highest + x.d);
        const want = w.accept(c);
        if (s.accept(c) !== want) return false;
        if (want) highest = Math.max(highest, c);
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test("a session keeps the identity key as given, hex or not, and when it opened", (t) => {
  const table = new SessionTable();
  for (const keyHex of ["", "ab".repeat(32), "0f".repeat(32), "AB".repeat(32), "not hex", "abc"]) {
    const s = table.set({
      node: 2,
      keyHex,
      nodeEpk: randomBytes(32),
      keys: keys(),
      openedAt: 1_779_021_356_789.5,
    });
    t.is(s.keyHex, keyHex);
    t.is(s.openedAt, 1_779_021_356_789.5);
    t.is(s.keys, s.keys);
    t.is(s.keys.nodeToControl.length, 32);
  }
});
