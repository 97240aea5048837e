"""migrate-wait, in Python: after the migrate Job is applied, wait for it while streaming the
logs of its pods (retries included), and end as soon as the outcome is known.

- Complete: prints "Migration complete".
- Failed (BackoffLimitExceeded, DeadlineExceeded): fails at once with the reason, the last
  pod's exit code and termination message, and its last log lines.
- A pod that cannot start (ErrImagePull, ImagePullBackOff, ...): fails at once.
- Still running at the timeout: fails with the last log lines and the Job's events.

Config (all optional): `job` (default: the Job in the target file), `timeout` (`300s`; also
`5m`, `1500ms`, `1m30s` or a number of seconds), `tail_lines` (20), `container` (whose log
to follow; default the pod's first).
Grants: `watch` on `jobs.batch`, `watch` + `logs` on `pods`, `list` on `events` (for the
timeout report only).

Everything waits in one `wasi:io/poll` call on the watches, the log stream being read and a
monotonic-clock timer: no busy loop, and the host's deadline still applies.
"""

import json
import re
import time

import wit_world
from componentize_py_types import Err
from wit_world.imports import cluster, log, monotonic_clock, poll, types

# Container waiting reasons after which a pod will not start without a change to the Job.
CANNOT_START = (
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
)
CONFIG_FIELDS = ("job", "timeout", "tail_lines", "container")
# Pause before opening again a watch that broke, or a log that is not readable yet.
RETRY_PAUSE = 0.2
# Attempts to open one pod's log before going on without it (about 4 s).
MAX_LOG_OPEN_FAILURES = 20
# After the Job finished, how long to keep reading log lines still arriving.
SETTLE = 0.5


class HookFailure(Exception):
    """Ends the hook with this message (the deploy log shows it as the hook's error)."""


class WitWorld(wit_world.WitWorld):
    def run(self, ctx: types.Context) -> None:
        try:
            migrate_wait(ctx)
        except HookFailure as e:
            raise Err(str(e))
        except Err:
            raise
        except Exception as e:  # a bug here must fail the hook with a message, not trap
            raise Err(f"hook {ctx.hook}: internal error: {type(e).__name__}: {e}")


# --- config -------------------------------------------------------------------------------


