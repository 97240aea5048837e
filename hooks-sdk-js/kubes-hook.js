// kubes-hook.js: the JavaScript SDK for kubes hooks (componentize-js), over the imports of
// `kubes:hook@0.2.0`. One ES module, imported by relative path; see README.md.
//
// Waiting is synchronous: `for (const e of followJob(...))` blocks in `wasi:io/poll` between
// events (componentize-js cannot await a host pollable: only its own event loop's sources
// resolve promises), so a hook is a plain loop over plain event objects.

import * as progress from 'kubes:hook/progress@0.2.0';
import { poll } from 'wasi:io/poll@0.2.12';
import { now, subscribeInstant } from 'wasi:clocks/monotonic-clock@0.2.12';
import { debug } from 'kubes:hook/log@0.2.0';

const DISPOSE = Symbol.dispose || Symbol.for('dispose');

// --- errors ---------------------------------------------------------------------------------

// A cluster call failed. `kind` is the WIT case (`not-found`, `forbidden`, `conflict`,
// `invalid`, `timeout`, `unavailable`, `other`), `detail` its text (may be empty), `what`
// what the hook was doing. The message reads like the Rust SDK's.
export class ClusterError extends Error {
  constructor(kind, detail = '', what = '') {
    const text = {
      'not-found': 'not found',
      timeout: 'timed out',
      unavailable: `cluster unavailable: ${detail}`,
      other: detail,
    }[kind] ?? `${kind}: ${detail}`;
    super(what ? `${what}: ${text}` : text);
    Object.assign(this, { name: 'ClusterError', kind, detail, what });
  }

  // The thrown value of a WIT call (`{tag, val}`, or wrapped in `.payload`) as a ClusterError.
  static from(e, what = '') {
    const err = e && e.payload !== undefined ? e.payload : e;
    if (err && typeof err.tag === 'string') return new ClusterError(err.tag, err.val ?? '', what);
    throw e; // not a cluster error: a bug, let it show as one
  }
}

// The hook decided to fail (or its config is wrong): the message is the hook's error.
export class HookError extends Error {
  constructor(message) {
    super(message);
    this.name = 'HookError';
  }
}

// `export const run = hook((ctx) => {...})`: runs the body; a HookError or ClusterError
// fails the hook with its message, anything else with `hook NAME: internal error: ...`.
export function hook(body) {
  return (ctx) => {
    try {
      body(ctx);
    } catch (e) {
      if (e instanceof HookError || e instanceof ClusterError) throw e.message;
      throw `hook ${ctx.hook}: internal error: ${e && e.message ? e.message : String(e)}`;
    }
  };
}

// Runs a WIT call, turning its cluster-error into a ClusterError that says `what`.
export function call(what, f) {
  try {
    return f();
  } catch (e) {
    throw ClusterError.from(e, what);
  }
}

// --- config ---------------------------------------------------------------------------------

// A config field parsed by `parse` (which throws a string saying what is wrong).
class Field {
  constructor(fallback, parse) {
    Object.assign(this, { fallback, parse });
  }
}

// A duration field (`300s`, `5m`, `1500ms`, `1m30s` or a number of seconds), in milliseconds.
export const duration = (fallback) => new Field(fallback, parseDuration);

// The hook's config (ctx.configJson; `null` is `{}`) over `fields`: name -> default. A plain
// default also fixes the type (a number: a whole number >= 0; `null`: any string); a
// `duration(...)` default parses. Unknown fields and wrong types fail the hook, naming them.
export function config(ctx, fields) {
  const where = `hook ${ctx.hook}: \`config\` in hooks.yaml`;
  let given;
  try {
    given = JSON.parse(ctx.configJson) ?? {};
  } catch (e) {
    throw new HookError(`${where}: not JSON: ${e.message}`);
  }
  if (typeof given !== 'object' || Array.isArray(given)) {
    throw new HookError(`${where}: expected a map, got ${ctx.configJson}`);
  }
  const names = Object.keys(fields);
  for (const key of Object.keys(given)) {
    if (!names.includes(key)) {
      throw new HookError(`${where}: unknown field \`${key}\`, ${expected(names)}`);
    }
  }
  const out = {};
  for (const [key, spec] of Object.entries(fields)) {
    const field = spec instanceof Field ? spec : new Field(spec, checkType(spec));
    const value = key in given ? given[key] : field.fallback;
    try {
      out[key] = value === null && field.fallback === null ? null : field.parse(value);
    } catch (why) {
      throw new HookError(`${where}: \`${key}\`: ${why}`);
    }
  }
  return out;
}

