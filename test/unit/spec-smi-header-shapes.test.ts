import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSmiManifests } from "../../src/controller/spec/smi-parse.js";

const group = (headers: string) =>
  [
    "apiVersion: specs.smi-spec.io/v1alpha4",
    "kind: HTTPRouteGroup",
    "metadata: { name: routes, namespace: bookstore }",
    "spec:",
    "  matches:",
    "  - name: books-bought",
    "    pathRegex: /books-bought",
    "    methods: [GET]",
    headers,
    "",
  ].join("\n");

function headersOf(text: string): unknown {
  const r = parseSmiManifests(text, "g.yaml");
  assert.deepEqual(r.errors.map((e) => e.message), []);
  const o = r.objects[0];
  assert.ok(o?.kind === "HTTPRouteGroup");
  return o.object.matches[0]?.headers;
}

test("HTTPRouteGroup headers as osm-edge writes them: a list of one-entry maps, merged in order", () => {
  const list = headersOf(group('    headers:\n    - "user-agent": ".*-http-client/*.*"\n    - "client-app": "bookbuyer"'));
  assert.deepEqual(list, { "user-agent": ".*-http-client/*.*", "client-app": "bookbuyer" });
  assert.deepEqual(Object.keys(list as object), ["user-agent", "client-app"]);
});

test("HTTPRouteGroup headers as the SMI spec's prose writes them: one map, same result", () => {
  assert.deepEqual(headersOf(group('    headers:\n      user-agent: ".*-http-client/*.*"\n      client-app: bookbuyer')), { "user-agent": ".*-http-client/*.*", "client-app": "bookbuyer" });
});

test("a header named twice in the list keeps the later pattern (names compare case-insensitively)", () => {
  assert.deepEqual(headersOf(group('    headers:\n    - User-Agent: a\n    - x: "1"\n    - user-agent: b')), { x: "1", "user-agent": "b" });
  assert.deepEqual(headersOf(group("    headers: []")), {});
});

test("a bad header regex inside the list is reported at its own line", () => {
  const r = parseSmiManifests(group('    headers:\n    - a: ok\n    - b: "[x-"'), "g.yaml");
  assert.equal(r.objects.length, 0);
  assert.equal(r.errors[0]?.code, "MESHFED_SMI_INVALID_REGEX");
  assert.equal(r.errors[0]?.details.line, 11);
  assert.equal(r.errors[0]?.details.path, "spec.matches[0].headers[1].b");
});

test("headers that are neither a map nor a list of maps are refused", () => {
  const r = parseSmiManifests(group("    headers: user-agent"), "g.yaml");
  assert.equal(r.objects.length, 0);
  assert.equal(r.errors[0]?.code, "MESHFED_SMI_INVALID");
});
