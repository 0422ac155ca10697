// The hand-encoded config message must be byte for byte what protobufjs
// writes for the same ControllerMessage: agents decode it with protobufjs
// and must see no difference. Shared (frozen) files are encoded once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadProto, type ControllerMessage, type ControllerMessage__Output } from "../../src/common/proto.js";
import { JsonDriver } from "../../src/controller/drivers/json/json-driver.js";
import { PipyDriver } from "../../src/controller/drivers/pipy/pipy-driver.js";
import type { ProxyConfig } from "../../src/controller/drivers/types.js";
import { createHash } from "node:crypto";
import { acceptingEncodedMessages, AGENT_FILE_CACHE_FLOOR, encodeConfigMessage, rememberSentFiles, sharedFileSha256 } from "../../src/controller/proxy-control-plane/config-message.js";
import { splitView, VIEWS } from "./pipy-fixtures.js";

const connect = loadProto().meshfed.v1.ProxyControlPlane.service.Connect;

/** What the session sent before config-message.ts: the message object, encoded by protobufjs. */
function protobufjsBytes(version: number, config: ProxyConfig): Buffer {
  const message: ControllerMessage = {
    config: { version, driver: config.driver, hash: config.hash, files: config.files.map((f) => ({ path: f.path, content: Buffer.from(f.content) })) },
  };
  return connect.responseSerialize(message);
}

const pipy = new PipyDriver({ trustDomain: "cluster.local" });
const json = new JsonDriver();
const odd: ProxyConfig = {
  driver: "json",
  hash: "0".repeat(64),
  files: [
    { path: "/empty", content: new Uint8Array(0) },
    { path: "/ünïcode/päth.json", content: Buffer.from("{\"k\":\"välue\"}\n") },
    // A view into a larger buffer, as pooled small Buffers are.
    { path: "/slice", content: Buffer.from("xxpayloadxx").subarray(2, 9) },
    Object.freeze({ path: "/big", content: Buffer.alloc(300_000, 0x61) }),
  ],
};

const cases: Array<[string, ProxyConfig]> = [
  ...Object.entries(VIEWS).map(([name, view]): [string, ProxyConfig] => [`pipy ${name}`, pipy.render(view)]),
  ...Object.entries(VIEWS).map(([name, view]): [string, ProxyConfig] => [`json ${name}`, json.render(view)]),
  ["empty, unicode, sliced and large files", odd],
];

for (const [name, config] of cases) {
  test(`${name}: same bytes as protobufjs, at small and large versions`, () => {
    for (const version of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 53 - 1]) {
      assert.deepEqual(encodeConfigMessage(version, config).bytes, protobufjsBytes(version, config), `version ${version}`);
    }
  });
}

test("a shared script is encoded once: two proxies' messages differ only after the scripts", () => {
  const a = encodeConfigMessage(7, pipy.render(splitView)).bytes;
  const b = encodeConfigMessage(7, pipy.render({ ...splitView, proxy: { ...splitView.proxy, id: "33333333-3333-4333-8333-333333333333" } })).bytes;
  assert.notDeepEqual(a, b);
  const decoded: ControllerMessage__Output = connect.responseDeserialize(b);
  const last = decoded.config?.files.at(-1);
  assert.equal(decoded.config?.version, 7);
  assert.equal(last?.path, "/config.json");
  assert.ok(last?.content.includes("33333333-3333-4333-8333-333333333333"));
});

test("the Connect serializer passes encoded bytes through and still encodes plain messages", () => {
  const wrapped = acceptingEncodedMessages(loadProto().meshfed.v1.ProxyControlPlane.service);
  const encoded = encodeConfigMessage(3, json.render(splitView));
  assert.equal(wrapped.Connect!.responseSerialize(encoded), encoded.bytes);
  const shutdown: ControllerMessage = { shutdown: { code: "X", reason: "y", permanent: false } };
  assert.deepEqual(wrapped.Connect!.responseSerialize(shutdown), connect.responseSerialize(shutdown));
});

test("a version that is not a non-negative safe integer is refused", () => {
  for (const bad of [-1, 1.5, 2 ** 53]) assert.throws(() => encodeConfigMessage(bad, odd), RangeError);
});

