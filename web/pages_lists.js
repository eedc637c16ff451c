// Overview, cloud resources, stack jobs and connections.
import {h, replace, badge, when, table, link, seg} from './dom.js';
import * as api from './api.js';
import {toYaml} from './yaml.js';
import {diffLines, hunks} from './diff.js';
import {errorBox, guarded, kv, section, jobLog, jobRow} from './ui.js';

const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

export function projectHref(p) {
  return `#/projects/${seg(p.org)}/${seg(p.env)}/${seg(p.name)}`;
}

export function resourceHref(r) {
  return `#/resources/${seg(r.org)}/${seg(r.env)}/${seg(r.kind)}/${seg(r.name)}`;
}

export async function overviewPage(main, ctx) {
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading projects…'));
  main.appendChild(h('h1', {}, 'Overview'));
  main.appendChild(body);
  const projects = await guarded(body, () => api.listAll('InfraProjectService/ListInfraProjects', {}, 'projects'));
  if (!projects || !ctx.alive()) return;
  const scopes = new Map();
  for (const p of projects) {
    const k = `${p.org}/${p.env}`;
    if (!scopes.has(k)) scopes.set(k, []);
    scopes.get(k).push(p);
  }
  const waiting = projects.filter(p => p.last_pipeline && p.last_pipeline.state === 'awaiting_approval');
  const out = [];
  out.push(section('Waiting for approval', table([
    {title: 'Project', cell: p => link(projectHref(p), p.name)},
    {title: 'Org/env', cell: p => `${p.org}/${p.env}`},
    {title: 'Pipeline', cell: p => link(`#/pipelines/${seg(p.last_pipeline.id)}`, p.last_pipeline.id)},
    {title: 'Since', cell: p => when(p.last_pipeline.create_time)},
  ], waiting, {empty: 'No pipeline waits for an approval.'})));
  if (!projects.length) {
    out.push(h('p', {class: 'empty'}, 'No infra projects yet. ', link('#/charts', 'Install a chart'), ' to create one.'));
  }
  for (const [scope, list] of [...scopes.entries()].sort()) {
    const deployed = list.reduce((n, p) => n + (p.resources || []).filter(r => r.deployed && r.in_current_revision).length, 0);
    out.push(section(`${scope}`, h('p', {class: 'muted'}, `${list.length} project${list.length === 1 ? '' : 's'}, ${deployed} resources deployed`),
      table([
        {title: 'Project', cell: p => link(projectHref(p), p.name)},
        {title: 'Chart', cell: p => p.chart_name ? `${p.chart_name} ${p.chart_version}` : (p.git && p.git.url ? p.git.url : '')},
        {title: 'Revision', cell: p => String(p.revision)},
        {title: 'Resources', cell: p => {
          const rs = (p.resources || []).filter(r => r.in_current_revision);
          return `${rs.filter(r => r.deployed).length}/${rs.length} deployed`;
        }},
        {title: 'Last pipeline', cell: p => p.last_pipeline && p.last_pipeline.id
          ? h('span', {}, badge(p.last_pipeline.state), ' ', link(`#/pipelines/${seg(p.last_pipeline.id)}`, p.last_pipeline.trigger || 'pipeline'))
          : h('span', {class: 'muted'}, 'none')},
      ], list.sort((a, b) => a.name.localeCompare(b.name)))));
  }
  replace(body, out);
}

function filterForm(fields, values, onApply) {
  const inputs = {};
  const form = h('form', {class: 'filters', onsubmit: (e) => {
    e.preventDefault();
    const v = {};
    for (const [k, el] of Object.entries(inputs)) if (el.value.trim()) v[k] = el.value.trim();
    onApply(v);
  }}, fields.map(([k, label, placeholder]) => h('label', {}, label,
    inputs[k] = h('input', {name: k, value: values[k] || '', placeholder: placeholder || ''}))),
  h('button', {class: 'btn', type: 'submit'}, 'Filter'));
  return form;
}

function queryOf(ctx) {
  return Object.fromEntries(new URLSearchParams(ctx.query || ''));
}

