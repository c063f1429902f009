/**
 * The node:http plumbing tiercast's HTTP servers share (the agent's LAN server, the origin's
 * fallback, control's admin API): timeouts, listen on host:port answering the bound address,
 * close, and a guard so that an exception in a route answers 500 instead of taking the
 * process down. Routing and the shape of error bodies stay with each server.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Address } from "../seams/transport.js";

export interface HttpListenConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

export interface HttpServerOptions {
  /**
   * A request node:http cannot parse: "close" (default) closes the connection, "400" answers a
   * plain 400 first when the socket can still be written. Oversized headers (431) and a request
   * whose headers did not arrive in time (408) are answered either way.
   */
  badRequest?: "close" | "400";
  /**
   * Time a client has to send a request's headers, ms (default 10 s): a client that trickles
   * them (slowloris) gets 408 and is disconnected. Checked every HEADER_CHECK_MAX_MS at most.
   */
  headersTimeoutMs?: number;
  /** Time a client has to send a whole request, ms (default 30 s; at least headersTimeoutMs). */
  requestTimeoutMs?: number;
  /** Request line plus headers larger than this get 431 (default MAX_HEADER_BYTES). */
  maxHeaderBytes?: number;
}

/** Default limit of a request's head (request line and headers), bytes. node's own is 16 KiB. */
export const MAX_HEADER_BYTES = 8 * 1024;
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
/**
 * node:http checks header and request timeouts on a timer (`connectionsCheckingInterval`, 30 s
 * by default, so a 10 s header timeout could take 40 s); ours runs every quarter of the header
 * timeout, at most this often apart, ms.
 */
export const HEADER_CHECK_MAX_MS = 1_000;

const ANSWERS: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: "431 Request Header Fields Too Large",
  ERR_HTTP_REQUEST_TIMEOUT: "408 Request Timeout",
};

/**
 * A server with bounded keep-alive, header and request times and a bounded request head: a
 * slow client cannot hold a connection and an oversized head is refused with 431.
 */
export function createHttpServer(
  handler: http.RequestListener,
  options: HttpServerOptions = {},
): http.Server {
  const headersTimeout = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
  const server = http.createServer(
    {
      maxHeaderSize: options.maxHeaderBytes ?? MAX_HEADER_BYTES,
      connectionsCheckingInterval: Math.max(
        10,
        Math.min(HEADER_CHECK_MAX_MS, Math.floor(headersTimeout / 4)),
      ),
    },
    handler,
  );
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = headersTimeout;
  // node refuses a request timeout below the header timeout.
  server.requestTimeout = Math.max(options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS, headersTimeout);
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    // node answers these itself only when nobody listens for clientError; we do, so we answer.
    const status = ANSWERS[err.code ?? ""] ?? (options.badRequest === "400" ? "400 Bad Request" : undefined);
    if (status === undefined || !socket.writable) {
      socket.destroy();
      return;
    }
    // end() rather than write() + destroy(): the answer is flushed before the FIN. A client still
    // sending (the rest of a huge header) is cut shortly after.
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  });
  return server;
}

/** After an error answer, time the client has to read it and close before the socket is cut, ms. */
const CLOSE_GRACE_MS = 1_000;

/** Listens on host:port; resolves with the bound address (the real port when 0 was asked). */
export function listenHttp(server: http.Server, config: HttpListenConfig): Promise<Address> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      const a = server.address() as AddressInfo;
      resolve({ address: a.address, port: a.port });
    });
  });
}

/** Stops listening and cuts open connections (keep-alive ones included); resolves when closed. */
export function closeHttp(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export interface RouteFailure {
  /** Told of every exception (log it, count it). */
  failed(e: unknown): void;
  /** Answers 500 in the server's own format; called only while no header has gone out. */
  internalError(): void;
}

/**
 * Runs `route`; an exception it throws never reaches node:http (where it would crash the
 * process): it goes to `failure.failed`, then is answered 500, or when the headers are already
 * out the connection is cut (the client sees a truncated answer, not a wrong one).
 */
export function runRoute(res: http.ServerResponse, route: () => void, failure: RouteFailure): void {
  try {
    route();
  } catch (e) {
    failure.failed(e);
    if (!res.headersSent) failure.internalError();
    else res.destroy();
  }
}
