/**
 * TLS over a list of servers by name, each instance with a certificate for its own name only (as
 * containers' instances are given one each): each is checked against the name of its own entry.
 */
import { lookup } from 'node:dns/promises';
import os from 'node:os';
import { expect } from 'chai';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { OcrClient } from '../../src/client/index.js';
import { bindLoopback } from '../../src/dev/free-port.js';
import { waitFor } from '../../src/dev/wait-for.js';
import { OcrServiceService, ServerInfo, type OcrServiceServer } from '../../src/gen/ocr/v1/ocr.js';
import { makePki, type Issued, type TestPki } from '../support/certificates.js';

describe('TLS over a list of servers by name', function () {
  this.timeout(60_000);
  let pki: TestPki;
  const servers: Server[] = [];

  /** A TLS server on a free loopback port whose GetServerInfo answers `instanceId`; its port. */
  async function instance(instanceId: string, issued: Issued): Promise<number> {
    const server = new Server();
    const fake: Partial<OcrServiceServer> = {
      getServerInfo: (_call, callback) => callback(null, ServerInfo.fromPartial({ instanceId })),
    };
    server.addService(OcrServiceService, fake as OcrServiceServer);
    servers.push(server);
    return bindLoopback(
      server,
      ServerCredentials.createSsl(null, [{ cert_chain: pki.read(issued.cert), private_key: pki.read(issued.key) }]),
    );
  }

  before(() => {
    pki = makePki();
  });

  after(() => {
    servers.forEach((s) => s.forceShutdown());
    pki.remove();
  });

  it("checks each instance's certificate against its own entry's name", async function () {
    // A second name of this machine, as containers have theirs: its host name, where it resolves here.
    const other = os.hostname();
    const resolved = await lookup(other).catch(() => null);
    if (other === 'localhost' || resolved?.address !== '127.0.0.1') this.skip();
    const first = await instance('first', pki.server);
    const second = await instance('second', pki.issueServer('other-name', '5E4F02', other));
    const client = new OcrClient(`localhost:${first},${other}:${second}`, {
      tls: { ca: pki.read(pki.ca.cert) },
      loadBalancing: 'round_robin',
      deadlineMs: 5_000,
    });
    try {
      const answered = new Set<string>();
      await waitFor(
        async () => answered.add((await client.getServerInfo()).instanceId).size === 2,
        20_000,
        `an answer from ${other}:${second} (its certificate is for ${other} alone)`,
      );
      expect([...answered].sort()).to.deep.equal(['first', 'second']);
    } finally {
      client.close();
    }
  });
});
