import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import sharp, { type Sharp } from 'sharp';
import { CLI, EVAL_DEV, ROOT } from '../../src/dev/repo-paths.js';
import { runCli, spawnServer, type CliResult, type ServerProcess } from '../../src/dev/server-process.js';
import { pngClaiming, solidImage } from '../support/images.js';

interface JsonLine {
  file: string;
  width?: number;
  height?: number;
  instance?: string;
  lines?: { text: string; confidence: number; box: number[][] }[];
  error?: { code: string; message: string };
}

/** The `ocr` command as a user runs it: a server process, and the CLI against it. */
describe('ocr command line', function () {
  this.timeout(180_000);
  let server: ServerProcess;
  let target: string;
  before(async () => {
    server = await spawnServer();
    target = `127.0.0.1:${server.port}`;
  });
  after(() => {
    server?.child.kill('SIGKILL');
  });

  const doc = path.join(EVAL_DEV, 'docs', 'd013_waybill.jpg');
  const line = path.join(EVAL_DEV, 'lines', 'l0000.png');
  const parse = (stdout: string): JsonLine[] =>
    stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as JsonLine);

  it('--help describes every command', async () => {
    const r = await runCli(['--help']);
    expect(r.code).to.equal(0);
    for (const command of ['serve', 'recognize', 'info']) expect(r.stdout).to.contain(command);
    const sub = await runCli(['recognize', '--help']);
    for (const option of ['--target', '--json', '--lines-only', '--tile-size', '--annotate']) expect(sub.stdout).to.contain(option);
  });

  it('recognize --json prints one object per file, in order, an error object for a bad file, and exits 1', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-'));
    const bad = path.join(dir, 'not-an-image.png');
    writeFileSync(bad, 'hello');
    const r = await runCli(['recognize', '--target', target, '--json', doc, bad, line]);
    expect(r.code).to.equal(1);
    const out = parse(r.stdout);
    expect(out.map((o) => o.file)).to.deep.equal([doc, bad, line]);
    expect(out[0]!.instance).to.equal(server.instanceId);
    expect(out[0]!.width).to.equal(865);
    expect(out[0]!.height).to.equal(1243);
    expect(out[0]!.lines!.length).to.be.greaterThan(10);
    expect(out[0]!.lines![0]!.box).to.have.length(4);
    expect(out[1]!.error!.code).to.equal('INVALID_ARGUMENT');
    expect(out[1]!.error!.message).to.match(/not a JPEG, PNG/);
    expect(out[2]!.lines!.map((l) => l.text).join('')).to.contain('各区县人民政府');
  });

  it('recognize says how to send a file as tiles where the server finds it too large for one call', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-'));
    const large = path.join(dir, 'large.png');
    writeFileSync(large, await pngClaiming(10_000, 10_000));
    const r = await runCli(['recognize', '--target', target, '--json', large]);
    expect(r.code).to.equal(1);
    const [out] = parse(r.stdout);
    expect(out!.error!.code).to.equal('RESOURCE_EXHAUSTED');
    expect(out!.error!.message).to.match(/send it as tiles .*\(ocr recognize: add --tile-size 1024\)$/);
  });

  it("recognize says a file over the server's size limit that is no image is not one, in each mode, rather than to tile or crop it", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-'));
    const large = path.join(dir, 'archive.jpg');
    // Over the server's 32 MiB, which it refuses unread.
    writeFileSync(large, Buffer.alloc(33 * 1024 * 1024, 'x'));
    for (const mode of [[], ['--lines-only']]) {
      const r = await runCli(['recognize', '--target', target, '--json', ...mode, large, line]);
      expect(r.code, mode.join(' ')).to.equal(1);
      const [failed, read] = parse(r.stdout);
      expect(failed!.error!.code, mode.join(' ')).to.equal('INVALID_ARGUMENT');
      expect(failed!.error!.message, mode.join(' ')).to.match(/^image is not a JPEG, PNG, WebP, TIFF, GIF or BMP file \(34603008 bytes/);
      expect(read!.lines!.length, mode.join(' ')).to.equal(1);
    }
  });

  it('recognize names an empty file as such, in each mode, not by the request field the server would name', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-'));
    const empty = path.join(dir, 'empty.png');
    writeFileSync(empty, '');
    for (const mode of [[], ['--lines-only'], ['--tile-size', '512']]) {
      const r = await runCli(['recognize', '--target', target, '--json', ...mode, empty, line]);
      expect(r.code).to.equal(1);
      const [failed, read] = parse(r.stdout);
      expect(failed!.error).to.deep.equal({
        code: 'INVALID_ARGUMENT',
        message: 'the file is empty (0 bytes): give an image file',
      });
      expect(read!.lines!.length).to.equal(1);
    }
  });

  /** `command`, `stdin` on its standard input; killed after 20 s, so that a hang fails the test, not the suite. */
  const runFed = async (command: string[], stdin?: Buffer): Promise<CliResult & { signal: string | null }> => {
    const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A child that never reads it must not fail the test with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
    const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
    return { code, signal, stdout, stderr };
  };
  const ocr = (args: string[]): string[] => [process.execPath, CLI, ...args];

  it('recognize refuses a device at once, fails a FIFO nothing is written to after --deadline-ms, and reads a pipe at /dev/fd/N', async () => {
    const fifo = path.join(mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-')), 'fifo');
    execFileSync('mkfifo', [fifo]);
    const started = performance.now();
    // The pipe last, as bash's `<(cat FILE)` gives it: /dev/fd/N (Node's own stdio pipes are socket pairs, which it cannot open).
    // The deadline bounds the two calls too: a second leaves them too little on a busy machine.
    const args = ['recognize', '--target', target, '--json', '--deadline-ms', '3000', '/dev/zero', fifo, line];
    const r = await runFed(['bash', '-c', 'exec "$@" <(cat "$0")', line, ...ocr(args)]);
    expect(r.signal, 'killed: it hung').to.equal(null);
    expect(r.code).to.equal(1);
    const [device, unwritten, file, piped] = parse(r.stdout);
    expect(device!.error).to.deep.equal({
      code: 'INVALID_ARGUMENT',
      message: 'it is a character device, not an image file: name an image file or a pipe',
    });
    expect(unwritten!.error).to.deep.equal({
      code: 'DEADLINE_EXCEEDED',
      message: 'nothing came through the pipe for 3000 ms (--deadline-ms) and it is still open: is anything writing to it?',
    });
    for (const read of [piped!, file!]) expect(read.lines![0]!.text).to.contain('各区县人民政府');
    expect(performance.now() - started).to.be.below(8000);
  });

  it('recognize - reads standard input in each mode, names it - in the output and stdin in --annotate, and takes it once', async () => {
    const image = readFileSync(line);
    for (const mode of [[], ['--lines-only'], ['--tile-size', '512']]) {
      const r = await runFed(ocr(['recognize', '--target', target, '--json', ...mode, line, '-']), image);
      expect(r.code, r.stderr).to.equal(0);
      const out = parse(r.stdout);
      expect(out.map((o) => o.file)).to.deep.equal([line, '-']);
      expect(out[1]!.lines!.map((l) => l.text).join('')).to.contain('各区县人民政府');
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-annotate-'));
    const plain = await runFed(ocr(['recognize', '--target', target, '--annotate', dir, '-']), image);
    expect(plain.stdout).to.match(/^- {2}\(906x98, 1 line, instance /);
    expect(readdirSync(dir)).to.deep.equal(['stdin.annotated.png']);
    const empty = await runFed(ocr(['recognize', '--target', target, '-']), Buffer.alloc(0));
    expect(empty.code).to.equal(1);
    expect(empty.stderr).to.equal('-: INVALID_ARGUMENT: standard input is empty (0 bytes): pipe an image into it\n');
    const twice = await runFed(ocr(['recognize', '--target', target, '-', '-']), image);
    expect(twice.code).to.equal(1);
    expect(twice.stdout).to.equal('');
    expect(twice.stderr).to.contain('error: - (standard input) can be read once: give it once');
    // However the help wraps at the terminal's width.
    expect((await runCli(['recognize', '--help'])).stdout.replace(/\s+/g, ' ')).to.contain('- reads standard input (once)');
  });

  it('recognize --tile-size names a failed image by its file, not by the random id it had on the stream', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-'));
    const tiny = path.join(dir, 'tiny.png');
    writeFileSync(tiny, await solidImage(4, 4));
    const r = await runCli(['recognize', '--target', target, '--json', '--tile-size', '512', tiny]);
    expect(r.code).to.equal(1);
    expect(parse(r.stdout)[0]!.error).to.deep.equal({
      code: 'INVALID_ARGUMENT',
      message: `image '${tiny}' tile 0: image is 4×4 pixels; text needs at least 8 pixels on each side`,
    });
  });

  it("recognize --tile-size says of tiles too many for the server's limit which option makes them larger", async () => {
    // 865x1243 in tiles of 32 px, none shared: 28 × 39 = 1092, over the server's 1024.
    const r = await runCli(['recognize', '--target', target, '--json', '--tile-size', '32', '--overlap', '0', doc]);
    expect(r.code).to.equal(1);
    expect(parse(r.stdout)[0]!.error).to.deep.equal({
      code: 'RESOURCE_EXHAUSTED',
      message: `image '${doc}' declares 1092 tiles, more than the server's limit of 1024; use larger tiles (--tile-size)`,
    });
  });

  it('recognize --lines-only says of a line image over the pixel limit what fits it, not to send it as tiles alone', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-'));
    const wide = path.join(dir, 'wide.png');
    writeFileSync(wide, await pngClaiming(100_000, 1000));
    const r = await runCli(['recognize', '--target', target, '--json', '--lines-only', wide]);
    expect(r.code).to.equal(1);
    const [out] = parse(r.stdout);
    expect(out!.error!.code).to.equal('RESOURCE_EXHAUSTED');
    expect(out!.error!.message).to.match(
      /send it as tiles .*\(ocr recognize --lines-only sends no tiles: crop the image to its line or scale it down, or read it as a page, with --tile-size 1024 in place of --lines-only\)$/,
    );
  });

  it('recognize --lines-only reads each file as one line', async () => {
    const r = await runCli(['recognize', '--target', target, '--json', '--lines-only', line, line]);
    expect(r.code).to.equal(0);
    const out = parse(r.stdout);
    expect(out).to.have.length(2);
    for (const o of out) expect(o.lines![0]!.text).to.contain('各区县人民政府');
  });

  it('recognize --lines-only leaves out a line image read less surely than --min-confidence, as a page leaves out its lines', async () => {
    const args = ['recognize', '--target', target, '--json', '--lines-only'];
    const [read] = parse((await runCli([...args, line])).stdout);
    const { confidence } = read!.lines![0]!;
    expect(confidence, 'a line image read less than surely').to.be.below(0.999);
    // --json rounds confidences to four decimals: a thousandth either side is clear of that.
    const above = await runCli([...args, '--min-confidence', (confidence + 0.001).toFixed(4), line]);
    expect(above.code).to.equal(0);
    expect(parse(above.stdout)[0]!.lines).to.deep.equal([]);
    const below = await runCli([...args, '--min-confidence', (confidence - 0.001).toFixed(4), line]);
    expect(parse(below.stdout)[0]!.lines!.map((l) => l.text)).to.deep.equal(read!.lines!.map((l) => l.text));
  });

  it("recognize --lines-only says of one line image over the server's limit that it is too large, not to send fewer", async () => {
    const small = await spawnServer(['--workers', '1', '--max-message-mb', '1']);
    try {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-'));
      const large = path.join(dir, 'large.png');
      writeFileSync(large, Buffer.concat([readFileSync(line), Buffer.alloc(1.1 * 1024 * 1024)]));
      const r = await runCli(['recognize', '--target', `127.0.0.1:${small.port}`, '--json', '--lines-only', large, line]);
      expect(r.code).to.equal(1);
      const [failed, read] = parse(r.stdout);
      expect(failed!.error).to.deep.equal({
        code: 'RESOURCE_EXHAUSTED',
        message:
          "the line image is 1.1 MiB, larger than the server's limit of 1 MiB a request (its --max-message-mb): crop it to its line or scale it down",
      });
      expect(read!.lines!.length).to.equal(1);
    } finally {
      small.child.kill('SIGKILL');
    }
  });

  it("recognize --lines-only sends pipes that together exceed the server's limit in calls of their own, sized by what they hold", async () => {
    const small = await spawnServer(['--workers', '1', '--max-message-mb', '1']);
    try {
      const padded = path.join(mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-')), 'padded.png');
      // Each alone fits the 1 MiB a request; the two together do not.
      writeFileSync(padded, Buffer.concat([readFileSync(line), Buffer.alloc(0.6 * 1024 * 1024)]));
      const args = ['recognize', '--target', `127.0.0.1:${small.port}`, '--json', '--lines-only'];
      const r = await runFed(['bash', '-c', 'exec "$@" <(cat "$0") <(cat "$0")', padded, ...ocr(args)]);
      expect(r.stderr).to.equal('');
      expect(r.code).to.equal(0);
      const out = parse(r.stdout);
      expect(out).to.have.length(2);
      for (const o of out) expect(o.lines![0]!.text).to.contain('各区县人民政府');
    } finally {
      small.child.kill('SIGKILL');
    }
  });

  /** Runs `use` with the port of a server that accepts TCP and never speaks: grpc-js waits out the whole deadline for an HTTP/2 answer. */
  const withSilentServer = async (use: (port: number, connectedAt: () => number | undefined) => Promise<void>): Promise<void> => {
    const sockets: net.Socket[] = [];
    let connectedAt: number | undefined;
    const silent = net.createServer((socket) => {
      connectedAt ??= performance.now();
      sockets.push(socket);
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      await use((silent.address() as net.AddressInfo).port, () => connectedAt);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  };

  it('recognize --lines-only against a server that never answers fails after one deadline, not one for asking its limits and one more', async () => {
    await withSilentServer(async (port, connectedAt) => {
      const r = await runCli(['recognize', '--target', `127.0.0.1:${port}`, '--json', '--lines-only', '--deadline-ms', '1000', line]);
      const ms = performance.now() - connectedAt()!;
      expect(r.code).to.equal(1);
      expect(parse(r.stdout)[0]!.error!.code).to.equal('DEADLINE_EXCEEDED');
      expect(ms).to.be.below(1800);
    });
  });

  it('recognize says which flag sets the deadline that passed, in each mode, and info too', async () => {
    await withSilentServer(async (port) => {
      const target = `127.0.0.1:${port}`;
      for (const mode of [[], ['--lines-only'], ['--tile-size', '512']]) {
        const r = await runCli(['recognize', '--target', target, '--json', '--deadline-ms', '1000', ...mode, line]);
        const [{ error }] = parse(r.stdout) as [JsonLine];
        expect(error!.code, mode.join(' ')).to.equal('DEADLINE_EXCEEDED');
        expect(error!.message, mode.join(' ')).to.match(/^the deadline passed .* \(ocr: --deadline-ms MS\)$/);
      }
      const info = await runCli(['info', '--target', target, '--deadline-ms', '1000']);
      expect(info.stderr).to.match(/^ocr info: 127\.0\.0\.1:\d+: DEADLINE_EXCEEDED: the deadline passed .* \(ocr: --deadline-ms MS\)\n$/);
    });
  });

  it('recognize --lines-only against a server that never answers still says what is wrong with each file it could not send', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-'));
    const missing = path.join(dir, 'missing.png');
    const notImage = path.join(dir, 'notes.png');
    writeFileSync(notImage, 'hello');
    await withSilentServer(async (port) => {
      const args = ['recognize', '--target', `127.0.0.1:${port}`, '--json', '--lines-only', '--deadline-ms', '1000'];
      const r = await runCli([...args, missing, dir, notImage, line]);
      expect(r.code).to.equal(1);
      const out = parse(r.stdout);
      expect(out.map((o) => o.file)).to.deep.equal([missing, dir, notImage, line]);
      expect(out.map((o) => o.error!.code)).to.deep.equal(['NOT_FOUND', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED']);
      expect(out[0]!.error!.message).to.contain('no such file or directory');
      expect(out[1]!.error!.message).to.match(/^it is a directory/);
      expect(out[2]!.error!.message).to.match(/not a JPEG, PNG/);
    });
  });

  it('recognize against a server that never answers waits out one deadline, not one for every file, and still names each bad file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-cli-'));
    const missing = path.join(dir, 'missing.png');
    const notImage = path.join(dir, 'notes.png');
    writeFileSync(notImage, 'hello');
    await withSilentServer(async (port) => {
      for (const mode of [[], ['--tile-size', '512']]) {
        const started = performance.now();
        const args = ['recognize', '--target', `127.0.0.1:${port}`, '--json', '-c', '1', '--deadline-ms', '1000', ...mode];
        const r = await runCli([...args, line, line, missing, notImage, line, line]);
        const ms = performance.now() - started;
        expect(r.code).to.equal(1);
        const codes = parse(r.stdout).map((o) => o.error!.code);
        expect(codes).to.deep.equal([
          'DEADLINE_EXCEEDED',
          'DEADLINE_EXCEEDED',
          'NOT_FOUND',
          'INVALID_ARGUMENT',
          'DEADLINE_EXCEEDED',
          'DEADLINE_EXCEEDED',
        ]);
        // The first call's deadline and the CLI's start; a deadline a file would be 4 s and more.
        expect(ms, mode.join(' ')).to.be.below(3000);
      }
    });
  });

  it('recognize --tile-size streams tiles and prints the merged lines', async () => {
    const whole = parse((await runCli(['recognize', '--target', target, '--json', doc])).stdout)[0]!;
    const tiled = parse((await runCli(['recognize', '--target', target, '--json', '--tile-size', '512', doc])).stdout)[0]!;
    expect(tiled.width).to.equal(whole.width);
    const joined = (o: JsonLine): string =>
      o
        .lines!.map((l) => l.text)
        .join('')
        .replace(/\s/g, '');
    expect(joined(tiled).length).to.be.closeTo(joined(whole).length, joined(whole).length * 0.05);
  });

  it('recognize --annotate writes the image with the boxes drawn and the text beside it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-annotate-'));
    const r = await runCli(['recognize', '--target', target, '--annotate', dir, doc]);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('d013_waybill.jpg');
    const [file] = readdirSync(dir);
    const meta = await sharp(path.join(dir, file!)).metadata();
    // The 865 px wide page, and to its right a panel as wide with the text.
    expect(meta.width).to.equal(2 * 865);
  });

  it("recognize --annotate draws a page found turned upright, its text beside it at the lines' places", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-annotate-'));
    const turned = path.join(dir, 'turned.png');
    await sharp(doc).rotate(90).png().toFile(turned);
    const out = mkdtempSync(path.join(os.tmpdir(), 'ocr-annotate-out-'));
    const r = await runCli(['recognize', '--target', target, '--auto-rotate', '--json', '--annotate', out, turned]);
    expect(r.code, r.stderr).to.equal(0);
    const answer = JSON.parse(r.stdout) as { width: number; height: number; rotation: number };
    expect(answer.rotation).to.equal(90);
    const upright = await sharp(doc).metadata();
    const meta = await sharp(path.join(out, 'turned.png.annotated.png')).metadata();
    // The upright page (865 px wide), not the turned image, and the panel as wide beside it.
    expect([meta.width, meta.height]).to.deep.equal([2 * upright.width!, upright.height!]);
    // Its left half is the page upright, not upside down: far closer to the document than to it turned 180°.
    const thumb = (image: Sharp): Promise<Buffer> => image.greyscale().resize(64, 64, { fit: 'fill' }).raw().toBuffer();
    const left = await thumb(
      sharp(path.join(out, 'turned.png.annotated.png')).extract({ left: 0, top: 0, width: upright.width!, height: upright.height! }),
    );
    const distance = (a: Buffer, b: Buffer): number => a.reduce((sum, v, i) => sum + Math.abs(v - b[i]!), 0);
    const [asIs, upsideDown] = [distance(left, await thumb(sharp(doc))), distance(left, await thumb(sharp(doc).rotate(180)))];
    expect(asIs).to.be.below(upsideDown / 2);
  });

  it('recognize --annotate naming a file, or a path through one, says so and reads nothing', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-annotate-'));
    const file = path.join(dir, 'a-file');
    writeFileSync(file, '');
    const r = await runCli(['recognize', '--target', target, '--annotate', file, line]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal(`ocr: --annotate ${file}: it is a file, not a directory; name a directory (made where missing)\n`);
    const under = path.join(file, 'out');
    const rUnder = await runCli(['recognize', '--target', target, '--annotate', under, line]);
    expect(rUnder.code).to.equal(1);
    expect(rUnder.stderr).to.equal(
      `ocr: --annotate ${under}: a part of its path is a file, not a directory; name a directory (made where missing)\n`,
    );
  });

  it('recognize --annotate naming an image file not there yet says it takes a directory, rather than make one of that name', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-annotate-'));
    const meant = path.join(dir, 'out.png');
    const r = await runCli(['recognize', '--target', target, '--annotate', meant, line]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal(
      `ocr: --annotate ${meant}: names a directory, to which each image is drawn as <image>.annotated.png, not the drawing itself; name a directory (made where missing), such as ${path.join(dir, 'annotated')}\n`,
    );
    expect(readdirSync(dir)).to.deep.equal([]);
    // A directory of that name made on purpose is taken.
    mkdirSync(meant);
    const made = await runCli(['recognize', '--target', target, '--annotate', meant, line]);
    expect(made.code, made.stderr).to.equal(0);
    expect(readdirSync(meant)).to.deep.equal([`${path.basename(line)}.annotated.png`]);
  });

  it('recognize --annotate naming an SVG or PDF file not there yet says it takes a directory, as for an image file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-annotate-'));
    for (const name of ['out.svg', 'out.PDF']) {
      const meant = path.join(dir, name);
      const r = await runCli(['recognize', '--target', target, '--annotate', meant, line]);
      expect(r.code, name).to.equal(1);
      expect(r.stderr, name).to.match(
        /^ocr: --annotate .*: names a directory, to which each image is drawn as <image>\.annotated\.png, not the drawing itself/,
      );
    }
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('recognize --annotate refuses two files that would be drawn to one annotation, rather than keep the last alone', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-annotate-'));
    const [first, second] = ['a', 'b'].map((sub) => path.join(dir, sub, 'l0000.png'));
    for (const file of [first!, second!]) {
      mkdirSync(path.dirname(file));
      copyFileSync(line, file);
    }
    const out = path.join(dir, 'out');
    const r = await runCli(['recognize', '--target', target, '--annotate', out, first!, line, second!]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal(
      `ocr: --annotate ${out}: ${first} and ${line} would both be drawn to ${path.join(out, 'l0000.png.annotated.png')}; annotate them in separate runs, each with a directory of its own\n`,
    );
    // One file named twice is drawn once, as it is read.
    const twice = await runCli(['recognize', '--target', target, '--annotate', out, line, line]);
    expect(twice.code, twice.stderr).to.equal(0);
    expect(readdirSync(out)).to.deep.equal(['l0000.png.annotated.png']);
  });

  it('recognize --annotate where no directory can be made (under /proc) says so at once, naming --annotate', async () => {
    const dir = '/proc/ocr-annotate/out';
    // Bounded: Node's recursive mkdir loops forever there, and a child that hangs must not outlive the test.
    const child = spawn(process.execPath, [CLI, 'recognize', '--target', target, '--annotate', dir, line], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 20_000,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    expect(signal).to.equal(null);
    expect(code).to.equal(1);
    expect(stderr).to.equal(`ocr: --annotate ${dir}: no directory can be made in /proc; name a directory (made where missing)\n`);
  });

  it('health takes any --deadline-ms it accepts, however far off', async () => {
    const r = await runCli(['health', '--target', target, '--deadline-ms', String(Number.MAX_SAFE_INTEGER)]);
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal(`${target} ocr.v1.OcrService: SERVING\n`);
  });

  /** `ocr <args>` with stdout where `stdout` says; resolves with its exit status and stderr once it has closed. */
  const exited = async (child: ChildProcess): Promise<{ code: number | null; stderr: string }> => {
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, stderr };
  };

  it('recognize into a pipe whose reader has gone ends quietly, with the status a shell gives SIGPIPE (141)', async () => {
    const child = spawn(process.execPath, [CLI, 'recognize', '--target', target, '--json', '-c', '1', ...Array<string>(8).fill(line)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // As `| head -1` does: the first result read, the pipe closed.
    child.stdout!.once('data', () => child.stdout!.destroy());
    const { code, stderr } = await exited(child);
    expect(code).to.equal(141);
    expect(stderr).to.equal('');
  });

  it('recognize into a full disk says it could not write its output, without a stack trace, and exits 1', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const child = spawn(process.execPath, [CLI, 'recognize', '--target', target, line], { cwd: ROOT, stdio: ['ignore', full, 'pipe'] });
      const { code, stderr } = await exited(child);
      expect(code).to.equal(1);
      expect(stderr).to.match(/^ocr: cannot write to stdout \(ENOSPC: no space left on device, write\): the output is incomplete/);
      expect(stderr).not.to.match(/\n\s+at /);
    } finally {
      closeSync(full);
    }
  });

  it('recognize stopped by Ctrl-C with its progress bar up gives the terminal back its cursor and line wrapping', async () => {
    // The bar is drawn on a terminal only: stderr is made to pass for one.
    const asTerminal = 'data:text/javascript,Object.defineProperty(process.stderr, "isTTY", { value: true })';
    const files = Array<string>(12).fill(doc);
    const child = spawn(process.execPath, ['--import', asTerminal, CLI, 'recognize', '--target', target, '-c', '1', ...files], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr!.once('data', () => child.kill('SIGINT'));
    const [result, [, signal]] = await Promise.all([exited(child), once(child, 'exit') as Promise<[number | null, string | null]>]);
    // Hidden and unwrapped by the bar, shown and wrapped again after it.
    expect(result.stderr, JSON.stringify(result.stderr)).to.contain('\x1b[?25l\x1b[?7l');
    expect(result.stderr.slice(result.stderr.lastIndexOf('\x1b[?25l'))).to.contain('\x1b[?25h\x1b[?7h');
    // Ended by the signal, as a shell sees it (status 130), not by a status of its own.
    expect(signal).to.equal('SIGINT');
  });

  it('ocr serve drains and exits 0 on SIGTERM', async () => {
    const own = await spawnServer();
    own.child.kill('SIGTERM');
    const [code] = (await once(own.child, 'exit')) as [number | null];
    expect(code).to.equal(0);
  });
});
