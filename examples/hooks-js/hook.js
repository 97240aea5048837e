// annotate-deployment, in JavaScript: after the migration, read the migrate Job's status and
// server-side-apply an annotation with its outcome on the web Deployment, so whoever looks at
// the Deployment sees which migration it runs against:
//
//   kubes.dev/migration: "complete job/migrate 2026-12-03T07:21:05Z"
//   kubes.dev/migration: "failed job/migrate BackoffLimitExceeded: Job has reached the specified backoff limit"
//   kubes.dev/migration: "running job/migrate"            (neither Complete nor Failed yet)
//
// Config (all optional): `job` (default `migrate`), `deployment` (default: the Deployment in
// the target file, so run it `on: web/deployment`), `annotation` (default
// `kubes.dev/migration`). Grants: `get` on `jobs.batch`, `apply` on `deployments.apps`.
//
// The apply sends only the annotation (field manager `kubes-hook`), so it neither takes nor
// drops the fields `kubes apply` manages.

import { get, apply } from 'kubes:hook/cluster@0.2.0';
import { debug } from 'kubes:hook/log@0.2.0';

const CONFIG_FIELDS = ['job', 'deployment', 'annotation'];
const DEFAULTS = { job: 'migrate', annotation: 'kubes.dev/migration' };

// The hook's error: `run` returns it as `err` and the deploy log shows it.
class HookFailure {
  constructor(message) {
    this.message = message;
  }
}

export function run(ctx) {
  try {
    annotate(ctx);
  } catch (e) {
    // A result's `err` is what the export throws: a string here, whatever went wrong.
    if (e instanceof HookFailure) throw e.message;
    throw `hook ${ctx.hook}: internal error: ${e && e.message ? e.message : String(e)}`;
  }
}

function annotate(ctx) {
  const config = readConfig(ctx);
  const ns = ctx.namespace;
  const dep = deploymentRef(ctx, config);
  const jobRef = { apiVersion: 'batch/v1', kind: 'Job', name: config.job, namespace: dep.namespace };
  const jobWhere = `Job/${config.job} in ${dep.namespace || ns}`;
  const job = JSON.parse(
    call(`get ${jobWhere}`, () => get(jobRef), {
      'not-found': `${jobWhere} not found: no migration to report (run this hook after the migration)`,
    })
  );
  const value = outcome(job, config.job);
  const where = `Deployment/${dep.name} in ${dep.namespace || ns}`;
  if (ctx.dryRun) {
    console.log(`dry run: would annotate ${where}: ${config.annotation}=${value}`);
    return;
  }
  const patch = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: dep.name, annotations: { [config.annotation]: value } },
  };
  if (dep.namespace) patch.metadata.namespace = dep.namespace;
  const stored = JSON.parse(call(`apply ${where}`, () => apply(JSON.stringify(patch))));
  debug(`${where} now at resourceVersion ${stored.metadata && stored.metadata.resourceVersion}`);
  console.log(`annotated ${where}: ${config.annotation}=${value}`);
}

// `complete job/NAME TIME`, `failed job/NAME REASON: MESSAGE` or `running job/NAME`.
function outcome(job, name) {
  const status = job.status || {};
  const done = (status.conditions || []).find(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True'
  );
  if (!done) return `running job/${name}`;
  if (done.type === 'Complete') {
    return `complete job/${name} ${status.completionTime || done.lastTransitionTime || ''}`.trimEnd();
  }
  const why = done.reason || 'Failed';
  return `failed job/${name} ${why}${done.message ? `: ${done.message}` : ''}`;
}

function readConfig(ctx) {
  let config;
  try {
    config = JSON.parse(ctx.configJson);
  } catch (e) {
    throw new HookFailure(`hook ${ctx.hook}: config is not JSON: ${e.message}`);
  }
  if (config === null) config = {};
  const where = `hook ${ctx.hook}: \`config\` in hooks.yaml`;
  if (typeof config !== 'object' || Array.isArray(config)) {
    throw new HookFailure(`${where}: expected a map, got ${ctx.configJson}`);
  }
  for (const key of Object.keys(config)) {
    if (!CONFIG_FIELDS.includes(key)) {
      const expected = CONFIG_FIELDS.map((f) => `\`${f}\``).join(', ');
      throw new HookFailure(`${where}: unknown field \`${key}\`, expected one of ${expected}`);
    }
    if (typeof config[key] !== 'string' || config[key] === '') {
      throw new HookFailure(`${where}: \`${key}\`: expected a name, got ${JSON.stringify(config[key])}`);
    }
  }
  return { ...DEFAULTS, ...config };
}

function deploymentRef(ctx, config) {
  if (config.deployment) return { name: config.deployment, namespace: undefined };
  const objects = ctx.target ? ctx.target.objects : [];
  const dep = objects.find((o) => o.kind === 'Deployment');
  if (!dep) {
    const where = ctx.target ? `${ctx.target.role}/${ctx.target.kind} holds no Deployment` : 'it is a whole-step hook (no `on:`)';
    throw new HookFailure(`hook ${ctx.hook} has no Deployment to annotate: ${where}; name one in its config (\`deployment\`)`);
  }
  return { name: dep.name, namespace: dep.namespace };
}

// Runs a cluster call; its `cluster-error` becomes a HookFailure naming the call (or the
// message `plain` has for that error's tag).
function call(what, f, plain = {}) {
  try {
    return f();
  } catch (e) {
    const tag = errorOf(e) && errorOf(e).tag;
    throw new HookFailure(plain[tag] || `${what}: ${describe(e)}`);
  }
}

function errorOf(e) {
  return e && e.payload !== undefined ? e.payload : e;
}

// `not-found`, `forbidden: hook x has no grant to ...`.
function describe(e) {
  const err = errorOf(e);
  if (err && typeof err.tag === 'string') return err.val ? `${err.tag}: ${err.val}` : err.tag;
  return String(e && e.message ? e.message : e);
}
