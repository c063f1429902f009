/**
 * The network labs of this process still standing, and the process hooks that tear them down
 * synchronously on exit and on SIGINT/SIGTERM/SIGHUP (then die of the signal as the process
 * would have). The sweep (sweep.ts) leaves these labs alone.
 */

/** What the hooks and the sweep need of a lab (instance.ts, Lab). */
export interface LiveLab {
  readonly name: string;
  destroySync(): void;
}

/** Labs of this process still standing, for the exit and signal hooks. */
export const live = new Set<LiveLab>();
let hooked = false;

export function hookProcessExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const lab of live) lab.destroySync();
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      for (const lab of live) lab.destroySync();
      process.off(sig, onSignal);
      // Nobody else handles it: die of the signal as we would have without this hook.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** True when this process has a lab named `name` standing. */
export function isLive(name: string): boolean {
  return [...live].some((l) => l.name === name);
}
