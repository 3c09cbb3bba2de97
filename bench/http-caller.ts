/**
 * An HTTP caller of `POST /api/ocr` as a script would be: multipart field `image`, each body built
 * once in advance, on keep-alive connections (one a caller, as a closed loop of requests holds
 * them), the status named in its answer read, and `timeout_ms` sent so that the server
 * refuses at once what cannot be answered in time.
 */
import http from 'node:http';

/** A document as the multipart body of `POST /api/ocr`, with its content type. */
export interface MultipartBody {
  contentType: string;
  body: Buffer;
}

const BOUNDARY = 'ocr-bench-boundary';

export function multipartImage(image: Uint8Array): MultipartBody {
  const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="page"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  return {
    contentType: `multipart/form-data; boundary=${BOUNDARY}`,
    body: Buffer.concat([Buffer.from(head), image, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]),
  };
}

function statusOf(body: Buffer, httpStatus: number | undefined): string {
  try {
    return (JSON.parse(body.toString()) as { error?: string }).error ?? 'OK';
  } catch {
    return `HTTP_${httpStatus}`;
  }
}

export interface HttpCaller {
  /** One request with `body`, given up at `timeoutMs` at the latest: the status it stands for. */
  call(body: MultipartBody): Promise<string>;
  close(): void;
}

export function httpCaller(port: number, callers: number, timeoutMs: number): HttpCaller {
  const agent = new http.Agent({ keepAlive: true, maxSockets: callers });
  return {
    call: ({ contentType, body }) =>
      new Promise((resolve) => {
        const request = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: `/api/ocr?timeout_ms=${timeoutMs}`,
            agent,
            headers: { 'content-type': contentType, 'content-length': body.length },
            timeout: timeoutMs,
          },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            // The API names the gRPC status in its answer (`error`, absent when it succeeded), so both callers count alike.
            response.on('end', () => resolve(statusOf(Buffer.concat(chunks), response.statusCode)));
          },
        );
        request.on('timeout', () => {
          resolve('DEADLINE_EXCEEDED');
          request.destroy();
        });
        request.on('error', () => resolve('UNAVAILABLE'));
        request.end(body);
      }),
    close: () => agent.destroy(),
  };
}
