// PipyJS module /egress.js: Egress rules for destinations outside the mesh (transparent listener, deny mode).
export const EGRESS_JS = String.raw`// meshfed sidecar: /egress.js
// Used by /transparent.js for a captured connection whose original
// destination is not a mesh service (mesh lookups always come first, so an
// Egress never takes mesh traffic), when the mesh refuses such destinations
// (passthrough off). config.outbound.egress.rules are this proxy's
// identity's Egress rules only, per port:
// - tcp: the destination address in ipRanges (none = any) passes as raw TCP;
// - http / http2: each request's Host must be one of hosts (and the address
//   in ipRanges, when listed) and match one of the rule's HTTPRouteGroup
//   matches, when it has any; it is forwarded in plain HTTP to the original
//   destination, else answered 403;
// - https: the TLS ClientHello's SNI must be one of hosts; the stream then
//   passes through untouched (no termination), else the connection is closed.
// On a port with both kinds, the first bytes decide (detectProtocol).
import config from '/config.js'
import routing from '/routing.js'
import cidr from '/cidr.js'
import metrics from '/metrics.js'
import replies from '/replies.js'

var egRules = (config && config.outbound.egress ? config.outbound.egress.rules : []).map(function (r) {
  return {
    egress: r.egress,
    port: r.port,
    protocol: r.protocol,
    hosts: r.hosts,
    ranges: r.ipRanges.map(cidr.parse),
    anyAddress: r.ipRanges.length === 0,
    http: r.http ? r.http.map(routing.compileMatch) : null,
  }
})

var $egIp = ''
var $egPort = 0
var $egOrigin = ''
var $egProto = ''
var $egSni = null
var $egRule = ''
var $egH2 = false
var $egStart = 0

var egAddressAllowed = function (r, ip) {
  return r.anyAddress || cidr.contains(r.ranges, ip)
}

// Exact name, or "*.example.com" for any name under example.com.
var egHostAllowed = function (r, name) {
  for (var i = 0; i < r.hosts.length; i++) {
    var h = r.hosts[i]
    if (h === name) return true
    if (h.indexOf('*.') === 0 && name.length > h.length - 1 && name.substring(name.length - h.length + 1) === h.substring(1)) return true
  }
  return false
}

var egHostName = function (host) {
  var h = ('' + (host || '')).toLowerCase()
  var colon = h.lastIndexOf(':')
  return colon > 0 && h.indexOf(']') < colon ? h.substring(0, colon) : h
}

// True when some rule exists for this port: the connection is the Egress's to judge.
var egCovers = function (port) {
  for (var i = 0; i < egRules.length; i++) if (egRules[i].port === port) return true
  return false
}

// The rule that lets raw TCP through to ip:port, or ''.
var egTcpRule = function (ip, port) {
  for (var i = 0; i < egRules.length; i++) {
    var r = egRules[i]
    if (r.port === port && r.protocol === 'tcp' && egAddressAllowed(r, ip)) return r.egress
  }
  return ''
}

var egHas = function (port, protocols) {
  for (var i = 0; i < egRules.length; i++) if (egRules[i].port === port && protocols.indexOf(egRules[i].protocol) >= 0) return true
  return false
}

// The rule that admits this HTTP request, or ''.
var egHttpRule = function (head) {
  var name = egHostName(head.headers ? head.headers.host : '')
  // PipyJS has no continue: each rule is one condition.
  for (var i = 0; i < egRules.length; i++) {
    var r = egRules[i]
    if (
      r.port === $egPort && (r.protocol === 'http' || r.protocol === 'http2') &&
      (r.hosts.length === 0 || egHostAllowed(r, name)) && egAddressAllowed(r, $egIp) &&
      (r.http === null || routing.matches(r.http, head))
    ) return r.egress
  }
  return ''
}

var egSniRule = function (sni) {
  for (var i = 0; i < egRules.length; i++) {
    var r = egRules[i]
    if (r.port === $egPort && r.protocol === 'https' && (r.hosts.length === 0 || egHostAllowed(r, sni)) && egAddressAllowed(r, $egIp)) return r.egress
  }
  return ''
}

var egRefuse = function (reason) {
  return $=>$
    .replaceStreamStart(function () {
      metrics.denied('outbound', reason)
      return new StreamEnd('ConnectionRefused')
    })
}

var egPassTcp = $=>$
  .handleStreamStart(function () { metrics.tcp('egress', $egRule) })
  .connect(function () { return $egOrigin }, { connectTimeout: config.outbound.connectTimeout })

var egForbidden = replies.answer(403, function (head) {
  metrics.denied('outbound', 'no-egress-rule')
  return 'meshfed: no Egress allows ' + egHostName(head.headers ? head.headers.host : '') + ' on port ' + $egPort + ' for this proxy'
})

// To the original destination in plain HTTP: the application spoke plain
// HTTP to it; TLS towards the outside is the https rules' job.
var egSend = function (version) {
  return $=>$
    .muxHTTP(function () { return $egOrigin }, { version: version }).to($=>$
      .connect(function () { return $egOrigin }, { connectTimeout: config.outbound.connectTimeout, idleTimeout: config.outbound.idleTimeout })
    )
}

// Requests are counted as meshfed_requests_total{direction="egress", service=<the Egress>}.
var egHttp = $=>$
  .demuxHTTP().to($=>$
    .handleMessageStart(function (msg) {
      $egStart = Date.now()
      $egRule = egHttpRule(msg.head)
    })
    .pipe(function () { return $egRule === '' ? 'deny' : ($egH2 ? 'h2' : 'h1') }, {
      'h1': egSend(1),
      'h2': egSend(2),
      'deny': egForbidden,
    })
    .handleMessageStart(function (msg) {
      if ($egRule !== '') metrics.request('egress', $egRule, msg.head.status, Date.now() - $egStart)
    })
  )

var egTls = $=>$
  .handleTLSClientHello(function (hello) {
    var names = hello && hello.serverNames ? hello.serverNames : []
    $egSni = names.length > 0 ? ('' + names[0]).toLowerCase() : ''
  })
  // Undefined until the ClientHello is read: Pipy's pipe() holds the events meanwhile.
  .pipe(function () {
    if ($egSni === null) return undefined
    $egRule = egSniRule($egSni)
    return $egRule !== '' ? 'pass' : 'deny'
  }, {
    'pass': egPassTcp,
    'deny': egRefuse('no-egress-rule'),
  })

// The Egress pipeline for a captured connection to ip:port (not a mesh
// destination); covers(port) must be true.
var egForward = function (ipOf, portOf) {
  return $=>$
    .handleStreamStart(function () {
      $egIp = ipOf()
      $egPort = portOf()
      $egOrigin = $egIp + ':' + $egPort
      $egProto = ''
      $egSni = null
      $egRule = egTcpRule($egIp, $egPort)
      $egH2 = egHas($egPort, ['http2']) && !egHas($egPort, ['http'])
    })
    // Only host rules need the first bytes; a port with TCP rules alone is judged at once.
    .pipe(function () { return $egRule !== '' ? 'tcp' : (egHas($egPort, ['http', 'http2', 'https']) ? 'detect' : 'deny') }, {
      'tcp': egPassTcp,
      'deny': egRefuse('no-egress-rule'),
      'detect': ($=>$
        .detectProtocol(function (p) { $egProto = p || 'other' })
        .pipe(function () {
          if ($egProto === '') return undefined
          if (($egProto === 'HTTP' || $egProto === 'HTTP2') && egHas($egPort, ['http', 'http2'])) return 'http'
          if ($egProto === 'TLS' && egHas($egPort, ['https'])) return 'tls'
          return 'deny'
        }, {
          'http': egHttp,
          'tls': egTls,
          'deny': egRefuse('no-egress-rule'),
        })
      ),
    })
}

export default { covers: egCovers, forward: egForward }
`;
