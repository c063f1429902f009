/**
 * region-outage: after the N viewers are placed, region 0 goes dark at once (every viewer there
 * silent, its host down on the network). Control must declare exactly those lost (detection:
 * simulated ms until the last of them is lost) and repair the rest (every surviving viewer
 * placed on live parents: repair time), losing nobody outside the region.
 */
import { liveIds, soundlyPlaced, warmUp, type Scenario } from "./common.js";

export const regionOutage: Scenario = {
  name: "region-outage",
  describe: "region 0 goes dark; its nodes declared lost, the rest repaired, none lost elsewhere",
  run(ctx) {
    const w = ctx.world;
    const hb = w.options.heartbeatMs;
    const up = warmUp(ctx, ctx.nodes);
    ctx.mark("joined");
    w.run(hb);
    const dark = up.viewers.filter((v) => w.regionOf(v) === 0);
    const rest = up.viewers.filter((v) => w.regionOf(v) !== 0);
    const darkIds = new Set(dark.map((v) => v.nodeId));
    const lostBefore = w.logger.lost.length;
    const t0 = w.elapsed;
    ctx.log(`  region 0 goes dark: ${dark.length} viewers`);
    for (const v of dark) {
      v.silence();
      w.net.down(v.deps.transport.local.address);
    }
    let detectedMs: number | null = null;
    let repairedMs: number | null = null;
    const restLive = (): Set<number> => liveIds(w, rest);
    w.runUntil(
      () => {
        const lost = w.logger.lost.slice(lostBefore);
        if (detectedMs === null && lost.filter((id) => darkIds.has(id)).length === dark.length)
          detectedMs = w.elapsed - t0;
        if (repairedMs === null && soundlyPlaced(rest, restLive()) === rest.length)
          repairedMs = w.elapsed - t0;
        return detectedMs !== null && repairedMs !== null;
      },
      10 * hb,
      100,
    );
    ctx.log(`  detected in ${detectedMs ?? "-"} ms, repaired in ${repairedMs ?? "-"} ms`);
    const lost = w.logger.lost.slice(lostBefore);
    const lostOutside = lost.filter((id) => !darkIds.has(id)).length;
    const lostInside = new Set(lost.filter((id) => darkIds.has(id))).size;
    return {
      checks: {
        outageDetected: lostInside === dark.length,
        restRepaired: soundlyPlaced(rest, restLive()) === rest.length,
        noneLostOutside: lostOutside === 0,
      },
      figures: {
        dark: dark.length,
        detectedMs,
        repairedMs,
        lostInside,
        lostOutside,
      },
    };
  },
};
