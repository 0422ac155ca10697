// PipyJS module /main.js: the entry script.
export const MAIN_JS = String.raw`// meshfed sidecar: /main.js (entry)
// Readiness always; mesh listeners only once config.json and the service
// certificate are both present (a sidecar without its certificate must not
// accept or originate mesh traffic in plain text). The scrape port whenever
// its host asked for one (/scrape.json), even before a config arrives.
import config from '/config.js'
import tls from '/tls.js'
import health from '/health.js'
import inbound from '/inbound.js'
import outbound from '/outbound.js'
import transparent from '/transparent.js'
import scrape from '/scrape.js'

scrape.listen()

if (config) {
  health.listen(config.health.listen)
  if (tls.ready) {
    inbound.listen()
    outbound.listen()
    transparent.listen()
    console.log('meshfed: proxy ' + config.proxy.id + ' (' + config.proxy.service + ') ready: ' + config.inbound.listeners.length + ' inbound listener(s), outbound on ' + config.outbound.listen +
      (config.outbound.transparent ? ', transparent on ' + config.outbound.transparent.listen + (config.outbound.transparent.passthrough ? ' (passthrough)' : ' (deny)') : ''))
  } else {
    console.log('meshfed: proxy ' + config.proxy.id + ' waits for its service certificate; mesh listeners are off')
  }
} else {
  console.log('meshfed: /config.json is missing or not meshfed.io/pipy-config/v1; nothing to run')
}
`;
