import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import {
  agentServices,
  consulForTests,
  consulRequest,
  deregisterService,
  healthService,
  itWithDouble,
  REAL_AGENT_CANNOT_STOP,
  type HealthServiceEntry,
  type TestConsul,
} from '../support/consul.js';
import { startHealthServer, type HealthServer } from '../support/health-server.js';
import { freePort } from '../../src/dev/free-port.js';
import { waitFor } from '../../src/dev/wait-for.js';

/**
 * The Consul HTTP API as the product relies on it. Runs against the test double, or against a real
 * agent when CONSUL_HTTP_ADDR is set: the same assertions then show that the double is faithful.
 */
describe('Consul agent API (double, or a real agent with CONSUL_HTTP_ADDR)', function () {
  this.timeout(30_000);
  let consul: TestConsul;
  let grpc: HealthServer;
  const registered = new Set<string>();

  before(async () => {
    consul = await consulForTests();
    grpc = await startHealthServer({ '': 'SERVING', 'test.Svc': 'NOT_SERVING' });
  });
  after(async () => {
    await grpc?.close();
    await consul?.close();
  });
  afterEach(async () => {
    // A real agent outlives the tests: leave nothing behind.
    if (consul.start && !consul.real) await consul.start().catch(() => {}); // a test that stopped it and failed
    for (const id of registered) await deregisterService(consul.address, id).catch(() => {});
    registered.clear();
  });

  const unique = (prefix: string): string => `${prefix}-${randomBytes(3).toString('hex')}`;

  async function register(service: Record<string, unknown>): Promise<void> {
    const reply = await consulRequest(consul.address, '/v1/agent/service/register', { method: 'PUT', body: service });
    expect(reply.status, reply.text).to.equal(200);
    registered.add(String(service.ID ?? service.Name));
  }

  const grpcCheck = (port: number, service = '', extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    GRPC: `127.0.0.1:${port}${service ? `/${service}` : ''}`,
    GRPCUseTLS: false,
    Interval: '1s',
    Timeout: '1s',
    ...extra,
  });

  const serviceCheck = (entry: HealthServiceEntry): HealthServiceEntry['Checks'][number] =>
    entry.Checks.find((c) => c.ServiceID === entry.Service.ID)!;

  it('starts a new check critical, and turns it passing once the gRPC health service says SERVING', async () => {
    const name = unique('double-check');
    await register({
      ID: name,
      Name: name,
      Address: '127.0.0.1',
      Port: grpc.port,
      Tags: ['a'],
      Meta: { det_version: 'v4' },
      Check: grpcCheck(grpc.port, 'test.Svc'),
    });

    // A real agent syncs to the catalog just after answering: wait for the entry, not for a check run.
    await waitFor(async () => (await healthService(consul.address, name)).body.length === 1, 5000, 'the registration');
    const first = await healthService(consul.address, name);
    expect(serviceCheck(first.body[0]!).Status).to.equal('critical');
    expect(first.body[0]!.Service).to.include({ ID: name, Service: name, Address: '127.0.0.1', Port: grpc.port });
    expect(first.body[0]!.Service.Tags).to.deep.equal(['a']);
    expect(first.body[0]!.Service.Meta).to.deep.equal({ det_version: 'v4' });
    expect(first.index).to.be.a('number').and.greaterThan(0);
    expect((await healthService(consul.address, name, 'passing')).body).to.deep.equal([]);

    // NOT_SERVING keeps it critical once the check has run (its output says so).
    await waitFor(
      async () => serviceCheck((await healthService(consul.address, name)).body[0]!).Output !== '',
      5000,
      'the first check run',
    );
    expect(serviceCheck((await healthService(consul.address, name)).body[0]!).Status).to.equal('critical');

    grpc.health.setStatus('test.Svc', 'SERVING');
    await waitFor(async () => (await healthService(consul.address, name, 'passing')).body.length === 1, 5000, 'the check to pass');
    grpc.health.setStatus('test.Svc', 'NOT_SERVING');
    await waitFor(async () => (await healthService(consul.address, name, 'passing')).body.length === 0, 5000, 'the check to fail again');
  });

  it('lists only instances whose checks all pass with ?passing, and filters by ?tag', async () => {
    const name = unique('double-passing');
    const dead = await freePort();
    await register({ ID: `${name}-up`, Name: name, Address: '127.0.0.1', Port: grpc.port, Tags: ['blue'], Check: grpcCheck(grpc.port) });
    await register({ ID: `${name}-down`, Name: name, Address: '127.0.0.1', Port: dead, Tags: ['green'], Check: grpcCheck(dead) });
    await waitFor(
      async () => (await healthService(consul.address, name, 'passing')).body.length === 1,
      5000,
      'the healthy instance to pass',
    );

    const all = await healthService(consul.address, name);
    expect(all.body.map((e) => e.Service.ID).sort()).to.deep.equal([`${name}-down`, `${name}-up`]);
    const passing = await healthService(consul.address, name, 'passing');
    expect(passing.body.map((e) => e.Service.ID)).to.deep.equal([`${name}-up`]);
    for (const c of passing.body[0]!.Checks) expect(c.Status).to.equal('passing'); // the node's serfHealth included
    expect((await healthService(consul.address, name, 'tag=green')).body.map((e) => e.Service.ID)).to.deep.equal([`${name}-down`]);
    expect((await healthService(consul.address, name, 'passing&tag=green')).body).to.deep.equal([]);
    // Consul matches a tag, and a service's name, whatever their letter case (both are lowered).
    expect((await healthService(consul.address, name.toUpperCase(), 'passing')).body.map((e) => e.Service.ID)).to.deep.equal([
      `${name}-up`,
    ]);
    expect((await healthService(consul.address, name, 'tag=GREEN')).body.map((e) => e.Service.ID)).to.deep.equal([`${name}-down`]);
    const dc = all.body[0]!.Node.Datacenter;
    expect((await healthService(consul.address, name, `passing&dc=${dc}`)).body).to.have.length(1);
  });

  it('answers a blocking query as soon as the service changes, with a larger X-Consul-Index', async () => {
    const name = unique('double-block');
    await register({ ID: `${name}-1`, Name: name, Address: '127.0.0.1', Port: 1001 });
    await waitFor(async () => (await healthService(consul.address, name)).body.length === 1, 5000, 'the registration');
    const before = await healthService(consul.address, name);

    const started = Date.now();
    const blocked = healthService(consul.address, name, `index=${before.index}&wait=10s`);
    let answered = false;
    void blocked.then(() => (answered = true));
    // Still blocked while nothing changes: the query has had time to reach the agent.
    await waitFor(async () => (await agentServices(consul.address))[`${name}-1`] !== undefined, 1000, 'the agent');
    expect(answered).to.equal(false);
    await register({ ID: `${name}-2`, Name: name, Address: '127.0.0.1', Port: 1002 });
    const after = await blocked;
    expect(Date.now() - started).to.be.lessThan(5000);
    expect(after.index).to.be.greaterThan(before.index!);
    expect(after.body.map((e) => e.Service.ID).sort()).to.deep.equal([`${name}-1`, `${name}-2`]);
  });

  it('answers a blocking query after `wait` with the same index when nothing changed', async () => {
    const name = unique('double-wait');
    await register({ ID: name, Name: name, Address: '127.0.0.1', Port: 1003 });
    await waitFor(async () => (await healthService(consul.address, name)).body.length === 1, 5000, 'the registration');
    const before = await healthService(consul.address, name);
    const started = Date.now();
    const after = await healthService(consul.address, name, `index=${before.index}&wait=400ms`);
    expect(Date.now() - started).to.be.at.least(390);
    expect(after.index).to.equal(before.index);
    expect(after.body.map((e) => e.Service.ID)).to.deep.equal([name]);
  });

  it('replaces a service registered again under the same ID', async () => {
    const name = unique('double-replace');
    await register({ ID: name, Name: name, Address: '127.0.0.1', Port: 2001, Tags: ['old'] });
    await register({ ID: name, Name: name, Address: '127.0.0.2', Port: 2002, Tags: ['new'] });
    await waitFor(async () => (await healthService(consul.address, name)).body[0]?.Service.Port === 2002, 5000, 'the new registration');
    const entries = (await healthService(consul.address, name)).body;
    expect(entries).to.have.length(1);
    expect(entries[0]!.Service).to.include({ Address: '127.0.0.2', Port: 2002 });
    expect(entries[0]!.Service.Tags).to.deep.equal(['new']);
  });

  it('removes a deregistered service from the agent and from health queries', async () => {
    const name = unique('double-dereg');
    await register({ ID: name, Name: name, Address: '127.0.0.1', Port: grpc.port, Check: grpcCheck(grpc.port) });
    await waitFor(async () => (await healthService(consul.address, name)).body.length === 1, 5000, 'the registration');
    expect(await agentServices(consul.address)).to.have.property(name);
    expect(await deregisterService(consul.address, name)).to.equal(200);
    await waitFor(async () => (await healthService(consul.address, name)).body.length === 0, 5000, 'the deregistration');
    expect(await agentServices(consul.address)).not.to.have.property(name);
  });

  const tooSlowOnRealAgent = 'Consul reaps after at least 1 minute, on a ~30 s cycle';
  itWithDouble(tooSlowOnRealAgent)('reaps a service whose check stays critical past DeregisterCriticalServiceAfter', async () => {
    const keptUp = unique('double-kept');
    await register({
      ID: keptUp,
      Name: keptUp,
      Address: '127.0.0.1',
      Port: grpc.port,
      Check: grpcCheck(grpc.port, '', { DeregisterCriticalServiceAfter: '1500ms' }),
    });
    await waitFor(
      async () => (await healthService(consul.address, keptUp, 'passing')).body.length === 1,
      5000,
      'the healthy service to pass',
    );
    const name = unique('double-reap');
    const dead = await freePort();
    await register({
      ID: name,
      Name: name,
      Address: '127.0.0.1',
      Port: dead,
      Check: grpcCheck(dead, '', { DeregisterCriticalServiceAfter: '1500ms' }),
    });
    expect(await agentServices(consul.address)).to.have.property(name);
    await waitFor(async () => !(name in (await agentServices(consul.address))), 6000, 'the critical service to be reaped');
    expect((await healthService(consul.address, name)).body).to.deep.equal([]);
    expect(await agentServices(consul.address)).to.have.property(keptUp); // passing: kept
  });

  itWithDouble(REAL_AGENT_CANNOT_STOP)(
    'keeps its registrations across stop() and start() on the same port, checks critical until they run',
    async () => {
      const name = unique('double-restart');
      await register({ ID: name, Name: name, Address: '127.0.0.1', Port: grpc.port, Check: grpcCheck(grpc.port) });
      await waitFor(async () => (await healthService(consul.address, name, 'passing')).body.length === 1, 5000, 'the check to pass');
      const indexBefore = (await healthService(consul.address, name)).index!;

      // A blocking query in flight is cut by the outage, as with a real agent going down.
      const blocked = healthService(consul.address, name, `index=${indexBefore}&wait=30s`).then(
        () => 'answered',
        () => 'cut',
      );
      await consul.stop!();
      expect(await blocked).to.equal('cut');
      let refused = false;
      await agentServices(consul.address).catch(() => (refused = true));
      expect(refused).to.equal(true);

      await consul.start!();
      expect(await agentServices(consul.address)).to.have.property(name);
      const restored = await healthService(consul.address, name);
      expect(restored.index).to.be.greaterThan(indexBefore);
      await waitFor(async () => (await healthService(consul.address, name, 'passing')).body.length === 1, 5000, 'the check to pass again');
    },
  );

  it('runs HTTP checks: 2xx passing, 429 warning, anything else or no answer critical', async () => {
    const web = http.createServer((req, res) => {
      const code = Number(req.url!.slice(1));
      res.writeHead(code, { 'content-type': 'text/plain' }).end(`status ${code} for ${req.method} ${req.headers['user-agent']}`);
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    const { port } = web.address() as AddressInfo;
    const dead = await freePort();
    try {
      const name = unique('double-http');
      const check = (route: string, p = port): Record<string, unknown> => ({
        HTTP: `http://127.0.0.1:${p}${route}`,
        Interval: '1s',
        Timeout: '1s',
      });
      const cases = { ok: check('/204'), busy: check('/429'), broken: check('/503'), down: check('/200', dead) };
      for (const [id, c] of Object.entries(cases))
        await register({ ID: `${name}-${id}`, Name: name, Address: '127.0.0.1', Port: port, Check: c });
      const statuses = async (): Promise<Record<string, string>> =>
        Object.fromEntries(
          (await healthService(consul.address, name)).body.map((e) => [e.Service.ID.slice(name.length + 1), serviceCheck(e).Status]),
        );
      await waitFor(async () => (await statuses()).ok === 'passing' && (await statuses()).busy === 'warning', 10_000, 'the checks to run');
      expect(await statuses()).to.deep.equal({ ok: 'passing', busy: 'warning', broken: 'critical', down: 'critical' });
      const ok = (await healthService(consul.address, name)).body.find((e) => e.Service.ID === `${name}-ok`)!;
      expect(serviceCheck(ok).Type).to.equal('http');
      expect(serviceCheck(ok).Output).to.contain(`HTTP GET http://127.0.0.1:${port}/204: 204`);
      expect((await healthService(consul.address, name, 'passing')).body.map((e) => e.Service.ID)).to.deep.equal([`${name}-ok`]);
    } finally {
      web.close();
    }
  });

  it('refuses a wildcard Address with 400 "Invalid service address", as Consul does', async () => {
    for (const address of ['0.0.0.0', '::', '[::]']) {
      const service = { ID: unique('wild'), Name: unique('wild'), Address: address, Port: 50051 };
      const reply = await consulRequest(consul.address, '/v1/agent/service/register', { method: 'PUT', body: service });
      if (reply.status === 200) registered.add(service.ID);
      expect([reply.status, reply.text.trim()], address).to.deep.equal([400, 'Invalid service address']);
    }
  });

  it("refuses invalid Meta in Consul's words, a value's length counted in bytes", async () => {
    for (const [meta, problem] of [
      [{ 'model.version': '1' }, "('model.version', '1'): Key contains invalid characters"],
      // 300 characters, 600 bytes: over Consul's 512.
      [{ manifest: 'é'.repeat(300) }, `('manifest', '${'é'.repeat(300)}'): Value is too long (limit: 512 characters)`],
    ] as const) {
      const service = { ID: unique('meta'), Name: unique('meta'), Port: 50051, Meta: meta };
      const reply = await consulRequest(consul.address, '/v1/agent/service/register', { method: 'PUT', body: service });
      if (reply.status === 200) registered.add(service.ID);
      expect([reply.status, reply.text.trim()]).to.deep.equal([400, `Invalid Service Meta: Couldn't load metadata pair ${problem}`]);
    }
  });

  it('answers /v1/status/leader', async () => {
    const reply = await consulRequest<string>(consul.address, '/v1/status/leader');
    expect(reply.status).to.equal(200);
    expect(reply.body).to.be.a('string').and.match(/:\d+$/);
    if (!consul.real) expect(reply.body).to.equal('127.0.0.1:8300');
  });
});
