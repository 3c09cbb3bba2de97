/**
 * README.md, docs/ARCHITECTURE.md, docs/RESOURCES.md and consul/README.md against the code they
 * describe, so that what a newcomer copies or an operator alerts on exists: each `ocr` command they
 * show takes the flags shown with it; every other flag they name is an `ocr` command's, a bench
 * script's or another tool's (docker, curl, ghz…); every metric they name is registered, and every
 * one registered is named; every `npm run` script, `OCR_*` variable, camelCase identifier and
 * repository path they name exists; README's HTTP routes and Web UI options are the code's; and
 * ARCHITECTURE.md names each file under src/, and which file names are not unique.
 */
import { expect } from 'chai';
import type { Command } from 'commander';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';

import { buildProgram, type CommandActions } from '../../src/cli/program.js';
import { ROOT } from '../../src/dev/repo-paths.js';
import { openApiDocument } from '../../src/http/openapi.js';
import { collectProcessMetrics } from '../../src/shared/process-metrics.js';
import { SERVER_VERSION } from '../../src/shared/version.js';

const DOCS = ['README.md', 'docs/ARCHITECTURE.md', 'docs/RESOURCES.md', 'consul/README.md'];
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

/** Flags of the other tools the docs show (docker, podman, curl, ghz, npm, mocha, prettier, debootstrap). */
const OTHER_TOOLS_FLAGS = new Set([
  '--build-arg',
  '--cacert',
  '--cert',
  '--check',
  '--config',
  '--cpus',
  '--data-binary',
  '--format',
  '--grep',
  '--health-cmd',
  '--key',
  '--memory',
  '--omit',
  '--read-only',
  '--variant',
]);

/** Each command's flags, as its parser takes them (`api-key create` under that name). */
function commandFlags(): Map<string, Set<string>> {
  const unused = (): Promise<number> => Promise.reject(new Error('not run'));
  const actions: CommandActions = {
    serve: unused,
    recognize: unused,
    info: unused,
    cluster: unused,
    prepareModels: unused,
    gateway: unused,
  };
  const flags = new Map<string, Set<string>>();
  const add = (name: string, command: Command): void => {
    const names = command.options.flatMap((option) => [option.long, option.short]).filter((f): f is string => f !== undefined);
    flags.set(name, new Set([...names, '--help', '-h']));
    if (name !== 'ocr') for (const sub of command.commands) add(`${name} ${sub.name()}`, sub);
  };
  const program = buildProgram(actions, () => undefined);
  add('ocr', program);
  for (const command of program.commands) add(command.name(), command);
  return flags;
}

