import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { OcrClient } from '../../src/client/index.js';
import { registerInstance, type ConsulRegistration, type ConsulRegistrationOptions } from '../../src/server/consul-registration.js';
import { createLogger } from '../../src/server/logger.js';
import { closedPort } from '../support/closed-port.js';
import { ConsulDouble } from '../support/consul-double.js';
import { agentServices, consulForTests, consulRequest, deregisterService, healthService, type TestConsul } from '../support/consul.js';
import { startHealthServer, type HealthServer } from '../support/health-server.js';
import { tcpRelay } from '../support/tcp-relay.js';
import { ROOT } from '../../src/dev/repo-paths.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';
import { waitFor } from '../../src/dev/wait-for.js';

const unique = (prefix: string): string => `${prefix}-${randomBytes(3).toString('hex')}`;

/** A port on 127.0.0.1 that passes each connection on to another, named later (`to`), as a published container port does. */
async function portForward(): Promise<{ port: number; to(port: number): void; close(): void }> {
  let target: number | undefined;
  const relay = tcpRelay(() => target);
  await new Promise<void>((resolve) => relay.server.listen(0, '127.0.0.1', resolve));
  return {
    port: (relay.server.address() as net.AddressInfo).port,
    to: (port) => (target = port),
    close: () => relay.close(),
  };
}

