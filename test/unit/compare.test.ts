// The one string order (common/compare.ts): code units, never the locale's,
// so that rendered configs and their hashes are the same on every machine.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compareStrings } from "../../src/common/compare.js";

test("compareStrings orders by code unit, not by locale", () => {
  // A locale order would put "a" before "B" and "é" before "z".
  assert.deepEqual(["z", "é", "a", "B", "a-1", "a"].sort(compareStrings), ["B", "a", "a", "a-1", "z", "é"]);
  assert.equal(compareStrings("x", "x"), 0);
  assert.equal(compareStrings("10.0.0.2", "10.0.0.10"), 1);
});
