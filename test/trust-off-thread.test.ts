/**
 * The JOIN's cryptography off the thread (control/trust/off-thread.ts): a JOIN's signature is
 * checked on libuv's pool while it waits for its turn, control's ephemerals are generated there
 * ahead of use. What must hold: the verdict a JOIN's turn takes is for exactly its bytes and key
 * (a forged or altered JOIN is refused whether the pool or the thread judged it), a turn that
 * comes before the pool's answer checks the signature itself (same outcome), the pool's work is
 * bounded, and an ephemeral is never given out twice. Waits are on conditions, never on time.
 */
import test from "ava";
import { diffieHellman, generateKeyPairSync, sign } from "node:crypto";
import { ControlLink } from "../common/control-link.js";
import { ControlMetrics } from "../control/metrics.js";
import { SqliteNodeStore } from "../control/store.js";
import { OPEN_POLICY } from "../control/trust/enrolment.js";
import { DEFAULT_JOIN_LIMITS } from "../control/trust/join-limiter.js";
import { EphemeralStock, SignatureChecks } from "../control/trust/off-thread.js";
import { HandshakeResponder } from "../control/trust/responder.js";
import { SessionTable } from "../control/trust/sessions.js";
import { rawPublicKey, x25519Key } from "../protocol/auth.js";
import { decodeControl } from "../protocol/control-codec.js";
import { joinContext, newEphemeral } from "../protocol/handshake.js";
import { JoinError, type JoinBody, type MessageOf, MsgType, NatType, Role } from "../protocol/messages.js";
import { MemoryLogger } from "../seams/log.js";
import { ManualClock } from "../seams/manual-clock.js";

const FROM = { address: "127.0.1.5", port: 4000 };

/** Resolves once `cond()` holds, checking after each turn of the event loop (at most `turns`). */
async function until(cond: () => boolean, turns = 100_000): Promise<boolean> {
  for (let i = 0; i < turns && !cond(); i++) await new Promise<void>((r) => setImmediate(r));
  return cond();
}

function identity() {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey: rawPublicKey(privateKey) };
}

function setup(offThread = true) {
  const clock = new ManualClock();
  const control = identity();
  const sent: Buffer[] = [];
  const metrics = new ControlMetrics();
  const store = new SqliteNodeStore(":memory:");
  const responder = new HandshakeResponder(
    {
      clock,
      logger: new MemoryLogger(),
      store,
      metrics,
      sessions: new SessionTable(),
      identity: control,
      send: (buf) => sent.push(Buffer.from(buf)),
    },
    { policy: OPEN_POLICY, limits: DEFAULT_JOIN_LIMITS, verify: true, offThread },
  );
  const node = identity();
  const link = new ControlLink({ identity: node, controlKey: control.publicKey });
  const body: JoinBody = {
    key: node.publicKey,
    role: Role.AGENT,
    channels: ["news"],
    uploadKbps: 1000,
    nat: NatType.OPEN,
    httpPort: 8080,
  };
  /** A JOIN through the cookie round trip: the datagram that proceeds, and its decoded form. */
  const provenJoin = (): { data: Buffer; msg: MessageOf<MsgType.JOIN> } => {
    const first = link.join(body, clock.now());
    const m1 = decodeControl(first);
    if (!m1.ok || m1.value.type !== MsgType.JOIN) throw new Error("no JOIN");
    if (responder.checkAddress(m1.value, first, FROM) !== undefined) throw new Error("no COOKIE asked");
    const cookie = decodeControl(sent.at(-1)!);
    if (!cookie.ok || cookie.value.type !== MsgType.COOKIE || !link.onCookie(cookie.value.body))
      throw new Error("no COOKIE");
    clock.advance(1);
    const data = link.join(body, clock.now());
    const m2 = decodeControl(data);
    if (!m2.ok || m2.value.type !== MsgType.JOIN) throw new Error("no JOIN");
    return { data, msg: m2.value };
  };
  return { clock, control, responder, metrics, provenJoin, node, sent, store };
}

test("a JOIN's signature is checked on the pool while it waits, and its turn takes that verdict", async (t) => {
  const { responder, provenJoin } = setup();
  const { data, msg } = provenJoin();
  t.is(responder.checkAddress(msg, data, FROM), "proceed");
  t.is(responder.offThread.signaturesStarted, 1);
  t.true(await until(() => responder.offThread.signaturesInFlight === 0));
  const hs = responder.verifyJoin(msg, data, FROM);
  t.not(hs, undefined, "accepted");
  t.is(responder.offThread.signaturesUsed, 1, "on the pool's verdict");
  t.is(responder.offThread.signaturesPending, 0);
});

