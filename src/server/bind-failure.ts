/**
 * Why the gRPC port could not be bound, in the operator's terms. grpc-js says it as "No address
 * added out of total 1 resolved errors: [listen EADDRINUSE: …]" or "Name resolution failed for
 * target dns:…": the one cause that matters, under its own wording, and no word of which flag to change.
 */
export function grpcBindFailure(host: string, port: number, grpcMessage: string): string {
  const where = `cannot listen on ${host}:${port}`;
  if (/\bEADDRINUSE\b/.test(grpcMessage)) return `${where}: the port is in use; choose another port with --port`;
  if (/\bEADDRNOTAVAIL\b/.test(grpcMessage)) return `${where}: ${host} is no address of this machine; check --host`;
  if (/\bEACCES\b/.test(grpcMessage)) return `${where}: not permitted (ports under 1024 need privileges); choose another port with --port`;
  if (/^Name resolution failed\b/.test(grpcMessage)) return `${where}: the name ${host} does not resolve; check --host`;
  return `${where}: ${grpcMessage}`;
}
