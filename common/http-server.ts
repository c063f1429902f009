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
   * plain 400 first when the socket can still be written.
   */
  badRequest?: "close" | "400";
}

/** A server with bounded keep-alive, header and request times (a slow client cannot hold it). */
export function createHttpServer(
  handler: http.RequestListener,
  options: HttpServerOptions = {},
): http.Server {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  if (options.badRequest === "400") {
    server.on("clientError", (_err, socket) => {
      if (socket.writable)
        socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      else socket.destroy();
    });
  } else {
    server.on("clientError", (_err, socket) => socket.destroy());
  }
  return server;
}

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
