/**
 * The responder keeps the key agreement of a recent JOIN for its resends (control/trust/
 * responder.ts, PREPARED_MAX): keyed by the raw identity key and epk, bounded, and it skips only
 * the key agreement — revocation is honoured, and an agreement never opens a second session.
 */
import test from "ava";
import { JoinError, LeaveReason, MsgType, NatType, Role, type JoinBody } from "../protocol/messages.js";
import { Harness } from "./helpers/control-harness.js";

function setup(): { h: Harness; a: ReturnType<Harness["node"]>; body: JoinBody; epk: Uint8Array } {
  const h = new Harness();
  h.origin(1);
  const a = h.node(1);
  const ack = a.join({ channels: ["news"] });
  if (ack.error !== JoinError.NONE || ack.epk === undefined) throw new Error("the first JOIN was refused");
  const body: JoinBody = {
    key: a.key,
    role: Role.AGENT,
    channels: ["news"],
    uploadKbps: 0,
    nat: NatType.OPEN,
    httpPort: 8080,
  };
  return { h, a, body, epk: ack.epk };
}

/** The same JOIN again, with the same epk (the node's link is not restarted), a newer ts. */
function resend(h: Harness, a: ReturnType<Harness["node"]>, body: JoinBody) {
  h.clock.advance(10);
  a.sendJoin(body);
  h.settle();
  return a.acks().at(-1)!;
}

test("a resent JOIN reuses its key agreement: the same session, and the cache holds one entry", (t) => {
  const { h, a, body, epk } = setup();
  const before = h.control.trust.preparedCached;
  const ack = resend(h, a, body);
  t.is(ack.error, JoinError.NONE);
  t.deepEqual(ack.epk, epk, "the same control ephemeral: the same session");
  t.is(h.control.trust.preparedCached, before, "no new agreement for the resend");
});

test("a revoked key's resend is refused although its key agreement is cached", (t) => {
  const { h, a, body } = setup();
  t.true(h.control.revokeKey(a.key, "stolen box"));
  h.settle();
  t.is(resend(h, a, body).error, JoinError.UNAUTHORIZED);
});

test("an agreement that opened a session never opens another: after a LEAVE the same epk gets fresh keys", (t) => {
  const { h, a, body, epk } = setup();
  a.send({ type: MsgType.LEAVE, body: { channel: 1, reason: LeaveReason.SHUTDOWN } });
  h.settle();
  t.is(h.control.clients.get(a.id), undefined, "the node left");
  const ack = resend(h, a, body);
  t.is(ack.error, JoinError.NONE);
  t.notDeepEqual(ack.epk, epk, "a new control ephemeral: new session keys");
});
