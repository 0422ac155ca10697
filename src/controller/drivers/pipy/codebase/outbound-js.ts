// PipyJS module /outbound.js: HTTP forwarding to a mesh upstream, and the explicit listener.
export const OUTBOUND_JS = String.raw`// meshfed sidecar: /outbound.js
// forward(upstreamOf, portOf) is the HTTP forwarding pipeline, entered with
// requests (after demuxHTTP): upstreamOf(msg) gives the index of the upstream
// in config.outbound.services (-1 = none), portOf(msg) the service port asked
// for (0 = any). Two listeners use it: the explicit one below (Host header)
// and /transparent.js (original destination). The sidecar picks a
// TrafficSplit backend by weight and an endpoint of that port round-robin,
// per request, and originates mTLS with the service certificate, accepting
// only a peer certificate of the mesh CA that proves an identity of the
// backend it chose.
//
// Explicit mode: the application sends plain HTTP to one loopback port (or
// uses it as its HTTP proxy); the Host header names the upstream service
// (name.ns[.svc[.<td>]][:port]).
//
// HTTP versions: demuxHTTP takes HTTP/1.x and h2c with prior knowledge (it
// recognises the HTTP/2 connection preface) on the same port; for h2c the
// :authority names the service. Towards the peer sidecar the protocol of the
// upstream port decides: http2 and grpc ports are spoken as HTTP/2 over mTLS
// (ALPN h2, one multiplexed connection per endpoint), every other port as
// HTTP/1.1. Responses stream back as they come, trailers included.
//
// Retries, at most config.outbound.retries more attempts on another endpoint:
// - after a connection failure (Pipy then makes up a response without a single
//   header, so the request never reached a peer): any method;
// - after a 502/503/504 from the peer: idempotent methods only;
// - never for a request that cannot be replayed whole: a gRPC call or an
//   HTTP/2 request with a body of unknown length is sent once. A replay needs
//   the whole request kept (Pipy's repeat holds every event until the request
//   is done), which a long stream must not do; such a call fails with the
//   failure's status instead (502/504: gRPC UNAVAILABLE/DEADLINE_EXCEEDED).
// An upstream with a Retry object (/retry.js) retries what its retryOn names,
// any method (the user opted in, as with osm-edge), numRetries times, with a
// jittered backoff; the same replay rule holds. Its perTryTimeoutMs races
// each attempt against a timer (forkRace): the slow attempt is dropped and
// counts as no answer. When every endpoint has failed once, a Retry policy
// tries them again (Envoy retries the same host too); the default does not.
//
// Before a request goes upstream: the upstream's circuit breaker
// (/circuit-breaker.js) and its requests-in-progress limit (/retry.js) may
// answer it at once; its requestTimeoutMs races the whole exchange, retries
// included, against a timer (504).
import config from '/config.js'
import retry from '/retry.js'
import breaker from '/circuit-breaker.js'
import tls from '/tls.js'
import routing from '/routing.js'
import balancing from '/balancing.js'
import metrics from '/metrics.js'
import replies from '/replies.js'

var IDEMPOTENT = { GET: true, HEAD: true, OPTIONS: true, PUT: true, DELETE: true, TRACE: true }
// HTTP/2 requests that are replayed on a retry: those that carry no body by custom...
var BODILESS = { GET: true, HEAD: true, OPTIONS: true, DELETE: true, TRACE: true }
// ... or announce a body of at most this many bytes.
var MAX_REPLAY_BYTES = 1048576

var $start = 0
var $upstream = -1
var $port = 0
var $h2 = false
var $replayable = true
var $service = ''
var $method = ''
var $target = null
var $endpoint = ''
var $failed = null
var $attempt = 0
var $retry = false
var $dropping = false
var $stale = false
var $asked = 0
var $policy = null
var $hold = null
var $gate = ''
var $branch = ''

// HTTP/2 towards the peer for a port declared http2 or grpc. Without a port
// (Host without one) the service's ports decide when they all agree.
var h2Port = function (index, port) {
  var s = config.outbound.services[index]
  var protocols = s.protocols || {}
  var p = port > 0 ? protocols['' + port] : undefined
  if (p === undefined) {
    var seen = {}
    var count = 0
    for (var i = 0; i < s.ports.length; i++) {
      var q = protocols['' + s.ports[i]] || 'http'
      if (!seen[q]) { seen[q] = true; count++ }
      p = q
    }
    if (count !== 1) p = 'http'
  }
  return p === 'http2' || p === 'grpc'
}

// An HTTP/2 request is replayed only when it is known to be short.
var replayable = function (head) {
  if (replies.isGrpc(head)) return false
  if (BODILESS[head.method] === true) return true
  var length = head.headers ? head.headers['content-length'] : undefined
  return length !== undefined && Number.parseInt('' + length) <= MAX_REPLAY_BYTES
}

var failedBefore = function (ep) { return $failed[ep] === true }

// The backend is chosen among those with an endpoint this request has not
// failed on yet, so a retry is spent on a live backend, never answered with
// 'none' while another backend could take it.
var choose = function (msg) {
  $attempt++
  $retry = false
  $dropping = false
  var p = balancing.pick($upstream, msg.head, $port, failedBefore)
  if (p.endpoint === '' && $policy !== null && $attempt > 1) p = balancing.pick($upstream, msg.head, $port, function () { return false })
  $target = p.target
  $endpoint = p.endpoint
}

// Pipy answers a failed connection with a response it makes up itself, which
// carries no headers: any method may be retried then, since the request never left.
var retryable = function (head) {
  var status = head.status
  var synthetic = !head.headers || Object.keys(head.headers).length === 0
  if ($policy !== null) {
    if ($attempt > $policy.numRetries || !retry.wants($policy, status, synthetic)) return false
  } else {
    if (status !== 502 && status !== 503 && status !== 504) return false
    if ($attempt > config.outbound.retries) return false
    if (!synthetic && IDEMPOTENT[$method] !== true) return false
  }
  return retry.takeRetry($hold)
}

// repeat()'s condition: another attempt, after the policy's backoff.
var again = function () {
  if (!$retry) return false
  var ms = $policy !== null ? retry.backoffMs($policy, $attempt, Math.random) : 0
  if (ms <= 0) return true
  return new Timeout(ms / 1000).wait().then(function () { return true })
}

var upstreamVerify = function (ok, cert) {
  return ok && $target !== null && tls.hasIdentity(cert, $target.identities)
}

var tlsOptions = function (alpn) {
  var options = {
    certificate: tls.certificate,
    trusted: tls.trusted,
    sni: function () { return $target.identity },
    verify: upstreamVerify,
    onState: function (session) { metrics.tlsState('outbound', session) },
  }
  if (alpn) options.alpn = alpn
  return options
}

// connect()'s options are fixed when the pipeline is built: one dialer per
// connect timeout in use (the mesh-wide one, and any UpstreamTrafficSetting's).
var connectTimeoutOf = function (index) {
  var l = retry.limitsOf(index)
  return l && l.connectTimeout !== undefined ? l.connectTimeout : config.outbound.connectTimeout
}
var dialers = {}
// No config (main.js then runs nothing): no dialers either.
var timeouts = config ? [config.outbound.connectTimeout].concat(config.outbound.services.map(function (s, i) { return connectTimeoutOf(i) })) : []
timeouts.forEach(function (t) {
  dialers['' + t] = $=>$.connect(function () { return $endpoint }, { connectTimeout: t, idleTimeout: config.outbound.idleTimeout })
})
var dial = $=>$
  .pipe(function () { return '' + connectTimeoutOf($upstream) }, dialers)

// Pool options are read when a pool (one per key) is made; the key names the endpoint of one upstream.
var muxOptions = function (version) {
  return function () {
    var l = retry.limitsOf($upstream)
    var o = { version: version, maxIdle: config.outbound.idleTimeout }
    if (l && l.maxRequestsPerConnection !== undefined) o.maxMessages = l.maxRequestsPerConnection
    return o
  }
}

var sendH1 = $=>$
  .muxHTTP(function () { return $target.identity + '|' + $endpoint }, muxOptions(1)).to($=>$
    .connectTLS(tlsOptions(null)).to(dial)
  )

var sendH2 = $=>$
  .muxHTTP(function () { return 'h2|' + $target.identity + '|' + $endpoint }, muxOptions(2)).to($=>$
    .connectTLS(tlsOptions(['h2'])).to(dial)
  )

// A response to retry is swallowed, event by event, and its end becomes the
// StreamEnd that makes repeat() start the next attempt; any other response
// passes event by event, so a streamed body is never held back. After a
// made-up answer to a failed connection, Pipy's HTTP/2 client also sends the
// connection's own StreamEnd right behind it (checked against 1.5.18; its
// HTTP/1 client does not): arriving after the next attempt has begun, it
// would end the request with nothing, so the first StreamEnd from upstream
// after a swallowed answer is dropped, until the next answer starts.
var retryOnFailure = $=>$
  .replaceStreamEnd(function (evt) {
    if (!$stale) return evt
    $stale = false
  })
  .replaceMessageStart(function (evt) {
    $stale = false
    $dropping = retryable(evt.head)
    if (!$dropping) return evt
    $failed[$endpoint] = true
    metrics.retry($service)
  })
  .replaceData(function (evt) { if (!$dropping) return evt })
  .replaceMessageEnd(function (evt) {
    if (!$dropping) return evt
    $retry = true
    $stale = true
    return new StreamEnd('Retry')
  })

var noEndpoint = replies.answer(503, function () { return 'meshfed: no endpoint available for ' + $service + ($port > 0 ? ' port ' + $port : '') })

// A timer that answers like a connection that failed (no headers: "no
// answer"), after ms, dropping the request. Raced against the real attempt
// or exchange by forkRace: whichever answers first is heard, the other is
// dropped with its branch. Each branch runs in a copy of the context.
var timer = function (ms, text) {
  return $=>$
    .replaceMessageEnd()
    .replaceData()
    .wait(function () { return new Timeout(ms() / 1000).wait() })
    .replaceMessageStart(function () { return new Message({ status: 504 }, text) })
}

var racing = function (ms, real, text) {
  return $=>$
    .forkRace(['real', 'timer']).to($=>$
      .onStart(function (which) { $branch = which })
      .pipe(function () { return $branch }, {
        'real': real,
        'timer': timer(ms, text),
      })
    )
}

// retryOnFailure stays outside the race: the branches run in copies of the
// context, and repeat() reads $retry from this one. An attempt that is not
// inside repeat() (a request sent once) passes every answer on.
var perTry = function () { return $policy.perTryTimeoutMs }
var asIs = function (p) { return p }
var attempt = function (send, retried) {
  var wrap = retried ? retryOnFailure : asIs
  return $=>$
    .handleMessageStart(choose)
    .pipe(function () { return $endpoint === '' ? 'none' : ($policy !== null && $policy.perTryTimeoutMs !== undefined ? 'timed' : 'send') }, {
      'send': function (p) { return wrap(send(p)) },
      'timed': function (p) { return wrap(racing(perTry, send, 'meshfed: per-try timeout\n')(p)) },
      'none': noEndpoint,
    })
}

var retrying = function (send) {
  return $=>$
    .repeat(again).to(attempt(send, true))
}

// Forwards one request to upstream $upstream, port $port (0: unknown), both
// set by forward() below before the request's first event.
var forwardKnown = $=>$
  .handleMessageStart(function (msg) {
    $method = msg.head.method
    $replayable = !$h2 || replayable(msg.head)
    $failed = {}
    $attempt = 0
    // Who calls, for the callee's metrics (inbound.js); whatever the application sent is replaced.
    if (msg.head.headers) msg.head.headers['x-meshfed-source-service'] = config.proxy.service
  })
  .pipe(function () { return $h2 ? ($replayable ? 'h2' : 'h2-once') : 'h1' }, {
    'h1': retrying(sendH1),
    'h2': retrying(sendH2),
    'h2-once': attempt(sendH2, false),
  })

var unknownHost = replies.answer(404, function () {
  metrics.denied('outbound', 'unknown-host')
  return 'meshfed: no mesh service this proxy may call has that Host'
})

var requestTimeout = function () { return retry.limitsOf($upstream).requestTimeoutMs }

// What happens to a request for a known upstream, decided before it goes out.
var gate = function () {
  var b = breaker.of($upstream)
  if (b !== null && !breaker.allow(b, Date.now())) return 'degraded'
  $hold = retry.hold($upstream, $h2)
  if ($hold === null) return 'overflow'
  var l = retry.limitsOf($upstream)
  return l && l.requestTimeoutMs !== undefined ? 'timed' : 'forward'
}

var degraded = $=>$
  .replaceData()
  .replaceMessageStart(function (evt) {
    metrics.denied('outbound', 'circuit-open')
    var b = breaker.of($upstream)
    // A gRPC client reads the outcome from grpc-status (replies.js).
    return replies.isGrpc(evt.head) ? replies.reply(evt.head, b.spec.degradedStatusCode, 'meshfed: circuit open') : breaker.degraded(b)
  })

// The request's body is dropped before the answer is made: the answer's own
// body must not pass through a replaceData() that drops data.
var overflow = $=>$
  .replaceData()
  .replaceMessageStart(function (evt) {
    metrics.denied('outbound', 'overflow')
    return replies.reply(evt.head, 503, 'meshfed: too many requests in progress to ' + $service)
  })

// The upstream's breaker counts every answer that came from the exchange.
var counted = function (status) {
  var b = $gate === 'forward' || $gate === 'timed' ? breaker.of($upstream) : null
  if (b !== null && breaker.record(b, Date.now(), status, Date.now() - $start)) metrics.denied('outbound', 'circuit-opened')
}

// A request holds its upstream's counters until its exchange is over (the
// answer's end, or the client going away): onEnd of the request's pipeline.
var forward = function (upstreamOf, portOf) {
  return $=>$
    .onEnd(function () { retry.release($hold) })
    .handleMessageStart(function (msg) {
      $start = Date.now()
      $hold = null
      $target = null
      $upstream = upstreamOf(msg)
      $port = $upstream >= 0 ? portOf(msg) : 0
      $service = $upstream >= 0 ? config.outbound.services[$upstream].service : ''
      $policy = $upstream >= 0 ? retry.policyOf($upstream) : null
      $h2 = $upstream >= 0 && h2Port($upstream, $port)
      $gate = $upstream >= 0 ? gate() : 'unknown'
    })
    .pipe(function () { return $gate }, {
      'unknown': unknownHost,
      'forward': forwardKnown,
      'timed': racing(requestTimeout, forwardKnown, 'meshfed: request timeout\n'),
      'degraded': degraded,
      'overflow': overflow,
    })
    .handleMessageStart(function (msg) {
      var millis = Date.now() - $start
      counted(msg.head.status)
      metrics.request('outbound', $service === '' ? 'unknown' : $service, msg.head.status, millis)
      // The backend the last attempt chose (a TrafficSplit's), else the service asked for.
      if ($upstream >= 0) metrics.exchange('outbound', metrics.self, $target !== null ? metrics.peer($target.service, $target.identity) : metrics.peer($service, ''), msg.head.status, millis)
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

export default { listen, forward, h2Port, replayable }
`;