test("a forged signature is refused on the pool's verdict as on the thread's", async (t) => {
  for (const offThread of [true, false]) {
    const { responder, provenJoin, metrics } = setup(offThread);
    const { data, msg } = provenJoin();
    data[data.length - 1]! ^= 1; // the signature's last byte
    t.is(responder.checkAddress(msg, data, FROM), "proceed");
    t.true(await until(() => responder.offThread.signaturesInFlight === 0));
    t.is(responder.verifyJoin(msg, data, FROM), undefined, `offThread ${offThread}`);
    t.is(metrics.authFailed.get("join_signature"), 1);
    t.is(responder.offThread.signaturesUsed, offThread ? 1 : 0);
  }
});

test("a verdict is for exactly the bytes checked: a JOIN altered after its check is checked again, and refused", async (t) => {
  const { responder, provenJoin, metrics } = setup();
  const { data, msg } = provenJoin();
  t.is(responder.checkAddress(msg, data, FROM), "proceed");
  t.true(await until(() => responder.offThread.signaturesInFlight === 0));
  // The pool found it valid; a byte of the signed part changes before its turn.
  data[4]! ^= 0x40;
  t.is(responder.verifyJoin(msg, data, FROM), undefined);
  t.is(metrics.authFailed.get("join_signature"), 1);
  t.is(responder.offThread.signaturesUsed, 0, "the verdict was not taken");
});

test("a turn that comes before the pool's answer checks the signature itself, with the same outcome", (t) => {
  const { responder, provenJoin } = setup();
  const { data, msg } = provenJoin();
  t.is(responder.checkAddress(msg, data, FROM), "proceed");
  // No turn of the event loop in between: the pool cannot have answered yet.
  t.not(responder.verifyJoin(msg, data, FROM), undefined);
  t.is(responder.offThread.signaturesPending, 1);
  t.is(responder.offThread.signaturesUsed, 0);
});

test("the state checks still run at the turn: a replay with a valid signature is refused on the pool's verdict", async (t) => {
  const { responder, provenJoin, metrics } = setup();
  const { data, msg } = provenJoin();
  responder.checkAddress(msg, data, FROM);
  t.true(await until(() => responder.offThread.signaturesInFlight === 0));
  t.not(responder.verifyJoin(msg, data, FROM), undefined);
  // The same datagram again (a replay): its signature is valid, its timestamp not newer.
  const again = Buffer.from(data);
  responder.checkAddress(msg, again, FROM);
  t.true(await until(() => responder.offThread.signaturesInFlight === 0));
  t.is(responder.verifyJoin(msg, again, FROM), undefined);
  t.is(metrics.authFailed.get("join_replay"), 1);
  t.is(responder.offThread.signaturesUsed, 2);
});

function signer() {
  const node = identity();
  const context = joinContext(new Uint8Array(32));
  const signed = (i: number): Buffer => {
    const body = Buffer.from(`a join ${i}`);
    const head = Buffer.concat([body, Uint8Array.of(0x06, 0x58, 0x40)]);
    return Buffer.concat([head, sign(null, Buffer.concat([context, head]), node.privateKey)]);
  };
  return { key: node.publicKey, context, signed };
}

test("SignatureChecks: oldest first, a bounded number ahead; a resend replaces in place; a BUSY one unchecked", async (t) => {
  const { key, context, signed } = signer();
  const checks = new SignatureChecks(context, () => 0, 10_000, 2);
  const d = Array.from({ length: 8 }, (_, i) => signed(i));
  for (const i of [0, 1, 2, 3]) checks.offer(`r${i}`, d[i]!, key, 1);
  t.is(checks.started, 2, "two checked ahead at most: r0 and r1");
  // r2 resends while it waits (newer): its place is kept, the new datagram is the one checked;
  // a datagram no newer (a replay, dropped by the queue) changes nothing.
  checks.offer("r2", d[4]!, key, 2);
  checks.offer("r2", d[5]!, key, 2);
  // r3 is turned away (BUSY): never checked.
  checks.dropped(d[3]!);
  t.true(await until(() => checks.inFlight === 0));
  t.is(checks.started, 2, "the pool's answers alone make no room: a turn does");
  // r0's turn: a verdict only for the key checked. Its room goes to r2's resend.
  t.is(checks.verdict(d[0]!, identity().publicKey), undefined, "not for another key");
  t.is(checks.started, 3);
  t.is(checks.waiting, 0);
  t.true(checks.verdict(d[1]!, key));
  t.is(checks.verdict(d[1]!, key), undefined, "taken once");
  t.true(await until(() => checks.inFlight === 0));
  t.is(checks.verdict(d[2]!, key), undefined, "replaced by its resend");
  t.is(checks.verdict(Buffer.from(d[4]!), key), undefined, "another Buffer with the same bytes");
  t.true(checks.verdict(d[4]!, key));
  t.is(checks.verdict(d[3]!, key), undefined);
  t.is(checks.used, 2);
  t.is(checks.started, 3, "r3 (BUSY) never checked");
  // No signature at the end, or a key that is no Ed25519 key: nothing is started.
  checks.offer("r8", Buffer.from("no signature here"), key, 1);
  checks.offer("r9", d[7]!, new Uint8Array(31), 1);
  t.is(checks.started, 3);
});

