/**
 * Email templates: pure functions from report data to subject, HTML and
 * plain text. Every value that comes from the outside world (file and session
 * names, paths, error messages) goes through `escapeHtml` in the HTML part.
 */
import path from 'node:path';
import type { JobState } from '../catalog/states.js';
import type { OutboxSummary } from './outbox.js';
import type { RenderedMail } from './types.js';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** A duration for people: "0.4 s", "12.3 s", "4 min 6 s", "2 h 3 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** A local date-time "YYYY-MM-DD HH:MM:SS" (the daemon's time zone). */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A local date "YYYY-MM-DD". */
export function formatDate(ms: number): string {
  return formatTime(ms).slice(0, 10);
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** One shot in a session email. */
export interface ShotReport {
  jobId: number;
  /** Path inside the session folder. */
  file: string;
  state: 'done' | 'failed';
  /** Processing time from the job result (`timingsMs.total`), null when unknown or failed. */
  processingMs: number | null;
  /** Delivered files (absolute paths). */
  outputs: string[];
  archivedTo: string | null;
  warnings: string[];
  /** One-line reason (failed jobs). */
  error: string | null;
  /** Where the original is now (failed/<session>/ for failed shots). */
  location: string;
  attempts: number;
  finishedAt: number;
  /** The shot was in an earlier email with another outcome (it was retried). */
  retried: boolean;
}

/** Everything the session-complete email says. */
export interface SessionReport {
  share: string;
  session: string;
  /** When the first of these shots arrived. */
  firstSeenAt: number;
  /** When the last of these shots finished. */
  lastFinishedAt: number;
  shots: ShotReport[];
  /** Earlier completion emails for this session (0: this is the first). */
  previousNotices: number;
  /** When the previous email was written, or null. */
  previousAt: number | null;
  /** Content-ID of the inline contact sheet, or null when there is none. */
  contactSheetCid: string | null;
  /** How many cutouts the contact sheet shows. */
  contactSheetItems: number;
}

/** Statistics over a list of durations. */
function stats(values: number[]): { total: number; mean: number; min: number; max: number } | null {
  if (values.length === 0) return null;
  const total = values.reduce((a, b) => a + b, 0);
  return { total, mean: total / values.length, min: Math.min(...values), max: Math.max(...values) };
}

const unique = (xs: string[]) => [...new Set(xs)];

const STYLE = {
  body: 'font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222',
  table: 'border-collapse:collapse;margin:8px 0',
  th: 'text-align:left;border-bottom:1px solid #999;padding:3px 8px',
  td: 'border-bottom:1px solid #ddd;padding:3px 8px;vertical-align:top',
  bad: 'color:#b00020',
  muted: 'color:#666;font-size:12px',
};

function htmlTable(head: string[], rows: string[][]): string {
  const th = head.map((h) => `<th style="${STYLE.th}">${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td style="${STYLE.td}">${c}</td>`).join('')}</tr>`).join('\n');
  return `<table style="${STYLE.table}"><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

function htmlDoc(title: string, body: string): string {
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body style="${STYLE.body}">\n${body}\n<p style="${STYLE.muted}">Sent by cleanplate.</p>\n</body></html>\n`;
}

/** The email sent when a session is complete (or when later shots of it are). */
export function sessionCompleteEmail(r: SessionReport): RenderedMail {
  const done = r.shots.filter((s) => s.state === 'done');
  const failed = r.shots.filter((s) => s.state === 'failed');
  const update = r.previousNotices > 0;
  const name = `${r.share}/${r.session}`;
  const counts = `${done.length} delivered, ${failed.length} failed`;
  const subject = update
    ? `[cleanplate] ${name} update: ${plural(r.shots.length, 'more shot')} (${counts})`
    : `[cleanplate] ${name} complete: ${counts}`;
  const proc = stats(done.map((s) => s.processingMs).filter((v): v is number => v !== null));
  const elapsed = Math.max(0, r.lastFinishedAt - r.firstSeenAt);
  const outputDirs = unique(done.flatMap((s) => s.outputs.map((o) => path.dirname(o))));
  const archiveDirs = unique(done.map((s) => s.archivedTo).filter((a): a is string => !!a).map((a) => path.dirname(a)));
  const failedDirs = unique(failed.map((s) => path.dirname(s.location)));
  const intro = update
    ? `${plural(r.shots.length, 'shot')} of session ${r.session} finished after the previous email (${formatTime(r.previousAt ?? r.firstSeenAt)}); this email covers only those.`
    : `Every shot of session ${r.session} is delivered or failed.`;

  // Plain text.
  const t: string[] = [];
  t.push(update ? `Session ${name}: update` : `Session ${name} is complete`, '', intro, '');
  t.push(`Shots: ${r.shots.length} (${counts})`);
  t.push(`Time: first file ${formatTime(r.firstSeenAt)}, last shot finished ${formatTime(r.lastFinishedAt)} (${formatDuration(elapsed)})`);
  if (proc) {
    t.push(
      `Processing: ${formatDuration(proc.total)} in total, ${formatDuration(proc.mean)} per shot on average (${formatDuration(proc.min)} to ${formatDuration(proc.max)})`,
    );
  }
  for (const d of outputDirs) t.push(`Outputs: ${d}`);
  for (const d of archiveDirs) t.push(`Originals archived to: ${d}`);
  for (const d of failedDirs) t.push(`Failed files moved to: ${d}`);
  if (failed.length > 0) {
    t.push('', `Failures (${failed.length}):`);
    for (const s of failed) t.push(`  - ${s.file}: ${s.error ?? 'unknown error'} (now at ${s.location})`);
  }
  t.push('', 'Shots:');
  for (const s of r.shots) {
    const what =
      s.state === 'done'
        ? `delivered in ${s.processingMs === null ? '?' : formatDuration(s.processingMs)} -> ${s.outputs.map((o) => path.basename(o)).join(', ') || '(no outputs listed)'}`
        : `FAILED after ${plural(s.attempts, 'attempt')}: ${s.error ?? 'unknown error'}`;
    t.push(`  ${s.file}: ${what}${s.retried ? ' (retried)' : ''}`);
    for (const w of s.warnings) t.push(`      warning: ${w}`);
  }
  if (r.contactSheetCid) t.push('', `Contact sheet attached (${plural(r.contactSheetItems, 'cutout')}).`);
  const text = `${t.join('\n')}\n`;

  // HTML.
  const e = escapeHtml;
  const h: string[] = [];
  h.push(`<h2>${e(update ? `Session ${name}: update` : `Session ${name} is complete`)}</h2>`);
  h.push(`<p>${e(intro)}</p>`);
  const facts: [string, string][] = [
    ['Shots', `${r.shots.length} (${counts})`],
    ['Time', `first file ${formatTime(r.firstSeenAt)}, last shot finished ${formatTime(r.lastFinishedAt)} (${formatDuration(elapsed)})`],
  ];
  if (proc) {
    facts.push([
      'Processing',
      `${formatDuration(proc.total)} in total, ${formatDuration(proc.mean)} per shot on average (${formatDuration(proc.min)} to ${formatDuration(proc.max)})`,
    ]);
  }
  for (const d of outputDirs) facts.push(['Outputs', d]);
  for (const d of archiveDirs) facts.push(['Originals archived to', d]);
  for (const d of failedDirs) facts.push(['Failed files moved to', d]);
  h.push(
    `<table style="${STYLE.table}">${facts
      .map(([k, v]) => `<tr><th style="${STYLE.th}">${e(k)}</th><td style="${STYLE.td}">${e(v)}</td></tr>`)
      .join('')}</table>`,
  );
  if (failed.length > 0) {
    h.push(`<h3 style="${STYLE.bad}">Failures (${failed.length})</h3>`);
    h.push(
      htmlTable(
        ['File', 'Reason', 'Now at'],
        failed.map((s) => [e(s.file), `<span style="${STYLE.bad}">${e(s.error ?? 'unknown error')}</span>`, e(s.location)]),
      ),
    );
  }
  h.push('<h3>Shots</h3>');
  h.push(
    htmlTable(
      ['File', 'Result', 'Time', 'Outputs / notes'],
      r.shots.map((s) => [
        e(s.file) + (s.retried ? ' <em>(retried)</em>' : ''),
        s.state === 'done' ? 'delivered' : `<span style="${STYLE.bad}">failed</span>`,
        s.state === 'done' && s.processingMs !== null ? e(formatDuration(s.processingMs)) : '',
        s.state === 'done'
          ? [e(s.outputs.map((o) => path.basename(o)).join(', ')), ...s.warnings.map((w) => `<br><em>warning: ${e(w)}</em>`)].join('')
          : `${e(s.error ?? 'unknown error')} (${e(plural(s.attempts, 'attempt'))})`,
      ]),
    ),
  );
  if (r.contactSheetCid) {
    h.push(`<h3>Contact sheet</h3><p style="${STYLE.muted}">${e(plural(r.contactSheetItems, 'cutout'))} on a checkerboard (also attached).</p>`);
    h.push(`<img src="cid:${e(r.contactSheetCid)}" alt="contact sheet" style="max-width:100%">`);
  }
  return { subject, text, html: htmlDoc(subject, h.join('\n')) };
}

/** One failed shot in an alert or digest. */
export interface FailureItem {
  jobId: number;
  share: string;
  session: string;
  file: string;
  error: string | null;
  location: string;
  attempts: number;
  failedAt: number;
}

/** Everything a grouped failure alert says. */
export interface FailureAlertData {
  failures: FailureItem[];
  /** Time of the previous alert, or null. */
  previousAlertAt: number | null;
  /** notify.failureAlert.minIntervalMin */
  intervalMin: number;
}

/** Groups failures by share/session, keeping order of first appearance. */
function bySession(failures: readonly FailureItem[]): Map<string, FailureItem[]> {
  const m = new Map<string, FailureItem[]>();
  for (const f of failures) {
    const k = `${f.share}/${f.session}`;
    const list = m.get(k) ?? [];
    list.push(f);
    m.set(k, list);
  }
  return m;
}

/** The failure alert: every failure since the previous alert, grouped by session. */
export function failureAlertEmail(d: FailureAlertData): RenderedMail {
  const groups = bySession(d.failures);
  const names = [...groups.keys()];
  const where = names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
  const subject =
    d.failures.length === 1
      ? `[cleanplate] Failed: ${names[0]}/${d.failures[0].file}`
      : `[cleanplate] ${d.failures.length} shots failed (${where})`;
  const intro =
    `${plural(d.failures.length, 'shot')} failed` +
    (d.previousAlertAt !== null ? ` since the previous alert (${formatTime(d.previousAlertAt)})` : '') +
    `. Alerts are grouped: at most one every ${d.intervalMin} min.`;
  const t: string[] = [intro, ''];
  const h: string[] = [`<h2>${escapeHtml(subject.replace('[cleanplate] ', ''))}</h2>`, `<p>${escapeHtml(intro)}</p>`];
  for (const [name, list] of groups) {
    t.push(`${name} (${list.length}):`);
    for (const f of list) {
      t.push(`  - ${f.file}: ${f.error ?? 'unknown error'}`);
      t.push(`    at ${formatTime(f.failedAt)} after ${plural(f.attempts, 'attempt')}; file now at ${f.location}`);
    }
    t.push('');
    h.push(`<h3>${escapeHtml(name)} (${list.length})</h3>`);
    h.push(
      htmlTable(
        ['File', 'Reason', 'Failed at', 'Attempts', 'Now at'],
        list.map((f) => [
          escapeHtml(f.file),
          `<span style="${STYLE.bad}">${escapeHtml(f.error ?? 'unknown error')}</span>`,
          escapeHtml(formatTime(f.failedAt)),
          String(f.attempts),
          escapeHtml(f.location),
        ]),
      ),
    );
  }
  t.push('Retry with: cleanplate retry <session>');
  h.push(`<p>Retry with <code>cleanplate retry &lt;session&gt;</code>.</p>`);
  return { subject, text: `${t.join('\n')}\n`, html: htmlDoc(subject, h.join('\n')) };
}

/** One session's activity in a digest period. */
export interface DigestSession {
  share: string;
  session: string;
  done: number;
  failed: number;
  /** Sum of processing times of the delivered shots. */
  processingMs: number;
}

/** Everything the daily digest says. */
export interface DigestData {
  from: number;
  to: number;
  sessions: DigestSession[];
  /** The failures of the period (possibly cut short; see failuresTotal). */
  failures: FailureItem[];
  failuresTotal: number;
  /** Jobs per state now. */
  backlog: Record<JobState, number>;
  /** Arrival of the oldest shot still waiting for a plate, or null. */
  oldestWaitingAt: number | null;
  outbox: OutboxSummary;
}

/** The daily digest: what was delivered and failed, the backlog and the outbox. */
export function digestEmail(d: DigestData): RenderedMail {
  const done = d.sessions.reduce((a, s) => a + s.done, 0);
  const failed = d.sessions.reduce((a, s) => a + s.failed, 0);
  const queued = d.backlog.queued + d.backlog.running + d.backlog.waiting_for_plate;
  const subject = `[cleanplate] Digest ${formatDate(d.to)}: ${done} delivered, ${failed} failed, ${queued} in progress`;
  const period = `${formatTime(d.from)} to ${formatTime(d.to)}`;
  const backlogLine = `queued ${d.backlog.queued}, running ${d.backlog.running}, waiting for a plate ${d.backlog.waiting_for_plate}`;
  const outboxLine =
    d.outbox.pending === 0
      ? 'all emails sent'
      : `${plural(d.outbox.pending, 'email')} waiting to be sent${d.outbox.lastError ? ` (last error: ${d.outbox.lastError})` : ''}`;
  const t: string[] = [`Period: ${period}`, '', `Delivered: ${done}`, `Failed: ${failed}`, `Now: ${backlogLine}`];
  if (d.oldestWaitingAt !== null) t.push(`Oldest shot waiting for a plate arrived ${formatTime(d.oldestWaitingAt)}`);
  t.push(`Outbox: ${outboxLine}`, '');
  if (d.sessions.length === 0) t.push('No shots finished in this period.');
  else {
    t.push('Sessions:');
    for (const s of d.sessions) {
      t.push(`  ${s.share}/${s.session}: ${s.done} delivered, ${s.failed} failed, processing ${formatDuration(s.processingMs)}`);
    }
  }
  if (d.failuresTotal > 0) {
    t.push('', `Failures (${d.failuresTotal}):`);
    for (const f of d.failures) t.push(`  - ${f.share}/${f.session}/${f.file}: ${f.error ?? 'unknown error'}`);
    if (d.failuresTotal > d.failures.length) t.push(`  ... and ${d.failuresTotal - d.failures.length} more`);
  }
  const e = escapeHtml;
  const h: string[] = [`<h2>${e(`Digest ${formatDate(d.to)}`)}</h2>`, `<p>${e(`Period: ${period}`)}</p>`];
  h.push(
    `<table style="${STYLE.table}">` +
      [
        ['Delivered', String(done)],
        ['Failed', String(failed)],
        ['Now', backlogLine],
        ...(d.oldestWaitingAt !== null ? [['Oldest shot waiting for a plate', `arrived ${formatTime(d.oldestWaitingAt)}`]] : []),
        ['Outbox', outboxLine],
      ]
        .map(([k, v]) => `<tr><th style="${STYLE.th}">${e(k)}</th><td style="${STYLE.td}">${e(v)}</td></tr>`)
        .join('') +
      '</table>',
  );
  if (d.sessions.length === 0) h.push('<p>No shots finished in this period.</p>');
  else {
    h.push('<h3>Sessions</h3>');
    h.push(
      htmlTable(
        ['Session', 'Delivered', 'Failed', 'Processing'],
        d.sessions.map((s) => [e(`${s.share}/${s.session}`), String(s.done), s.failed ? `<span style="${STYLE.bad}">${s.failed}</span>` : '0', e(formatDuration(s.processingMs))]),
      ),
    );
  }
  if (d.failuresTotal > 0) {
    h.push(`<h3 style="${STYLE.bad}">Failures (${d.failuresTotal})</h3>`);
    h.push(
      htmlTable(
        ['Session', 'File', 'Reason'],
        d.failures.map((f) => [e(`${f.share}/${f.session}`), e(f.file), e(f.error ?? 'unknown error')]),
      ),
    );
    if (d.failuresTotal > d.failures.length) h.push(`<p>... and ${d.failuresTotal - d.failures.length} more</p>`);
  }
  return { subject, text: `${t.join('\n')}\n`, html: htmlDoc(subject, h.join('\n')) };
}
