/**
 * control-kill: after the N viewers are placed, the ControlCenter stops dead and, `restartMs`
 * later (default 1 s: a supervisor's restart), a fresh one starts on the same store, identity
 * and port. The viewers notice the silence (or get the REJOIN hint) and RESUME with their
 * tickets. Failover time: simulated ms from the kill until every viewer is in a session the new
 * control knows, placed, and heartbeating; nodes lost by the new control: none.
 */
import { warmUp, type Scenario } from "./common.js";
import { isPlaced } from "../world.js";

export function controlKill(restartMs = 1000): Scenario {
  return {
    name: "control-kill",
    describe: `control stops, a fresh one on the same store and port ${restartMs} ms later; all resume`,
    run(ctx) {
      const w = ctx.world;
      const hb = w.options.heartbeatMs;
      const up = warmUp(ctx, ctx.nodes);
      ctx.mark("joined");
      w.run(hb);
      const resumesBefore = up.viewers.reduce((a, v) => a + v.stats.resumes, 0);
      const rejoinsBefore = up.viewers.reduce((a, v) => a + v.stats.rejoins, 0);
      const t0 = w.elapsed;
      w.killControl();
      w.run(restartMs, restartMs);
      w.restartControl();
      ctx.log(`  control killed and restarted`);
      const back = (): boolean => {
        const c = w.control;
        if (w.origin.phase !== "joined" || c.clients.get(w.origin.nodeId) === undefined) return false;
        for (const v of up.viewers)
          if (v.phase !== "joined" || !isPlaced(v) || c.clients.get(v.nodeId) === undefined) return false;
        return true;
      };
      const tookMs = w.runUntil(back, 20 * hb, 100) + restartMs;
      const ok = back();
      ctx.log(`  everyone back: ${ok} after ${tookMs} ms`);
      // One more interval: everyone keeps its session.
      w.run(hb);
      const resumed = up.viewers.reduce((a, v) => a + v.stats.resumes, 0) - resumesBefore;
      const rejoined = up.viewers.reduce((a, v) => a + v.stats.rejoins, 0) - rejoinsBefore;
      return {
        checks: {
          everyoneBack: ok && back(),
          noneLostByNewControl: w.control.metrics.lost === 0,
        },
        figures: {
          failoverMs: ok ? tookMs : null,
          killedAt: t0,
          resumed,
          rejoined,
          lostByNewControl: w.control.metrics.lost,
        },
      };
    },
  };
}
