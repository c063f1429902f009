/**
 * What the single-executable build (firmware/, a Node SEA) provides to the app: the SQLite
 * addon and the package's files, which live inside the executable instead of node_modules/
 * and assets/. undefined when tiercast runs from the npm package. The firmware's entry module
 * installs it before the CLI starts; nothing else should.
 */
export interface EmbeddedRuntime {
  /** Target of the build: "arm64", "armv7" or "x64". */
  readonly arch: string;
  /** A caveat about the Node runtime shipped (armv7's end-of-life Node 20.11), else undefined. */
  readonly runtimeNote: string | undefined;
  /** The better-sqlite3 addon's exports, for `new Database(path, { nativeBinding })`. */
  sqliteBinding(): object;
  /**
   * A directory laid out like the npm package for the files read at run time (package.json,
   * assets/sample/...), extracted from the executable on first call and removed at exit.
   */
  packageDir(): string;
}

const KEY = Symbol.for("tiercast.embeddedRuntime");

export function embeddedRuntime(): EmbeddedRuntime | undefined {
  return (globalThis as Record<symbol, EmbeddedRuntime | undefined>)[KEY];
}

export function installEmbeddedRuntime(runtime: EmbeddedRuntime): void {
  (globalThis as Record<symbol, EmbeddedRuntime | undefined>)[KEY] = runtime;
}
