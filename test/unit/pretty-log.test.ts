import { test } from "node:test";
import assert from "node:assert/strict";
import { chooseLogFormat, prettyLine } from "../../src/common/pretty-log.js";

test("the log format: JSON unless stderr is a terminal; MESHFED_LOG_FORMAT decides when set", () => {
  assert.equal(chooseLogFormat({}, false), "json");
  assert.equal(chooseLogFormat({}, true), "pretty");
  assert.equal(chooseLogFormat({ MESHFED_LOG_FORMAT: "json" }, true), "json");
  assert.equal(chooseLogFormat({ MESHFED_LOG_FORMAT: "pretty" }, false), "pretty");
  assert.equal(chooseLogFormat({ MESHFED_LOG_FORMAT: "bogus" }, false), "json");
});

test("a pino line becomes time, level, component, message and the other fields", () => {
  const time = Date.parse("2026-12-03T10:11:12.345Z");
  const line = JSON.stringify({ level: 30, time, pid: 7, component: "catalog", msg: "catalog updated", services: 3, spec: false, file: "/a b/hosts.yaml" });
  assert.equal(prettyLine(line, false), `10:11:12.345 INFO  [catalog] catalog updated services=3 spec=false file="/a b/hosts.yaml"\n`);
  const colored = prettyLine(line, true);
  const ESC = String.fromCharCode(27);
  assert.ok(colored.includes(`${ESC}[32mINFO ${ESC}[0m`), colored);
  assert.equal(colored.replace(new RegExp(`${ESC}\\[[0-9;]*m`, "g"), ""), prettyLine(line, false));
});

test("errors show their message, and for error level their stack; a line that is not JSON passes through", () => {
  const err = { type: "Error", message: "boom", stack: "Error: boom\n    at f (x.js:1:1)\n    at g (y.js:2:2)" };
  const error = prettyLine(JSON.stringify({ level: 50, time: 0, msg: "failed", code: "MESHFED_X", err }), false);
  assert.equal(error, `00:00:00.000 ERROR failed code=MESHFED_X err=boom\n    at f (x.js:1:1)\n    at g (y.js:2:2)\n`);
  const warn = prettyLine(JSON.stringify({ level: 40, time: 0, msg: "retrying", err }), false);
  assert.equal(warn, "00:00:00.000 WARN  retrying err=boom\n");
  assert.equal(prettyLine("not json", false), "not json\n");
});
