/** `ocr info`: the server's GetServerInfo, as JSON. */

import { OcrClient } from '../client/ocr-client.js';
import { describeError } from './file-result.js';
import { cliToken, type TokenCliOptions } from './auth-options.js';
import { clientTls, type ClientTlsCliOptions } from './tls-options.js';

export interface InfoCliOptions extends ClientTlsCliOptions, TokenCliOptions {
  target: string;
  deadlineMs: number;
}

/** Prints the answer on stdout; resolves with the exit status. */
export async function infoCommand(opts: InfoCliOptions): Promise<number> {
  const tls = clientTls(opts);
  const token = cliToken(opts);
  const client = new OcrClient(opts.target, { deadlineMs: opts.deadlineMs, ...(tls ? { tls } : {}), ...(token ? { token } : {}) });
  try {
    const info = await client.getServerInfo();
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return 0;
  } catch (err) {
    const { code, message } = describeError(err);
    process.stderr.write(`ocr info: ${opts.target}: ${code}: ${message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
