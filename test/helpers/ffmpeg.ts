/** ffmpeg as a player: decodes `seconds` of an HLS playlist; resolves with its exit code and stderr. */
import { spawn } from "node:child_process";

export function ffmpegDecode(
  url: string,
  seconds: number,
  timeoutMs = 90_000,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const ff = spawn("ffmpeg", [
      "-nostdin",
      "-v",
      "error",
      "-i",
      url,
      "-t",
      String(seconds),
      "-f",
      "null",
      "-",
    ]);
    let stderr = "";
    ff.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => ff.kill("SIGKILL"), timeoutMs);
    ff.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
