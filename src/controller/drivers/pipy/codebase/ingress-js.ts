// PipyJS module /ingress.js: IngressBackend rules for callers outside the mesh (inbound listeners).
export const INGRESS_JS = String.raw`// meshfed sidecar: /ingress.js
// config.inbound.ingress: per backend port, who outside the mesh may call it
// (IngressBackend). Connection-level checks return the list of rules that
// admit the caller (empty = none); requestAllowed then checks each request
// against their HTTPRouteGroup matches. Ports without rules never get here:
// their listeners take mesh mTLS only, as before IngressBackend.
import config from '/config.js'
import routing from '/routing.js'
import cidr from '/cidr.js'
import tls from '/tls.js'

var ibRules = (config && config.inbound.ingress ? config.inbound.ingress : []).map(function (r) {
  return {
    ingressBackend: r.ingressBackend,
    port: r.port,
    protocol: r.protocol,
    ranges: r.ipRanges.map(cidr.parse),
    principals: r.principals,
    skipClientCertValidation: r.skipClientCertValidation === true,
    http: r.http ? r.http.map(routing.compileMatch) : null,
  }
})

var ibHasRules = function (port) {
  for (var i = 0; i < ibRules.length; i++) if (ibRules[i].port === port) return true
  return false
}

var ibSelect = function (port, test) {
  var out = []
  for (var i = 0; i < ibRules.length; i++) if (ibRules[i].port === port && test(ibRules[i])) out.push(ibRules[i])
  return out
}

// Plain HTTP from the caller's address (IPRange and Service sources).
var ibPlainRules = function (ip, port) {
  return ibSelect(port, function (r) { return r.protocol === 'http' && cidr.contains(r.ranges, ip) })
}

// TLS without a client certificate (skipClientCertValidation), from an allowed address.
var ibTlsNoCertRules = function (ip, port) {
  return ibSelect(port, function (r) { return r.protocol === 'https' && r.skipClientCertValidation && cidr.contains(r.ranges, ip) })
}

// mTLS (a certificate of the mesh CA, already verified): its names carry a
// principal, or the caller's address is an allowed one.
var ibCertRules = function (ip, port, cert) {
  return ibSelect(port, function (r) {
    if (r.protocol !== 'https' || r.skipClientCertValidation) return false
    return (r.principals.length > 0 && tls.hasIdentity(cert, r.principals)) || cidr.contains(r.ranges, ip)
  })
}

// The IngressBackend that admits this request, or ''.
var ibRequestAllowed = function (admitted, head) {
  for (var i = 0; i < admitted.length; i++) {
    var r = admitted[i]
    if (r.http === null || routing.matches(r.http, head)) return r.ingressBackend
  }
  return ''
}

export default { hasRules: ibHasRules, plainRules: ibPlainRules, tlsNoCertRules: ibTlsNoCertRules, certRules: ibCertRules, requestAllowed: ibRequestAllowed }
`;
