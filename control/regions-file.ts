/** Reads and validates a region policy file; every problem is a UsageError naming the file and field. */
import { readFileSync } from "node:fs";
import { UsageError } from "../common/options.js";
import { parseRegionPolicy, RegionPolicyError, type RegionPolicy } from "./regions.js";

export function loadRegionPolicyFile(path: string): RegionPolicy {
  const where = `tiercast control: regions ${path}`;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`${where}: cannot read: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${where}: not valid JSON: ${(e as Error).message}`);
  }
  try {
    return parseRegionPolicy(doc);
  } catch (e) {
    if (e instanceof RegionPolicyError) throw new UsageError(`${where}: ${e.message}`);
    throw e;
  }
}
