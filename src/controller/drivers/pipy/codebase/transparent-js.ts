// PipyJS module /transparent.js: the transparent outbound listener (capture mode).
export const TRANSPARENT_JS = String.raw`// meshfed sidecar: /transparent.js
// The host's capture rules (the agent's MESHFED_OUTPUT chain, or a pod's init
// container) REDIRECT the application's outbound TCP here. Pipy reads the
// original destination (SO_ORIGINAL_DST, IPv4) and routing.lookup maps it to
// a mesh service and port: an endpoint's ip:port, the service's mesh VIP or a
// platform virtual IP on one of its ports. The port's protocol picks the
// pipeline: http, http2 and grpc go to the HTTP forwarding of /outbound.js,
// tcp to /tcp.js. Anything else is not a mesh destination: with
// passthrough, Pipy dials the original destination itself (its uid is
// excluded from capture, so this does not loop); otherwise the connection
// is closed and counted.
import config from '/config.js'
import routing from '/routing.js'
import outbound from '/outbound.js'
import tcp from '/tcp.js'
import metrics from '/metrics.js'
import egress from '/egress.js'

var $origin = ''
var $dst = null
var $path = ''
var $dstIp = ''
var $dstPort = 0

var settings = config ? config.outbound.transparent : null

var classify = function (ib) {
  var ip = ib.destinationAddress
  var port = ib.destinationPort
  $dstIp = ip
  $dstPort = port
  $origin = ip + ':' + port
  // No original destination (the connection that drains the first accept,
  // below), or a client that dialled this listener itself (loopback is never
  // captured): dialling "the original destination" would loop into us.
  if (!ip || !port || $origin === settings.listen) {
    $path = 'drop'
    return
  }
  $dst = routing.lookup(ip, port)
  if ($dst) {
    $path = routing.protocolOf($dst.upstream, $dst.port) === 'tcp' ? 'tcp' : 'http'
  } else {
    // Deny mode: a port this identity's Egress rules cover is theirs to judge (/egress.js).
    $path = settings.passthrough ? 'passthrough' : (egress.covers(port) ? 'egress' : 'deny')
  }
}

var listen = function () {
  if (!settings) return
  pipy.listen(settings.listen, { transparent: true }, $=>$
    // The inbound comes as onStart's argument: in ES modules Pipy 1.5.18 has
    // no __inbound. The empty Data starts the pipeline at once: a
    // server-speaks-first protocol (MySQL, SMTP) sends nothing before the
    // upstream answers.
    .onStart(function (ib) {
      classify(ib)
      return new Data()
    })
    .pipe(function () { return $path }, {
      'http': ($=>$
        .demuxHTTP().to(outbound.forward(
          function () { return $dst.upstream },
          function () { return $dst.port }
        ))
      ),
      'tcp': tcp.forward(
        function () { return $dst.upstream },
        function () { return $dst.port }
      ),
      'egress': egress.forward(
        function () { return $dstIp },
        function () { return $dstPort }
      ),
      'passthrough': ($=>$
        .handleStreamStart(function () { metrics.tcp('passthrough', '') })
        .connect(function () { return $origin }, { connectTimeout: config.outbound.connectTimeout })
      ),
      'deny': ($=>$
        .replaceStreamStart(function () {
          metrics.denied('outbound', 'not-a-mesh-destination')
          return new StreamEnd('ConnectionRefused')
        })
      ),
      'drop': ($=>$
        .replaceStreamStart(function () { return new StreamEnd('ConnectionRefused') })
      ),
    })
  )
  // Pipy 1.5.18 posts a new listener's first accept before it applies the
  // listener's options (Listener::commit: start_accepting, then
  // set_options), so the first connection it accepts is not "transparent"
  // and has no original destination. One connection of our own takes that
  // accept at start; it is dropped above. Later accepts carry the options
  // (and a reload reuses the listener, so its accepts already do).
  pipeline($=>$
    .onStart(function () { return new Data() })
    .connect(settings.listen, { connectTimeout: 1 })
  ).spawn()
}

export default { listen }
`;