function withQuery(path, v) {
  const q = new URLSearchParams(v).toString();
  return q ? `${path}?${q}` : path;
}

export async function resourcesPage(main, ctx) {
  const q = queryOf(ctx);
  main.appendChild(h('h1', {}, 'Cloud resources'));
  main.appendChild(filterForm([['org', 'Org', 'acme'], ['env', 'Env', 'dev'], ['kind', 'Kind', 'KubernetesPostgres'],
                               ['label', 'Label', 'team=payments']], q,
    (v) => { location.hash = withQuery('#/resources', v); }));
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  main.appendChild(body);
  const rs = await guarded(body, () => api.listAll('CloudResourceService/ListCloudResources',
    {org: q.org || '', env: q.env || '', kind: q.kind || '', label_selector: q.label || ''}, 'resources'));
  if (!rs || !ctx.alive()) return;
  replace(body, table([
    {title: 'Kind', cell: r => r.kind},
    {title: 'Name', cell: r => link(resourceHref(r), r.name)},
    {title: 'Org/env', cell: r => `${r.org}/${r.env}`},
    {title: 'Labels', class: 'labels', cell: r => labelsOf(r)},
    {title: 'Deployed', cell: r => r.deployed ? badge('deployed') : badge('not_deployed')},
    {title: 'Version', cell: r => String(r.version)},
    {title: 'Updated', cell: r => when(r.update_time)},
  ], rs, {empty: 'No cloud resources match.'}));
}

function labelsOf(r) {
  const labels = ((r.manifest || {}).metadata || {}).labels || {};
  return Object.entries(labels).map(([k, v]) => h('span', {class: 'label'}, `${k}=${v}`));
}

export async function resourcePage(main, ctx, org, env, kind, name) {
  const key = {org, env, kind, name};
  main.appendChild(h('h1', {}, h('span', {class: 'muted'}, `${kind} `), name));
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  main.appendChild(body);
  const r = await guarded(body, () => api.call('CloudResourceService/GetCloudResource', {key}));
  if (!r || !ctx.alive()) return;
  const [revs, jobs] = await Promise.all([
    api.call('CloudResourceService/ListCloudResourceRevisions', {key, page_size: 50}).catch(e => e),
    api.call('StackJobService/ListStackJobs', {key, page_size: 50}).catch(e => e),
  ]);
  if (!ctx.alive()) return;
  replace(body,
    kv([['Org/env', `${org}/${env}`], ['Version', String(r.version)], ['Deployed', r.deployed ? 'yes' : 'no'],
        ['Updated', `${when(r.update_time)} by ${r.updated_by || r.created_by || ''}`]]),
    h('div', {class: 'cols'},
      section('Manifest', h('pre', {class: 'yaml'}, toYaml(r.manifest || {}))),
      section('Outputs', outputsView(r.outputs))),
    section('Revisions', revisionsView(revs)),
    section('Stack jobs', jobs instanceof Error ? errorBox(jobs) : table([
      {title: 'Job', cell: j => jobRow(j)[0]}, {title: 'Operation', cell: j => j.operation},
      {title: 'State', cell: j => badge(j.state)}, {title: 'Created', cell: j => when(j.create_time)},
    ], jobs.jobs || [], {empty: 'No stack job has run for it.'})));
}

export function outputsView(outputs) {
  const entries = Object.entries(outputs || {});
  if (!entries.length) return h('p', {class: 'muted'}, 'No outputs yet.');
  return kv(entries.map(([k, v]) => [k, typeof v === 'object' && v !== null ? h('pre', {}, toYaml(v)) : String(v)]));
}

// Resource revisions, each with its diff from the one before.
function revisionsView(revs) {
  if (revs instanceof Error) return errorBox(revs);
  const list = revs.revisions || [];
  return table([
    {title: 'Version', cell: v => String(v.version)},
    {title: 'Action', cell: v => v.action},
    {title: 'By', cell: v => v.actor},
    {title: 'When', cell: v => when(v.create_time)},
    {title: 'Change', cell: v => {
      const older = list.find(o => Number(o.version) < Number(v.version));
      if (!older) return h('span', {class: 'muted'}, 'first');
      return diffToggle(toYaml(older.manifest || {}), toYaml(v.manifest || {}));
    }},
  ], list);
}

