// PipyJS module /balancing.js: TrafficSplit weights and endpoint round-robin.
export const BALANCING_JS = String.raw`// meshfed sidecar: /balancing.js
// Two levels, both smooth weighted round-robin (algo.LoadBalancer): first a
// TrafficSplit backend by weight, then an endpoint of that backend. Exact
// proportions per worker, no randomness.
import config from '/config.js'
import routing from '/routing.js'

var target = function (t) {
  return {
    service: t.service,
    identity: t.identity,
    // Any of these may answer (a service under several accounts); configs before the list had one.
    identities: t.identities || [t.identity],
    weight: t.weight === undefined ? 1 : t.weight,
    endpoints: t.endpoints,
    lb: new algo.LoadBalancer(t.endpoints, { algorithm: 'round-robin' }),
  }
}

var upstreams = (config ? config.outbound.services : []).map(function (s) {
  var split = null
  if (s.split) {
    var backends = s.split.backends.map(target).filter(function (b) { return b.weight > 0 && b.endpoints.length > 0 })
    if (backends.length > 0) {
      split = {
        name: s.split.trafficSplit,
        matches: s.split.matches.map(routing.compileMatch),
        lb: new algo.LoadBalancer(backends, { algorithm: 'round-robin', weight: function (b) { return b.weight } }),
      }
    }
  }
  return { service: s.service, direct: s.direct ? target(s.direct) : null, split: split }
})

// The backend service for one request: the split when it applies, else the service itself.
var pickTarget = function (index, head) {
  var u = upstreams[index]
  if (!u) return null
  if (u.split && (u.split.matches.length === 0 || routing.matches(u.split.matches, head))) {
    var b = u.split.lb.schedule(1)[0]
    if (b) return b
  }
  return u.direct
}

// An endpoint of the target, skipping those that already failed this request.
var pickEndpoint = function (t, failed) {
  if (!t || t.endpoints.length === 0) return ''
  var e = t.lb.schedule(1, function (ep) { return !failed[ep] })[0]
  return e || ''
}

export default { upstreams, pickTarget, pickEndpoint }
`;
