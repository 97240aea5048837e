# migrate-wait, in Python: after the migrate Job is applied, follow it (its pods' logs,
# retries included) and end as soon as the outcome is known. The host does the watching and
# the log reading (`kubes_hook.follow_job`); this is the policy: what to say, when to give up.
# Config: `job` (default: the Job of the target file), `timeout` (300s), `tail_lines` (20),
# `container` (whose log to follow; default: every container's), `pull_grace` (30s: how long
# a failing image pull may last). See README.md.

import kubes_hook as kh
from kubes_hook import say


def migrate_wait(ctx):
    cfg = kh.config(ctx, job=None, timeout=kh.Duration(300), tail_lines=20, container=None, pull_grace=kh.Duration(30))
    job = kh.ref("batch/v1", "Job", cfg.job) if cfg.job else kh.target_object(ctx, "Job")
    if ctx.dry_run:
        return say(f"dry run: would wait for Job/{job.name}")
    say(f"Waiting for Job/{job.name} (timeout {cfg.timeout})")
    last = kh.Attempts(cfg.tail_lines)  # the last attempt: its pod, its end, its last lines
    for event in kh.follow_job(job, container=cfg.container, timeout=cfg.timeout, pull_grace=cfg.pull_grace):
        match last.see(event):
            case kh.AttemptStarted(pod=pod, index=i, limit=limit) if i > 1:
                say(f"retry {i - 1}: attempt {i}{f' of {limit}' if limit else ''} in pod {pod}")
            case kh.Log(pod=pod, text=text):
                say(f"[pod/{pod}] {text}")
            case kh.AttemptEnded(succeeded=False, exit_code=code):
                why = event.reason if code is None else f"container exited with code {code}"
                say(f"pod {event.pod} failed: {why}{colon(event.message)}")
            case kh.LogsUnavailable(pod=pod, message=message):
                say(f"cannot read the log of pod {pod}: {message}")
            case kh.CannotStart(pod=pod, reason=reason, message=message):
                say(f"pod {pod} cannot start: {reason}{colon(message)}")
                failed(job.name, last, reason, message)
            case kh.Failed(reason=reason, message=message):
                failed(job.name, last, reason, message)
            case kh.Complete():
                return say("Migration complete")
            case kh.TimedOut(after=after):
                say(f"Migration still running after {after}")
                print_lines(last)
                raise kh.HookError(f"migration Job {job.name} did not finish within {after}")


def failed(job, last, reason, message):
    code = last.ended.exit_code if last.ended else None
    where = f" (pod {last.pod}{'' if code is None else f', exit code {code}'})" if last.pod else ""
    say(f"Migration failed: {reason}{colon(message)}{where}")
    if last.ended and last.ended.message:
        say(f"Termination message: {last.ended.message}")
    print_lines(last)
    raise kh.HookError(f"migration Job {job} failed: {reason}")


def print_lines(last):
    if last.lines:
        say(f"Last log lines ({len(last.lines)}):")
        for text in last.lines:
            say(f"  [pod/{last.pod}] {text}")
    else:
        why = f"from pod {last.pod}: {last.logs_unavailable or 'it printed nothing'}"
        say(f"No log lines {why}" if last.pod else "No log lines: the Job started no pod")


def colon(message):
    return f": {message}" if message else ""


WitWorld = kh.hook(migrate_wait)