test("SignatureChecks: nothing is checked for a JOIN that waited longer than the queue keeps one, and such a check gives up its room", async (t) => {
  const { key, context, signed } = signer();
  let now = 0;
  const checks = new SignatureChecks(context, () => now, 10_000, 1);
  const [a, b, c] = [signed(0), signed(1), signed(2)];
  checks.offer("a", a, key, 1);
  checks.offer("b", b, key, 1);
  t.is(checks.started, 1);
  t.true(await until(() => checks.inFlight === 0));
  now = 10_001;
  // a's turn; b waited over 10 s meanwhile: the queue has dropped it, no check for it.
  t.true(checks.verdict(a, key));
  t.is(checks.started, 1);
  t.is(checks.waiting, 0);
  // c is checked; its turn never comes (the queue dropped it): after 10 s it gives its room.
  checks.offer("c", c, key, 1);
  t.is(checks.started, 2);
  now = 20_002;
  t.true(await until(() => checks.inFlight === 0));
  checks.offer("d", signed(3), key, 1);
  t.is(checks.started, 3);
  t.is(checks.verdict(c, key), undefined, "forgotten");
});

test("EphemeralStock: filled on the pool, each ephemeral given out once, made on the spot when empty", async (t) => {
  let madeNow = 0;
  const stock = new EphemeralStock(
    () => {
      madeNow++;
      return newEphemeral();
    },
    8,
    2,
  );
  stock.fill();
  t.true(await until(() => stock.ready === 8));
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const e = stock.take();
    const hex = Buffer.from(e.publicKey).toString("hex");
    t.false(seen.has(hex), "never given out twice");
    seen.add(hex);
    // The public half is the private key's, and it agrees with a peer.
    t.deepEqual(rawPublicKey(e.privateKey), e.publicKey);
    const peer = generateKeyPairSync("x25519");
    const a = diffieHellman({ privateKey: e.privateKey, publicKey: peer.publicKey });
    const b = diffieHellman({ privateKey: peer.privateKey, publicKey: x25519Key(e.publicKey)! });
    t.true(a.equals(b));
  }
  t.is(stock.taken + stock.madeNow, 20);
  t.true(stock.taken >= 8, "the stock was used");
  t.is(madeNow, stock.madeNow);
  t.true(await until(() => stock.ready === 8), "topped up again");
});

test("the responder opens sessions with stocked ephemerals, each once", async (t) => {
  const { responder, provenJoin } = setup();
  t.true(await until(() => responder.offThread.ephemeralsReady > 0));
  const { data, msg } = provenJoin();
  responder.checkAddress(msg, data, FROM);
  const hs = responder.verifyJoin(msg, data, FROM);
  t.not(hs?.prepared, undefined);
  t.is(responder.offThread.ephemeralsTaken, 1);
});

test("a key revoked while its JOIN's signature is on the pool is refused at the turn, on the pool's verdict", async (t) => {
  const { responder, provenJoin, store, node, clock, sent, metrics } = setup();
  const { data, msg } = provenJoin();
  t.is(responder.checkAddress(msg, data, FROM), "proceed");
  store.revokeKey(node.publicKey, clock.now(), "stolen box");
  t.true(await until(() => responder.offThread.signaturesInFlight === 0));
  t.is(responder.verifyJoin(msg, data, FROM), undefined);
  t.is(responder.offThread.signaturesUsed, 1, "the signature was valid: the pool's verdict was taken");
  t.is(metrics.authFailed.get("enrolment_revoked"), 1);
  const ack = decodeControl(sent.at(-1)!);
  t.true(ack.ok && ack.value.type === MsgType.JOIN_ACK && ack.value.body.error === JoinError.UNAUTHORIZED);
});

test("SignatureChecks: where the event loop never turns (a simulation), at most twice `ahead` checks are ever out", (t) => {
  const { key, context, signed } = signer();
  const checks = new SignatureChecks(context, () => 0, 10_000, 4);
  // JOINs arrive and take their turns with no turn of the event loop: the pool's answers never
  // come in, each turn checks on the spot, and no more work is handed to the pool meanwhile.
  for (let i = 0; i < 50; i++) {
    const d = signed(i);
    checks.offer(`r${i}`, d, key, 1);
    t.is(checks.verdict(d, key), undefined);
  }
  t.is(checks.started, 8, "twice `ahead`");
  t.is(checks.inFlight, 8);
});
