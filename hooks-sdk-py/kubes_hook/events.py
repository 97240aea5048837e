"""What `follow_job` and `follow_rollout` yield: plain dataclasses, one per case of the WIT
`job-event` / `rollout-event`, made for `match`:

    match event:
        case kh.Log(pod=pod, text=text): ...
        case kh.Failed(reason=reason): ...
"""

from dataclasses import dataclass
from typing import Optional, Union

from wit_world.imports import progress


@dataclass(frozen=True)
class AttemptStarted:
    """A pod (an attempt of the Job) appeared: `index` 1 for the first, 2 for the first
    retry...; `limit` is how many attempts the Job allows, when it says."""

    pod: str
    index: int
    limit: Optional[int]


@dataclass(frozen=True)
class Log:
    """One line a container printed (without its newline)."""

    pod: str
    container: str
    text: str


@dataclass(frozen=True)
class AttemptEnded:
    """A pod's attempt ended (after its last log line). `exit_code` when the container
    terminated; `message` is its termination message (may be empty)."""

    pod: str
    exit_code: Optional[int]
    reason: str
    message: str
    succeeded: bool


@dataclass(frozen=True)
class CannotStart:
    """A pod cannot start (`ImagePullBackOff`, `CreateContainerConfigError`,
    `CrashLoopBackOff`...). The host goes on following: giving up is the hook's call."""

    pod: str
    reason: str
    message: str


@dataclass(frozen=True)
class LogsUnavailable:
    """A pod's log cannot be read (said once per pod)."""

    pod: str
    reason: str
    message: str


@dataclass(frozen=True)
class RolloutStatus:
    """Replicas of a rollout; `observed` is False while the counts are still the old spec's."""

    desired: int
    updated: int
    ready: int
    available: int
    observed: bool


@dataclass(frozen=True)
class Progress:
    """A rollout's counts changed."""

    status: RolloutStatus


@dataclass(frozen=True)
class Complete:
    """The Job succeeded, or the rollout is done (then `status` holds its counts). Last."""

    reason: str = "Complete"
    message: str = ""
    status: Optional[RolloutStatus] = None


@dataclass(frozen=True)
class Failed:
    """The Job failed (`BackoffLimitExceeded`, `DeadlineExceeded`, `Deleted`...) or the
    rollout did (`ProgressDeadlineExceeded`, `Deleted`). Last."""

    reason: str
    message: str


@dataclass(frozen=True)
class TimedOut:
    """Not an event of the host's: the `timeout` given to `follow_*` ran out first. Last."""

    after: object  # a Duration


JobEvent = Union[
    AttemptStarted, Log, AttemptEnded, CannotStart, LogsUnavailable, Complete, Failed, TimedOut
]
RolloutEvent = Union[Progress, CannotStart, Complete, Failed, TimedOut]

_P = progress


def job_event(e) -> JobEvent:
    """The SDK's event for a WIT `job-event`."""
    v = e.value
    if isinstance(e, _P.JobEvent_AttemptStarted):
        return AttemptStarted(v.pod, v.index, v.limit)
    if isinstance(e, _P.JobEvent_Log):
        return Log(v.pod, v.container, v.text)
    if isinstance(e, _P.JobEvent_AttemptEnded):
        return AttemptEnded(v.pod, v.exit_code, v.reason, v.message, v.succeeded)
    if isinstance(e, _P.JobEvent_CannotStart):
        return CannotStart(v.pod, v.reason, v.message)
    if isinstance(e, _P.JobEvent_LogsUnavailable):
        return LogsUnavailable(v.pod, v.reason, v.message)
    if isinstance(e, _P.JobEvent_Complete):
        return Complete(v.reason, v.message)
    return Failed(v.reason, v.message)


def _status(s) -> RolloutStatus:
    return RolloutStatus(s.desired, s.updated, s.ready, s.available, s.observed)


def rollout_event(e) -> RolloutEvent:
    """The SDK's event for a WIT `rollout-event`."""
    v = e.value
    if isinstance(e, _P.RolloutEvent_Progress):
        return Progress(_status(v))
    if isinstance(e, _P.RolloutEvent_CannotStart):
        return CannotStart(v.pod, v.reason, v.message)
    if isinstance(e, _P.RolloutEvent_Complete):
        return Complete(status=_status(v))
    return Failed(v.reason, v.message)


def is_last(event) -> bool:
    """True for the events after which nothing more comes."""
    return isinstance(event, (Complete, Failed, TimedOut))
