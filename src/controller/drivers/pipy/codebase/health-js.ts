// PipyJS module /health.js: readiness on the health listener.
export const HEALTH_JS = String.raw`// meshfed sidecar: /health.js
// GET /ready: 200 once a valid config and the service certificate are loaded
// (the sidecar then listens for mesh traffic), 503 before. GET /live: 200.
import config from '/config.js'
import tls from '/tls.js'

var ready = function () { return config !== null && tls.ready }

var body = function () {
  return JSON.encode({
    ready: ready(),
    config: config !== null,
    certificates: tls.ready,
    proxy: config ? config.proxy.id : null,
    service: config ? config.proxy.service : null,
  }) + '\n'
}

var listen = function (address) {
  pipy.listen(address, $=>$
    .serveHTTP(function (req) {
      var path = req.head.path
      if (path === '/live') return new Message({ status: 200 }, 'ok\n')
      if (path === '/ready') return new Message({ status: ready() ? 200 : 503, headers: { 'content-type': 'application/json' } }, body())
      return new Message({ status: 404 }, 'not found\n')
    })
  )
}

export default { listen, ready }
`;
