import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigHasher, hashConfigFiles } from "../../src/controller/drivers/config-hash.js";

const file = (path: string, text: string) => ({ path, content: Buffer.from(text) });

test("hashing a fixed prefix once gives the same hash as hashing the whole list", () => {
  const prefix = [file("/main.js", "a"), file("/inbound.js", "bb")];
  const rest = [file("/config.json", "{}")];
  assert.equal(new ConfigHasher(prefix).hash(rest), hashConfigFiles([...prefix, ...rest]));
  const hasher = new ConfigHasher(prefix);
  assert.equal(hasher.hash(rest), hasher.hash(rest), "the prefix state is copied, not consumed");
});

test("file boundaries are part of the hash: moving bytes between files changes it", () => {
  assert.notEqual(hashConfigFiles([file("/a", "xy"), file("/b", "z")]), hashConfigFiles([file("/a", "x"), file("/b", "yz")]));
  assert.notEqual(hashConfigFiles([file("/a", "x")]), hashConfigFiles([file("/b", "x")]));
});
