// Control passes the origin's identity key to agents as ChannelInfo.originKey (the key every
// segment META of the channel is signed with), from the origin's JOIN key kept in its NodeRecord.
import test from "ava";
import { ContentDirectory } from "../control/content-directory.js";
import { MemoryNodeStore } from "../control/memory-store.js";
import { decodeControl, encodeControl } from "../protocol/control-codec.js";
import { MemoryLogger } from "../seams/log.js";
import { sampleJoinAck } from "../tools/vectors/samples.js";
import { TEST_ORIGIN } from "../tools/origin-key.js";

const offer = { id: 4, streamKbps: 700, segmentMs: 1000, fallbackUrl: "http://127.0.0.1:8080" };

function directory(): ContentDirectory {
  return new ContentDirectory({ store: new MemoryNodeStore(), logger: new MemoryLogger() }, { k: 1 });
}

test("the content directory puts the origin's 32-byte key into ChannelInfo.originKey", (t) => {
  const d = directory();
  const hex = Buffer.from(TEST_ORIGIN.publicKey).toString("hex");
  const e = d.offer("demo", { ...offer, key: hex });
  t.deepEqual(e.info.originKey, TEST_ORIGIN.publicKey);
  t.deepEqual(d.byName("demo")!.info.originKey, TEST_ORIGIN.publicKey);
  // A new origin (another key) for the channel: agents get the new key with their next JOIN_ACK.
  const other = "ab".repeat(32);
  t.deepEqual(
    Buffer.from(d.offer("demo", { ...offer, id: 5, key: other }).info.originKey!).toString("hex"),
    other,
  );
});

test("a key that is not a raw Ed25519 key (or none) leaves originKey out: agents then cache nothing", (t) => {
  const d = directory();
  for (const key of [undefined, "", "ab".repeat(31), "ab".repeat(33), "zz".repeat(32), "ab".repeat(64)]) {
    t.false(
      "originKey" in d.offer("demo", { ...offer, ...(key === undefined ? {} : { key }) }).info,
      String(key),
    );
  }
});

test("JOIN_ACK carries ChannelInfo key 10 (originKey) and decodes it back; a wrong length is refused", (t) => {
  const ack = sampleJoinAck;
  const r = decodeControl(encodeControl(ack));
  if (!r.ok) return t.fail(r.error.message);
  t.deepEqual(r.value, ack);
  const bad = {
    ...ack,
    body: { ...ack.body, channels: [{ ...ack.body.channels[0]!, originKey: new Uint8Array(31) }] },
  };
  t.throws(() => encodeControl(bad), { message: /originKey/ });
});
