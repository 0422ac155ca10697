// PipyJS module /retry.js: Retry policies (retryOn, numRetries, backoff) and the per-upstream limits that bound retries and requests.
export const RETRY_JS = String.raw`// meshfed sidecar: /retry.js
// An upstream with a Retry object has config.outbound.services[i].retry:
// statuses (inclusive ranges) and noResponse say which answers are retried,
// numRetries how many more attempts, perTryTimeoutMs when a slow attempt is
// cut (outbound.js), backoffBaseMs the backoff before each retry: Envoy's
// fully jittered exponential backoff, uniform in [0, (2^n - 1) * base] for
// retry n, at most backoffMaxMs (10x the base).
// Without a Retry object outbound.js keeps its default (outbound.retries).
//
// Limits from the upstream's UpstreamTrafficSetting, per Pipy worker:
// requests in progress at once (maxInFlightHttp1 / maxInFlightHttp2, beyond
// which a request is answered 503 at once), TCP connections open at once
// (maxConnections), and requests retrying at once (maxRetries, a retry
// budget: beyond it the failed answer goes to the client).
import config from '/config.js'

var services = config ? config.outbound.services : []

var policyOf = function (index) {
  var s = services[index]
  return s && s.retry ? s.retry : null
}

var limitsOf = function (index) {
  var s = services[index]
  return s && s.limits ? s.limits : null
}

// Whether the policy retries an answer; synthetic = made up by Pipy or by a per-try timeout (no answer came).
var wants = function (policy, status, synthetic) {
  if (synthetic && policy.noResponse) return true
  for (var i = 0; i < policy.statuses.length; i++) {
    var r = policy.statuses[i]
    if (status >= r[0] && status <= r[1]) return true
  }
  return false
}

// Backoff before retry n (1 = the first retry), in ms; random() in [0, 1).
var backoffMs = function (policy, n, random) {
  var base = policy.backoffBaseMs
  if (!(base > 0)) return 0
  var ceiling = Math.min((Math.pow(2, n) - 1) * base, policy.backoffMaxMs)
  return Math.floor(random() * ceiling)
}

// Counters per upstream: requests, retries, connections in progress.
var counts = services.map(function () { return { requests: 0, retries: 0, connections: 0 } })

// A request's hold on its upstream's counters, released once (release()).
var hold = function (index, h2) {
  var l = limitsOf(index)
  var c = counts[index]
  var max = l ? (h2 ? l.maxInFlightHttp2 : l.maxInFlightHttp1) : undefined
  if (max !== undefined && c.requests >= max) return null
  c.requests++
  return { index: index, retries: 0, connection: false, released: false }
}

// One more retry for this request, if the upstream's retry budget allows it.
// A request that is retrying holds one unit of the budget, however many
// retries it makes (Envoy counts retries in progress; ours are sequential).
var takeRetry = function (h) {
  if (h === null || h.retries > 0) return true
  var l = limitsOf(h.index)
  var c = counts[h.index]
  if (l && l.maxRetries !== undefined && c.retries >= l.maxRetries) return false
  c.retries++
  h.retries++
  return true
}

// A TCP connection's hold, or null when maxConnections are open already.
var holdConnection = function (index) {
  var l = limitsOf(index)
  var c = counts[index]
  if (l && l.maxConnections !== undefined && c.connections >= l.maxConnections) return null
  c.connections++
  return { index: index, retries: 0, connection: true, released: false }
}

var release = function (h) {
  if (h === null || h.released) return
  h.released = true
  var c = counts[h.index]
  if (h.connection) c.connections--
  else c.requests--
  c.retries -= h.retries
}

export default { policyOf, limitsOf, wants, backoffMs, hold, takeRetry, holdConnection, release, counts }
`;
