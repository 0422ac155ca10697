// PipyJS module /replies.js: answers the sidecar makes up itself, in the caller's protocol, and gRPC response shapes.
export const REPLIES_JS = String.raw`// meshfed sidecar: /replies.js
// A gRPC client reads the outcome of a call from the grpc-status trailer,
// not from the HTTP status: a plain 403 would reach it as "Received HTTP
// status code 403" at best. So a request whose content-type is
// application/grpc[+proto|...] gets HTTP 200, content-type application/grpc,
// no messages and the trailers grpc-status / grpc-message (the shape of a
// gRPC server's own error); every other request gets the HTTP status and a
// text body.

// gRPC status codes (grpc/doc/statuscodes.md) for the HTTP statuses we answer with.
var GRPC_STATUS = { '403': 7, '404': 12, '502': 14, '503': 14, '504': 4 }

var isGrpc = function (head) {
  var type = head && head.headers ? head.headers['content-type'] : undefined
  return ('' + (type || '')).toLowerCase().indexOf('application/grpc') === 0
}

// grpc-message is percent-encoded; our texts are printable ASCII, so only '%' needs it.
var grpcMessage = function (text) {
  return text.split('%').join('%25')
}

var reply = function (requestHead, status, text) {
  if (isGrpc(requestHead)) {
    var code = GRPC_STATUS['' + status] === undefined ? 2 : GRPC_STATUS['' + status]
    return new Message(
      { status: 200, headers: { 'content-type': 'application/grpc' } },
      null,
      { headers: { 'grpc-status': '' + code, 'grpc-message': grpcMessage(text) } }
    )
  }
  return new Message({ status: status, headers: { 'content-type': 'text/plain' } }, text + '\n')
}

// A pipeline that answers every request with reply(head, status, text(head))
// as soon as its head arrives and drops the request's body: waiting for the
// end of a streaming request (a client that sends nothing until the server
// speaks) would hang the call. The request's own end is passed on: both
// encoders ignore an end after the answer's, and with Pipy 1.5.18's HTTP/2
// encoder dropping it lost the answer's trailers when the request ended
// right after its head (checked against the binary; the grpc-status never
// left, the client saw a bare RST_STREAM).
// The request's body is dropped before the answer is made: the answer's own
// body flows out of replaceMessageStart, and a replaceData() after it would
// drop that too (HTTP/1 answers went out with an empty body).
var answer = function (status, text) {
  return $=>$
    .replaceData()
    .replaceMessageStart(function (evt) { return reply(evt.head, status, text(evt.head)) })
}

// A gRPC server may end a call with "Trailers-Only": a single HEADERS frame
// that ends the stream and carries grpc-status (grpc-js does so for every
// error). Pipy reads that as a response head plus an end without a tail and
// sends it on as headers, then an empty end: the client sees a call without a
// status (grpc-js: INTERNAL). Seen on a response head, grpc-status means that
// shape, so everything but content-type moves to the tail: a gRPC client
// then gets the same status and metadata as trailers, which is what
// Trailers-Only means.
var $grpcTail = null

var splitHeaders = function (headers) {
  var head = {}
  var tail = {}
  Object.keys(headers).forEach(function (k) {
    if (k === 'content-type') head[k] = headers[k]
    else tail[k] = headers[k]
  })
  return { head: head, tail: tail }
}

var grpcTrailers = $=>$
  .handleMessageStart(function (evt) {
    $grpcTail = null
    var headers = evt.head.headers
    if (!headers || headers['grpc-status'] === undefined) return
    var parts = splitHeaders(headers)
    evt.head.headers = parts.head
    $grpcTail = parts.tail
  })
  .replaceMessageEnd(function (evt) {
    if ($grpcTail === null) return evt
    var tail = $grpcTail
    $grpcTail = null
    return new MessageEnd({ headers: tail })
  })

export default { isGrpc, reply, answer, grpcTrailers, splitHeaders, GRPC_STATUS }
`;
