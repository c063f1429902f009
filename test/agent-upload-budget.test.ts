import test from "ava";
import { PAYLOAD_SHARE_OF_WIRE } from "../protocol/limits.js";
import {
  declaredUploadKbps,
  pacedBytesPerSec,
  repairShare,
  RESEND_HEADROOM,
  UNPACED_RESERVE,
} from "../agent/relay/upload-budget.js";

test("the pacer leaves the unpaced reserve and the repair share; the plan also leaves the resend headroom", (t) => {
  t.is(pacedBytesPerSec(600, 0), 71_250, "95 % of 75 000 bytes/s");
  t.is(pacedBytesPerSec(600, 0.2), 57_000);
  t.is(declaredUploadKbps(600, 0), 509, "600 x 1160/1230 x 0.9, in payload");
  t.is(declaredUploadKbps(1, 0), 1, "never 0: a node with a cap declares one");
  // What the topology may plan, counted on the wire, stays under what the pacer sends:
  // the difference is the room for resends.
  for (const cap of [400, 600, 1500, 4000])
    for (const share of [0, 0.1, 0.5]) {
      const plannedWire = ((declaredUploadKbps(cap, share) / PAYLOAD_SHARE_OF_WIRE) * 1000) / 8;
      t.true(plannedWire < pacedBytesPerSec(cap, share), `${cap} kbit/s, share ${share}`);
    }
  t.true(UNPACED_RESERVE < RESEND_HEADROOM);
});

test("the repair share is clamped to 0..0.5", (t) => {
  t.is(repairShare(-1), 0);
  t.is(repairShare(0.25), 0.25);
  t.is(repairShare(0.9), 0.5);
});
