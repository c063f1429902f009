// Tests are TypeScript run through tsx; child processes run the compiled CLI in dist/.
export default {
  files: ["test/**/*.test.ts"],
  extensions: { ts: "module" },
  nodeArguments: ["--import=tsx"],
  timeout: "3m",
  concurrency: 2,
  workerThreads: false,
};
