// PipyJS module /config.js: the proxy's configuration, read once per
// (re)load of the codebase. See docs/pipy.md for the schema.
//
// Two files (issue 17, one render per distinct view): /config.json is this
// proxy's own part (id, listeners, loopback addresses, and the sha256 of the
// /view.json rendered with it); /view.json is the part every proxy with the same
// policies, peers and capture mode shares byte for byte, so the controller
// renders it once and sends it by reference. The merge below is the one of
// mergePipyConfig (pipy-config.ts); a unit test runs both over every fixture.
export const CONFIG_JS = String.raw`// meshfed sidecar: /config.js
// Reads /config.json (schema meshfed.io/pipy-config/v1, this proxy's own part)
// and /view.json (meshfed.io/pipy-view/v1, the part shared with every proxy
// of the same view; both come in one codebase version), and merges them into
// one config. A missing or foreign file yields null; main.js then serves only
// the readiness endpoint.
var read = function (path) {
  var raw = pipy.load(path)
  return raw ? JSON.decode(raw) : null
}

var merge = function (own, view) {
  var inbound = {}
  var outbound = {}
  Object.keys(view.inbound).forEach(function (k) { inbound[k] = view.inbound[k] })
  Object.keys(view.outbound).forEach(function (k) { outbound[k] = view.outbound[k] })
  inbound.listeners = own.inbound.listeners
  outbound.listen = own.outbound.listen
  return {
    schema: own.schema,
    proxy: own.proxy,
    trustDomain: view.trustDomain,
    certificates: view.certificates,
    health: own.health,
    inbound: inbound,
    outbound: outbound,
    warnings: own.warnings.concat(view.warnings),
  }
}

var own = read('config.json')
var view = own && own.schema === 'meshfed.io/pipy-config/v1' ? read('view.json') : null
var config = view && view.schema === 'meshfed.io/pipy-view/v1' ? merge(own, view) : null

export default config
`;
