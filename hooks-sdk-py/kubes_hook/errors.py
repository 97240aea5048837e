"""Why a hook fails: `HookError` (its text is the hook's error in the deploy log) and
`ClusterError`, one subclass per case of the WIT `cluster-error`, so hooks can write
`except kh.NotFound:`."""

from componentize_py_types import Err
from wit_world.imports import types


class HookError(Exception):
    """Fails the hook with this message (raise it from the hook's function)."""


class ClusterError(HookError):
    """A cluster call failed. `context` says what the hook was doing (`get Job/migrate`),
    `detail` is the host's or the API server's message (empty for some cases)."""

    text = "cluster error"

    def __init__(self, detail: str = "", context: str = ""):
        self.detail, self.context = detail, context
        what = f"{self.text}: {detail}" if detail else self.text
        super().__init__(f"{context}: {what}" if context else what)


class NotFound(ClusterError):
    text = "not found"


class Forbidden(ClusterError):
    """Denied by the hook's grants (the message names the missing grant) or by RBAC."""

    text = "forbidden"


class Conflict(ClusterError):
    text = "conflict"


class Invalid(ClusterError):
    text = "invalid"


class Timeout(ClusterError):
    text = "timed out"


class Unavailable(ClusterError):
    text = "cluster unavailable"


class Other(ClusterError):
    text = "error"

    def __init__(self, detail: str = "", context: str = ""):
        # The server's message says it all (as the Rust SDK shows it).
        self.detail, self.context = detail, context
        HookError.__init__(self, f"{context}: {detail}" if context else detail)


_CASES = {
    types.ClusterError_NotFound: NotFound,
    types.ClusterError_Forbidden: Forbidden,
    types.ClusterError_Conflict: Conflict,
    types.ClusterError_Invalid: Invalid,
    types.ClusterError_Timeout: Timeout,
    types.ClusterError_Unavailable: Unavailable,
    types.ClusterError_Other: Other,
}


def cluster_error(error, context: str = "") -> ClusterError:
    """The exception for a WIT `cluster-error` value (or the `Err` carrying it)."""
    value = error.value if isinstance(error, Err) else error
    return _CASES.get(type(value), Other)(getattr(value, "value", None) or "", context)


def call(context: str, fn, *args):
    """`fn(*args)`, a WIT import: its `Err(cluster-error)` raised as a `ClusterError`."""
    try:
        return fn(*args)
    except Err as e:
        raise cluster_error(e, context) from None
