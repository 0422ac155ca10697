// PipyJS module /config.js: the per-proxy configuration, read once per
// (re)load of the codebase. See docs/pipy.md for the schema.
export const CONFIG_JS = String.raw`// meshfed sidecar: /config.js
// Reads /config.json (schema meshfed.io/pipy-config/v1). A missing or foreign
// file yields null; main.js then serves only the readiness endpoint.
var raw = pipy.load('config.json')
var parsed = raw ? JSON.decode(raw) : null
var config = parsed && parsed.schema === 'meshfed.io/pipy-config/v1' ? parsed : null

export default config
`;
