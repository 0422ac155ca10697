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

var $origin = ''
var $dst = null
var $path = ''

var settings = config ? config.outbound.transparent : null

var classify = function () {
  var ip = __inbound.destinationAddress
  var port = __inbound.destinationPort
  $origin = ip + ':' + port
  $dst = ip ? routing.lookup(ip, port) : null
  if ($dst) {
    $path = routing.protocolOf($dst.upstream, $dst.port) === 'tcp' ? 'tcp' : 'http'
  } else {
    $path = settings.passthrough ? 'passthrough' : 'deny'
  }
}

var listen = function () {
  if (!settings) return
  pipy.listen(settings.listen, { transparent: true }, $=>$
    // The empty Data starts the pipeline at once: a server-speaks-first
    // protocol (MySQL, SMTP) sends nothing before the upstream answers.
    .onStart(function () {
      classify()
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
    })
  )
}

export default { listen }
`;