// serde's wording: expected `a` / `a` or `b` / one of `a`, `b`, `c`.
function expected(names) {
  const q = names.map((n) => `\`${n}\``);
  if (q.length <= 2) return `expected ${q.join(' or ')}`;
  return `expected one of ${q.join(', ')}`;
}

function checkType(fallback) {
  return (v) => {
    const ok =
      typeof fallback === 'number' ? Number.isInteger(v) && v >= 0
      : fallback === null ? typeof v === 'string'
      : typeof v === typeof fallback;
    if (!ok) {
      const want = typeof fallback === 'number' ? 'a whole number' : `a ${fallback === null ? 'string' : typeof fallback}`;
      throw `expected ${want}, got ${JSON.stringify(v)}`;
    }
    return v;
  };
}

// The one object of `kind` in the file this hook runs around (`{name, namespace}`).
export function targetObject(ctx, kind) {
  const found = ctx.target ? ctx.target.objects.filter((o) => o.kind === kind) : [];
  if (found.length === 1) return found[0];
  const why = !ctx.target
    ? 'it is a whole-step hook (no `on:`)'
    : `${ctx.target.role}/${ctx.target.kind} holds ${found.length ? 'more than one' : 'no'} ${kind}`;
  throw new HookError(`hook ${ctx.hook} has no ${kind} to work on: ${why}; name one in its config`);
}

// --- durations ------------------------------------------------------------------------------

const UNITS = { ms: 1, s: 1000, m: 60000, h: 3600000 };

