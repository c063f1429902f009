/**
 * The network lab's management path (tools/lab/lab.ts, `lab.fetch`): an HTTP relay that runs
 * in the lab's router namespace — which reaches every host directly on its region's bridge — and
 * listens on a Unix socket. A Unix socket is a file, not a network address, so the test process
 * in the root namespace reaches it without any route into the lab, and two labs never clash
 * (their hosts use the same 10.77.r.x addresses). Nothing in the lab's data path changes: no
 * veth, no address, no loss, cap or delay is added or crossed (the router's bridges carry no
 * impairment; a host's tbf cap still applies to what that host sends).
 *
 *   node --import tsx tools/lab/relay.ts --socket /tmp/x/relay.sock
 *
 * A request in absolute form, `GET http://10.77.1.10:8081/status` (a proxy request), is made to
 * that address and the answer streamed back (status, headers, body). Only http:// URLs inside
 * 10.77.0.0/16 (the lab's addresses) and GET/HEAD are relayed; anything else gets 400/405. The
 * `x-timeout-ms` header bounds each request (default 5 s, at most 60 s): past it the relay answers
 * 504. An `authorization` header is passed on (control's admin API token); no other header is.
 * Prints `{"event":"ready"}` once listening; runs until killed (the lab's destroy does).
 */
import http from "node:http";
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";

const DEFAULT_TIMEOUT_MS = 5000;
const MAX_TIMEOUT_MS = 60_000;
const LAB_HOST = /^10\.77\.(\d{1,3})\.(\d{1,3})$/;

const emit = (o: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(o) + "\n");
};

function fail(res: http.ServerResponse, status: number, error: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error }) + "\n";
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function timeoutOf(header: string | string[] | undefined): number {
  const n = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(n) && n > 0 ? Math.min(n, MAX_TIMEOUT_MS) : DEFAULT_TIMEOUT_MS;
}

function relay(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.method !== "GET" && req.method !== "HEAD") return fail(res, 405, `method ${req.method}`);
  let target: URL;
  try {
    target = new URL(req.url ?? "");
  } catch {
    return fail(res, 400, `not an absolute URL: ${JSON.stringify(req.url)}`);
  }
  const m = LAB_HOST.exec(target.hostname);
  if (target.protocol !== "http:" || m === null || Number(m[1]) > 255 || Number(m[2]) > 255)
    return fail(res, 400, `only http:// URLs inside 10.77.0.0/16 are relayed, not ${target.href}`);
  const timeoutMs = timeoutOf(req.headers["x-timeout-ms"]);
  const auth = req.headers.authorization;
  const headers = auth === undefined ? {} : { authorization: auth };
  const up = http.request(target, { method: req.method, agent: false, headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
    answer.on("error", () => res.destroy());
  });
  const timer = setTimeout(() => {
    up.destroy();
    fail(res, 504, `${target.href}: no answer within ${timeoutMs} ms`);
  }, timeoutMs);
  res.on("close", () => {
    clearTimeout(timer);
    up.destroy();
  });
  up.on("error", (e) => fail(res, 502, `${target.href}: ${e.message}`));
  up.end();
}

function main(): void {
  const { values } = parseArgs({ options: { socket: { type: "string" } }, strict: true });
  const socket = values.socket;
  if (socket === undefined || socket === "") throw new Error("--socket <path> is required");
  rmSync(socket, { force: true });
  const server = http.createServer(relay);
  server.on("error", (e) => {
    process.stderr.write(`lab-relay: ${e.message}\n`);
    process.exit(1);
  });
  server.listen(socket, () => emit({ event: "ready", socket }));
  const stop = (): void => {
    server.close();
    rmSync(socket, { force: true });
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main();
