// The bench's controllers run with the image's malloc setting unless the A/B asks otherwise.
import { test } from "node:test";
import assert from "node:assert/strict";
import { controllerEnvironment } from "../../bench/controller-env.js";
import { CONTROLLER_MALLOC_ENV } from "../../src/controller/malloc-env.js";

const inherited = { PATH: "/usr/bin", MALLOC_MMAP_THRESHOLD_: "8192" };

test("unset: the shipped setting over whatever the bench itself inherited, and no label", () => {
  const { env, label } = controllerEnvironment(undefined, inherited);
  assert.equal(label, "");
  assert.equal(env.PATH, "/usr/bin");
  for (const [name, value] of Object.entries(CONTROLLER_MALLOC_ENV)) assert.equal(env[name], value);
});

test("set but empty: glibc's defaults, the shipped names removed even when inherited", () => {
  const { env, label } = controllerEnvironment("", inherited);
  assert.match(label, /glibc defaults/);
  assert.equal(env.PATH, "/usr/bin");
  for (const name of Object.keys(CONTROLLER_MALLOC_ENV)) assert.equal(env[name], undefined);
});

test("pairs replace the shipped setting and name themselves in the scenario", () => {
  const { env, label } = controllerEnvironment("MALLOC_ARENA_MAX=2  MALLOC_TRIM_THRESHOLD_=0", inherited);
  assert.equal(label, " controller-env=MALLOC_ARENA_MAX=2,MALLOC_TRIM_THRESHOLD_=0");
  assert.equal(env.MALLOC_ARENA_MAX, "2");
  assert.equal(env.MALLOC_TRIM_THRESHOLD_, "0");
  assert.equal(env.MALLOC_MMAP_THRESHOLD_, undefined);
});

test("anything but NAME=VALUE is refused, not ignored", () => {
  assert.throws(() => controllerEnvironment("MALLOC_ARENA_MAX", inherited), /"MALLOC_ARENA_MAX" is not NAME=VALUE/);
  assert.throws(() => controllerEnvironment("2X=1", inherited), /not NAME=VALUE/);
});