// `300s`, `5m`, `1500ms`, `1h`, `1m30s` (spaces ignored) or a number of seconds -> ms.
export function parseDuration(value) {
  const like = 'expected a duration like `30s`, `5m` or `1500ms`';
  if (typeof value === 'number' && value >= 0 && Number.isFinite(value)) return value * 1000;
  if (typeof value !== 'string') throw `${like}, got ${JSON.stringify(value)}`;
  const text = value.replace(/\s+/g, '');
  if (text === '') throw `${like}, got an empty string`;
  if (/^\d*\.?\d+$|^\d+\.$/.test(text)) return Number(text) * 1000;
  let ms = 0;
  let rest = text;
  while (rest) {
    const m = /^(\d*\.?\d*)([^\d.]*)/.exec(rest);
    if (!m[1]) throw `${like}, got \`${value}\``;
    if (Number.isNaN(Number(m[1]))) throw `\`${m[1]}\` in \`${value}\` is not a number`;
    if (!(m[2] in UNITS)) throw `unknown unit \`${m[2]}\` in \`${value}\`: use ms, s, m or h`;
    ms += Number(m[1]) * UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return ms;
}

// Milliseconds as the hooks' messages write them (the Rust SDK's `format_duration`):
// seconds, up to three decimals, no trailing zeros: `300s`, `1.5s`, `0.25s`.
export function formatDuration(ms) {
  const whole = Math.floor(ms);
  const frac = String(whole % 1000).padStart(3, '0').replace(/0+$/, '');
  return `${Math.floor(whole / 1000)}${frac ? `.${frac}` : ''}s`;
}

// --- following a Job or a rollout -----------------------------------------------------------

// Follow Job `name`: yields plain events in order, each `{type, ...fields}`:
//   {type: 'attempt-started', pod, index, limit}     limit: undefined when the Job says none
//   {type: 'log', pod, container, text}
//   {type: 'attempt-ended', pod, exitCode, reason, message, succeeded}
//   {type: 'cannot-start', pod, reason, message}
//   {type: 'logs-unavailable', pod, reason, message}
//   {type: 'complete', reason, message}                the last event
//   {type: 'failed', reason, message}                  the last event
//   {type: 'timeout'}                                  after `timeoutMs`; the last event
// Options: namespace (default: the app's), logs (true), container (default: every
// container), pullGraceMs (30000: how long a failing image pull, ErrImagePull or
// ImagePullBackOff, may last before it is said as 'cannot-start'), timeoutMs (default: none; the host's deadline applies).
// Throws ClusterError (e.g. `forbidden` without the grants). Breaking out of the loop stops
// following.
export function followJob(name, { namespace, logs = true, container, pullGraceMs = 30000, timeoutMs } = {}) {
  const what = `follow Job/${name}`;
  const options = { logs, container, pullGraceMs };
  return follow(what, () => progress.followJob(name, namespace, options), timeoutMs);
}

// Follow the rollout of Deployment `name`, as followJob does:
//   {type: 'progress', desired, updated, ready, available, observed}
//   {type: 'cannot-start', pod, reason, message}
//   {type: 'complete', desired, updated, ready, available, observed}   the last event
//   {type: 'failed', reason, message}                                  the last event
//   {type: 'timeout'}                                                  after `timeoutMs`
export function followRollout(name, { namespace, timeoutMs } = {}) {
  const what = `follow Deployment/${name}`;
  return follow(what, () => progress.followRollout(name, namespace), timeoutMs);
}

// What a Job's failure or timeout report needs about its attempts, kept from its events
// (`take(e)` each one): per pod, in order of appearance, the last `tailLines` log lines, the
// exit code and termination message, and why its log could not be read.
export class Attempts {
  constructor(tailLines = 20) {
    this.tail = Math.max(tailLines, 1);
    this.pods = new Map();
  }

  take(e) {
    if (!e.pod) return;
    const a = this.get(e.pod) || this.pods.set(e.pod, { pod: e.pod, lines: [] }).get(e.pod);
    if (e.type === 'log' && a.lines.push(e.text) > this.tail) a.lines.shift();
    if (e.type === 'attempt-ended') Object.assign(a, { exitCode: e.exitCode, message: e.message });
    if (e.type === 'logs-unavailable') a.unreadable = e.message;
  }

  get(pod) {
    return this.pods.get(pod);
  }

  // The last attempt (undefined when the Job started none).
  last() {
    return [...this.pods.values()].pop();
  }

  // The report's lines about `pod` (default: the last attempt), as the Rust SDK writes them:
  // `Last log lines (N):` and `  [pod/NAME] LINE` each; or `No log lines from pod NAME: WHY`;
  // or `No log lines: the Job started no pod`.
  report(pod) {
    const a = pod ? this.get(pod) : this.last();
    if (!a) return ['No log lines: the Job started no pod'];
    if (!a.lines.length) return [`No log lines from pod ${a.pod}: ${a.unreadable || 'it printed nothing'}`];
    return [`Last log lines (${a.lines.length}):`, ...a.lines.map((l) => `  [pod/${a.pod}] ${l}`)];
  }
}

// One loop for both: take what is there; when nothing is, end at the deadline or block in
// one poll on the feed and the timer. Says how often it waited (debug), to show it never spins.
function* follow(what, open, timeoutMs) {
  const started = now();
  const feed = call(what, open);
  const ready = feed.subscribe();
  const timer = timeoutMs == null ? null : subscribeInstant(started + BigInt(Math.round(timeoutMs * 1e6)));
  let wakeups = 0;
  try {
    for (;;) {
      const item = call(what, () => feed.tryNext());
      if (item.tag === 'end') return;
      if (item.tag === 'event') {
        yield { type: item.val.tag, ...item.val.val };
      } else if (timer && timer.ready()) {
        yield { type: 'timeout' };
        return;
      } else {
        wakeups += 1;
        poll(timer ? [ready, timer] : [ready]);
      }
    }
  } finally {
    // Children first: a pollable must go before the resource it watches.
    for (const r of [timer, ready, feed]) if (r) r[DISPOSE]();
    debug(`${what}: ${wakeups} wake-ups in ${formatDuration(Number(now() - started) / 1e6)}`);
  }
}
