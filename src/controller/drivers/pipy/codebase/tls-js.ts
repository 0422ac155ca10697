// PipyJS module /tls.js: the service certificate and the identity checks.
export const TLS_JS = String.raw`// meshfed sidecar: /tls.js
// The service certificate, its key and the CA bundle are files the agent adds
// to the codebase it serves over loopback (never part of config.json). A new
// certificate changes the codebase ETag, Pipy reloads: new connections use the
// new certificate while the old workers drain the connections they hold.
import config from '/config.js'

var text = function (path) {
  var data = path ? pipy.load(path) : null
  return data ? data.toString() : ''
}

// crypto.Certificate takes one PEM block; a CA bundle may hold several.
var splitPem = function (pem) {
  var out = []
  var parts = pem.split('-----END CERTIFICATE-----')
  for (var i = 0; i < parts.length; i++) {
    var at = parts[i].indexOf('-----BEGIN CERTIFICATE-----')
    if (at >= 0) out.push(parts[i].substring(at) + '-----END CERTIFICATE-----\n')
  }
  return out
}

var paths = config ? config.certificates : null
var certPem = paths ? text(paths.cert) : ''
var keyPem = paths ? text(paths.key) : ''
var caPems = paths ? splitPem(text(paths.ca)) : []
var ready = certPem !== '' && keyPem !== '' && caPems.length > 0

var certificate = ready ? { cert: new crypto.CertificateChain(certPem), key: new crypto.PrivateKey(keyPem) } : null
var trusted = ready ? caPems.map(function (p) { return new crypto.Certificate(p) }) : []

// Scripts see the subject and DNS SANs only (no URI SANs), so a service's
// identity is its DNS name <name>.<namespace>.svc.<trust domain>, written by
// the CA as the CN and the only DNS SAN.
var meshSuffix = config ? '.svc.' + config.trustDomain : '.svc.'

var namesOf = function (cert) {
  var names = []
  var sans = cert.subjectAltNames || []
  for (var i = 0; i < sans.length; i++) names.push(sans[i])
  var cn = cert.subject ? cert.subject.commonName : undefined
  if (cn) names.push(cn)
  return names
}

// The mesh identity a certificate proves, or '' (a proxy certificate's CN
// <uuid>.<kind>.<name>.<ns>.<td> never ends in .svc.<td>).
var meshIdentity = function (cert) {
  var names = namesOf(cert)
  for (var i = 0; i < names.length; i++) {
    var n = names[i].toLowerCase()
    if (n.length > meshSuffix.length && n.substring(n.length - meshSuffix.length) === meshSuffix) return n
  }
  return ''
}

// True when the certificate proves one of the identities (a string or a list).
var hasIdentity = function (cert, identities) {
  var wanted = typeof identities === 'string' ? [identities] : identities
  var names = namesOf(cert)
  for (var i = 0; i < names.length; i++) if (wanted.indexOf(names[i].toLowerCase()) >= 0) return true
  return false
}

// Kept as a name for scripts written against it: hasIdentity takes a list too.
var hasAnyIdentity = hasIdentity

export default { ready, certificate, trusted, meshIdentity, hasIdentity, hasAnyIdentity }
`;
