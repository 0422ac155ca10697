// PipyJS module /metrics.js: the sidecar's Prometheus metrics. Pipy's admin
// port renders them at /metrics; /scrape.js serves them to Prometheus.
export const METRICS_JS = String.raw`// meshfed sidecar: /metrics.js
// Two families (docs/operations.md "Sidecar metrics" lists every name):
// - per proxy, coarse: meshfed_requests_total{direction, service, status}
//   and the counters of refusals, TLS failures, retries and TCP connections;
// - mesh traffic in the SMI metrics style, meshfed_sidecar_*: who called whom
//   (namespace, service and identity of the source and of the destination),
//   the response code, latency in seconds, TCP connections and bytes. Both
//   sidecars of a call report it, told apart by direction (outbound: the
//   caller's sidecar; inbound: the callee's).
import config from '/config.js'

var requests = new stats.Counter('meshfed_requests_total', ['direction', 'service', 'status'])
var tlsFailures = new stats.Counter('meshfed_tls_failures_total', ['direction'])
var denied = new stats.Counter('meshfed_denied_total', ['direction', 'reason'])
var retries = new stats.Counter('meshfed_retries_total', ['service'])
var tcpConnections = new stats.Counter('meshfed_tcp_connections_total', ['direction', 'service'])

var PEERS = ['direction', 'source_namespace', 'source_service', 'source_identity', 'destination_namespace', 'destination_service', 'destination_identity']
// Seconds, as Prometheus' conventions want (Pipy prints the bounds as given).
var SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Infinity]
var meshRequests = new stats.Counter('meshfed_sidecar_requests_total', PEERS.concat(['response_code']))
var meshLatency = new stats.Histogram('meshfed_sidecar_request_duration_seconds', SECONDS, PEERS)
var meshConnections = new stats.Counter('meshfed_sidecar_tcp_connections_total', PEERS)
// Istio's sense: received = bytes from the source to the destination, sent = the other way.
var meshReceived = new stats.Counter('meshfed_sidecar_tcp_received_bytes_total', PEERS)
var meshSent = new stats.Counter('meshfed_sidecar_tcp_sent_bytes_total', PEERS)

var UNKNOWN = 'unknown'
var peers = {}

// A party of a call from its service key (ns/name) and its certificate
// identity (<account>.<ns>.svc.<trust domain>); either may be '' (unknown).
// Label values: namespace and service name apart, the identity as ns/account.
// Memoised: a sidecar meets few distinct parties, and this runs per request.
var peer = function (service, identity) {
  var key = service + '|' + identity
  var p = peers[key]
  if (p !== undefined) return p
  var slash = service.indexOf('/')
  var id = UNKNOWN
  var parts = identity.split('.')
  if (parts.length > 2 && parts[2] === 'svc') id = parts[1] + '/' + parts[0]
  p = {
    namespace: slash > 0 ? service.substring(0, slash) : (id !== UNKNOWN ? parts[1] : UNKNOWN),
    service: slash > 0 ? service.substring(slash + 1) : UNKNOWN,
    identity: id,
  }
  peers[key] = p
  return p
}

// This proxy as a party of a call.
var self = config ? peer(config.proxy.service, config.proxy.identity) : peer('', '')

var request = function (direction, service, status, millis) {
  requests.withLabels(direction, service, '' + status).increase()
}

// One HTTP exchange between two parties (peer() objects), seen by this sidecar.
var exchange = function (direction, source, destination, status, millis) {
  meshRequests.withLabels(direction, source.namespace, source.service, source.identity, destination.namespace, destination.service, destination.identity, '' + status).increase()
  meshLatency.withLabels(direction, source.namespace, source.service, source.identity, destination.namespace, destination.service, destination.identity).observe(millis / 1000)
}

// One TCP connection between two parties: counted now; the returned pair of
// counters takes its bytes (bound once, not per chunk).
var connection = function (direction, s, d) {
  meshConnections.withLabels(direction, s.namespace, s.service, s.identity, d.namespace, d.service, d.identity).increase()
  return {
    received: meshReceived.withLabels(direction, s.namespace, s.service, s.identity, d.namespace, d.service, d.identity),
    sent: meshSent.withLabels(direction, s.namespace, s.service, s.identity, d.namespace, d.service, d.identity),
  }
}

// TLS sessions report every state change; a closed session with an error is
// a failed handshake (no certificate, untrusted chain, refused identity, plain text).
var tlsState = function (direction, session) {
  if (session.state === 'closed' && session.error) tlsFailures.withLabels(direction).increase()
}

export default {
  UNKNOWN,
  peer,
  self,
  request,
  exchange,
  connection,
  tlsState,
  denied: function (direction, reason) { denied.withLabels(direction, reason).increase() },
  retry: function (service) { retries.withLabels(service).increase() },
  tcp: function (direction, service) { tcpConnections.withLabels(direction, service).increase() },
}
`;
