/**
 * `npm run eval:cli`: accuracy as acceptance measures it, through the product: `ocr serve` in a
 * child process, `ocr recognize --json` (plain, `--lines-only`, `--tile-size 1024`) on the
 * evaluation sets' files, scored by the sets' own scorer. Prints a Markdown table.
 *   node dist/bench/accuracy.js [-- serve options, e.g. --rec-precision float32]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnServer, runCli } from '../src/dev/server-process.js';
import { EVAL_DEV, EVAL_REAL } from '../src/dev/repo-paths.js';
import { docsF1, evalSet, score, type Predictions } from '../src/dev/eval-score.js';

interface FileResult {
  file: string;
  lines?: { text: string }[];
  error?: { code: string; message: string };
}

const server = await spawnServer(process.argv.slice(2));
const target = `127.0.0.1:${server.port}`;

/** `ocr recognize --json` on the files: each file's line texts, in the order printed. */
async function recognize(files: string[], flags: string[] = []): Promise<Map<string, string[]>> {
  const out = await runCli(['recognize', '--target', target, '--json', ...flags, ...files]);
  const texts = new Map<string, string[]>();
  for (const row of out.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as FileResult)) {
    if (row.error) console.error(`${row.file}: ${row.error.code} ${row.error.message}`);
    texts.set(
      path.basename(row.file),
      (row.lines ?? []).map((l) => l.text),
    );
  }
  return texts;
}

const asLines = (texts: Map<string, string[]>): Predictions => ({
  lines: Object.fromEntries([...texts].map(([f, t]) => [f, t.join(' ')])),
});
const asDocs = (texts: Map<string, string[]>): Predictions => ({ docs: Object.fromEntries(texts) });
const pct = (v: number): string => `${(100 * v).toFixed(2)} %`;

const rows: string[] = [];
try {
  for (const [name, set, foldCase] of [
    ['eval-dev', EVAL_DEV, false],
    ['eval-real (--fold-case)', EVAL_REAL, true],
  ] as const) {
    const { lines, docs } = evalSet(set);
    rows.push(`| ${name} documents | Recognize | char F1 ${pct(score(asDocs(await recognize(docs)), set, foldCase).docs.char_f1)} |`);
    rows.push(`| ${name} line images | Recognize | CER ${pct(score(asLines(await recognize(lines)), set, foldCase).lines.cer)} |`);
    rows.push(
      `| ${name} line images | RecognizeLines (--lines-only) | CER ${pct(score(asLines(await recognize(lines, ['--lines-only'])), set, foldCase).lines.cer)} |`,
    );
  }
  // The A4 pages: scanned at 300 dpi, 2480 px wide or more (a 300-dpi waybill is not one).
  const meta = JSON.parse(readFileSync(path.join(EVAL_DEV, 'docs', 'meta.json'), 'utf8')) as Record<
    string,
    { dpi: number; width: number; height: number }
  >;
  const pages = Object.keys(meta)
    .filter((f) => meta[f]!.dpi === 300 && Math.min(meta[f]!.width, meta[f]!.height) >= 2480)
    .sort();
  const files = pages.map((f) => path.join(EVAL_DEV, 'docs', f));
  const whole = docsF1(asDocs(await recognize(files)), EVAL_DEV, pages);
  const tiled = docsF1(asDocs(await recognize(files, ['--tile-size', '1024'])), EVAL_DEV, pages);
  rows.push(`| eval-dev ${pages.length} 300-dpi A4 pages | --tile-size 1024 vs Recognize | char F1 ${pct(tiled)} vs ${pct(whole)} |`);
} finally {
  server.child.kill('SIGTERM');
}
console.log(`Server: ocr serve ${process.argv.slice(2).join(' ')}`.trim());
console.log('| set | path | result |\n| --- | --- | --- |');
console.log(rows.join('\n'));
