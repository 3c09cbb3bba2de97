/**
 * The trailer beside grpc-retry-pushback-ms that says when a new call would fit. gRPC's pushback is
 * for a retry of the refused call, which keeps the deadline it has left; a new call comes with a
 * whole deadline of its own and fits sooner when the deadline is what bounds the call's room.
 */
export const NEW_CALL_PUSHBACK_MS = 'ocr-new-call-pushback-ms';
