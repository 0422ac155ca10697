// PipyJS module /balancing.js: TrafficSplit weights and endpoint round-robin, per service port.
export const BALANCING_JS = String.raw`// meshfed sidecar: /balancing.js
// Two levels, both smooth weighted round-robin (algo.LoadBalancer): first a
// TrafficSplit backend by weight, then an endpoint of that backend. Exact
// proportions per worker, no randomness. Both levels are per service port: a
// target's endpoints mix the ports of its service, and a caller asking for
// port P must only get endpoints of P (port 0 = any endpoint). A backend
// with no endpoint on P drops out of that port's split; the others keep
// their relative weights. Balancers are built on first use of a port.
import config from '/config.js'
import routing from '/routing.js'

// Peer endpoints are inbound listeners at service port + offset (pipy-config.ts).
var offset = config && config.outbound.inboundPortOffset ? config.outbound.inboundPortOffset : 10000

var servicePort = function (endpoint) {
  return Number(endpoint.substring(endpoint.lastIndexOf(':') + 1)) - offset
}

var target = function (t) {
  return {
    service: t.service,
    identity: t.identity,
    // Any of these may answer (a service under several accounts); configs before the list had one.
    identities: t.identities || [t.identity],
    weight: t.weight === undefined ? 1 : t.weight,
    endpoints: t.endpoints,
    byPort: {},
  }
}

// { endpoints, lb } of the target for one port (0 = every endpoint).
var portOf = function (t, port) {
  var p = t.byPort[port]
  if (!p) {
    var endpoints = port === 0 ? t.endpoints : t.endpoints.filter(function (e) { return servicePort(e) === port })
    p = { endpoints: endpoints, lb: new algo.LoadBalancer(endpoints, { algorithm: 'round-robin' }) }
    t.byPort[port] = p
  }
  return p
}

var upstreams = (config ? config.outbound.services : []).map(function (s) {
  var split = null
  if (s.split) {
    var backends = s.split.backends.map(target).filter(function (b) { return b.weight > 0 && b.endpoints.length > 0 })
    if (backends.length > 0) {
      split = { name: s.split.trafficSplit, matches: s.split.matches.map(routing.compileMatch), backends: backends, byPort: {} }
    }
  }
  return { service: s.service, direct: s.direct ? target(s.direct) : null, split: split }
})

var splitLb = function (split, port) {
  var lb = split.byPort[port]
  if (lb === undefined) {
    var live = split.backends.filter(function (b) { return portOf(b, port).endpoints.length > 0 })
    lb = live.length > 0 ? new algo.LoadBalancer(live, { algorithm: 'round-robin', weight: function (b) { return b.weight } }) : null
    split.byPort[port] = lb
  }
  return lb
}

// Whether the target has an endpoint on the port that skip(endpoint) accepts.
var hasEndpoint = function (t, port, skip) {
  var endpoints = portOf(t, port).endpoints
  if (!skip) return endpoints.length > 0
  for (var i = 0; i < endpoints.length; i++) if (!skip(endpoints[i])) return true
  return false
}

// The backend service for one request or connection: the split when it
// applies, else the service itself. head is null for a TCP connection: a
// split restricted by HTTP matches never applies to one. skip (optional)
// refuses endpoints, as in pickEndpoint: a backend whose every endpoint on
// the port it refuses is never picked, so a retry after a failed endpoint
// goes to a backend that still has one, by weight among those (issue 23:
// picking the dead backend again answered 503 with retries left).
var pickTarget = function (index, head, port, skip) {
  var u = upstreams[index]
  if (!u) return null
  var p = port || 0
  if (u.split && (u.split.matches.length === 0 || (head && routing.matches(u.split.matches, head)))) {
    var lb = splitLb(u.split, p)
    var b = lb ? lb.schedule(1, skip ? function (t) { return hasEndpoint(t, p, skip) } : undefined)[0] : null
    if (b) return b
  }
  return u.direct
}

// An endpoint of the target on the port, skipping those skip(endpoint) refuses
// (failed for this request, or ejected after a connect failure).
var pickEndpoint = function (t, skip, port) {
  if (!t) return ''
  var p = portOf(t, port || 0)
  if (p.endpoints.length === 0) return ''
  var e = p.lb.schedule(1, function (ep) { return !skip(ep) })[0]
  return e || ''
}

// Both levels at once for one attempt: { target, endpoint } (endpoint '' =
// none left). The backend is chosen among those with an endpoint skip
// accepts, then an endpoint of it that skip accepts.
var pick = function (index, head, port, skip) {
  var t = pickTarget(index, head, port, skip)
  return { target: t, endpoint: pickEndpoint(t, skip, port) }
}

export default { upstreams, pickTarget, pickEndpoint, pick, servicePort }
`;
