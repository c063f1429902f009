/**
 * Control with a VoD channel (ManualClock + MemoryNetwork, real codec): a VoD origin offers a
 * file as a channel of its own, the channel list says so, and an agent joins its live channel
 * and the VoD channel at once — a member of both DCMs, an ASSIGN and a HEARTBEAT per channel;
 * a download no origin offers is left out of the JOIN rather than holding back live.
 */
import test from "ava";
import { reportedChannel } from "../control/heartbeat-report.js";
import { JoinError, MsgType, NatType, Role, type VodInfo } from "../protocol/messages.js";
import { Harness, STREAM_KBPS } from "./helpers/control-harness.js";

const VOD: VodInfo = { fileBytes: 10_000_000, chunkBytes: 1 << 20, fileName: "movie.mp4" };

function vodOrigin(h: Harness, channels = ["movie"]) {
  const o = h.node(8);
  const ack = o.join({
    role: Role.ORIGIN,
    channels,
    uploadKbps: 4 * STREAM_KBPS,
    streamKbps: 2000,
    segmentMs: 4000,
    fallbackUrl: "http://127.0.0.1:8080",
    vod: VOD,
  });
  return { o, ack };
}

test("a VoD origin's channel is announced with its file; a live one without", (t) => {
  const h = new Harness();
  h.origin();
  const { ack } = vodOrigin(h);
  t.is(ack.error, JoinError.NONE);
  t.deepEqual(ack.channels[0]!.vod, VOD);
  t.is(ack.channels[0]!.streamKbps, 2000);
  const a = h.node();
  const joined = a.join({ channels: ["news", "movie"], uploadKbps: 2 * STREAM_KBPS });
  t.is(joined.error, JoinError.NONE);
  t.deepEqual(
    joined.channels.map((c) => [c.name, c.vod?.fileBytes ?? null]),
    [
      ["news", null],
      ["movie", VOD.fileBytes],
    ],
  );
  t.deepEqual(h.control.clients.get(a.id)!.channels, ["news", "movie"]);
});

test("an agent in a live and a VoD channel is placed in both and gets an ASSIGN for each", (t) => {
  const h = new Harness();
  h.origin();
  vodOrigin(h);
  const a = h.node();
  a.join({ channels: ["news", "movie"], uploadKbps: 2 * STREAM_KBPS });
  h.settle();
  const ids = h.control.directory.all().map((e) => [e.info.name, e.info.id] as const);
  const byName = new Map(ids);
  const channels = new Set(a.assigns().map((x) => x.channel));
  t.deepEqual([...channels].sort(), [byName.get("news")!, byName.get("movie")!].sort());
  t.true(h.control.directory.byName("news")!.dcm.has(a.id));
  t.true(h.control.directory.byName("movie")!.dcm.has(a.id));
  // Leaving takes it out of both.
  a.send({ type: MsgType.LEAVE, body: { channel: byName.get("news")!, reason: 0 } });
  h.settle();
  t.false(h.control.directory.byName("news")!.dcm.has(a.id));
  t.false(h.control.directory.byName("movie")!.dcm.has(a.id));
});

test("per-channel heartbeats: the VoD one keeps the node alive and gets its ASSIGN resent; node figures come from the live one", (t) => {
  const h = new Harness();
  h.origin();
  vodOrigin(h);
  const a = h.node();
  a.join({ channels: ["news", "movie"], uploadKbps: 2 * STREAM_KBPS });
  h.settle();
  const news = h.control.directory.byName("news")!.info.id;
  const movie = h.control.directory.byName("movie")!.info.id;
  const movieAssign = a
    .assigns()
    .filter((x) => x.channel === movie)
    .at(-1)!;
  const newsAssign = a
    .assigns()
    .filter((x) => x.channel === news)
    .at(-1)!;
  const before = a.assigns().length;
  // The VoD heartbeat reports an older version: its ASSIGN (only) comes again.
  a.heartbeat(0, movie);
  h.settle();
  const resent = a.assigns().slice(before);
  t.deepEqual(
    resent.map((x) => [x.channel, x.version]),
    [[movie, movieAssign.version]],
  );
  const node = h.control.clients.get(a.id)!;
  t.is(node.heartbeat, null, "the admin's last heartbeat is the live channel's");
  a.heartbeat(newsAssign.version, news);
  h.settle();
  t.is(node.heartbeat === null ? null : reportedChannel(node.heartbeat), news);
  t.is(node.assignVersionAcked, newsAssign.version);
  // Only VoD heartbeats for a while: still alive (liveness counts every heartbeat).
  for (let i = 0; i < 6; i++) {
    a.heartbeat(movieAssign.version, movie);
    h.clock.advance(1000);
  }
  t.truthy(h.control.clients.get(a.id), "not lost");
  t.is(node.assignVersionAcked, newsAssign.version, "VoD heartbeats do not overwrite the node's figures");
});

test("JOIN rules with VoD: a download no origin offers is left out, one live channel at most, a VoD origin offers one channel", (t) => {
  const h = new Harness();
  t.is(
    h.node().join({ channels: ["news", "movie"] }).error,
    JoinError.UNKNOWN_CHANNEL,
    "the first must be offered",
  );
  h.origin(2, ["news", "sport"]);
  const early = h.node();
  const partial = early.join({ channels: ["news", "movie"] });
  t.is(partial.error, JoinError.NONE, "live goes on without the download");
  t.deepEqual(
    partial.channels.map((c) => c.name),
    ["news"],
  );
  t.deepEqual(h.control.clients.get(early.id)!.channels, ["news"]);
  t.is(vodOrigin(h, ["movie", "doc"]).ack.error, JoinError.BAD_REQUEST);
  vodOrigin(h);
  t.is(h.node().join({ channels: ["news", "sport", "movie"] }).error, JoinError.BAD_REQUEST);
  t.is(h.node().join({ channels: ["movie"] }).error, JoinError.NONE, "a download alone is fine");
  const agent = h.node().join({
    channels: ["sport", "movie"],
    nat: NatType.OPEN,
    uploadKbps: STREAM_KBPS,
  });
  t.is(agent.error, JoinError.NONE);
});