/** Registration in Consul: `ocr serve --consul` as a process, and the registration module in-process. */
describe('Consul registration', function () {
  this.timeout(60_000);
  let consul: TestConsul;
  before(async () => (consul = await consulForTests()));
  after(async () => consul?.close());

  describe('ocr serve --consul', () => {
    let server: ServerProcess | undefined;
    after(() => {
      if (server?.child.exitCode === null) server.child.kill('SIGKILL');
    });

    it('registers with a passing gRPC check under its instance id, and deregisters before draining on SIGTERM', async () => {
      const name = unique('ocr-test');
      server = await spawnServer([
        '--consul',
        consul.address,
        '--service-name',
        name,
        '--tag',
        'test',
        '--log-level',
        'info',
        '--grace-ms',
        '2000',
      ]);
      const s = server;
      expect(s.instanceId).to.match(new RegExp(`^${name}-127\\.0\\.0\\.1-${s.port}-[0-9a-f]{6}$`));

      // The agent's check (interval 2s, first run within it) sees the server SERVING.
      await waitFor(async () => (await healthService(consul.address, name, 'passing')).body.length === 1, 20_000, 'the instance to pass');
      const [entry] = (await healthService(consul.address, name, 'passing')).body;
      expect(entry!.Service).to.include({ ID: s.instanceId, Service: name, Address: '127.0.0.1', Port: s.port });
      expect(entry!.Service.Tags).to.deep.equal(['test']);

      // The instance id in responses is the Consul service ID; Meta carries the model versions it serves.
      const client = new OcrClient(`127.0.0.1:${s.port}`);
      const info = await client.getServerInfo().finally(() => client.close());
      expect(info.instanceId).to.equal(s.instanceId);
      const meta: Record<string, string> = { manifest: info.manifest, server_version: info.serverVersion };
      for (const m of info.models) meta[`${m.role}_version`] = m.version;
      expect(entry!.Service.Meta).to.deep.equal(meta);
      expect(entry!.Service.Meta).to.include.keys('det_version', 'rec_version');

      const exited = once(s.child, 'exit') as Promise<[number | null]>;
      s.child.kill('SIGTERM');
      const [code] = await exited;
      expect(code, s.stderr()).to.equal(0);
      expect(await agentServices(consul.address)).not.to.have.property(s.instanceId);
      await waitFor(async () => (await healthService(consul.address, name)).body.length === 0, 5000, 'the catalog to drop it');
      // Out of Consul before the drain starts, so callers stop picking it while calls still finish.
      const messages = s
        .stderr()
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
      // Announced only once its work estimates were this machine's: callers find it calibrated.
      const calibrated = messages.indexOf('work estimates calibrated to this machine');
      expect(calibrated, messages.join(' | ')).to.be.greaterThan(-1);
      expect(calibrated, messages.join(' | ')).to.be.lessThan(messages.indexOf('registered in Consul'));
      const deregistered = messages.indexOf('deregistered from Consul');
      expect(deregistered, messages.join(' | ')).to.be.greaterThan(-1);
      expect(deregistered).to.be.lessThan(messages.indexOf('draining'));
    });

    it('registers the ports published outside a container (--advertise-port, --advertise-http-port), which the checks dial', async () => {
      // Stand-ins for a container's published ports (docker run -p R:50051 -p RH:8080): each passes its
      // connections on to the port the server bound, known once it listens.
      const published = await Promise.all([0, 1].map(() => portForward()));
      try {
        const name = unique('ocr-published');
        server = await spawnServer([
          '--consul',
          consul.address,
          '--service-name',
          name,
          '--advertise-port',
          String(published[0]!.port),
          '--advertise-http-port',
          String(published[1]!.port),
        ]);
        const s = server;
        published[0]!.to(s.port);
        published[1]!.to(s.httpPort!);
        expect(s.instanceId).to.match(new RegExp(`^${name}-127\\.0\\.0\\.1-${published[0]!.port}-[0-9a-f]{6}$`));
        await waitFor(async () => (await healthService(consul.address, name, 'passing')).body.length === 1, 20_000, 'the instance to pass');
        const [entry] = (await healthService(consul.address, name, 'passing')).body;
        // Not the bound port: another container on this host may have bound the same one.
        expect(entry!.Service).to.include({ ID: s.instanceId, Port: published[0]!.port });
        const outputs = entry!.Checks.filter((c) => c.ServiceID === s.instanceId).map((c) => c.Output);
        expect(
          outputs.some((o) => o.includes(`127.0.0.1:${published[0]!.port}/ocr.v1.OcrService`)),
          outputs.join(' | '),
        ).to.equal(true);
        expect(
          outputs.some((o) => o.includes(`http://127.0.0.1:${published[1]!.port}/healthz`)),
          outputs.join(' | '),
        ).to.equal(true);
        const exited = once(s.child, 'exit') as Promise<[number | null]>;
        s.child.kill('SIGTERM');
        expect((await exited)[0], s.stderr()).to.equal(0);
      } finally {
        for (const forward of published) forward.close();
      }
    });

    it('warns at start when it registers a loopback address with an agent reached over the network, naming the flags', async () => {
      // 192.0.2.1 (TEST-NET-1) answers nothing: the warning comes from the addresses alone.
      server = await spawnServer(['--consul', 'http://192.0.2.1:8500', '--service-name', unique('ocr-loopback'), '--log-level', 'warn']);
      const s = server;
      const warned = (): boolean =>
        s
          .stderr()
          .trim()
          .split('\n')
          .filter((l) => l !== '')
          .some((l) =>
            (JSON.parse(l) as { msg: string }).msg.startsWith('registering 127.0.0.1 with the Consul agent at http://192.0.2.1:8500: '),
          );
      await waitFor(warned, 10_000, 'the warning about a loopback address in Consul');
      expect(s.stderr()).to.contain('(--host 0.0.0.0)').and.to.contain('(--advertise-host)');
      const exited = once(s.child, 'exit') as Promise<[number | null]>;
      s.child.kill('SIGTERM');
      expect((await exited)[0], s.stderr()).to.equal(0);
    });

    it('does not try to deregister on SIGTERM when the agent never took the registration: no error on a clean stop', async () => {
      const down = new ConsulDouble();
      const { address } = await down.start();
      await down.stop();
      try {
        server = await spawnServer(['--consul', address, '--service-name', unique('ocr-never'), '--log-level', 'info']);
        const s = server;
        const lines = (): { level: number; msg: string }[] =>
          s
            .stderr()
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { level: number; msg: string });
        await waitFor(
          () => lines().some((l) => l.msg === 'cannot register in Consul; serving anyway and retrying'),
          20_000,
          'a failed registration',
        );
        const exited = once(s.child, 'exit') as Promise<[number | null]>;
        s.child.kill('SIGTERM');
        const [code] = await exited;
        expect(code, s.stderr()).to.equal(0);
        const afterSignal = lines().slice(lines().findIndex((l) => l.msg === 'shutting down'));
        expect(afterSignal.map((l) => l.msg)).to.include('never registered in Consul: nothing to deregister');
        expect(afterSignal.filter((l) => l.level >= 50).map((l) => l.msg)).to.deep.equal([]);
      } finally {
        await down.close();
      }
    });

    it('deregisters on SIGTERM a first registration the agent took and has not answered yet, before it exits', async () => {
      const slow = new ConsulDouble();
      const { address } = await slow.start();
      const hold = slow.holdAnswers('register');
      try {
        server = await spawnServer(['--consul', address, '--service-name', unique('ocr-slow-agent'), '--log-level', 'info']);
        const s = server;
        // Taken by the agent, its answer still on the way when the signal comes.
        expect(await hold.arrived).to.equal(s.instanceId);
        const exited = once(s.child, 'exit') as Promise<[number | null]>;
        s.child.kill('SIGTERM');
        expect((await exited)[0], s.stderr()).to.equal(0);
        expect(await agentServices(address), s.stderr()).not.to.have.property(s.instanceId);
      } finally {
        hold.release();
        await slow.close();
      }
    });
  });

  describe('registerInstance', () => {
    let grpc: HealthServer;
    const open: ConsulRegistration[] = [];
    before(async () => (grpc = await startHealthServer({ '': 'SERVING', 'ocr.v1.OcrService': 'SERVING' })));
    after(async () => grpc?.close());
    afterEach(async () => {
      for (const r of open.splice(0)) await r.deregister().catch(() => {});
    });

    const logger = createLogger(process.env.OCR_TEST_LOG ?? 'silent', {});
    const start = (
      consulAddress: string,
      serviceName: string,
      fast = true,
      overrides: Partial<ConsulRegistrationOptions> = {},
    ): ConsulRegistration => {
      const r = registerInstance({
        consulAddress,
        ...(process.env.CONSUL_HTTP_TOKEN ? { token: process.env.CONSUL_HTTP_TOKEN } : {}),
        serviceName,
        serviceId: `${serviceName}-1`,
        advertiseHost: '127.0.0.1',
        port: grpc.port,
        tags: ['a', 'b'],
        meta: { det_version: 'v4' },
        checkInterval: '1s',
        logger,
        ...(fast ? { confirmEveryMs: 100, retryMinMs: 50, retryMaxMs: 200, requestTimeoutMs: 1000 } : {}),
        ...overrides,
      });
      open.push(r);
      return r;
    };

    it('registers the service with a GRPC check on ocr.v1.OcrService, which passes', async () => {
      const name = unique('reg');
      start(consul.address.replace(/^http:\/\//, ''), name); // "host:port" works as well as a URL
      await waitFor(async () => (await healthService(consul.address, name, 'passing')).body.length === 1, 10_000, 'the check to pass');
      const [entry] = (await healthService(consul.address, name)).body;
      expect(entry!.Service).to.include({ ID: `${name}-1`, Address: '127.0.0.1', Port: grpc.port });
      expect(entry!.Service.Tags).to.deep.equal(['a', 'b']);
      const check = entry!.Checks.find((c) => c.ServiceID === `${name}-1`)!;
      expect(check.Status).to.equal('passing');
      if (!consul.real) expect(check.Output).to.contain(`127.0.0.1:${grpc.port}/ocr.v1.OcrService`);
    });

    it('registers again when the agent no longer has the instance', async () => {
      const name = unique('reg-lost');
      start(consul.address, name);
      await waitFor(async () => `${name}-1` in (await agentServices(consul.address)), 10_000, 'the registration');
      expect(await deregisterService(consul.address, `${name}-1`)).to.equal(200); // as if reaped, or the agent lost its data
      await waitFor(async () => `${name}-1` in (await agentServices(consul.address)), 10_000, 'the registration to come back');
    });

    it('removes a registration left at its address and port by a process that did not deregister, and no other', async () => {
      const name = unique('reg-stale');
      // What a process killed with -9 on this port leaves, and another instance of the service elsewhere.
      const left = {
        Name: name,
        Address: '127.0.0.1',
        Port: grpc.port,
        Tags: ['old'],
        Check: { GRPC: `127.0.0.1:${grpc.port}`, Interval: '1s' },
      };
      const elsewhere = { ...left, Port: grpc.port + 1 };
      for (const [id, body] of [
        [`${name}-dead`, left],
        [`${name}-other`, elsewhere],
      ] as const) {
        const reply = await consulRequest(consul.address, '/v1/agent/service/register', { method: 'PUT', body: { ...body, ID: id } });
        expect(reply.status, reply.text).to.equal(200);
      }
      try {
        start(consul.address, name);
        await waitFor(async () => !(`${name}-dead` in (await agentServices(consul.address))), 10_000, 'the stale registration to go');
        const services = await agentServices(consul.address);
        expect(services).to.have.property(`${name}-1`);
        expect(services).to.have.property(`${name}-other`);
      } finally {
        for (const id of [`${name}-dead`, `${name}-other`]) await deregisterService(consul.address, id);
      }
    });

    it("logs at error what the agent's checks say when they cannot reach the address registered", async () => {
      const lines: { level: number; msg: string; checks?: string[] }[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as never) });
      const failing = (): typeof lines => lines.filter((l) => l.msg.startsWith("Consul's checks of this instance fail"));
      // Where nothing listens, as a wrong --advertise-port registers.
      const port = await closedPort();
      start(consul.address, unique('reg-wrong'), true, { port, logger });
      await waitFor(() => failing().length > 0, 15_000, 'the failing check in the log');
      const [line] = failing();
      expect(line!.level).to.equal(50);
      expect(line!.msg).to.contain('--advertise-host, --advertise-port');
      expect(line!.checks!.join('\n')).to.contain(`127.0.0.1:${port}`);
    });

    it('logs at error when another instance registers under its ID (the same --instance-id), naming both addresses', async () => {
      const lines: { level: number; msg: string; registeredAt?: string }[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as never) });
      const name = unique('reg-same-id');
      start(consul.address, name, true, { logger });
      await waitFor(async () => `${name}-1` in (await agentServices(consul.address)), 10_000, 'the registration');
      // A second process given the same ID, on another port.
      const other = { ID: `${name}-1`, Name: name, Address: '127.0.0.1', Port: grpc.port + 1 };
      const reply = await consulRequest(consul.address, '/v1/agent/service/register', { method: 'PUT', body: other });
      expect(reply.status, reply.text).to.equal(200);
      const taken = (): typeof lines =>
        lines.filter((l) => l.msg.startsWith('another instance registered in Consul under this instance ID'));
      await waitFor(() => taken().length > 0, 10_000, 'the taken ID in the log');
      expect(taken()[0]!.level).to.equal(50);
      expect(taken()[0]!.registeredAt).to.equal(`127.0.0.1:${grpc.port + 1}`);
      expect(taken()[0]!.msg).to.contain('give each instance its own --instance-id');
    });

    it('deregisters, and a registration still in flight does not outlive it', async () => {
      const name = unique('reg-leave');
      const first = start(consul.address, name);
      await first.deregister(); // its first registration request is already on its way
      expect(await agentServices(consul.address)).not.to.have.property(`${name}-1`);

      const second = start(consul.address, `${name}-b`);
      await waitFor(async () => `${name}-b-1` in (await agentServices(consul.address)), 10_000, 'the registration');
      await second.deregister();
      expect(await agentServices(consul.address)).not.to.have.property(`${name}-b-1`);
      await second.deregister(); // already gone: still fine
    });

    it('deregisters without waiting on a check that it is still registered, held by a slow agent, and logs nothing of that check after', async function () {
      // Waiting on it until its request timed out (set long here) delayed the deregistration, or cut it off at shutdown.
      this.timeout(20_000);
      const slow = new ConsulDouble();
      const { address } = await slow.start();
      const lines: { msg: string }[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as never) });
      const name = unique('reg-confirming');
      const registration = start(address, name, true, { requestTimeoutMs: 60_000, logger });
      await waitFor(async () => `${name}-1` in (await agentServices(address)), 10_000, 'the registration');
      const hold = slow.holdAnswers('services');
      try {
        await hold.arrived; // the periodic check's listing waits on the agent
        await registration.deregister();
        hold.release();
        expect(await agentServices(address)).not.to.have.property(`${name}-1`);
        const after = lines.slice(lines.findIndex((l) => l.msg === 'deregistered from Consul'));
        expect(after.map((l) => l.msg)).to.deep.equal(['deregistered from Consul']);
      } finally {
        hold.release();
        await slow.close();
      }
    });

    it('deregisters without waiting on the listing for stale twins that follows the registration, held by a slow agent', async function () {
      // The registration answered, its listing for registrations left at this address and port is
      // still out: waited on, it held the deregistration until its request timed out (set long here).
      this.timeout(20_000);
      const slow = new ConsulDouble();
      const { address } = await slow.start();
      const hold = slow.holdAnswers('services');
      const name = unique('reg-twins');
      const registration = start(address, name, true, { requestTimeoutMs: 60_000 });
      try {
        await hold.arrived; // registered; removeStaleTwins's listing waits on the agent
        await registration.deregister();
        hold.release();
        expect(await agentServices(address)).not.to.have.property(`${name}-1`);
      } finally {
        hold.release();
        await slow.close();
      }
    });

    it('takes the example service definition in consul/ as the agent API does', async () => {
      const file = JSON.parse(readFileSync(path.join(ROOT, 'consul', 'ocr-service.json'), 'utf8')) as { service: Record<string, unknown> };
      const id = unique('example');
      const reply = await consulRequest(consul.address, '/v1/agent/service/register', { method: 'PUT', body: { ...file.service, id } });
      try {
        expect(reply.status, reply.text).to.equal(200);
        const registered = (await agentServices(consul.address))[id]!;
        expect(registered.Service).to.equal('ocr');
        expect(registered.Meta).to.have.keys('manifest', 'det_version', 'cls_version', 'rec_version', 'server_version');
      } finally {
        await deregisterService(consul.address, id);
      }
    });

    // These two need an agent that goes down: a double of their own, even when a real agent is set.
    it('keeps retrying while the agent is down, and registers once it answers', async () => {
      // Down from the start: the server must serve anyway and register later.
      const own = new ConsulDouble();
      const { port, address } = await own.start();
      await own.stop();
      try {
        const name = unique('reg-late');
        const r = start(address, name);
        await own.start(port);
        await waitFor(async () => `${name}-1` in (await agentServices(address)), 10_000, 'the late registration');
        // And after an outage in which the agent lost the instance, it comes back too.
        await own.stop();
        await own.start(port);
        expect(await deregisterService(address, `${name}-1`)).to.equal(200);
        await waitFor(async () => `${name}-1` in (await agentServices(address)), 10_000, 'the registration after the outage');
        await r.deregister();
        expect(await agentServices(address)).not.to.have.property(`${name}-1`);
      } finally {
        await own.close();
      }
    });

    it("logs the agent's own words when its ACLs refuse the token, and that the token needs service:write on the service", async () => {
      const own = new ConsulDouble({ aclWriteToken: 'right', aclReadToken: 'reader' });
      const { address } = await own.start();
      try {
        const lines: { level: number; msg: string; err?: string; status?: number; advice?: string }[] = [];
        const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as never) });
        const name = unique('reg-acl');
        start(address, name, true, { logger, token: 'reader' });
        await waitFor(() => lines.some((l) => l.msg === 'cannot register in Consul; serving anyway and retrying'), 10_000, 'the refusal');
        const refusal = lines.find((l) => l.msg === 'cannot register in Consul; serving anyway and retrying')!;
        expect(refusal.status).to.equal(403);
        expect(refusal.err).to.match(
          /^Permission denied: token with AccessorID '[0-9a-f-]+' lacks permission 'service:write' on "reg-acl-/,
        );
        expect(refusal.advice).to.equal(
          `the agent's ACLs refused the token (--consul-token or CONSUL_HTTP_TOKEN): give one with service:write on "${name}"`,
        );
        // The token it needs is taken.
        start(address, `${name}-b`, true, { token: 'right' });
        await waitFor(async () => `${name}-b-1` in (await agentServices(address)), 10_000, 'the registration with the right token');
      } finally {
        await own.close();
      }
    });

    it('says when the agent does not know the token at all ("ACL not found"), not that it lacks a permission', async () => {
      const own = new ConsulDouble({ aclWriteToken: 'right' });
      const { address } = await own.start();
      try {
        const lines: { msg: string; err?: string; status?: number; advice?: string }[] = [];
        const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as never) });
        const name = unique('reg-unknown-token');
        start(address, name, true, { logger, token: 'typo' });
        await waitFor(() => lines.some((l) => l.msg === 'cannot register in Consul; serving anyway and retrying'), 10_000, 'the refusal');
        const refusal = lines.find((l) => l.msg === 'cannot register in Consul; serving anyway and retrying')!;
        expect([refusal.status, refusal.err]).to.deep.equal([403, 'ACL not found']);
        expect(refusal.advice).to.equal(
          `the agent knows no such token (--consul-token or CONSUL_HTTP_TOKEN): give the SecretID of one of its tokens with service:write on "${name}"`,
        );
      } finally {
        await own.close();
      }
    });

    it('fails deregister() when the agent is down, without hanging', async () => {
      const own = new ConsulDouble();
      const { address } = await own.start();
      const name = unique('reg-down');
      const r = start(address, name);
      await waitFor(async () => `${name}-1` in (await agentServices(address)), 10_000, 'the registration');
      await own.close();
      let failed = false;
      await r.deregister().catch(() => (failed = true));
      expect(failed).to.equal(true);
    });
  });
});
