/**
 * bench:ingest --cpu-prof-dir: a preload (`--import`, given to control and the origin in
 * NODE_OPTIONS) that profiles every thread of the process it is loaded in — the main thread and
 * each DCM worker — from its start to its exit, and writes CPU.<pid>.<thread>.cpuprofile into
 * TIERCAST_CPU_PROF_DIR. Node's own --cpu-prof does the same but Node 20 refuses it in
 * NODE_OPTIONS (the process exits with code 9), and the bench can only reach control's process
 * through its environment. Timestamps are V8's (CLOCK_MONOTONIC, µs), as --cpu-prof's.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";
import { threadId } from "node:worker_threads";

const dir = process.env.TIERCAST_CPU_PROF_DIR;
if (dir !== undefined && dir !== "") {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.start");
  // A same-thread session answers synchronously, so the profile is written before the thread ends.
  process.on("exit", () =>
    session.post("Profiler.stop", (err, r) => {
      if (err === null)
        writeFileSync(join(dir, `CPU.${process.pid}.${threadId}.cpuprofile`), JSON.stringify(r.profile));
    }),
  );
}
