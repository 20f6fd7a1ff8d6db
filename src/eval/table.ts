/**
 * Fixed-width text rendering of an {@link EvalReport}: one block per
 * condition, one row per engine, columns SAD, MSE (×1e-3), Grad, Conn and
 * mean matte time.
 */
import type { EvalReport, EvalSummary } from './evaluate.js';

const COLUMNS = ['SAD', 'MSE(x1e-3)', 'Grad', 'Conn', 'time(ms)'] as const;
const NUM_WIDTH = 11;

function num(v: number | null, digits: number): string {
  return (v === null ? '-' : v.toFixed(digits)).padStart(NUM_WIDTH);
}

function row(label: string, labelWidth: number, s: EvalSummary): string {
  const cells = [num(s.sad, 3), num(s.mse === null ? null : s.mse * 1000, 3), num(s.grad, 3), num(s.conn, 3), num(s.timeMs, 1)];
  const failed = s.failed > 0 ? `  (${s.failed} failed)` : '';
  return `${label.padEnd(labelWidth)}${cells.join('')}${failed}`;
}

/**
 * The report as fixed-width text. SAD, Grad and Conn are the literature's
 * /1000 sums over the whole frame, MSE is printed ×1e3, time is the mean
 * `matte()` wall time. Means are over the items each engine did not fail on.
 */
export function formatTable(report: EvalReport): string {
  const labels = report.engines.map((e) => e.label);
  const labelWidth = Math.max(8, ...labels.map((l) => l.length)) + 2;
  const lines: string[] = [];
  const size = report.maxLongSide === null ? 'native size' : `long side <= ${report.maxLongSide} px`;
  lines.push(`cleanplate eval: ${report.items.length} items, seed ${report.seed}, ${size}`);
  lines.push('SAD, Grad, Conn: sums over the whole frame / 1000; MSE over the whole frame x 1e3');
  for (const condition of report.conditions) {
    const rows = report.summary.filter((s) => s.condition === condition);
    const n = rows.reduce((m, s) => Math.max(m, s.n + s.failed), 0);
    lines.push('');
    lines.push(`condition: ${condition} (${n} items)`);
    lines.push(`${'engine'.padEnd(labelWidth)}${COLUMNS.map((c) => c.padStart(NUM_WIDTH)).join('')}`);
    for (const label of labels) {
      const s = rows.find((r) => r.engine === label);
      if (s) lines.push(row(label, labelWidth, s));
    }
  }
  return lines.join('\n') + '\n';
}
