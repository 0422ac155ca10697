import { test } from "node:test";
import assert from "node:assert/strict";
import { AdminRouter, json } from "../../src/controller/admin/router.js";
import { AdminServer } from "../../src/controller/admin/server.js";
import { addUiRoutes } from "../../src/controller/admin/ui-routes.js";
import { silentLogger } from "../../src/common/logger.js";

async function serve(t: { after: (fn: () => Promise<void>) => void }, token?: string) {
  const router = new AdminRouter()
    .add("GET", "/healthz", () => ({ status: 200, body: "ok\n" }))
    .add("GET", "/api/v1/thing", () => json({ a: 1 }))
    .add("GET", "/boom", () => {
      throw new Error("kaput");
    });
  const server = await AdminServer.listen({ listen: { host: "127.0.0.1", port: 0 }, router, logger: silentLogger(), ...(token ? { token } : {}) });
  t.after(() => server.close());
  return server;
}

test("a non-loopback admin address without a token is refused before binding", async () => {
  await assert.rejects(
    AdminServer.listen({ listen: { host: "0.0.0.0", port: 0 }, router: new AdminRouter(), logger: silentLogger() }),
    /refusing to serve the admin API on 0\.0\.0\.0:0 without an admin token/,
  );
});

test("with a token, requests need the right bearer token; /healthz stays open", async (t) => {
  const server = await serve(t, "s3cret-token");
  const get = (path: string, auth?: string) => fetch(`${server.url}${path}`, auth ? { headers: { authorization: auth } } : {});
  assert.equal((await get("/api/v1/thing")).status, 401);
  assert.equal((await get("/api/v1/thing", "Bearer wrong")).status, 401);
  assert.equal((await get("/api/v1/thing", "Basic s3cret-token")).status, 401);
  const ok = await get("/api/v1/thing", "Bearer s3cret-token");
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { a: 1 });
  assert.equal((await get("/healthz")).status, 200);
});

test("unknown paths, wrong methods and handler failures get JSON errors with codes", async (t) => {
  const server = await serve(t);
  const notFound = await fetch(`${server.url}/nope`);
  assert.equal(notFound.status, 404);
  assert.deepEqual(await notFound.json(), { error: { code: "MESHFED_NOT_FOUND", message: "no such path: /nope" } });
  const wrongMethod = await fetch(`${server.url}/api/v1/thing`, { method: "POST" });
  assert.equal(wrongMethod.status, 405);
  assert.equal(((await wrongMethod.json()) as { error: { code: string } }).error.code, "MESHFED_METHOD_NOT_ALLOWED");
  const boom = await fetch(`${server.url}/boom`);
  assert.equal(boom.status, 500);
  assert.equal(((await boom.json()) as { error: { message: string } }).error.message, "kaput");
});

test("the status page's static files need no token and are confined; the data they read still does", async (t) => {
  const router = addUiRoutes(new AdminRouter().add("GET", "/api/v1/catalog", () => json({ services: [] })));
  const server = await AdminServer.listen({ listen: { host: "127.0.0.1", port: 0 }, router, logger: silentLogger(), token: "s3cret-token" });
  t.after(() => server.close());
  for (const [path, type] of [["/ui", "text/html"], ["/ui/app.js", "text/javascript"], ["/ui/app.css", "text/css"]] as const) {
    const res = await fetch(`${server.url}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("content-type") ?? "", new RegExp(`^${type}`));
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'; script-src 'self'/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.doesNotMatch(await res.text(), /s3cret-token/);
  }
  assert.equal((await fetch(`${server.url}/api/v1/catalog`)).status, 401);
  // The script never turns API values into markup.
  assert.doesNotMatch(await (await fetch(`${server.url}/ui/app.js`)).text(), /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
});
