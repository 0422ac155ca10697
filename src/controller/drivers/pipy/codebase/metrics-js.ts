// PipyJS module /metrics.js: Prometheus metrics, exposed by Pipy's admin port at /metrics.
export const METRICS_JS = String.raw`// meshfed sidecar: /metrics.js
// Exposed by Pipy's own admin service (--admin-port) at /metrics.
var requests = new stats.Counter('meshfed_requests_total', ['direction', 'service', 'status'])
var latency = new stats.Histogram(
  'meshfed_request_duration_ms',
  [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, Infinity],
  ['direction', 'service']
)
var tlsFailures = new stats.Counter('meshfed_tls_failures_total', ['direction'])
var denied = new stats.Counter('meshfed_denied_total', ['direction', 'reason'])
var retries = new stats.Counter('meshfed_retries_total', ['service'])
var tcpConnections = new stats.Counter('meshfed_tcp_connections_total', ['direction', 'service'])

var request = function (direction, service, status, millis) {
  requests.withLabels(direction, service, '' + status).increase()
  latency.withLabels(direction, service).observe(millis)
}

// TLS sessions report every state change; a closed session with an error is
// a failed handshake (no certificate, untrusted chain, refused identity, plain text).
var tlsState = function (direction, session) {
  if (session.state === 'closed' && session.error) tlsFailures.withLabels(direction).increase()
}

export default {
  request,
  tlsState,
  denied: function (direction, reason) { denied.withLabels(direction, reason).increase() },
  retry: function (service) { retries.withLabels(service).increase() },
  tcp: function (direction, service) { tcpConnections.withLabels(direction, service).increase() },
}
`;
