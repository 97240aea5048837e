"""kubes_hook: the Python SDK for kubes hooks (components of the `kubes:hook` world, built
with componentize-py; the bindings, `wit_world`, are generated at build time).

A hook is a function of the run's context, turned into the `WitWorld` componentize-py wants:

    import kubes_hook as kh

    def main(ctx):
        cfg = kh.config(ctx, job="migrate", timeout=kh.Duration(300))
        for event in kh.follow_job(cfg.job, timeout=cfg.timeout):
            ...

    WitWorld = kh.hook(main)

Raising `HookError` (or a `ClusterError`, which the cluster calls raise) fails the hook with
its message; any other exception fails it as an internal error.
"""

import traceback

import wit_world
from componentize_py_types import Err
from wit_world.imports import log

from .config import Duration, config, parse_duration
from .errors import (
    ClusterError,
    cluster_error,
    Conflict,
    Forbidden,
    HookError,
    Invalid,
    NotFound,
    Other,
    Timeout,
    Unavailable,
)
from .events import (
    AttemptEnded,
    AttemptStarted,
    CannotStart,
    Complete,
    Failed,
    Log,
    LogsUnavailable,
    Progress,
    RolloutStatus,
    TimedOut,
)
from .follow import Attempts, follow_job, follow_rollout, sleep, wait
from .objects import apply, delete, get, ref, target_object

__all__ = [
    "AttemptEnded", "AttemptStarted", "Attempts", "CannotStart", "ClusterError", "Complete",
    "Conflict", "Duration", "Failed", "Forbidden", "HookError", "Invalid", "Log",
    "LogsUnavailable", "NotFound", "Other", "Progress", "RolloutStatus", "TimedOut", "Timeout",
    "Unavailable", "apply", "cluster_error", "config", "delete", "follow_job", "follow_rollout",
    "get", "hook", "log", "parse_duration", "ref", "say", "sleep", "target_object", "wait",
]


def say(line: str) -> None:
    """A line for the deploy log (`[hook] line`), shown as it happens."""
    print(line, flush=True)


def hook(main):
    """The `WitWorld` class for a hook whose work is `main(ctx)` (`ctx`: the WIT context:
    `hook`, `app`, `env`, `namespace`, `when`, `step`, `target`, `config_json`, `dry_run`)."""

    class WitWorld(wit_world.WitWorld):
        def run(self, ctx) -> None:
            try:
                main(ctx)
            except HookError as e:
                raise Err(str(e)) from None
            except Err as e:  # from a binding called directly: its cluster-error as text
                raise Err(e.value if isinstance(e.value, str) else str(cluster_error(e))) from None
            except Exception as e:  # a bug must fail the hook with a message, not trap
                log.debug(traceback.format_exc())
                raise Err(f"hook {ctx.hook}: internal error: {type(e).__name__}: {e}") from None

    return WitWorld
