/**
 * esbuild: cli/main.ts and everything it loads into one CommonJS file for the SEA.
 * - firmware/runtime/entry.ts comes first and installs the embedded runtime;
 * - "better-sqlite3" resolves to firmware/runtime/better-sqlite3.ts (nativeBinding = the
 *   embedded addon), so the app's `new Database(path)` works unchanged;
 * - cbor-extract stays out: cbor-x then takes its pure-JS path;
 * - etcd3 stays out: the multi-machine control (`--etcd`) runs from the npm package, not from
 *   firmware (control/main.ts says so when asked);
 * - "tiercast:build" is generated here: target facts, and on armv7 the embedded files' bytes;
 * - import.meta.url (empty in CommonJS) becomes the executable's file URL.
 */
import { build as esbuild, type Plugin } from "esbuild";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { ADDON_NAME } from "../runtime/names.js";
import type { Target } from "./targets.js";

export interface Bundle {
  /** The bundle's JavaScript. */
  code: Uint8Array;
  /** SEA assets (name -> file), empty when the files are inside the bundle. */
  seaAssets: Record<string, string>;
}

/** Files under assets/ that the app reads at run time, package-relative, sorted. */
export function packageFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(root, p).split(sep).join("/"));
    }
  };
  walk(join(root, "assets"));
  return out;
}

function buildModule(t: Target, files: Record<string, string>, names: string[]): string {
  const lines: string[] = [];
  const entries: string[] = [];
  Object.entries(files).forEach(([name, path], i) => {
    lines.push(`import f${i} from ${JSON.stringify("tiercast-file:" + path)};`);
    entries.push(`${JSON.stringify(name)}: f${i}`);
  });
  const info = {
    arch: t.arch,
    nodeVersion: t.nodeVersion,
    runtimeNote: t.runtimeNote,
    seaAssets: t.seaAssets,
    packageFiles: names,
  };
  lines.push(`export const build = ${JSON.stringify(info)};`);
  lines.push(`export const files = {${entries.join(", ")}};`);
  return lines.join("\n");
}

function plugin(t: Target, root: string, embedded: Record<string, string>, names: string[]): Plugin {
  const shim = resolve(root, "firmware/runtime/better-sqlite3.ts");
  return {
    name: "tiercast-firmware",
    setup(b) {
      b.onResolve({ filter: /^tiercast:build$/ }, () => ({ path: "build", namespace: "tiercast-build" }));
      b.onLoad({ filter: /.*/, namespace: "tiercast-build" }, () => ({
        contents: buildModule(t, embedded, names),
        loader: "js",
        resolveDir: root,
      }));
      // Paths stay package-relative in the bundle (esbuild writes them into comments): the same
      // inputs give the same executable wherever the checkout is.
      b.onResolve({ filter: /^tiercast-file:/ }, (a) => ({
        path: relative(root, a.path.slice(14)).split(sep).join("/"),
        namespace: "tiercast-file",
      }));
      b.onLoad({ filter: /.*/, namespace: "tiercast-file" }, (a) => ({
        contents: readFileSync(resolve(root, a.path)),
        loader: "binary",
      }));
      b.onResolve({ filter: /^better-sqlite3$/ }, (a) => (a.importer === shim ? undefined : { path: shim }));
    },
  };
}

export async function bundleCli(t: Target, root: string, addon: string): Promise<Bundle> {
  const names = packageFiles(root);
  const all: Record<string, string> = { [ADDON_NAME]: addon };
  for (const n of names) all[n] = join(root, n);
  const result = await esbuild({
    absWorkingDir: root,
    entryPoints: [join(root, "firmware/runtime/entry.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    // The same code runs on armv7's Node 20.11: nothing newer may slip in.
    target: "node20.11",
    external: ["cbor-extract", "etcd3"],
    define: { "import.meta.url": "__tiercast_import_meta_url" },
    banner: { js: 'var __tiercast_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
    legalComments: "eof",
    write: false,
    logLevel: "warning",
    plugins: [plugin(t, root, t.seaAssets ? {} : all, names)],
  });
  const out = result.outputFiles[0];
  if (out === undefined) throw new Error("esbuild produced no output");
  return { code: out.contents, seaAssets: t.seaAssets ? all : {} };
}
