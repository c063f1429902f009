/** The module the firmware bundler generates per target (firmware/lib/bundle.ts). */
declare module "tiercast:build" {
  export const build: {
    arch: string;
    nodeVersion: string;
    runtimeNote: string | undefined;
    /** true: embedded files are SEA assets (node:sea getAsset); false: they are in `files`. */
    seaAssets: boolean;
    /** Package-relative names of the embedded package files (assets/sample/index.m3u8, ...). */
    packageFiles: string[];
  };
  /** Embedded files when seaAssets is false (Node 20.11 has no getAsset), by name; else empty. */
  export const files: Record<string, Uint8Array>;
}
