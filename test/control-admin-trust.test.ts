/** The admin API's trust routes over real HTTP: enrolment tokens and key revocation (docs/security.md). */
import test from "ava";
import { generateKeyPairSync } from "node:crypto";
import { startControl } from "../control/main.js";
import { hashToken } from "../control/trust/enrolment.js";
import { rawPublicKey } from "../protocol/auth.js";
import { MemoryLogger } from "../seams/log.js";

test("enrolment tokens are shown once and stored hashed; keys are revoked with the admin token only", async (t) => {
  const running = await startControl(
    {
      host: "127.0.0.1",
      port: 0,
      adminPort: 0,
      db: ":memory:",
      regions: undefined,
      heartbeatMs: 1000,
      logLevel: "info",
      topology: "tiered",
      enrolment: "token",
    },
    { logger: new MemoryLogger() },
  );
  t.teardown(() => running.stop());
  const base = `http://${running.http.address}:${running.http.port}`;
  const auth = { authorization: `Bearer ${running.adminToken}`, "content-type": "application/json" };
  const post = (path: string, body: unknown, headers: Record<string, string> = auth) =>
    fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });

  t.is((await post("/api/enrolment-tokens", { roles: ["agent"], uses: 5 }, {})).status, 401);
  const made = await post("/api/enrolment-tokens", { roles: ["agent"], uses: 5, note: "batch 7" });
  t.is(made.status, 201);
  const issued = (await made.json()) as { token: string; hash: string; uses: number };
  t.regex(issued.token, /^tce_/);
  t.is(issued.hash, hashToken(issued.token));
  const list = await (await fetch(`${base}/api/enrolment-tokens`, { headers: auth })).text();
  t.true(list.includes(issued.hash));
  t.false(list.includes(issued.token), "the token itself is never listed");
  t.is((await post("/api/enrolment-tokens", { roles: ["root"], uses: 5 })).status, 400);
  t.is((await post("/api/enrolment-tokens", { roles: ["agent"], uses: 0 })).status, 400);

  const { privateKey } = generateKeyPairSync("ed25519");
  const key = Buffer.from(rawPublicKey(privateKey)).toString("hex");
  t.is((await post("/api/keys/revoke", { key }, {})).status, 401);
  t.is((await post("/api/keys/revoke", { key: "nope" })).status, 400);
  const revoked = await post("/api/keys/revoke", { key, reason: "stolen" });
  t.is(revoked.status, 200);
  t.like(await revoked.json(), { revoked: key, sessionEnded: false });
  t.true(running.store.isRevoked(Buffer.from(key, "hex")));
  t.is((await fetch(`${base}/api/keys/revoke`, { headers: auth })).status, 405);
});
