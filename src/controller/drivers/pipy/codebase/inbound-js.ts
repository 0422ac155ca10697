// PipyJS module /inbound.js: mTLS termination, SMI authorization, forwarding to the local process.
export const INBOUND_JS = String.raw`// meshfed sidecar: /inbound.js
// One listener per local endpoint, at endpoint port + offset on the endpoint's
// address. mTLS with the service certificate; the client must present a
// certificate of the mesh CA whose identity a TrafficTarget names as a source
// for this port (any mesh identity in permissive mode), else the handshake
// fails. Then either TCP passthrough (a TCPRoute admits the port) or HTTP,
// where each request must match an HTTPRouteGroup rule of such a TrafficTarget.
//
// HTTP versions: demuxHTTP reads HTTP/1.x and, from its connection preface,
// HTTP/2 on any listener. A port declared http2 or grpc also offers ALPN h2
// (a TLS client that only speaks h2, such as a peer sidecar of that port,
// requires it) and is forwarded to the local process as h2c with prior
// knowledge (muxHTTP version 2), one upstream connection per mesh
// connection; an http port keeps HTTP/1.1. Requests, responses and their
// trailers (grpc-status) stream through both ways without buffering.
//
// Local rate limits of this proxy's service (/rate-limit.js): a connection
// over the tcp limit is closed before its TLS handshake; an HTTP request the
// mesh admits but its route's (or the service's) limit does not is answered
// with the limit's status (429) and headers, and never reaches the process.
import config from '/config.js'
import rateLimit from '/rate-limit.js'
import tls from '/tls.js'
import routing from '/routing.js'
import metrics from '/metrics.js'
import replies from '/replies.js'
import ingress from '/ingress.js'

var $peer = ''
var $refused = false
var $start = 0
var $rule = ''
// Callers outside the mesh (IngressBackend, /ingress.js): their address, the
// first bytes' protocol, and the rules that admitted the connection (null:
// a mesh peer, judged by TrafficTargets).
var $remote = ''
var $inProto = ''
var $ingress = null
var $limited = null
// The caller as a party of the exchange (/metrics.js peer()), and a TCP connection's byte counters.
var $source = null
var $flow = null

// The caller's sidecar names its service in this header (outbound.js); only
// the identity is proven by the certificate, so the header is taken from a
// mesh peer only, in the shape of a service key, and never passed on.
var SOURCE_HEADER = 'x-meshfed-source-service'
var SERVICE_KEY = new RegExp('^[a-z0-9][-a-z0-9.]{0,252}/[a-z0-9][-a-z0-9.]{0,252}$')
var sourceOf = function (head) {
  var claimed = head.headers ? head.headers[SOURCE_HEADER] : undefined
  if (head.headers) delete head.headers[SOURCE_HEADER]
  if ($ingress !== null) return metrics.peer('', '')
  var service = claimed !== undefined && SERVICE_KEY.test('' + claimed) ? '' + claimed : ''
  return metrics.peer(service, $peer)
}

// OpenSSL calls this once per certificate of the chain, always with the leaf.
var admit = function (listener, ok, cert) {
  if (!ok) return false
  var id = tls.meshIdentity(cert)
  if (!routing.admitted(id, listener.port)) {
    // An ingress with a mesh-CA certificate naming an AuthenticatedPrincipal (or from an allowed address).
    var via = ingress.hasRules(listener.port) ? ingress.certRules($remote, listener.port, cert) : []
    if (via.length > 0) {
      $ingress = via
      return true
    }
    if (!$refused) metrics.denied('inbound', id === '' ? 'not-a-mesh-identity' : 'no-traffic-target')
    $refused = true
    return false
  }
  $peer = id
  return true
}

var isH2 = function (listener) {
  return listener.protocol === 'http2' || listener.protocol === 'grpc'
}

var deny = replies.answer(403, function () {
  metrics.denied('inbound', 'no-route')
  return 'meshfed: no TrafficTarget admits this request'
})

var http = function (listener) {
  return $=>$
    .demuxHTTP().to($=>$
      .handleMessageStart(function (msg) {
        $start = Date.now()
        $source = sourceOf(msg.head)
        if ($ingress !== null) {
          $rule = ingress.requestAllowed($ingress, msg.head)
          // Not a mesh identity: nothing the caller sent may pose as one.
          delete msg.head.headers['x-meshfed-peer-identity']
        } else {
          $rule = routing.httpAllowed($peer, listener.port, msg.head)
          // The local process learns who called, from the verified certificate only.
          msg.head.headers['x-meshfed-peer-identity'] = $peer
        }
        $limited = $rule !== '' && rateLimit.enabled ? rateLimit.admitRequest(msg.head) : null
      })
      .pipe(function () { return $rule === '' ? 'deny' : ($limited !== null ? 'limited' : 'forward') }, {
        // A gRPC server's Trailers-Only answer is made two-part here, where it enters the mesh.
        'forward': ($=>replies.grpcTrailers($
          .muxHTTP({ version: isH2(listener) ? 2 : 1 }).to($=>$
            .connect(listener.target, { connectTimeout: config.outbound.connectTimeout, idleTimeout: config.outbound.idleTimeout })
          )
        )),
        'deny': deny,
        'limited': limited,
      })
      .handleMessageStart(function (msg) {
        var millis = Date.now() - $start
        metrics.request('inbound', $peer, msg.head.status, millis)
        metrics.exchange('inbound', $source, metrics.self, msg.head.status, millis)
      })
    )
}

var limited = $=>$
  .replaceData()
  .replaceMessageStart(function (evt) {
    metrics.denied('inbound', 'rate-limited')
    // A gRPC client reads the outcome from grpc-status (replies.js).
    return replies.isGrpc(evt.head) ? replies.reply(evt.head, $limited.status, 'meshfed: local rate limit') : rateLimit.refusal($limited)
  })

var tcp = function (listener) {
  return $=>$
    .onStart(function () {
      metrics.tcp('inbound', $peer)
      $flow = metrics.connection('inbound', metrics.peer('', $peer), metrics.self)
    })
    .handleData(function (data) { $flow.received.increase(data.size) })
    .connect(listener.target, { connectTimeout: config.outbound.connectTimeout })
    .handleData(function (data) { $flow.sent.increase(data.size) })
}

// A port declared tcp carries no HTTP: a peer no TCPRoute admits there is
// closed rather than handed to an HTTP parser.
var inboundPath = function (listener) {
  if (routing.tcpAllowed($peer, listener.port, listener.protocol)) return 'tcp'
  return listener.protocol === 'tcp' ? 'deny-tcp' : 'http'
}

var denyTcp = $=>$
  .replaceStreamStart(function () {
    metrics.denied('inbound', 'no-tcp-route')
    return new StreamEnd('ConnectionRefused')
  })

var acceptOptions = function (listener) {
  var options = {
    certificate: tls.certificate,
    trusted: tls.trusted,
    verify: function (ok, cert) { return admit(listener, ok, cert) },
    onState: function (session) { metrics.tlsState('inbound', session) },
  }
  // Pipy's server ALPN aborts a handshake that offers none of these, so
  // http/1.1 stays in the list for HTTP/1 callers of an h2 port.
  if (isH2(listener)) options.alpn = ['h2', 'http/1.1']
  return options
}

var inboundMesh = function (listener) {
  return $=>$
    .acceptTLS(acceptOptions(listener)).to($=>$
      .pipe(function () { return inboundPath(listener) }, {
        'tcp': tcp(listener),
        'http': http(listener),
        'deny-tcp': denyTcp,
      })
    )
}

var inboundDenyIngress = $=>$
  .replaceStreamStart(function () {
    metrics.denied('inbound', 'no-ingress-backend')
    return new StreamEnd('ConnectionRefused')
  })

// A port an IngressBackend names: the first bytes tell a TLS client (a mesh
// peer, or an ingress over TLS) from plain HTTP (an ingress by address);
// anything else, or a caller no rule admits, is closed.
var inboundWithIngress = function (listener) {
  return $=>$
    .detectProtocol(function (p) { $inProto = p || 'other' })
    // Undefined until detected: Pipy's pipe() holds the first bytes meanwhile.
    .pipe(function () {
      if ($inProto === '') return undefined
      if ($inProto === 'TLS') {
        var open = ingress.tlsNoCertRules($remote, listener.port)
        if (open.length === 0) return 'mesh'
        $ingress = open
        return 'tls'
      }
      if ($inProto === 'HTTP' || $inProto === 'HTTP2') {
        var plain = ingress.plainRules($remote, listener.port)
        if (plain.length > 0) {
          $ingress = plain
          return 'plain'
        }
      }
      return 'deny'
    }, {
      'mesh': inboundMesh(listener),
      'tls': ($=>$.acceptTLS({ certificate: tls.certificate }).to(http(listener))),
      'plain': http(listener),
      'deny': inboundDenyIngress,
    })
}

var listen = function () {
  config.inbound.listeners.forEach(function (listener) {
    // Chosen once per listener: a port no IngressBackend names keeps the mesh-only pipeline.
    var rest = ingress.hasRules(listener.port) ? inboundWithIngress(listener) : inboundMesh(listener)
    pipy.listen(listener.listen, $=>$
      .onStart(function (ib) {
        $peer = ''
        $refused = false
        $ingress = null
        $inProto = ''
        $remote = ib && ib.remoteAddress ? '' + ib.remoteAddress : ''
        $limited = rateLimit.admitConnection() ? null : 'tcp'
      })
      .pipe(function () { return $limited === null ? 'accept' : 'limited' }, {
        'limited': limitedConnection,
        'accept': rest,
      })
    )
  })
}

// Closed at its first event, whichever comes first (a stream start or the client's first bytes).
var refuseConnection = function () {
  if ($limited === 'closed') return
  $limited = 'closed'
  metrics.denied('inbound', 'rate-limited-connection')
  return new StreamEnd('ConnectionRefused')
}
var limitedConnection = $=>$
  .replaceStreamStart(refuseConnection)
  .replaceData(refuseConnection)

export default { listen }
`;