/** The flags bench scripts read (`node:util` parseArgs options). */
function benchFlags(): Set<string> {
  const flags = new Set<string>();
  for (const file of readdirSync(path.join(ROOT, 'bench')).filter((f) => f.endsWith('.ts'))) {
    for (const m of read(`bench/${file}`).matchAll(/^\s+'?([a-z][a-z0-9-]*)'?: \{ type: '(?:string|boolean)'/gm)) flags.add(`--${m[1]}`);
  }
  return flags;
}

/** A markdown file's code: each code block line (a trailing `\` joining the next) and each inline span. */
function codeTexts(markdown: string): string[] {
  const texts: string[] = [];
  let block: string[] | null = null;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) {
      if (block) texts.push(...block.join('\n').replace(/\\\n/g, ' ').split('\n'));
      block = block ? null : [];
    } else if (block) block.push(line);
    else for (const m of line.matchAll(/`([^`]+)`/g)) texts.push(m[1]!);
  }
  return texts;
}

const INVOCATION =
  /(?:^|[\s'"([])(?:ocr|bin\/ocr\.js|ocr-service)\s+(api-key create|serve|recognize|info|health|gateway|cluster|prepare-models)\b/g;
const FLAG = /(?<![\w-])(--?[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]|-[a-zA-Z])(?![\w*-])/g;

/** Each `ocr COMMAND ...` in `text` with the flags given to it (up to a pipe, a redirection, a comment or a quote). */
function invocations(text: string): { command: string; flags: string[] }[] {
  const plain = text.replace(/"?\$\([^)]*\)"?/g, 'VALUE');
  const starts = [...plain.matchAll(INVOCATION)];
  return starts.map((m, i) => {
    const end = starts[i + 1]?.index ?? plain.length;
    const args = plain.slice(m.index + m[0].length, end).split(/[|;&#<>']/)[0]!;
    return { command: m[1]!, flags: [...args.matchAll(FLAG)].map((f) => f[1]!) };
  });
}

/** The text of `file`, or of every JavaScript and TypeScript file under it where it is a directory. */
function texts(file: string): string[] {
  if (!statSync(file).isDirectory()) return [readFileSync(file, 'utf8')];
  return readdirSync(file)
    .filter((name) => !/\.[a-z]+$/.test(name) || /\.(?:[cm]?js|ts)$/.test(name))
    .flatMap((name) => texts(path.join(file, name)));
}

/** The TypeScript files under src/, but ts-proto's output in src/gen/. */
function sourceFiles(dir = 'src'): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'gen' ? [] : sourceFiles(`${dir}/${e.name}`)) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [],
  );
}

/** Metric names the source registers: `name: 'ocr_…'` and the load gauges' `['ocr_…', help, read]`. */
function registeredMetrics(): Set<string> {
  const names = new Set<string>();
  for (const text of texts(path.join(ROOT, 'src'))) for (const m of text.matchAll(/'(ocr_[a-z0-9_]+)'/g)) names.add(m[1]!);
  return names;
}

/** `name_{a,b}_x` as `name_a_x`, `name_b_x`, as a shell expands it. */
const expandBraces = (name: string): string[] => {
  const m = /^(.*)\{([^}]*)\}(.*)$/.exec(name);
  return m ? m[2]!.split(',').map((part) => `${m[1]}${part}${m[3]}`) : [name];
};

/** The metric names a text gives (`name_{min,max}_seconds` two of them): labels dropped, a histogram's series as the histogram, `ocr_http_*` and the like left out. */
function namedMetrics(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/\b((?:ocr|nodejs)_[a-z0-9_]*(?:\{[a-z0-9,]+\}[a-z0-9_]+)?)/g)) {
    if (m[1]!.endsWith('_')) continue;
    for (const name of expandBraces(m[1]!)) names.add(name.replace(/_(?:bucket|count|sum)$/, ''));
  }
  return names;
}

describe('README and docs/ against the code', () => {
  const docs = DOCS.map((file) => ({ file, text: read(file) }));

  it('each `ocr COMMAND` shown takes every flag shown with it', () => {
    const flags = commandFlags();
    const wrong = docs.flatMap(({ file, text }) =>
      codeTexts(text).flatMap((code) =>
        invocations(code).flatMap(({ command, flags: given }) =>
          given.filter((flag) => !flags.get(command)!.has(flag)).map((flag) => `${file}: ocr ${command} ${flag} (in "${code.trim()}")`),
        ),
      ),
    );
    expect(wrong).to.deep.equal([]);
  });

  it('names no flag that neither an ocr command, a bench script nor another tool shown takes', () => {
    const known = new Set([...[...commandFlags().values()].flatMap((s) => [...s]), ...benchFlags(), ...OTHER_TOOLS_FLAGS]);
    const unknown = docs.flatMap(({ file, text }) =>
      [...text.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]*[a-z0-9])(?![\w*-])/g)]
        .map((m) => m[1]!)
        .filter((f) => !known.has(f))
        .map((f) => `${file}: ${f}`),
    );
    expect([...new Set(unknown)]).to.deep.equal([]);
  });

  it('names every metric the code registers, and none it does not', () => {
    const processRegistry = new Registry();
    collectProcessMetrics(processRegistry);
    const registered = new Set([...registeredMetrics(), ...processRegistry.getMetricsAsArray().map((metric) => metric.name)]);
    const named = namedMetrics(docs.map((d) => d.text).join('\n'));
    expect(
      [...named].filter((name) => !registered.has(name)),
      'named, not registered',
    ).to.deep.equal([]);
    expect(
      [...registeredMetrics()].filter((name) => !named.has(name)),
      'registered, not named',
    ).to.deep.equal([]);
  });

  it('names only npm scripts of package.json', () => {
    const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
    const named = docs.flatMap(({ text }) => [...text.matchAll(/npm run ([a-z:-]+)/g)].map((m) => m[1]!));
    expect(named.filter((script) => !scripts.includes(script))).to.deep.equal([]);
  });

  it('names only OCR_ variables that the code, the tests, compose.yaml or the Containerfile read', () => {
    const source = ['src', 'bin', 'test/support', 'examples', 'compose.yaml', 'Containerfile'].flatMap((p) => texts(path.join(ROOT, p)));
    const variables = new Set(docs.flatMap(({ text }) => [...text.matchAll(/\bOCR_[A-Z_]+\b/g)].map((m) => m[0])));
    expect([...variables].filter((v) => !source.some((s) => s.includes(v)))).to.deep.equal([]);
  });

  it('names only code identifiers (camelCase in backticks: functions, types, options) that the source has', () => {
    const source = ['src', 'web', 'bin', 'bench', 'test/support', 'packages/client'].flatMap((p) => texts(path.join(ROOT, p))).join('\n');
    const missing = docs.flatMap(({ file, text }) =>
      [...text.matchAll(/`(?:[\w.]*\.)?([a-z]+[A-Z]\w*|[A-Z][a-z]+[A-Z]\w*)(?:\(\))?`/g)]
        .map((m) => m[1]!)
        .filter((name) => !new RegExp(`\\b${name}\\b`).test(source))
        .map((name) => `${file}: ${name}`),
    );
    expect([...new Set(missing)]).to.deep.equal([]);
  });

  it('names only repository paths that exist', () => {
    const missing = docs.flatMap(({ file, text }) =>
      [...text.matchAll(/(?<![\w./-])((?:src|test|bench|web|proto|models|consul|compose|scripts|packages|examples|docs|bin)\/[\w./-]*\w)/g)]
        .map((m) => m[1]!)
        .filter((p) => !/\*|\bNAME\b|\bdist\b/.test(p) && !existsSync(path.join(ROOT, p)))
        .map((p) => `${file}: ${p}`),
    );
    expect(missing).to.deep.equal([]);
  });

  it("README's route table lists each route of the HTTP API, besides its spec, its docs page and the Web UI", () => {
    const rows = read('README.md')
      .split('\n')
      .filter((line) => /^\| `(?:GET|POST) \//.test(line));
    const listed = rows.flatMap((row) => [...row.split(' | ')[0]!.matchAll(/`((?:GET|POST) \/[^`]*)`/g)].map((m) => m[1]!));
    const { paths } = openApiDocument(SERVER_VERSION) as { paths: Record<string, Record<string, unknown>> };
    const described = Object.entries(paths).flatMap(([route, operations]) =>
      Object.keys(operations)
        .filter((method) => method === 'get' || method === 'post')
        .map((method) => `${method.toUpperCase()} ${route}`),
    );
    expect(listed).to.have.members([...described, 'GET /openapi.json', 'GET /docs', 'GET /']);
  });

  it("lists the Web UI's options as its Options form has them", () => {
    const sentence = /The options \(([^)]*)\)\s+are under "Options"/.exec(read('README.md'));
    const listed = [...(sentence?.[1] ?? '').matchAll(/`(\w+)`/g)].map((m) => m[1]!);
    const form = /<form id="options">([\s\S]*?)<\/form>/.exec(read('web/index.html'))![1]!;
    expect(listed).to.have.members([...form.matchAll(/ name="(\w+)"/g)].map((m) => m[1]!));
  });

  it('ARCHITECTURE.md says what each file under src/ holds', () => {
    const architecture = read('docs/ARCHITECTURE.md');
    const unnamed = sourceFiles().filter((f) => !architecture.includes(`${path.basename(f)}\``));
    expect(unnamed).to.deep.equal([]);
  });

  it('ARCHITECTURE.md names the file names under src/ that are not unique, where a bare name is ambiguous', () => {
    const sentence = /File names under `src\/` are unique but\s+for ([^,]*(?:, [^,]*)*?), so a bare name/.exec(
      read('docs/ARCHITECTURE.md'),
    );
    const listed = [...(sentence?.[1] ?? '').matchAll(/`([\w.-]+)`/g)].map((m) => m[1]!);
    const names = sourceFiles().map((f) => path.basename(f));
    expect(listed).to.have.members([...new Set(names.filter((name, i) => names.indexOf(name) !== i))]);
  });
});
