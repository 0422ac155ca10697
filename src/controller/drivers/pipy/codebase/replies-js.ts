// PipyJS module /replies.js: answers the sidecar makes up itself, in the caller's protocol.
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
// as soon as its head arrives and drops the rest of it: waiting for the end of
// a streaming request (a client that sends nothing until the server speaks)
// would hang the call.
var answer = function (status, text) {
  return $=>$
    .replaceMessageStart(function (evt) { return reply(evt.head, status, text(evt.head)) })
    .replaceData()
    .replaceMessageEnd()
}

export default { isGrpc, reply, answer, GRPC_STATUS }
`;
