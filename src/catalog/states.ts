/**
 * The job lifecycle: the one place its states and transitions are defined.
 * The catalog stores `state` in SQLite and refuses any change not listed here.
 * docs/job-lifecycle.md explains each transition for operators.
 *
 * ```
 *  waiting_for_plate ──plate arrives──► queued ──claimed──► running ──► done
 *        │                               ▲  ▲                  │
 *        └──timeout──► failed ◄──────────┼──┼──────────────────┤ (not retryable,
 *                        │               │  └──retry backoff───┤  or attempts used up)
 *                        └──`retry`──────┘  crash or clean stop┘
 * ```
 */

export const JOB_STATES = ['waiting_for_plate', 'queued', 'running', 'done', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Why a job moved; stored with every transition. */
export type TransitionReason =
  | 'plate-found' // waiting_for_plate → queued
  | 'plate-timeout' // waiting_for_plate → failed
  | 'claimed' // queued → running
  | 'delivered' // running → done
  | 'retry-later' // running → queued (retryable error, attempts left)
  | 'interrupted' // running → queued (found running at start-up: the daemon died mid-job; the attempt counts)
  | 'stopped' // running → queued (a clean stop, SIGTERM/SIGINT, before the job finished; the attempt is given back)
  | 'gave-up' // running → failed
  | 'manual-retry' // failed → queued (`cleanplate retry`)
  | 'plate-missing'; // queued → waiting_for_plate (a retried shot whose session still has no plate)

const TRANSITIONS: Record<TransitionReason, { from: JobState; to: JobState }> = {
  'plate-found': { from: 'waiting_for_plate', to: 'queued' },
  'plate-timeout': { from: 'waiting_for_plate', to: 'failed' },
  claimed: { from: 'queued', to: 'running' },
  delivered: { from: 'running', to: 'done' },
  'retry-later': { from: 'running', to: 'queued' },
  interrupted: { from: 'running', to: 'queued' },
  stopped: { from: 'running', to: 'queued' },
  'gave-up': { from: 'running', to: 'failed' },
  'manual-retry': { from: 'failed', to: 'queued' },
  'plate-missing': { from: 'queued', to: 'waiting_for_plate' },
};

/**
 * The state a job enters for `reason`, or an error naming the illegal move.
 * @throws Error when `reason` does not apply to a job in state `from`
 */
export function nextState(from: JobState, reason: TransitionReason): JobState {
  const t = TRANSITIONS[reason];
  if (t.from !== from) throw new Error(`illegal job transition: ${reason} from ${from} (needs ${t.from})`);
  return t.to;
}

/** Whether a job in this state will never change again without an operator. */
export function isTerminal(state: JobState): boolean {
  return state === 'done' || state === 'failed';
}

/**
 * What to do after a failed attempt: retry later (with exponential backoff)
 * or give up.
 * @param attempts attempts made so far, including the one that just failed
 * @param maxAttempts config jobs.maxAttempts
 * @param retryable whether the error may go away (I/O, full disk) rather than never (corrupt file)
 * @param backoffSec config jobs.retryBackoffSec: delay before the first retry, doubled each time
 * @returns the transition and, for a retry, the delay in ms
 */
export function afterFailure(
  attempts: number,
  maxAttempts: number,
  retryable: boolean,
  backoffSec: number,
): { reason: 'retry-later'; delayMs: number } | { reason: 'gave-up' } {
  if (!retryable || attempts >= maxAttempts) return { reason: 'gave-up' };
  return { reason: 'retry-later', delayMs: Math.round(backoffSec * 1000 * 2 ** Math.max(0, attempts - 1)) };
}
