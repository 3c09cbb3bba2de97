import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { CLI, EVAL_DEV, ROOT } from '../../src/dev/repo-paths.js';
import { runCli, spawnServer } from '../../src/dev/server-process.js';

const LINE = path.join(EVAL_DEV, 'lines', 'l0000.png');

/** `ocr api-key create`, as an operator runs it on a server's key file, and the commands that send its key. */
describe('ocr api-key create', function () {
  this.timeout(120_000);

  it('keeps the mode, owner and group of the key file it replaces, by which a server of another user reads it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-keys-'));
    const file = path.join(dir, 'keys.json');
    writeFileSync(file, '[]\n');
    chmodSync(file, 0o640);
    // Another owner and group, as a server's account would have, where this user may give them.
    const owner = process.getuid?.() === 0 ? { uid: 4321, gid: 4321 } : { uid: statSync(file).uid, gid: statSync(file).gid };
    chownSync(file, owner.uid, owner.gid);

    const r = await runCli(['api-key', 'create', '--name', 'billing', '--add-to', file]);

    expect(r.code, r.stderr).to.equal(0);
    const after = statSync(file);
    expect(after.mode & 0o7777).to.equal(0o640);
    expect({ uid: after.uid, gid: after.gid }).to.deep.equal(owner);
    expect((JSON.parse(readFileSync(file, 'utf8')) as { name: string }[]).map((e) => e.name)).to.deep.equal(['billing']);
  });

  it("makes a key a server takes, and the commands that would send it say how when it is missing (not the header's name alone)", async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'ocr-keys-')), 'keys.json');
    const made = await runCli(['api-key', 'create', '--name', 'billing', '--add-to', file]);
    expect(made.code, made.stderr).to.equal(0);
    const key = made.stdout.split('\n')[0]!;
    const server = await spawnServer(['--workers', '1', '--api-keys', file]);
    try {
      const target = `127.0.0.1:${server.port}`;
      const hint = ' (ocr: --token TOKEN, or $OCR_TOKEN)\n';
      const info = await runCli(['info', '--target', target], { ...process.env, OCR_TOKEN: '' });
      expect(info.code).to.equal(1);
      expect(info.stderr).to.match(
        /^ocr info: 127\.0\.0\.1:\d+: UNAUTHENTICATED: no token: send the header "authorization: Bearer <token>"/,
      );
      expect(info.stderr.endsWith(hint), info.stderr).to.equal(true);
      const recognize = await runCli(['recognize', '--target', target, '--json', LINE], { ...process.env, OCR_TOKEN: '' });
      expect(recognize.code).to.equal(1);
      expect(recognize.stdout).to.include(`${hint.trim()}"`);
      const keyed = await runCli(['info', '--target', target], { ...process.env, OCR_TOKEN: key });
      expect(keyed.code, keyed.stderr).to.equal(0);
      // As a secret made from a file gives it: with the file's line break.
      const fromFile = await runCli(['info', '--target', target], { ...process.env, OCR_TOKEN: `${key}\n` });
      expect(fromFile.code, fromFile.stderr).to.equal(0);
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('names the key file and its missing directory, not the temporary file it writes beside it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-keys-'));
    const file = path.join(dir, 'missing', 'keys.json');

    const r = await runCli(['api-key', 'create', '--name', 'billing', '--add-to', file]);

    expect(r.code).to.equal(1);
    expect(r.stdout, 'no key printed that no file holds').to.equal('');
    expect(r.stderr).to.equal(
      `ocr: cannot write --add-to ${file}: its directory ${path.dirname(file)} does not exist; create it, or name a key file in a directory that does\n`,
    );
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('writes nothing through a link planted where its temporary file goes, in a directory others may write', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-keys-'));
    const file = path.join(dir, 'keys.json');
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'not yours\n');
    // Another user of the directory plants a link at the name the command's own process would write, before it writes.
    const plant = path.join(dir, 'plant.mjs');
    writeFileSync(
      plant,
      `import { symlinkSync } from 'node:fs';\nsymlinkSync(${JSON.stringify(victim)}, ${JSON.stringify(file)} + '.' + process.pid + '.tmp');\n`,
    );
    const child = spawn(process.execPath, ['--import', plant, CLI, 'api-key', 'create', '--name', 'billing', '--add-to', file], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'close')) as [number | null];

    expect(code, stderr).to.equal(0);
    expect(readFileSync(victim, 'utf8')).to.equal('not yours\n');
    expect(lstatSync(file).isSymbolicLink()).to.equal(false);
    expect((JSON.parse(readFileSync(file, 'utf8')) as { name: string }[]).map((e) => e.name)).to.deep.equal(['billing']);
  });

  it('adds to the file a linked key file leads to, and leaves the link in place', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-keys-'));
    const kept = path.join(dir, 'secrets');
    mkdirSync(kept);
    const real = path.join(kept, 'keys.json');
    writeFileSync(real, '[]\n');
    const file = path.join(dir, 'keys.json');
    symlinkSync(real, file);

    const r = await runCli(['api-key', 'create', '--name', 'billing', '--add-to', file]);

    expect(r.code, r.stderr).to.equal(0);
    expect(lstatSync(file).isSymbolicLink(), 'the link kept').to.equal(true);
    expect((JSON.parse(readFileSync(real, 'utf8')) as { name: string }[]).map((e) => e.name)).to.deep.equal(['billing']);
    expect(readdirSync(dir).sort()).to.deep.equal(['keys.json', 'secrets']);
  });
});
