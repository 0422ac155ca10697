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

var rules = (config && config.outbound.egress ? config.outbound.egress.rules : []).map(function (r) {
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

var $ip = ''
var $port = 0
var $origin = ''
var $proto = ''
var $sni = null
var $rule = ''
var $h2 = false

var addressAllowed = function (r, ip) {
  return r.anyAddress || cidr.contains(r.ranges, ip)
}

// Exact name, or "*.example.com" for any name under example.com.
var hostAllowed = function (r, name) {
  for (var i = 0; i < r.hosts.length; i++) {
    var h = r.hosts[i]
    if (h === name) return true
    if (h.indexOf('*.') === 0 && name.length > h.length - 1 && name.substring(name.length - h.length + 1) === h.substring(1)) return true
  }
  return false
}

var hostName = function (host) {
  var h = ('' + (host || '')).toLowerCase()
  var colon = h.lastIndexOf(':')
  return colon > 0 && h.indexOf(']') < colon ? h.substring(0, colon) : h
}

// True when some rule exists for this port: the connection is the Egress's to judge.
var covers = function (port) {
  for (var i = 0; i < rules.length; i++) if (rules[i].port === port) return true
  return false
}

// The rule that lets raw TCP through to ip:port, or ''.
var tcpRule = function (ip, port) {
  for (var i = 0; i < rules.length; i++) {
    var r = rules[i]
    if (r.port === port && r.protocol === 'tcp' && addressAllowed(r, ip)) return r.egress
  }
  return ''
}

var has = function (port, protocols) {
  for (var i = 0; i < rules.length; i++) if (rules[i].port === port && protocols.indexOf(rules[i].protocol) >= 0) return true
  return false
}

// The rule that admits this HTTP request, or ''.
var httpRule = function (head) {
  var name = hostName(head.headers ? head.headers.host : '')
  // PipyJS has no continue: each rule is one condition.
  for (var i = 0; i < rules.length; i++) {
    var r = rules[i]
    if (
      r.port === $port && (r.protocol === 'http' || r.protocol === 'http2') &&
      (r.hosts.length === 0 || hostAllowed(r, name)) && addressAllowed(r, $ip) &&
      (r.http === null || routing.matches(r.http, head))
    ) return r.egress
  }
  return ''
}

var sniRule = function (sni) {
  for (var i = 0; i < rules.length; i++) {
    var r = rules[i]
    if (r.port === $port && r.protocol === 'https' && (r.hosts.length === 0 || hostAllowed(r, sni)) && addressAllowed(r, $ip)) return r.egress
  }
  return ''
}

var refuse = function (reason) {
  return $=>$
    .replaceStreamStart(function () {
      metrics.denied('outbound', reason)
      return new StreamEnd('ConnectionRefused')
    })
}

var passTcp = $=>$
  .handleStreamStart(function () { metrics.tcp('egress', $rule) })
  .connect(function () { return $origin }, { connectTimeout: config.outbound.connectTimeout })

var forbidden = replies.answer(403, function (head) {
  metrics.denied('outbound', 'no-egress-rule')
  return 'meshfed: no Egress allows ' + hostName(head.headers ? head.headers.host : '') + ' on port ' + $port + ' for this proxy'
})

// To the original destination in plain HTTP: the application spoke plain
// HTTP to it; TLS towards the outside is the https rules' job.
var send = function (version) {
  return $=>$
    .muxHTTP(function () { return $origin }, { version: version }).to($=>$
      .connect(function () { return $origin }, { connectTimeout: config.outbound.connectTimeout, idleTimeout: config.outbound.idleTimeout })
    )
}

var http = $=>$
  .demuxHTTP().to($=>$
    .handleMessageStart(function (msg) { $rule = httpRule(msg.head) })
    .pipe(function () { return $rule === '' ? 'deny' : ($h2 ? 'h2' : 'h1') }, {
      'h1': send(1),
      'h2': send(2),
      'deny': forbidden,
    })
  )

var tls = $=>$
  .handleTLSClientHello(function (hello) {
    var names = hello && hello.serverNames ? hello.serverNames : []
    $sni = names.length > 0 ? ('' + names[0]).toLowerCase() : ''
  })
  // Undefined until the ClientHello is read: Pipy's pipe() holds the events meanwhile.
  .pipe(function () {
    if ($sni === null) return undefined
    $rule = sniRule($sni)
    return $rule !== '' ? 'pass' : 'deny'
  }, {
    'pass': passTcp,
    'deny': refuse('no-egress-rule'),
  })

// The Egress pipeline for a captured connection to ip:port (not a mesh
// destination); covers(port) must be true.
var forward = function (ipOf, portOf) {
  return $=>$
    .handleStreamStart(function () {
      $ip = ipOf()
      $port = portOf()
      $origin = $ip + ':' + $port
      $proto = ''
      $sni = null
      $rule = tcpRule($ip, $port)
      $h2 = has($port, ['http2']) && !has($port, ['http'])
    })
    // Only host rules need the first bytes; a port with TCP rules alone is judged at once.
    .pipe(function () { return $rule !== '' ? 'tcp' : (has($port, ['http', 'http2', 'https']) ? 'detect' : 'deny') }, {
      'tcp': passTcp,
      'deny': refuse('no-egress-rule'),
      'detect': ($=>$
        .detectProtocol(function (p) { $proto = p || 'other' })
        .pipe(function () {
          if ($proto === '') return undefined
          if (($proto === 'HTTP' || $proto === 'HTTP2') && has($port, ['http', 'http2'])) return 'http'
          if ($proto === 'TLS' && has($port, ['https'])) return 'tls'
          return 'deny'
        }, {
          'http': http,
          'tls': tls,
          'deny': refuse('no-egress-rule'),
        })
      ),
    })
}

export default { covers, forward }
`;
