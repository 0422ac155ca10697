// PipyJS module /tcp.js: outbound raw TCP over mTLS to a mesh upstream.
export const TCP_JS = String.raw`// meshfed sidecar: /tcp.js
// forward(upstreamOf, portOf) is the TCP pipeline, entered with a raw
// connection: one TrafficSplit backend by weight and one endpoint of the port
// per connection (smooth weighted round-robin, so the proportions over many
// connections are exact per worker), then mTLS with the service certificate
// to the peer's inbound listener; the peer must prove an identity of the
// chosen backend. The peer's sidecar admits the connection only if a
// TrafficTarget with a TCPRoute names this proxy's identity.
//
// Connect failures: an endpoint whose connection ended in an error before a
// byte came back is skipped by later connections of this worker for a
// while (passive ejection); the failing connection itself is closed. It is
// not retried in place: Pipy's repeat() would keep a copy of every byte the
// client sends for the life of the connection, and database connections live long.
//
// An upstream whose UpstreamTrafficSetting sets tcp.maxConnections gets at
// most that many connections open at once from this worker; one more is
// closed at once (/retry.js holds the count); its tcp.connectTimeout replaces
// the mesh-wide connect timeout.
import config from '/config.js'
import retry from '/retry.js'
import tls from '/tls.js'
import balancing from '/balancing.js'
import metrics from '/metrics.js'

var EJECT_MS = 10000

var $service = ''
var $target = null
var $endpoint = ''
var $answered = false
var $hold = null
var $upstream = -1
var $flow = null

// connect()'s options are fixed when the pipeline is built: one per connect timeout in use.
var connectTimeoutOf = function (index) {
  var l = retry.limitsOf(index)
  return l && l.connectTimeout !== undefined ? l.connectTimeout : config.outbound.connectTimeout
}
var dialers = {}
var services = config ? config.outbound.services : []
var timeouts = config ? [config.outbound.connectTimeout].concat(services.map(function (s, i) { return connectTimeoutOf(i) })) : []
timeouts.forEach(function (t) {
  dialers['' + t] = $=>$.connect(function () { return $endpoint }, { connectTimeout: t })
})

// endpoint -> Date.now() until which new connections avoid it (per worker).
var ejected = {}

var healthy = function (ep) {
  var until = ejected[ep]
  return until === undefined || until <= Date.now()
}

// A healthy endpoint if there is one; else any (every endpoint ejected must
// not turn a brief outage into a long one).
// A split backend whose every endpoint is ejected is passed over while
// another backend has a healthy one.
var unhealthy = function (ep) { return !healthy(ep) }
var choose = function (upstream, port) {
  var p = balancing.pick(upstream, null, port, unhealthy)
  $target = p.target
  $endpoint = p.endpoint
  if ($endpoint === '') $endpoint = balancing.pickEndpoint($target, function () { return false }, port)
}

var forward = function (upstreamOf, portOf) {
  return $=>$
    .onEnd(function () { retry.release($hold) })
    .handleStreamStart(function () {
      var upstream = upstreamOf()
      $upstream = upstream
      $service = config.outbound.services[upstream].service
      $answered = false
      $hold = retry.holdConnection(upstream)
      if ($hold === null) { $endpoint = ''; return }
      choose(upstream, portOf())
      metrics.tcp('outbound', $service)
      $flow = metrics.connection('outbound', metrics.self, $target !== null ? metrics.peer($target.service, $target.identity) : metrics.peer($service, ''))
    })
    .pipe(function () { return $endpoint !== '' ? 'send' : 'none' }, {
      'send': ($=>$
        .handleData(function (data) { $flow.received.increase(data.size) })
        .connectTLS({
          certificate: tls.certificate,
          trusted: tls.trusted,
          sni: function () { return $target.identity },
          verify: function (ok, cert) { return ok && $target !== null && tls.hasAnyIdentity(cert, $target.identities) },
          onState: function (session) { metrics.tlsState('outbound', session) },
        }).to($=>$
          .pipe(function () { return '' + connectTimeoutOf($upstream) }, dialers)
        )
        .handleData(function (data) {
          $answered = true
          $flow.sent.increase(data.size)
        })
        .handleStreamEnd(function (end) {
          if (!$answered && end.error) {
            ejected[$endpoint] = Date.now() + EJECT_MS
            metrics.denied('outbound', 'tcp-connect-failed')
          }
        })
      ),
      'none': ($=>$
        .replaceStreamStart(function () {
          metrics.denied('outbound', $hold === null ? 'overflow' : 'no-endpoint')
          return new StreamEnd('ConnectionRefused')
        })
      ),
    })
}

export default { forward }
`;
