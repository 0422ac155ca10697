// PipyJS module /cidr.js: IPv4 addresses and CIDR ranges, for Egress and IngressBackend rules.
export const CIDR_JS = String.raw`// meshfed sidecar: /cidr.js
// Plain arithmetic rather than bit operators: JavaScript's are signed 32-bit,
// and 10.0.0.0/1 style ranges would come out negative. IPv4 only (the data
// plane captures IPv4; pipy-config leaves IPv6 ranges out with a warning).
// PipyJS has no regular expression literals.
var CIDR_OCTET = new RegExp('^[0-9]{1,3}$')

var cidrIpv4 = function (text) {
  var a = '' + (text || '')
  // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
  if (a.indexOf('::ffff:') === 0) a = a.substring(7)
  var parts = a.split('.')
  if (parts.length !== 4) return -1
  var n = 0
  for (var i = 0; i < 4; i++) {
    if (!CIDR_OCTET.test(parts[i])) return -1
    var octet = Number(parts[i])
    if (octet > 255) return -1
    n = n * 256 + octet
  }
  return n
}

// { lo, size }: the range's first address and its length; lo -1 never matches.
var cidrParse = function (cidr) {
  var slash = cidr.indexOf('/')
  var base = cidrIpv4(slash >= 0 ? cidr.substring(0, slash) : cidr)
  var bits = slash >= 0 ? Number(cidr.substring(slash + 1)) : 32
  if (base < 0 || !(bits >= 0 && bits <= 32)) return { lo: -1, size: 0 }
  var size = Math.pow(2, 32 - bits)
  return { lo: Math.floor(base / size) * size, size: size }
}

var cidrContains = function (ranges, ip) {
  var n = cidrIpv4(ip)
  if (n < 0) return false
  for (var i = 0; i < ranges.length; i++) {
    var r = ranges[i]
    if (r.lo >= 0 && n >= r.lo && n < r.lo + r.size) return true
  }
  return false
}

export default { ipv4: cidrIpv4, parse: cidrParse, contains: cidrContains }
`;
