// migrate-wait, in JavaScript: after the migrate Job is applied, wait for it while printing
// its pods' logs (retries included), and end as soon as the outcome is known. The host follows
// the Job (progress.follow-job); this hook holds the policy: what to print, when to give up.
//
// Config (all optional): `job` (default: the Job in the target file), `timeout` (`300s`),
// `tail_lines` (20), `container` (whose log to follow; default every container's),
// `pull_grace` (`30s`: how long a failing image pull may last).
// Grants: `watch` on `jobs.batch` (the Job's name), `watch` + `logs` on `pods`.
// The output is the contract in tests/it/migrate_wait_contract.rs (Rust and Python say the same).

import { Attempts, config, duration, followJob, formatDuration, hook, HookError, targetObject } from '../../hooks-sdk-js/kubes-hook.js';

const colon = (message) => (message ? `: ${message}` : '');
const say = (...lines) => lines.forEach((l) => console.log(l));

export const run = hook((ctx) => {
  const cfg = config(ctx, { job: null, timeout: duration('300s'), tail_lines: 20, container: null, pull_grace: duration('30s') });
  const job = cfg.job ? { name: cfg.job } : targetObject(ctx, 'Job');
  const within = formatDuration(cfg.timeout);
  if (ctx.dryRun) return say(`dry run: would wait for Job/${job.name}`);
  say(`Waiting for Job/${job.name} (timeout ${within})`);
  const attempts = new Attempts(cfg.tail_lines);

  // The failure report, about `pod` (one that cannot start) or else the last attempt.
  const failed = (reason, message, pod) => {
    const a = pod ? attempts.get(pod) : attempts.last();
    const code = a && a.exitCode != null ? `, exit code ${a.exitCode}` : '';
    say(`Migration failed: ${reason}${colon(message)}${a ? ` (pod ${a.pod}${code})` : ''}`);
    if (a && a.message) say(`Termination message: ${a.message}`);
    say(...attempts.report(pod));
    throw new HookError(`migration Job ${job.name} failed: ${reason}`);
  };

  for (const e of followJob(job.name, { namespace: job.namespace, container: cfg.container, pullGraceMs: cfg.pull_grace, timeoutMs: cfg.timeout })) {
    attempts.take(e);
    switch (e.type) {
      case 'attempt-started':
        if (e.index > 1) say(`retry ${e.index - 1}: attempt ${e.index}${e.limit != null ? ` of ${e.limit}` : ''} in pod ${e.pod}`);
        break;
      case 'log':
        say(`[pod/${e.pod}] ${e.text}`);
        break;
      case 'attempt-ended':
        if (!e.succeeded) say(`pod ${e.pod} failed: ${e.exitCode != null ? `container exited with code ${e.exitCode}` : e.reason}${colon(e.message)}`);
        break;
      case 'cannot-start':
        say(`pod ${e.pod} cannot start: ${e.reason}${colon(e.message)}`);
        return failed(e.reason, e.message, e.pod);
      case 'logs-unavailable':
        say(`cannot read the log of pod ${e.pod}: ${e.message}`);
        break;
      case 'complete':
        return say('Migration complete');
      case 'failed':
        return failed(e.reason, e.message);
      case 'timeout':
        say(`Migration still running after ${within}`, ...attempts.report());
        throw new HookError(`migration Job ${job.name} did not finish within ${within}`);
    }
  }
  failed('Unknown', "the Job's progress ended without an outcome");
});
