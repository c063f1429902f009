// Tests are TypeScript run through tsx; child processes run the compiled CLI in dist/.
export default {
  files: ["test/**/*.test.ts"],
  extensions: { ts: "module" },
  nodeArguments: ["--import=tsx"],
  timeout: "3m",
  // One test file at a time: the process tests (lab, failover, QEMU boots) each load this 2-core
  // machine on their own, and two at once measure the machine rather than tiercast.
  concurrency: 1,
  workerThreads: false,
};
