"""Objects in the cluster, as dicts (the API server's JSON), within the hook's grants."""

import json
from typing import Optional

from wit_world.imports import cluster, types

from .errors import HookError, call


def ref(api_version: str, kind: str, name: str, namespace: Optional[str] = None) -> types.ObjectRef:
    """An object reference; `namespace` None means the app's."""
    return types.ObjectRef(api_version=api_version, kind=kind, name=name, namespace=namespace)


def _ref(args, namespace) -> types.ObjectRef:
    if len(args) == 1 and isinstance(args[0], types.ObjectRef):
        return args[0]
    return ref(*args, namespace=namespace)


def _shown(obj: types.ObjectRef) -> str:
    return f"{obj.kind}/{obj.name}" + (f" in {obj.namespace}" if obj.namespace else "")


def get(*obj, namespace: Optional[str] = None) -> dict:
    """`get("batch/v1", "Job", "migrate")` or `get(object_ref)`: the object. Raises
    `NotFound` when there is none. Grant verb: `get`."""
    r = _ref(obj, namespace)
    return json.loads(call(f"get {_shown(r)}", cluster.get, r))


def apply(obj: dict) -> dict:
    """Server-side apply of `obj` (its namespace, when absent, is the app's); returns it as
    the server stored it. Grant verb: `apply`."""
    meta = obj.get("metadata") or {}
    where = f" in {meta['namespace']}" if meta.get("namespace") else ""
    what = f"apply {obj.get('kind')}/{meta.get('name')}{where}"
    return json.loads(call(what, cluster.apply, json.dumps(obj)))


def delete(*obj, namespace: Optional[str] = None, wait=None) -> bool:
    """Delete the object (a Job's pods go too); with `wait` (a `Duration` or seconds), wait
    until it is gone (else `Timeout`). False when there was nothing to delete. Grant verb:
    `delete`."""
    r = _ref(obj, namespace)
    wait_ms = None if wait is None else int(getattr(wait, "seconds", wait) * 1000)
    return call(f"delete {_shown(r)}", cluster.delete, r, wait_ms)


def target_object(ctx, kind: str) -> types.ObjectRef:
    """The one object of `kind` in the file a per-resource hook runs around (the Job of
    `migrate/job`); a `HookError` naming the hook when there is none or more than one."""
    found = [o for o in (ctx.target.objects if ctx.target else []) if o.kind == kind]
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(o.name for o in found)
        raise HookError(
            f"hook {ctx.hook}: its target holds {len(found)} objects of kind {kind} ({names});"
            " name one in its config"
        )
    if ctx.target:
        where = f"its target {ctx.target.role}/{ctx.target.kind} holds no {kind}"
    else:
        where = "it is a whole-step hook (no `on:`)"
    raise HookError(f"hook {ctx.hook} has no {kind} to work on: {where}; name one in its config")
