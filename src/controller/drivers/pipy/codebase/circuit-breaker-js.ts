// PipyJS module /circuit-breaker.js: per-upstream circuit breaking (UpstreamTrafficSetting http.circuitBreaking).
export const CIRCUIT_BREAKER_JS = String.raw`// meshfed sidecar: /circuit-breaker.js
// osm-edge's circuit breaking, per upstream service and Pipy worker: within
// a statistics window of statTimeWindowMs (tumbling: the counts start again
// when it is over), once at least minRequestAmount answers were counted,
// the breaker opens when errors (status >= 500) or slow answers (at least
// slowTimeThresholdMs) reach their amount or ratio threshold. Open, every
// request is answered at once with degradedStatusCode and
// degradedResponseContent, for degradedTimeWindowMs; then it closes with
// fresh counts (no half-open probing, as osm-edge's Pipy sidecar). Answers
// given while open are not counted.
import config from '/config.js'

// Pure parts, given the time, so that they can be tested with a fake clock.
var create = function (spec, now) {
  return { spec: spec, open: false, openedAt: 0, windowStart: now, total: 0, errors: 0, slow: 0 }
}

var restart = function (b, now) {
  b.windowStart = now
  b.total = 0
  b.errors = 0
  b.slow = 0
}

var reached = function (count, total, amount, ratio) {
  if (amount !== undefined && amount > 0 && count >= amount) return true
  return ratio !== undefined && ratio > 0 && count / total >= ratio
}

// Whether a request may go upstream now; closes the breaker after its open window.
var allow = function (b, now) {
  if (!b.open) return true
  if (now - b.openedAt < b.spec.degradedTimeWindowMs) return false
  b.open = false
  restart(b, now)
  return true
}

// Counts one answer; true when this answer opened the breaker.
var record = function (b, now, status, latencyMs) {
  if (b.open) return false
  var s = b.spec
  if (now - b.windowStart >= s.statTimeWindowMs) restart(b, now)
  b.total++
  if (status >= 500) b.errors++
  if (s.slowTimeThresholdMs !== undefined && latencyMs >= s.slowTimeThresholdMs) b.slow++
  if (b.total < s.minRequestAmount) return false
  if (reached(b.errors, b.total, s.errorAmountThreshold, s.errorRatioThreshold) ||
      reached(b.slow, b.total, s.slowAmountThreshold, s.slowRatioThreshold)) {
    b.open = true
    b.openedAt = now
    return true
  }
  return false
}

var start = Date.now()
var breakers = (config ? config.outbound.services : []).map(function (s) {
  return s.limits && s.limits.circuitBreaker ? create(s.limits.circuitBreaker, start) : null
})

// The upstream's breaker, or null when it has none.
var of = function (index) {
  var b = breakers[index]
  return b === undefined ? null : b
}

var degraded = function (b) {
  return new Message({ status: b.spec.degradedStatusCode, headers: { 'content-type': 'text/plain', 'x-meshfed-circuit': 'open' } }, b.spec.degradedResponseContent)
}

export default { create, allow, record, of, degraded }
`;