export function diffToggle(before, after) {
  const box = h('div', {class: 'diff-box'});
  const btn = h('button', {class: 'btn small', type: 'button', onclick: () => {
    if (box.firstChild) { replace(box); btn.textContent = 'Show diff'; return; }
    replace(box, diffView(before, after));
    btn.textContent = 'Hide diff';
  }}, 'Show diff');
  return h('div', {}, btn, box);
}

export function diffView(before, after) {
  const lines = hunks(diffLines(before, after));
  if (!lines.some(l => l.op === '+' || l.op === '-')) return h('p', {class: 'muted'}, 'No change.');
  return h('pre', {class: 'diff'}, lines.map(l => h('span', {class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : l.op === '…' ? 'gap' : ''},
    `${l.op === '…' ? '…' : l.op} ${l.text}\n`)));
}

export async function jobsPage(main, ctx) {
  const q = queryOf(ctx);
  main.appendChild(h('h1', {}, 'Stack jobs'));
  main.appendChild(filterForm([['state', 'State', 'running']], q, (v) => { location.hash = withQuery('#/jobs', v); }));
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  main.appendChild(body);
  const jobs = await guarded(body, () => api.call('StackJobService/ListStackJobs', {state: q.state || '', page_size: 200}));
  if (!jobs || !ctx.alive()) return;
  replace(body, table([
    {title: 'Job', cell: j => jobRow(j)[0]},
    {title: 'Resource', cell: j => link(resourceHref(j), `${j.org}/${j.env}/${j.kind}/${j.name}`)},
    {title: 'Operation', cell: j => j.operation},
    {title: 'State', cell: j => badge(j.state)},
    {title: 'Runner', cell: j => j.runner || ''},
    {title: 'Created', cell: j => when(j.create_time)},
  ], jobs.jobs || [], {empty: 'No stack jobs.'}));
}

export async function jobPage(main, ctx, id) {
  main.appendChild(h('h1', {}, 'Stack job ', h('code', {}, id)));
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  main.appendChild(body);
  const j = await guarded(body, () => api.call('StackJobService/GetStackJob', {id}));
  if (!j || !ctx.alive()) return;
  const log = jobLog(id);
  ctx.defer(log.close);
  const s = j.summary || {};
  replace(body,
    kv([['Resource', link(resourceHref(j), `${j.org}/${j.env}/${j.kind}/${j.name}`)], ['Operation', j.operation],
        ['State', badge(j.state)], ['Engine', `${j.engine} ${j.engine_version || ''}`], ['Runner', j.runner],
        ['Plan', s.operation ? `${s.add} to add, ${s.change} to change, ${s.remove} to destroy` : ''],
        ['Error', j.error], ['Created', `${when(j.create_time)} by ${j.created_by}`]]),
    section('Log', log.el),
    section('Outputs', outputsView(j.outputs)));
}

export async function connectionsPage(main, ctx) {
  main.appendChild(h('h1', {}, 'Connections'));
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading…'));
  main.appendChild(body);
  const cs = await guarded(body, () => api.listAll('ConnectionService/ListConnections', {}, 'connections'));
  if (!cs || !ctx.alive()) return;
  replace(body, table([
    {title: 'Connection', cell: c => `${c.org}/${c.name}`},
    {title: 'Provider', cell: c => c.provider},
    {title: 'Fields', class: 'labels', cell: c => Object.entries(c.fields || {}).map(([k, v]) => h('span', {class: 'label'}, `${k}=${v}`))},
    // Secret values never reach the browser: the API returns only their names.
    {title: 'Secrets', class: 'labels', cell: c => (c.secret_fields || []).map(k => h('span', {class: 'label secret'}, `${k}=••••••`))},
    {title: 'Held by', cell: c => c.runner_held ? 'runner' : 'plinthd'},
    {title: 'Default for', cell: c => (c.default_for || []).join(', ')},
  ], cs, {empty: 'No connections.'}));
}

export {ENDED};
