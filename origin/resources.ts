/** This process's CPU and memory for the HEARTBEAT's resources (the only process-global probe of the origin). */

let last = { at: process.hrtime.bigint(), usage: process.cpuUsage() };

/** CPU since the previous call (percent of one core) and resident memory in MB. */
export function processResources(): { cpuPct: number; rssMB: number } {
  const at = process.hrtime.bigint();
  const usage = process.cpuUsage(last.usage);
  const wallUs = Number(at - last.at) / 1000;
  last = { at, usage: process.cpuUsage() };
  const cpuPct = wallUs > 0 ? ((usage.user + usage.system) / wallUs) * 100 : 0;
  return { cpuPct, rssMB: process.memoryUsage.rss() / (1024 * 1024) };
}
