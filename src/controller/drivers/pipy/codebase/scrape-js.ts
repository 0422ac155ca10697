// PipyJS module /scrape.js: the port Prometheus scrapes.
export const SCRAPE_JS = String.raw`// meshfed sidecar: /scrape.js
// GET /stats/prometheus (osm-edge's path; /metrics too) on the scrape
// address, which is reachable from outside the pod or host, unlike Pipy's
// admin port: the sidecar fetches GET /metrics from its own admin port on
// loopback and answers with that text. Nothing else of the admin service
// (status, repo, logs, reload) is reachable here: every request becomes a
// fresh GET /metrics, and any other path or method is answered 404/405.
//
// Whoever runs Pipy says where both are, in /scrape.json
// ({"listen": "ip:port", "admin": "127.0.0.1:port"}): in a pod the
// controller's repo adds it (the pod patch's ports), on a VM the agent (its
// proxy.metricsAddress and proxy.adminAddress). Without it, no scrape port.
//
// Pipy 1.5.18 writes histogram buckets per bucket, not cumulative, and the
// last one as le="Inf" (checked against the binary); Prometheus' buckets
// count every observation at or below le, and the last is "+Inf". So the
// text is rewritten on the way: each series' buckets are summed in order.
import replies from '/replies.js'

var BUCKET = new RegExp('^([a-zA-Z_:][a-zA-Z0-9_:]*)_bucket[{](.*)le="([^"]*)"[}] ([^ ]+)$')
var TYPE = new RegExp('^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) histogram$')

var raw = pipy.load('scrape.json')
var settings = raw ? JSON.decode(raw) : null

// Prometheus text with cumulative histogram buckets. A series' buckets come
// one after another in increasing le, as Pipy writes them; the running sum
// starts again at the next series.
var cumulative = function (text) {
  var lines = text.split('\n')
  var histograms = {}
  var series = ''
  var sum = 0
  // (PipyJS 1.5 has no continue: one function per line instead.)
  var rewrite = function (line) {
    var t = TYPE.exec(line)
    if (t) {
      histograms[t[1]] = true
      return line
    }
    var b = BUCKET.exec(line)
    if (!b || histograms[b[1]] !== true) return line
    var key = b[1] + '{' + b[2]
    if (key !== series) {
      series = key
      sum = 0
    }
    sum += Number.parseFloat(b[4])
    var le = b[3] === 'Inf' || b[3] === 'inf' ? '+Inf' : b[3]
    return b[1] + '_bucket{' + b[2] + 'le="' + le + '"} ' + sum
  }
  return lines.map(rewrite).join('\n')
}

var $wanted = ''

var pathOf = function (path) {
  var q = path.indexOf('?')
  return q >= 0 ? path.substring(0, q) : path
}

var fromAdmin = function (res) {
  if (res.head.status !== 200) return new Message({ status: 502, headers: { 'content-type': 'text/plain' } }, 'meshfed: the proxy\'s admin port answered ' + res.head.status + '\n')
  return new Message({ status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } }, cumulative(res.body ? res.body.toString() : ''))
}

var listen = function () {
  if (!settings || !settings.listen || !settings.admin) return
  try {
    pipy.listen(settings.listen, $=>$
      .demuxHTTP().to($=>$
        // The whole request is replaced: only GET /metrics ever reaches the admin port.
        .replaceMessage(function (req) {
          var p = pathOf(req.head.path || '')
          $wanted = p !== '/stats/prometheus' && p !== '/metrics' ? 'missing' : (req.head.method === 'GET' ? 'metrics' : 'method')
          return new Message({ method: 'GET', path: '/metrics', headers: { host: settings.admin } })
        })
        .pipe(function () { return $wanted }, {
          'metrics': ($=>$
            .muxHTTP().to($=>$.connect(settings.admin, { connectTimeout: 2 }))
            .replaceMessage(fromAdmin)
          ),
          'missing': replies.answer(404, function () { return 'meshfed: this port serves GET /stats/prometheus only' }),
          'method': replies.answer(405, function () { return 'meshfed: this port serves GET /stats/prometheus only' }),
        })
      )
    )
  } catch (e) {
    // The port taken (another process, another sidecar on this host): the
    // mesh listeners must still start; the log says why there is no scrape port.
    console.log('meshfed: cannot listen for metrics scrapes on ' + settings.listen + ': ' + e.message)
  }
}

export default { listen, cumulative }
`;
