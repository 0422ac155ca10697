// PipyJS module /routing.js: SMI rule matching (inbound); Host and original-destination resolution (outbound).
export const ROUTING_JS = String.raw`// meshfed sidecar: /routing.js
// Pure functions over config.json: who may connect, which HTTP requests and
// TCP ports a TrafficTarget admits, and which upstream (and service port) a
// Host header or an original destination address names.
import config from '/config.js'

var compileMatch = function (m) {
  return {
    name: m.name,
    path: m.path ? new RegExp(m.path) : null,
    methods: m.methods,
    headers: Object.keys(m.headers).map(function (k) { return { name: k, value: new RegExp(m.headers[k]) } }),
  }
}

var rules = (config ? config.inbound.rules : []).map(function (r) {
  return {
    trafficTarget: r.trafficTarget,
    sources: r.sources,
    port: r.port === undefined ? null : r.port,
    http: r.http.map(compileMatch),
    tcpPorts: r.tcpPorts,
    anyTcpPort: r.anyTcpPort,
  }
})

var permissive = config ? config.inbound.permissive : false

var pathOf = function (head) {
  var path = head.path || '/'
  var q = path.indexOf('?')
  return q >= 0 ? path.substring(0, q) : path
}

// Every condition of one match must hold (SMI: path AND methods AND headers).
var matches = function (m, head) {
  if (m.path && !m.path.test(pathOf(head))) return false
  if (m.methods.length > 0 && m.methods.indexOf(head.method) < 0) return false
  var headers = head.headers || {}
  for (var i = 0; i < m.headers.length; i++) {
    var v = headers[m.headers[i].name]
    if (v === undefined || !m.headers[i].value.test(('' + v))) return false
  }
  return true
}

var anyMatch = function (list, head) {
  for (var i = 0; i < list.length; i++) if (matches(list[i], head)) return true
  return false
}

var applies = function (r, peer, port) {
  return (r.port === null || r.port === port) && r.sources.indexOf(peer) >= 0
}

// Checked during the TLS handshake: a peer no rule names is refused there.
var admitted = function (peer, port) {
  if (peer === '') return false
  if (permissive) return true
  for (var i = 0; i < rules.length; i++) if (applies(rules[i], peer, port)) return true
  return false
}

var tcpAllowed = function (peer, port, protocol) {
  if (permissive) return protocol === 'tcp'
  for (var i = 0; i < rules.length; i++) {
    var r = rules[i]
    if (applies(r, peer, port) && (r.anyTcpPort || r.tcpPorts.indexOf(port) >= 0)) return true
  }
  return false
}

// The TrafficTarget that admits this request, or '' (denied).
var httpAllowed = function (peer, port, head) {
  if (permissive) return '*'
  for (var i = 0; i < rules.length; i++) {
    var r = rules[i]
    if (applies(r, peer, port) && anyMatch(r.http, head)) return r.trafficTarget
  }
  return ''
}

// Outbound: Host header (name.ns, name.ns.svc, name.ns.svc.<td>, each with an
// optional :port) -> the upstream service. An absolute request URI
// (the application uses us as its HTTP proxy) is turned into a path, and its
// authority becomes the Host (RFC 9112 3.2.2: a proxy ignores the received Host then).
var byHost = {}
var services = config ? config.outbound.services : []
for (var i = 0; i < services.length; i++) {
  for (var j = 0; j < services[i].hosts.length; j++) byHost[services[i].hosts[j]] = i
}

var splitHost = function (host) {
  var h = ('' + (host || '')).toLowerCase()
  var colon = h.lastIndexOf(':')
  if (colon > 0 && h.indexOf(']') < colon) return { name: h.substring(0, colon), port: Number(h.substring(colon + 1)) || 0 }
  return { name: h, port: 0 }
}

var hostName = function (host) { return splitHost(host).name }

// Returns the index of the upstream in config.outbound.services, or -1.
var resolve = function (head) {
  var path = head.path || '/'
  var host = head.headers ? head.headers.host : undefined
  if (path.indexOf('http://') === 0) {
    var rest = path.substring(7)
    var slash = rest.indexOf('/')
    host = slash >= 0 ? rest.substring(0, slash) : rest
    head.path = slash >= 0 ? rest.substring(slash) : '/'
    if (head.headers) head.headers.host = host
  }
  var i = byHost[hostName(host)]
  return i === undefined ? -1 : i
}

// The service port an explicit-mode request asks for: the Host's port when
// the service has it; else the service's only port; else 0 (any endpoint).
// A Host port the service does not list (say :80 in front of endpoints on
// 8080) is treated as no port, so a forgiving client still gets an answer.
var requestedPort = function (index, head) {
  var s = services[index]
  if (!s) return 0
  var port = splitHost(head.headers ? head.headers.host : undefined).port
  if (port > 0 && s.ports.indexOf(port) >= 0) return port
  return s.ports.length === 1 ? s.ports[0] : 0
}

// Transparent mode: original destination ip:port -> { upstream, port }.
// Precedence: an endpoint address of the service that owns it (its direct
// target), then any service listing the address (a TrafficSplit root lists
// its backends' endpoints), then the mesh VIP and the platform virtual IPs
// on one of the service's ports. First service in config order wins a tie.
var offset = config && config.outbound.inboundPortOffset ? config.outbound.inboundPortOffset : 10000

var originalOf = function (endpoint) {
  var colon = endpoint.lastIndexOf(':')
  return endpoint.substring(0, colon) + ':' + (Number(endpoint.substring(colon + 1)) - offset)
}

var portOfAddress = function (address) {
  return Number(address.substring(address.lastIndexOf(':') + 1))
}

var byAddress = {}
var claim = function (address, index, port) {
  if (byAddress[address] === undefined) byAddress[address] = { upstream: index, port: port }
}
services.forEach(function (s, index) {
  if (s.direct) s.direct.endpoints.forEach(function (e) { var a = originalOf(e); claim(a, index, portOfAddress(a)) })
})
services.forEach(function (s, index) {
  (s.addresses || []).forEach(function (a) { claim(a, index, portOfAddress(a)) })
})
services.forEach(function (s, index) {
  var ips = (s.vip ? [s.vip] : []).concat(s.virtualIPs || [])
  ips.forEach(function (ip) { s.ports.forEach(function (p) { claim(ip + ':' + p, index, p) }) })
})

var lookup = function (ip, port) {
  var d = byAddress[ip + ':' + port]
  return d === undefined ? null : d
}

// The declared protocol of a service port: http (default), http2, grpc or tcp.
var protocolOf = function (index, port) {
  var s = services[index]
  var p = s && s.protocols ? s.protocols['' + port] : undefined
  return p || 'http'
}

export default { admitted, tcpAllowed, httpAllowed, resolve, requestedPort, lookup, protocolOf, matches: anyMatch, compileMatch }
`;