test("FileCache: shared files go in full with their sha256 while the agent lacks them, then as references; per-proxy files always in full", () => {
  const config = pipy.render(splitView);
  const sharedFiles = config.files.filter((f) => Object.isFrozen(f));
  assert.ok(sharedFiles.length > 5);
  const held = new Set<string>();
  const first = encodeConfigMessage(4, config, held);
  const decoded1: ControllerMessage__Output = connect.responseDeserialize(first.bytes);
  assert.deepEqual(first.sharedInFull, sharedFiles.map((f) => sharedFileSha256(f)));
  for (const [i, f] of config.files.entries()) {
    const got = decoded1.config!.files[i]!;
    assert.equal(got.path, f.path);
    assert.deepEqual(Buffer.from(got.content), Buffer.from(f.content));
    assert.equal(got.byReference, false);
    assert.equal(got.sha256, Object.isFrozen(f) ? createHash("sha256").update(f.content).digest("hex") : "");
  }
  for (const sha of first.sharedInFull) held.add(sha);
  const second = encodeConfigMessage(5, config, held);
  const decoded2: ControllerMessage__Output = connect.responseDeserialize(second.bytes);
  assert.deepEqual(second.sharedInFull, []);
  assert.equal(decoded2.config!.hash, config.hash);
  assert.equal(decoded2.config!.version, 5);
  for (const [i, f] of config.files.entries()) {
    const got = decoded2.config!.files[i]!;
    assert.equal(got.byReference, Object.isFrozen(f), f.path);
    if (Object.isFrozen(f)) {
      assert.equal(got.content.length, 0);
      assert.equal(got.sha256, sharedFileSha256(f));
    } else assert.deepEqual(Buffer.from(got.content), Buffer.from(f.content));
  }
  // What the lever is for: the message is the per-proxy file plus ~80 bytes per shared file.
  const perProxy = config.files.filter((f) => !Object.isFrozen(f)).reduce((n, f) => n + f.content.length, 0);
  assert.ok(second.bytes.length < perProxy + 100 * sharedFiles.length, `${second.bytes.length} bytes`);
  assert.ok(first.bytes.length > second.bytes.length + 15_000);
});

test("FileCache: the hand-encoded reference and full-with-hash entries are what protobufjs writes for the same fields", () => {
  const config = json.render(splitView);
  const frozen = Object.freeze({ path: "/lib.js", content: Buffer.from("export default 1\n") });
  const mixed: ProxyConfig = { ...config, files: [frozen, ...config.files] };
  const sha = sharedFileSha256(frozen);
  const asProtobufjs = (byReference: boolean) => connect.responseSerialize({
    config: {
      version: 9, driver: mixed.driver, hash: mixed.hash,
      files: [
        byReference ? { path: frozen.path, sha256: sha, byReference: true } : { path: frozen.path, content: frozen.content, sha256: sha },
        ...config.files.map((f) => ({ path: f.path, content: Buffer.from(f.content) })),
      ],
    },
  } satisfies ControllerMessage);
  assert.deepEqual(encodeConfigMessage(9, mixed, new Set()).bytes, asProtobufjs(false));
  assert.deepEqual(encodeConfigMessage(9, mixed, new Set([sha])).bytes, asProtobufjs(true));
});

test("the record of an agent's files follows its use order and its bound: the codebase stays, past views age out", () => {
  const pipy2 = new PipyDriver({ trustDomain: "cluster.local" });
  const held = new Set<string>();
  let codebase: string[] = [];
  const views: string[] = [];
  // 100 changes of the proxy's view on one stream, each pushed once.
  for (let i = 0; i < 100; i++) {
    const view = { ...splitView, outbound: [{ ...splitView.outbound[0]!, endpoints: [{ ip: `10.9.${i}.1`, port: 8080 }] }] };
    const message = encodeConfigMessage(i + 1, pipy2.render(view), held);
    rememberSentFiles(held, message);
    if (i === 0) codebase = [...message.sharedInFull].slice(0, -1);
    else assert.deepEqual(message.referenced, codebase, `push ${i + 1}: the codebase by reference (it was never forgotten)`);
    views.push(message.sharedInFull.at(-1)!);
    assert.ok(held.size <= AGENT_FILE_CACHE_FLOOR);
  }
  assert.equal(codebase.length, 19);
  assert.equal(held.size, AGENT_FILE_CACHE_FLOOR);
  for (const sha of codebase) assert.ok(held.has(sha));
  // What is left besides the codebase: the newest views, oldest forgotten first.
  assert.deepEqual([...held].filter((s) => !codebase.includes(s)), views.slice(-(AGENT_FILE_CACHE_FLOOR - codebase.length)));
});