def parse_duration(value, field):
    """`300s`, `5m`, `1500ms`, `1h`, `1m30s`, or a number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise HookFailure(f"`{field}`: expected a duration like `30s`, got {json.dumps(value)}")
    if isinstance(value, (int, float)):
        return float(value)
    text = "".join(value.split())
    try:
        return float(text)
    except ValueError:
        pass
    total, pos = 0.0, 0
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for m in re.finditer(r"(\d+(?:\.\d+)?)([a-z]*)", text):
        if m.start() != pos or m.group(2) not in units:
            bad = m.group(2) if m.start() == pos else text[pos:m.start()]
            raise HookFailure(f"`{field}`: unknown unit `{bad}` in `{value}`: use ms, s, m or h")
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise HookFailure(f"`{field}`: expected a duration like `30s`, `5m` or `1500ms`, got `{value}`")
    return total


def read_config(ctx):
    try:
        config = json.loads(ctx.config_json)
    except ValueError as e:
        raise HookFailure(f"hook {ctx.hook}: `config` is not JSON: {e}")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise HookFailure(f"hook {ctx.hook}: `config` in hooks.yaml: expected a map, got {ctx.config_json}")
    for key in config:
        if key not in CONFIG_FIELDS:
            expected = ", ".join(f"`{f}`" for f in CONFIG_FIELDS)
            raise HookFailure(f"hook {ctx.hook}: `config` in hooks.yaml: unknown field `{key}`, expected one of {expected}")
    try:
        timeout = parse_duration(config.get("timeout", "300s"), "timeout")
        tail = config.get("tail_lines", 20)
        if isinstance(tail, bool) or not isinstance(tail, int) or tail < 1:
            raise HookFailure(f"`tail_lines`: expected a whole number above 0, got {json.dumps(tail)}")
        for key in ("job", "container"):
            if key in config and not isinstance(config[key], str):
                raise HookFailure(f"`{key}`: expected a name, got {json.dumps(config[key])}")
    except HookFailure as e:
        raise HookFailure(f"hook {ctx.hook}: `config` in hooks.yaml: {e}")
    return config.get("job"), timeout, tail, config.get("container")


def target_job(ctx):
    """The Job in the file a per-resource hook runs around."""
    if ctx.target is None:
        raise HookFailure(f"hook {ctx.hook} has no Job to wait for: it is a whole-step hook (no `on:`); name one in its config (`job`)")
    for obj in ctx.target.objects:
        if obj.kind == "Job":
            return obj.name, obj.namespace
    raise HookFailure(f"hook {ctx.hook}: {ctx.target.role}/{ctx.target.kind} holds no Job; name one in its config (`job`)")


# --- cluster helpers ------------------------------------------------------------------------


def describe(err):
    """A cluster-error as text: `forbidden: hook x has no grant ...`."""
    v = err.value if isinstance(err, Err) else err
    name = type(v).__name__.replace("ClusterError_", "")
    kebab = re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower()
    detail = getattr(v, "value", None)
    return f"{kebab}: {detail}" if detail else kebab


def is_forbidden(err):
    return isinstance(err.value, types.ClusterError_Forbidden)


def is_not_found(err):
    return isinstance(err.value, types.ClusterError_NotFound)


def say(line):
    """A line for the deploy log (stdout, flushed so it shows up as it happens)."""
    print(line, flush=True)


def drop(resource):
    """Release a WIT resource now (a pollable must go before the stream it watches)."""
    resource.__exit__(None, None, None)


def timer(seconds):
    return monotonic_clock.subscribe_duration(max(0, int(seconds * 1e9)))


class Rewatch:
    """A watch that is opened again (after a pause) when it breaks; only `forbidden` fails."""

    def __init__(self, kind, namespace, name, selector):
        self.args = (kind, namespace, name, selector)
        self.what = f"{kind.kind} {name or selector}"
        self.watcher = None
        self.retry_at = None
        self.open()

    def open(self):
        try:
            self.watcher = cluster.watch(*self.args)
            self.retry_at = None
        except Err as e:
            if is_forbidden(e):
                raise HookFailure(f"watch {self.what}: {describe(e)}")
            self.broken(describe(e))

    def broken(self, why):
        log.debug(f"the watch of {self.what} broke ({why}); opening it again")
        if self.watcher is not None:
            drop(self.watcher)
        self.watcher = None
        self.retry_at = time.monotonic() + RETRY_PAUSE

    def changes(self):
        """(change, object) pairs available now."""
        if self.watcher is None:
            if self.retry_at is not None and time.monotonic() >= self.retry_at:
                self.open()
            if self.watcher is None:
                return
        while True:
            try:
                item = self.watcher.try_next()
            except Err as e:
                if is_forbidden(e):
                    raise HookFailure(f"watch {self.what}: {describe(e)}")
                self.broken(describe(e))
                return
            if isinstance(item, cluster.WatchItem_Event):
                yield item.value.change, json.loads(item.value.object_json)
            elif isinstance(item, cluster.WatchItem_End):
                self.broken("ended")
                return
            else:
                return

    def subscribe(self):
        return self.watcher.subscribe() if self.watcher is not None else None


# --- pods -------------------------------------------------------------------------------------


def statuses(pod):
    status = pod.get("status") or {}
    return (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])


def phase(pod):
    return (pod.get("status") or {}).get("phase")


def has_started(pod):
    if phase(pod) in ("Running", "Succeeded", "Failed"):
        return True
    return any("running" in (c.get("state") or {}) or "terminated" in (c.get("state") or {}) for c in statuses(pod))


def failed_container(pod):
    """(container name, terminated state) of the first container that exited non-zero."""
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        t = (c.get("state") or {}).get("terminated")
        if t and t.get("exitCode", 0) != 0:
            return c.get("name", "?"), t
    return None


def restart_count(pod):
    """How often its containers restarted in place (`restartPolicy: OnFailure`)."""
    return max([c.get("restartCount") or 0 for c in (pod.get("status") or {}).get("containerStatuses") or []] or [0])


def crashes_in_place(pod):
    """In-place failures so far: the restarts, plus one while a failed container waits to
    restart (its last run terminated non-zero)."""
    waiting_to_restart = any(
        "waiting" in (c.get("state") or {}) and ((c.get("lastState") or {}).get("terminated") or {}).get("exitCode", 0) != 0
        for c in (pod.get("status") or {}).get("containerStatuses") or []
    )
    return restart_count(pod) + (1 if waiting_to_restart else 0)


def last_crash(pod):
    """(container name, terminated state) of the last failed run of a restarting container."""
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        t = (c.get("lastState") or {}).get("terminated")
        if t and t.get("exitCode", 0) != 0:
            return c.get("name", "?"), t
    return None


def cannot_start(pod):
    """(container name, reason, message) of a container stuck in a reason of CANNOT_START."""
    for c in statuses(pod):
        w = (c.get("state") or {}).get("waiting") or {}
        if w.get("reason") in CANNOT_START:
            return c.get("name", "?"), w["reason"], w.get("message") or ""
    return None


def attempt_order(pod):
    """A Job makes pods one after the other: by creation time (whole seconds), failed ones
    first (a retry starts after its predecessor failed), then by resourceVersion."""
    meta = pod.get("metadata") or {}
    rv = meta.get("resourceVersion") or ""
    return (meta.get("creationTimestamp") or "", phase(pod) != "Failed", int(rv) if rv.isdigit() else 1 << 62)


class PodTrack:
    def __init__(self, pod):
        self.name = pod["metadata"]["name"]
        self.pod = pod
        self.stream = None
        self.log_done = False
        self.gone = False
        self.lines = []
        self.announced = False
        self.failure_told = False
        # In-place failures and restarts already told (`restartPolicy: OnFailure`).
        self.crashes_told = 0
        self.restarts_told = 0
        self.open_failures = 0

    def log_finished(self):
        return self.log_done or (self.stream is None and (self.gone or phase(self.pod) in ("Succeeded", "Failed")))

    def close(self):
        if self.stream is not None:
            drop(self.stream)
            self.stream = None


# --- the wait -------------------------------------------------------------------------------


class JobWait:
    def __init__(self, name, namespace, tail, container):
        self.name, self.namespace, self.tail, self.container = name, namespace, tail, container
        self.job = None
        self.unclaimed = {}
        self.pods = []
        self.attempts = 0
        # (kind, reason, message, pod index): kind is "complete", "failed" or "cannot-start".
        self.finished = None
        self.open_again_at = None

    def backoff_limit(self):
        return ((self.job or {}).get("spec") or {}).get("backoffLimit", 6)

    def take_job_changes(self, jobs):
        for change, job in jobs.changes():
            if change == cluster.Change.DELETED:
                if self.finished is None:
                    self.finished = ("failed", "Deleted", f"Job {self.name} was deleted while waiting for it", None)
                continue
            for cond in (job.get("status") or {}).get("conditions") or []:
                if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True" and self.finished is None:
                    if cond["type"] == "Complete":
                        self.finished = ("complete", "", "", None)
                    else:
                        self.finished = ("failed", cond.get("reason") or "Failed", cond.get("message") or "", None)
            first = self.job is None
            self.job = job
            if first:
                for pod in sorted(self.unclaimed.values(), key=attempt_order):
                    self.on_pod(pod)
                self.unclaimed = {}

    def take_pod_changes(self, pods):
        batch = []
        for change, pod in pods.changes():
            name = pod["metadata"]["name"]
            if change == cluster.Change.DELETED:
                for p in self.pods:
                    if p.name == name:
                        p.gone = True
            elif self.job is None:
                self.unclaimed[name] = pod
            else:
                batch.append(pod)
        # A watch starts with a list in name order: take pods in the order the Job made them.
        for pod in sorted(batch, key=attempt_order):
            self.on_pod(pod)

    def on_pod(self, pod):
        # Pods of an earlier Job of the same name (still being removed) are not ours.
        uid = self.job["metadata"].get("uid")
        owners = (pod.get("metadata") or {}).get("ownerReferences") or []
        if uid and not any(o.get("uid") == uid for o in owners):
            return
        track = next((p for p in self.pods if p.name == pod["metadata"]["name"]), None)
        if track is None:
            track = PodTrack(pod)
            self.pods.append(track)
        track.pod = pod
        stuck = cannot_start(pod)
        if stuck and (self.finished is None or self.finished[0] == "cannot-start"):
            container, reason, message = stuck
            if self.finished is None:
                say(f"pod {track.name} cannot start: container {container} is waiting: {reason}" + (f": {message}" if message else ""))
            self.finished = ("cannot-start", reason, message, self.pods.index(track))

    def open_logs(self):
        now = time.monotonic()
        if self.open_again_at is not None and now < self.open_again_at:
            return
        self.open_again_at = None
        for p in self.pods:
            if p.stream is not None or p.log_done or not has_started(p.pod):
                continue
            container = self.container
            if container is None:
                containers = (p.pod.get("spec") or {}).get("containers") or []
                container = containers[0].get("name") if containers else None
            options = cluster.LogOptions(container=container, follow=True, tail_lines=None)
            try:
                p.stream = cluster.logs(p.name, self.namespace, options)
                p.open_failures = 0
            except Err as e:
                if is_forbidden(e):
                    raise HookFailure(f"logs of pod {p.name}: {describe(e)}")
                if is_not_found(e):
                    p.log_done = True
                    continue
                # Not readable yet (the container is being created): try again for a while.
                p.open_failures += 1
                if p.open_failures >= MAX_LOG_OPEN_FAILURES:
                    p.log_done = True
                    say(f"cannot read the log of pod {p.name}: {describe(e)}")
                else:
                    self.open_again_at = now + RETRY_PAUSE

    def take_log_lines(self, gated):
        """Tell the story in attempt order: a pod's lines, its failure, then the retry. A later
        pod's lines wait until the earlier pod's log has ended (soon: a retry starts after the
        failure). Ungated, whatever is there is shown (before the outcome)."""
        for p in self.pods:
            if not p.announced:
                p.announced = True
                self.attempts += 1
                if self.attempts > 1:
                    say(f"retry {self.attempts - 1}: attempt {self.attempts} of {self.backoff_limit() + 1} in pod {p.name}")
            while p.stream is not None:
                try:
                    item = p.stream.try_next()
                except Err as e:
                    say(f"log of pod {p.name} broke off: {describe(e)}")
                    p.close()
                    p.log_done = True
                    break
                if isinstance(item, cluster.LogItem_Line):
                    line = f"[pod/{p.name}] {item.value}"
                    p.lines = (p.lines + [line])[-self.tail:]
                    say(line)
                elif isinstance(item, cluster.LogItem_End):
                    p.close()
                    p.log_done = True
                else:
                    break
            if not p.log_finished():
                if gated:
                    return
                continue
            # `restartPolicy: OnFailure`: the container failed and restarts in the same pod.
            crashes = crashes_in_place(p.pod)
            if crashes > p.crashes_told:
                p.crashes_told = crashes
                crash = last_crash(p.pod)
                if crash:
                    say(failure_line(p.name, *crash))
            restarts = restart_count(p.pod)
            if restarts > p.restarts_told:
                p.restarts_told = restarts
                self.attempts += 1
                say(f"retry {self.attempts - 1}: attempt {self.attempts} of {self.backoff_limit() + 1}: container restarted in pod {p.name}")
                # Follow the new container's log.
                p.log_done = False
                p.lines = []
                continue
            failed = failed_container(p.pod)
            if failed and not p.failure_told:
                p.failure_told = True
                say(failure_line(p.name, *failed))

    def logs_settled(self):
        """Every attempt the Job reports has been told, every started pod's log read and the
        pod seen in its final state (the Job's Failed condition can come before the last
        pod's own update; the report must be about that last attempt)."""
        status = (self.job or {}).get("status") or {}
        reported = (status.get("succeeded") or 0) + (status.get("failed") or 0)
        return self.attempts >= reported and all(
            not has_started(p.pod)
            or (p.log_finished() and (p.gone or phase(p.pod) in ("Succeeded", "Failed")))
            for p in self.pods
        )

    def pollables(self):
        """What to wait on: the watches, and the log stream the story is reading now."""
        out = []
        for p in self.pods:
            if p.stream is not None:
                out.append(p.stream.subscribe())
            if not p.log_finished():
                break
        return out

    def close(self):
        for p in self.pods:
            p.close()


def failure_line(pod, container, terminated):
    message = (terminated.get("message") or "").rstrip()
    return f"pod {pod} failed: container {container} exited with code {terminated.get('exitCode')}" + (f": {message}" if message else "")


def print_lines(title, lines):
    say(f"{title} ({len(lines)}):")
    for line in lines:
        say(f"  {line}")


def migrate_wait(ctx):
    job, timeout, tail, container = read_config(ctx)
    namespace = None
    if job is None:
        job, namespace = target_job(ctx)
    shown = f"Job/{job} in {namespace or ctx.namespace}"
    if ctx.dry_run:
        say(f"dry run: would wait for {shown}")
        return
    say(f"Waiting for {shown} (timeout {timeout:g}s)")
    start = time.monotonic()
    deadline = start + timeout
    jobs = Rewatch(types.KindRef(api_version="batch/v1", kind="Job"), namespace, job, None)
    pods = Rewatch(types.KindRef(api_version="v1", kind="Pod"), namespace, None, f"job-name={job}")
    w = JobWait(job, namespace, tail, container)
    settle_until = None
    wakeups = 0
    try:
        while True:
            w.take_job_changes(jobs)
            w.take_pod_changes(pods)
            w.open_logs()
            w.take_log_lines(gated=True)
            now = time.monotonic()
            if w.finished is not None:
                # A pod that cannot start is final now; a finished Job gets a moment for its
                # last log lines.
                if settle_until is None:
                    settle_until = now + SETTLE
                if w.finished[0] == "cannot-start" or w.logs_settled() or now >= settle_until:
                    w.take_log_lines(gated=False)
                    log.debug(f"migrate-wait {job}: {wakeups} wake-ups in {now - start:.1f}s")
                    return report(w, job)
            elif now >= deadline:
                w.take_log_lines(gated=False)
                log.debug(f"migrate-wait {job}: {wakeups} wake-ups in {now - start:.1f}s")
                return report_timeout(w, job, namespace, shown, now - start)
            waits = [p for p in (jobs.subscribe(), pods.subscribe()) if p is not None] + w.pollables()
            wake_at = min(t for t in (deadline, settle_until, w.open_again_at, jobs.retry_at, pods.retry_at) if t is not None)
            waits.append(timer(wake_at - now))
            poll.poll(waits)
            for p in waits:
                drop(p)
            wakeups += 1
    finally:
        w.close()
        for watch in (jobs, pods):
            if watch.watcher is not None:
                drop(watch.watcher)


def report(w, job):
    kind, reason, message, index = w.finished
    if kind == "complete":
        say("Migration complete")
        return
    if index is None:
        # Report on the last pod that failed, else the newest one.
        failed = [i for i, p in enumerate(w.pods) if failed_container(p.pod)]
        index = failed[-1] if failed else (len(w.pods) - 1 if w.pods else None)
    track = w.pods[index] if index is not None else None
    summary = reason + (f": {message}" if message else "")
    terminated = failed_container(track.pod) if track else None
    if track and terminated:
        summary += f" (pod {track.name}, exit code {terminated[1].get('exitCode')})"
    elif track:
        summary += f" (pod {track.name})"
    say(f"Migration failed: {summary}")
    termination = (terminated[1].get("message") or "").rstrip() if terminated else ""
    if termination:
        say(f"Termination message: {termination}")
    print_lines("Last log lines", track.lines if track else [])
    raise HookFailure(f"migration Job {job} failed: {reason}")


def report_timeout(w, job, namespace, shown, waited):
    if w.job is None:
        say(f"{shown} did not appear within {waited:.1f}s")
    else:
        say(f"Migration still running after {waited:.1f}s")
    print_lines("Last log lines", w.pods[-1].lines if w.pods else [])
    say(f"Events of {shown}:")
    try:
        ref = types.ObjectRef(api_version="batch/v1", kind="Job", name=job, namespace=namespace)
        for text in cluster.events(ref):
            e = json.loads(text)
            count = e.get("count") or 1
            say(f"  {e.get('type') or 'Normal'} {e.get('reason') or '-'}: {e.get('message') or ''}" + (f" (x{count})" if count > 1 else ""))
    except Err as e:
        say(f"  (cannot read events: {describe(e)})")
    raise HookFailure(f"migration Job {job} timed out after {waited:.1f}s")
