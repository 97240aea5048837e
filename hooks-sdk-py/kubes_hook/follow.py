"""Following a Job or a rollout: the host watches, reads the logs and says what happened;
these iterators hand that on as events (`events.py`), waiting in one `wasi:io/poll` call
on the host's progress feed and a monotonic-clock timer for the deadline. No busy loop."""

from collections import defaultdict
from typing import Iterator, Optional

from wit_world.imports import log, monotonic_clock, poll, progress, types

from . import events
from .config import Duration, parse_duration
from .errors import call


def follow_job(
    name,
    *,
    namespace: Optional[str] = None,
    logs: bool = True,
    container: Optional[str] = None,
    pull_grace_ms: int = 30_000,
    pull_grace=None,
    timeout=None,
) -> Iterator[events.JobEvent]:
    """Follow Job `name` (a name, in the app's namespace unless `namespace`; or an object
    reference, e.g. `target_object(ctx, "Job")`, in its namespace) to its end: yields
    `AttemptStarted`, `Log` (every container's, or only `container`'s; none unless
    `logs`), `AttemptEnded`, `CannotStart`, `LogsUnavailable`, and last `Complete` or
    `Failed`; or, when `timeout` (a `Duration`, seconds, or `"5m"`) runs out first,
    `TimedOut`. A cluster error (a missing grant: `Forbidden`) is raised. An image pull
    that keeps failing (`ErrImagePull`, `ImagePullBackOff`) is said as `CannotStart` after
    `pull_grace` (a `Duration`, seconds, or `"30s"`; or `pull_grace_ms`).

    Grants: `watch` on `jobs.batch` (the name), `watch` on `pods`, and `logs` on `pods`
    when `logs`.
    """
    if isinstance(name, types.ObjectRef):
        name, namespace = name.name, namespace or name.namespace
    if pull_grace is not None:
        pull_grace_ms = min(int(_duration(pull_grace).seconds * 1000), 2**32 - 1)
    options = progress.JobOptions(logs=logs, container=container, pull_grace_ms=pull_grace_ms)
    what = f"follow Job/{name}"
    feed = call(what, progress.follow_job, name, namespace, options)
    cases = (progress.JobItem_Event, progress.JobItem_End)
    return _follow(feed, events.job_event, cases, _duration(timeout), what, "the Job's")


def follow_rollout(
    name: str, *, namespace: Optional[str] = None, timeout=None
) -> Iterator[events.RolloutEvent]:
    """Follow the rollout of Deployment `name` to its end: yields `Progress`,
    `CannotStart`, and last `Complete` (with the counts) or `Failed`
    (`ProgressDeadlineExceeded`, `Deleted`); or `TimedOut` as `follow_job` does.

    Grants: `watch` on `deployments.apps` (the name) and `watch` on `pods`.
    """
    what = f"follow the rollout of Deployment/{name}"
    feed = call(what, progress.follow_rollout, name, namespace)
    cases = (progress.RolloutItem_Event, progress.RolloutItem_End)
    return _follow(feed, events.rollout_event, cases, _duration(timeout), what, "the rollout's")


def _follow(feed, convert, cases, timeout, what, whose):
    event_case, end_case = cases
    start = monotonic_clock.now()
    deadline = None if timeout is None else start + timeout.nanos
    wakeups = 0

    def last(event):  # said before the last event: the caller may stop iterating there
        log.debug(f"{what}: {wakeups} wake-ups in {(monotonic_clock.now() - start) / 1e9:.1f}s")
        return event

    with feed:
        while True:
            if deadline is not None and monotonic_clock.now() >= deadline:
                yield last(events.TimedOut(timeout))
                return
            item = call(what, feed.try_next)
            if isinstance(item, event_case):
                event = convert(item.value)
                if events.is_last(event):
                    yield last(event)
                    return
                yield event
            elif isinstance(item, end_case):  # the host always says the outcome first; be safe
                yield last(events.Failed("Unknown", f"{whose} progress ended without an outcome"))
                return
            else:  # pending: sleep until the host has more, or the deadline
                wait(feed, deadline)
                wakeups += 1


def wait(resource, deadline: Optional[int] = None) -> None:
    """Block until `resource` (anything with `subscribe()`: a progress feed, a watcher, a
    log stream) has something, or until `deadline` (a monotonic-clock instant) passes."""
    with resource.subscribe() as ready:
        if deadline is None:
            poll.poll([ready])
        else:
            with monotonic_clock.subscribe_instant(deadline) as timer:
                poll.poll([ready, timer])


def sleep(duration) -> None:
    """Sleep (a `Duration`, seconds, or `"500ms"`), without spinning."""
    with monotonic_clock.subscribe_duration(_duration(duration).nanos) as timer:
        timer.block()


def _duration(value) -> Optional[Duration]:
    if value is None or isinstance(value, Duration):
        return value
    return parse_duration(value)


class Attempts:
    """What a report on a Job needs, kept from its events (`see` each one): the last
    attempt's pod (or the pod that cannot start), how it ended, its last log lines.

        attempts = kh.Attempts(tail_lines=20)
        for event in kh.follow_job("migrate"):
            attempts.see(event)
            ...
        attempts.pod, attempts.ended, attempts.lines, attempts.logs_unavailable
    """

    def __init__(self, tail_lines: int = 20):
        self.tail_lines = tail_lines
        #: The last attempt's pod (None until one started).
        self.pod: Optional[str] = None
        self._ended, self._lines, self._unavailable = {}, defaultdict(list), {}

    def see(self, event):
        """Take note of `event`; returns it."""
        if isinstance(event, (events.AttemptStarted, events.CannotStart)):
            self.pod = event.pod
        elif isinstance(event, events.Log):
            lines = self._lines[event.pod]
            lines.append(event.text)
            del lines[: max(0, len(lines) - self.tail_lines)]
        elif isinstance(event, events.AttemptEnded):
            self._ended[event.pod] = event
        elif isinstance(event, events.LogsUnavailable):
            self._unavailable.setdefault(event.pod, event.message)
        return event

    @property
    def ended(self) -> Optional[events.AttemptEnded]:
        """How the last attempt ended, if it did."""
        return self._ended.get(self.pod)

    @property
    def lines(self) -> list:
        """The last `tail_lines` lines (texts) of the last attempt's pod."""
        return list(self._lines.get(self.pod, ()))

    @property
    def logs_unavailable(self) -> Optional[str]:
        """Why the last attempt's log could not be read, if it could not."""
        return self._unavailable.get(self.pod)
