import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SCORER } from './repo-paths.js';

export interface Predictions {
  lines?: Record<string, string>;
  docs?: Record<string, string[]>;
}

export interface Score {
  lines: { cer: number; exact: number; n: number };
  docs: { char_f1: number; char_recall: number; char_precision: number; n: number };
}

/** Scores predictions with the evaluation set's own scorer (Python 3, stdlib only). */
export function score(pred: Predictions, set: string, foldCase = false): Score {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ocr-score-'));
  const predFile = path.join(dir, 'pred.json');
  const outFile = path.join(dir, 'score.json');
  writeFileSync(predFile, JSON.stringify(pred));
  execFileSync('python3', [SCORER, predFile, '--set', set, '--out', outFile, ...(foldCase ? ['--fold-case'] : [])], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return JSON.parse(readFileSync(outFile, 'utf8')) as Score;
}

/** The set's line images and their labels, and its document images. */
export function evalSet(set: string): { lines: string[]; docs: string[] } {
  const labels = readFileSync(path.join(set, 'lines', 'labels.tsv'), 'utf8')
    .trim()
    .split('\n');
  const gt = JSON.parse(readFileSync(path.join(set, 'docs', 'gt.json'), 'utf8')) as Record<string, unknown>;
  return {
    lines: labels.map((l) => path.join(set, 'lines', l.split('\t')[0]!)),
    docs: Object.keys(gt)
      .sort()
      .map((f) => path.join(set, 'docs', f)),
  };
}

interface DocCounts {
  hits: number;
  gt_chars: number;
  pred_chars: number;
}

/** Micro char F1 over some documents only, from the scorer's per-document counts. */
export function docsF1(pred: Predictions, set: string, files: string[]): number {
  const perDoc = (score(pred, set).docs as unknown as { per_doc: Record<string, DocCounts> }).per_doc;
  let hits = 0;
  let gt = 0;
  let predicted = 0;
  for (const f of files) {
    const d = perDoc[f]!;
    hits += d.hits;
    gt += d.gt_chars;
    predicted += d.pred_chars;
  }
  const recall = hits / gt;
  const precision = predicted > 0 ? hits / predicted : 0;
  return recall + precision > 0 ? (2 * recall * precision) / (recall + precision) : 0;
}
