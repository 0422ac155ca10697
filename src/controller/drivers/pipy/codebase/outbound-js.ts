// PipyJS module /outbound.js: HTTP forwarding to a mesh upstream, and the explicit listener.
export const OUTBOUND_JS = String.raw`// meshfed sidecar: /outbound.js
// forward(upstreamOf, portOf) is the HTTP forwarding pipeline, entered with
// requests (after demuxHTTP): upstreamOf(msg) gives the index of the upstream
// in config.outbound.services (-1 = none), portOf(msg) the service port asked
// for (0 = any). Two listeners use it: the explicit one below (Host header)
// and /transparent.js (original destination). The sidecar picks a
// TrafficSplit backend by weight and an endpoint of that port round-robin,
// and originates mTLS with the service certificate, accepting only a peer
// certificate of the mesh CA that proves the identity of the backend it
// chose. Idempotent requests are retried on another endpoint after a
// connection failure or a 502/503/504.
//
// Explicit mode: the application sends plain HTTP to one loopback port (or
// uses it as its HTTP proxy); the Host header names the upstream service
// (name.ns[.svc[.<td>]][:port]).
import config from '/config.js'
import tls from '/tls.js'
import routing from '/routing.js'
import balancing from '/balancing.js'
import metrics from '/metrics.js'

var IDEMPOTENT = { GET: true, HEAD: true, OPTIONS: true, PUT: true, DELETE: true, TRACE: true }

var $start = 0
var $upstream = -1
var $port = 0
var $service = ''
var $method = ''
var $target = null
var $endpoint = ''
var $failed = null
var $attempt = 0
var $retry = false
var $asked = 0

var choose = function (msg) {
  $attempt++
  $retry = false
  $target = balancing.pickTarget($upstream, msg.head, $port)
  $endpoint = balancing.pickEndpoint($target, function (ep) { return $failed[ep] === true }, $port)
}

// Pipy answers a failed connection with a response it makes up itself, which
// carries no headers: any method may be retried then, since the request never left.
var retryable = function (msg) {
  var status = msg.head.status
  if (status !== 502 && status !== 503 && status !== 504) return false
  if ($attempt > config.outbound.retries) return false
  var synthetic = !msg.head.headers || Object.keys(msg.head.headers).length === 0
  return synthetic || IDEMPOTENT[$method] === true
}

var upstreamVerify = function (ok, cert) {
  return ok && $target !== null && tls.hasIdentity(cert, $target.identities)
}

var send = $=>$
  .muxHTTP(function () { return $target.identity + '|' + $endpoint }, { version: 1, maxIdle: config.outbound.idleTimeout }).to($=>$
    .connectTLS({
      certificate: tls.certificate,
      trusted: tls.trusted,
      sni: function () { return $target.identity },
      verify: upstreamVerify,
      onState: function (session) { metrics.tlsState('outbound', session) },
    }).to($=>$
      .connect(function () { return $endpoint }, { connectTimeout: config.outbound.connectTimeout, idleTimeout: config.outbound.idleTimeout })
    )
  )
  .replaceMessage(function (msg) {
    if (!retryable(msg)) return msg
    $failed[$endpoint] = true
    $retry = true
    metrics.retry($service)
    return new StreamEnd('Retry')
  })

var forward = function (upstreamOf, portOf) {
  return $=>$
    .handleMessageStart(function (msg) {
      $start = Date.now()
      $method = msg.head.method
      $upstream = upstreamOf(msg)
      $port = $upstream >= 0 ? portOf(msg) : 0
      $service = $upstream >= 0 ? config.outbound.services[$upstream].service : ''
      $failed = {}
      $attempt = 0
    })
    .pipe(function () { return $upstream >= 0 ? 'forward' : 'unknown' }, {
      'unknown': ($=>$
        .replaceMessage(function () {
          metrics.denied('outbound', 'unknown-host')
          return new Message({ status: 404, headers: { 'content-type': 'text/plain' } }, 'meshfed: no mesh service this proxy may call has that Host\n')
        })
      ),
      'forward': ($=>$
        .repeat(function () { return $retry }).to($=>$
          .handleMessageStart(choose)
          .pipe(function () { return $endpoint !== '' ? 'send' : 'none' }, {
            'send': send,
            'none': ($=>$
              .replaceMessage(function () {
                return new Message({ status: 503, headers: { 'content-type': 'text/plain' } }, 'meshfed: no endpoint available for ' + $service + ($port > 0 ? ' port ' + $port : '') + '\n')
              })
            ),
          })
        )
      ),
    })
    .handleMessageStart(function (msg) {
      metrics.request('outbound', $service === '' ? 'unknown' : $service, msg.head.status, Date.now() - $start)
    })
}

var listen = function () {
  pipy.listen(config.outbound.listen, $=>$
    .demuxHTTP().to(forward(
      function (msg) {
        var i = routing.resolve(msg.head)
        $asked = routing.requestedPort(i, msg.head)
        return i
      },
      function () { return $asked }
    ))
  )
}

export default { listen, forward }
`;
