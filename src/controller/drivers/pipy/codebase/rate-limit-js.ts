// PipyJS module /rate-limit.js: inbound local rate limits (UpstreamTrafficSetting rateLimit).
export const RATE_LIMIT_JS = String.raw`// meshfed sidecar: /rate-limit.js
// Token buckets for the local rate limits of this proxy's service
// (config.inbound.rateLimit): one for new connections (tcp), one for HTTP
// requests, one per route (first path match wins, else the service's http
// bucket). A bucket holds at most capacity tokens (one unit's amount plus
// the burst), starts full and refills continuously at ratePerMs; a request
// or connection takes one token or is refused. Continuous rather than
// Envoy's whole-unit refill: the same long-run rate without a burst at each
// unit's start. State is per Pipy worker (one by default).
import config from '/config.js'

// Pure parts, given the time, so that they can be tested with a fake clock.
var create = function (spec, now) {
  return { spec: spec, tokens: spec.capacity, last: now }
}

var take = function (bucket, now) {
  var elapsed = now - bucket.last
  if (elapsed > 0) {
    bucket.tokens = Math.min(bucket.spec.capacity, bucket.tokens + elapsed * bucket.spec.ratePerMs)
    bucket.last = now
  }
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1
    return true
  }
  return false
}

var limits = config && config.inbound.rateLimit ? config.inbound.rateLimit : null
var start = Date.now()
var tcpBucket = limits && limits.tcp ? create(limits.tcp, start) : null
var httpBucket = limits && limits.http ? create(limits.http, start) : null
var routes = (limits ? limits.routes : []).map(function (r) {
  return { path: new RegExp(r.path), bucket: create(r.rateLimit, start) }
})

var pathOf = function (head) {
  var path = head.path || '/'
  var q = path.indexOf('?')
  return q >= 0 ? path.substring(0, q) : path
}

// A new inbound connection: true = admitted.
var admitConnection = function () {
  return tcpBucket === null || take(tcpBucket, Date.now())
}

// The bucket that decides an HTTP request, or null (no limit applies).
var bucketFor = function (head) {
  var path = pathOf(head)
  for (var i = 0; i < routes.length; i++) if (routes[i].path.test(path)) return routes[i].bucket
  return httpBucket
}

// An HTTP request: null = admitted, else the refused bucket's spec (status, headers).
var admitRequest = function (head) {
  var b = bucketFor(head)
  if (b === null || take(b, Date.now())) return null
  return b.spec
}

var refusal = function (spec) {
  var headers = { 'content-type': 'text/plain' }
  Object.keys(spec.headers).forEach(function (k) { headers[k] = spec.headers[k] })
  return new Message({ status: spec.status, headers: headers }, 'meshfed: local rate limit\n')
}

export default { create, take, admitConnection, admitRequest, refusal, enabled: limits !== null }
`;
