import { test } from "node:test";
import assert from "node:assert/strict";
import { meshServiceOfHost, normaliseCidr, normaliseHost, parseGoDurationMs } from "../../src/controller/spec/policy-values.js";

test("Go durations in milliseconds, as metav1.Duration reads them", () => {
  const cases: [string, number | undefined][] = [
    ["1s", 1000], ["500ms", 500], ["1m30s", 90_000], ["1.5h", 5_400_000], ["0", 0], ["0s", 0], ["250us", 0.25], ["250µs", 0.25], ["1100ns", 0.0011], [".5s", 500],
    ["", undefined], ["1", undefined], ["1d", undefined], ["-1s", undefined], ["1 s", undefined], ["s", undefined], ["1s2", undefined], ["1.1.1s", undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseGoDurationMs(text), want, JSON.stringify(text));
});

test("CIDRs: host bits cleared, IPv6 canonical, one address a /32 or /128", () => {
  const cases: [string, string | undefined][] = [
    ["10.1.2.3/8", "10.0.0.0/8"], ["10.0.0.0/8", "10.0.0.0/8"], ["0.0.0.0/0", "0.0.0.0/0"], ["192.168.1.1", "192.168.1.1/32"], ["255.255.255.255/31", "255.255.255.254/31"],
    ["2001:DB8::1/32", "2001:db8::/32"], ["::1", "::1/128"], ["fe80::1:2:3:4/64", "fe80::/64"], ["::/0", "::/0"], ["2001:db8:0:0:0:0:0:1/127", "2001:db8::/127"],
    ["10.0.0.0/33", undefined], ["::/129", undefined], ["10.0.0/8", undefined], ["example.com/8", undefined], ["10.0.0.0/x", undefined], ["10.0.0.0/", undefined], ["", undefined],
  ];
  for (const [text, want] of cases) assert.equal(normaliseCidr(text), want, text);
});

test("hosts: lower-cased DNS names, a leading wildcard only where allowed", () => {
  assert.equal(normaliseHost("HTTPBIN.org.", { wildcard: false, minLabels: 2 }), "httpbin.org");
  assert.equal(normaliseHost("*.Example.com", { wildcard: true, minLabels: 1 }), "*.example.com");
  assert.equal(normaliseHost("*.example.com", { wildcard: false, minLabels: 1 }), undefined);
  assert.equal(normaliseHost("localhost", { wildcard: false, minLabels: 2 }), undefined);
  assert.equal(normaliseHost("a_b.example", { wildcard: false, minLabels: 1 }), undefined);
});

test("a host names a mesh service only in the mesh's own name forms", () => {
  assert.deepEqual(meshServiceOfHost("web.shop.svc.cluster.local"), { namespace: "shop", name: "web" });
  assert.deepEqual(meshServiceOfHost("web.shop.svc"), { namespace: "shop", name: "web" });
  assert.deepEqual(meshServiceOfHost("web.shop.svc.corp.internal", "corp.internal"), { namespace: "shop", name: "web" });
  assert.equal(meshServiceOfHost("web.shop.svc.corp.internal"), undefined);
  assert.equal(meshServiceOfHost("web.shop"), undefined);
  assert.equal(meshServiceOfHost("web.shop.example.com"), undefined);
});
