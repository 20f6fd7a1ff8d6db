/**
 * Who gets an email: pure rules over the config.
 */
import type { Config } from '../config/schema.js';
import { globToRegExp } from '../match/plates.js';

/** The config parts recipients depend on. */
export type RecipientConfig = Pick<Config, 'notify' | 'shares'>;

/** Adds addresses to a list, keeping first-seen order and dropping case-insensitive duplicates. */
function addUnique(list: string[], seen: Set<string>, addresses: readonly string[]): void {
  for (const a of addresses) {
    const k = a.trim().toLowerCase();
    if (k && !seen.has(k)) {
      seen.add(k);
      list.push(a.trim());
    }
  }
}

/**
 * Recipients of an email about one session: `notify.recipients`, then every
 * `notify.sessionRecipients` entry whose glob matches the session name
 * (case-insensitive), then the share's own `notify` list.
 */
export function sessionRecipients(cfg: RecipientConfig, share: string, session: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  addUnique(out, seen, cfg.notify.recipients);
  for (const rule of cfg.notify.sessionRecipients) {
    if (globToRegExp(rule.pattern).test(session)) addUnique(out, seen, rule.to);
  }
  addUnique(out, seen, cfg.shares.find((s) => s.name === share)?.notify ?? []);
  return out;
}

/** Recipients of an email about several sessions (a grouped failure alert): the union, in order. */
export function recipientsForSessions(cfg: RecipientConfig, sessions: readonly { share: string; session: string }[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  addUnique(out, seen, cfg.notify.recipients);
  for (const s of sessions) addUnique(out, seen, sessionRecipients(cfg, s.share, s.session));
  return out;
}

/** Recipients of the daily digest: `notify.recipients` only (it covers every share). */
export function digestRecipients(cfg: RecipientConfig): string[] {
  const out: string[] = [];
  addUnique(out, new Set<string>(), cfg.notify.recipients);
  return out;
}
