"""The hook's `config` from hooks.yaml, and durations written the way hooks.yaml writes them
(`300s`, `5m`, `1500ms`, `1m30s`, or a bare number of seconds)."""

import json
import re
from types import SimpleNamespace

from .errors import HookError

_PART = re.compile(r"([0-9.]*)([^0-9.]*)")
_UNITS = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}


class Duration:
    """A length of time (whole nanoseconds). `str()` writes it as every hook's messages do
    (the Rust SDK's `format_duration`): seconds, up to three decimals, no trailing zeros:
    `300s`, `1.5s`, `0.25s`."""

    __slots__ = ("nanos",)

    def __init__(self, seconds: float = 0, *, nanos: int = None):
        self.nanos = int(nanos) if nanos is not None else round(seconds * 1_000_000_000)

    @property
    def seconds(self) -> float:
        return self.nanos / 1_000_000_000

    def __eq__(self, other):
        return isinstance(other, Duration) and other.nanos == self.nanos

    def __hash__(self):
        return hash(self.nanos)

    def __repr__(self):
        return f"Duration({self})"

    def __str__(self):
        whole, ms = divmod(self.nanos // 1_000_000, 1000)
        frac = f"{ms:03}".rstrip("0")
        return f"{whole}.{frac}s" if frac else f"{whole}s"

    __format__ = lambda self, spec: format(str(self), spec)  # noqa: E731 (f"{d}" is str(d))


def parse_duration(text) -> Duration:
    """`300s`, `5m`, `1500ms`, `1h`, `1m30s`; a bare number (or a JSON number) is seconds.
    Raises `ValueError` with the reason."""
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise ValueError(f"expected a duration like `30s`, got {json.dumps(text)}")
    if not isinstance(text, str):
        return _seconds(float(text), str(text))
    t = "".join(text.split())  # spaces carry no meaning: `1m 30s`
    if not t:
        raise ValueError("expected a duration like `30s`, `5m` or `1500ms`, got an empty string")
    try:
        return _seconds(float(t), text)
    except ValueError:
        pass
    total, pos = 0, 0
    while pos < len(t):  # number, unit, number, unit...
        number, unit = _PART.match(t, pos).groups()
        pos += len(number) + len(unit)
        if not number:
            raise ValueError(f"expected a duration like `30s`, `5m` or `1500ms`, got `{text}`")
        if unit not in _UNITS:
            raise ValueError(f"unknown unit `{unit}` in `{text}`: use ms, s, m or h")
        try:
            total += round(float(number) * _UNITS[unit])
        except ValueError:
            raise ValueError(f"`{number}` in `{text}` is not a number") from None
    return Duration(nanos=total)


def _seconds(secs: float, text: str) -> Duration:
    if not secs >= 0 or secs == float("inf"):
        raise ValueError(f"`{text}` is not a valid duration")
    return Duration(secs)


def config(ctx, **defaults):
    """The hook's `config` (`ctx.config_json`) parsed.

    Without `defaults`: the JSON as is (`{}` when hooks.yaml gives none).
    With them: a namespace with exactly those fields. A field missing from hooks.yaml gets
    its default; one hooks.yaml has but `defaults` does not is an error naming it; a value
    must fit its default: a `Duration` default takes `30s`, `5m`... (a `Duration` comes
    back), an int a whole number, a bool true or false, a str (or None) a string.

        cfg = kh.config(ctx, job=None, timeout=kh.Duration(300), tail_lines=20)
        cfg.timeout  # Duration(300s)
    """
    where = f"hook {ctx.hook}: `config` in hooks.yaml"
    try:
        raw = json.loads(ctx.config_json or "null")
    except ValueError as e:
        raise HookError(f"{where}: not JSON: {e}") from None
    raw = {} if raw is None else raw
    if not defaults:
        return raw
    if not isinstance(raw, dict):
        raise HookError(f"{where}: expected a map, got {json.dumps(raw)}")
    for key in raw:
        if key not in defaults:
            expected = ", ".join(f"`{k}`" for k in defaults)
            raise HookError(f"{where}: unknown field `{key}`, expected one of {expected}")
    values = {}
    for key, default in defaults.items():
        try:
            values[key] = _fit(raw[key], default) if key in raw else default
        except ValueError as e:
            raise HookError(f"{where}: `{key}`: {e}") from None
    return SimpleNamespace(**values)


def _fit(value, default):
    got = json.dumps(value)
    if isinstance(default, Duration):
        return parse_duration(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {got}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"expected a whole number, got {got}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {got}")
    elif default is None or isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {got}")
    return value
