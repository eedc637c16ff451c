// A project (its live DAG, revisions and actions) and a pipeline (nodes,
// jobs, gates).
import {h, replace, clear, badge, when, table, link, seg} from './dom.js';
import * as api from './api.js';
import {toYaml} from './yaml.js';
import {drawDag, nodeKey} from './dag.js';
import {errorBox, guarded, kv, section, confirmDialog, toast, jobLog} from './ui.js';
import {ENDED, projectHref, resourceHref, outputsView, diffView} from './pages_lists.js';

// A pipeline's node states by node key; nodes it does not run keep their
// deployed / not deployed state.
function statesOf(project, pipeline) {
  const out = new Map();
  for (const r of project.resources || []) {
    if (r.in_current_revision) out.set(`${r.env}/${r.kind}/${r.name}`, r.deployed ? 'deployed' : 'not_deployed');
  }
  if (pipeline) for (const n of pipeline.nodes || []) out.set(nodeKey(n), n.state);
  return out;
}

export async function projectPage(main, ctx, org, env, name) {
  const ref = {org, env, name};
  const head = h('div', {class: 'page-head'});
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading the project…'));
  main.append(head, body);
  let project = await guarded(body, () => api.call('InfraProjectService/GetInfraProject', {project: ref}));
  if (!project || !ctx.alive()) return;
  const graph = await guarded(body, () => api.call('InfraProjectService/GetInfraProjectGraph', {project: ref}));
  if (!graph || !ctx.alive()) return;

  const pipelineLine = h('span', {class: 'pipeline-line'});
  const actions = h('div', {class: 'actions'});
  const dagHost = h('div', {class: 'dag-host', 'aria-label': 'project graph'});
  const side = h('aside', {class: 'side'}, h('p', {class: 'muted'}, 'Select a node to see its manifest, outputs, history and log.'));
  const tabs = h('div', {class: 'tabs'});
  const tabBody = h('div', {});
  replace(head, h('h1', {}, name, ' ', h('span', {class: 'muted small'}, `${org}/${env}`)),
    h('p', {class: 'muted'}, project.chart_name ? `chart ${project.chart_name} ${project.chart_version}` : 'manifests from Git',
      `, revision ${project.revision}`, ' · '), pipelineLine, actions);
  replace(body, tabs, tabBody);

  let pipeline = project.last_pipeline && project.last_pipeline.id ? project.last_pipeline : null;
  let dag = null;
  let stopWatch = null;
  let closeLog = null;
  ctx.defer(() => { if (stopWatch) stopWatch(); if (closeLog) closeLog(); });

  const showPipeline = () => {
    replace(pipelineLine, pipeline
      ? h('span', {}, 'last pipeline ', link(`#/pipelines/${seg(pipeline.id)}`, pipeline.id), ' ', badge(pipeline.state),
          ` (${pipeline.trigger}, revision ${pipeline.revision})`)
      : h('span', {class: 'muted'}, 'no pipeline has run'));
    if (dag) dag.setStates(statesOf(project, pipeline));
  };

  // Follows the project: its newest pipeline, live, including ones started
  // elsewhere (the CLI, a webhook). Reconnects after a failure.
  const follow = () => {
    stopWatch = api.stream('InfraPipelineService/WatchInfraPipeline', {org, env, project_name: name}, (p) => {
      const fresh = !pipeline || p.id !== pipeline.id || Number(p.change) > Number(pipeline.change);
      if (!fresh) return;
      pipeline = p;
      showPipeline();
      if (ENDED.has(p.state)) refreshProject();
    }, () => {
      stopWatch = null;
      const retry = setTimeout(() => { if (ctx.alive()) follow(); }, 3000);
      ctx.defer(() => clearTimeout(retry));
    });
  };

  const refreshProject = async () => {
    try {
      project = await api.call('InfraProjectService/GetInfraProject', {project: ref});
      if (ctx.alive()) showPipeline();
    } catch (e) { /* shown on the next action */ }
  };

  const act = async (label, f) => {
    try {
      const res = await f();
      if (res && res.pipeline && res.pipeline.id) {
        pipeline = res.pipeline;
        showPipeline();
      }
      if (res && res.project) project = res.project;
      toast(`${label}: done${res && res.note ? ' (' + res.note + ')' : ''}`);
      return res;
    } catch (err) {
      toast(`${label}: ${err.message}`, 'bad');
      return null;
    }
  };

  replace(actions,
    h('button', {class: 'btn primary', type: 'button', onclick: () => act('Run pipeline',
      () => api.call('InfraProjectService/RunInfraProjectPipeline', {project: ref}))}, 'Run pipeline'),
    h('button', {class: 'btn danger', type: 'button', onclick: async () => {
      const ok = await confirmDialog({title: `Undeploy ${name}?`, danger: true, action: 'Undeploy', expected: name,
        message: `Every cloud resource of ${org}/${env}/${name} is destroyed, in reverse dependency order.`});
      if (ok !== null) act('Undeploy', () => api.call('InfraProjectService/UndeployInfraProject', {project: ref}));
    }}, 'Undeploy…'));

  const selectNode = async (n) => {
    dag.select(nodeKey(n));
    if (closeLog) { closeLog(); closeLog = null; }
    replace(side, h('h2', {}, h('span', {class: 'muted'}, `${n.kind} `), n.name), h('p', {class: 'muted'}, 'Loading…'));
    const key = {org, env: n.env || env, kind: n.kind, name: n.name};
    const [r, jobs, revs] = await Promise.all([
      api.call('CloudResourceService/GetCloudResource', {key}).catch(e => e),
      api.call('StackJobService/ListStackJobs', {key, page_size: 1}).catch(e => e),
      api.call('CloudResourceService/ListCloudResourceRevisions', {key, page_size: 20}).catch(e => e),
    ]);
    if (!ctx.alive()) return;
    const parts = [h('h2', {}, h('span', {class: 'muted'}, `${n.kind} `), n.name),
                   h('p', {}, link(resourceHref(key), 'Open the resource'))];
    if (r instanceof Error) parts.push(errorBox(r));
    else parts.push(h('h3', {}, 'Manifest'), h('pre', {class: 'yaml'}, toYaml(r.manifest || {})),
                    h('h3', {}, 'Outputs'), outputsView(r.outputs));
    if (!(revs instanceof Error)) {
      parts.push(h('h3', {}, 'History'), table([
        {title: 'Version', cell: v => String(v.version)}, {title: 'Action', cell: v => v.action},
        {title: 'By', cell: v => v.actor}, {title: 'When', cell: v => when(v.create_time)}], revs.revisions || []));
    }
    const job = !(jobs instanceof Error) && (jobs.jobs || [])[0];
    if (job) {
      const log = jobLog(job.id);
      closeLog = log.close;
      parts.push(h('h3', {}, 'Latest job ', link(`#/jobs/${seg(job.id)}`, job.id), ' ', badge(job.state)), log.el);
    } else {
      parts.push(h('p', {class: 'muted'}, 'No stack job has run for it yet.'));
    }
    replace(side, parts);
  };

  const graphTab = () => {
    clear(dagHost);
    dag = drawDag(dagHost, graph.graph || {}, {onSelect: selectNode});
    dag.setStates(statesOf(project, pipeline));
    return h('div', {class: 'project-body'}, h('div', {class: 'dag-scroll'}, dagHost), side);
  };

  const revisionsTab = async () => {
    const box = h('div', {}, h('p', {class: 'muted'}, 'Loading revisions…'));
    const res = await guarded(box, () => api.call('InfraProjectService/ListInfraProjectRevisions', {project: ref, page_size: 100}));
    if (!res) return box;
    const revs = res.revisions || [];
    replace(box, table([
      {title: 'Revision', cell: r => String(r.revision) + (Number(r.revision) === Number(project.revision) ? ' (current)' : '')},
      {title: 'When', cell: r => when(r.create_time)},
      {title: 'By', cell: r => r.actor},
      {title: 'Chart', cell: r => `${r.chart_name} ${r.chart_version}`},
      {title: 'Change', cell: r => {
        const d = r.diff || {};
        const txt = `+${(d.added || []).length} ~${(d.changed || []).length} -${(d.removed || []).length}` +
                    (Number(r.rollback_of) ? ` (rollback to ${r.rollback_of})` : '');
        const older = revs.find(o => Number(o.revision) === Number(r.revision) - 1);
        if (!older) return txt;
        const out = h('div', {class: 'diff-box'});
        const btn = h('button', {class: 'btn small', type: 'button', onclick: () => {
          if (out.firstChild) { replace(out); return; }
          replace(out, diffView(older.manifests_yaml || '', r.manifests_yaml || ''));
        }}, 'Diff');
        return h('div', {}, txt, ' ', btn, out);
      }},
      {title: '', cell: r => Number(r.revision) === Number(project.revision) ? '' :
        h('button', {class: 'btn small', type: 'button', dataset: {rollback: String(r.revision)}, onclick: async () => {
          const ok = await confirmDialog({title: `Roll back to revision ${r.revision}?`, action: 'Roll back',
            message: `A new revision with revision ${r.revision}'s chart, values and manifests, deployed at once.`});
          if (ok === null) return;
          const done = await act('Rollback', () => api.call('InfraProjectService/RollbackInfraProject', {project: ref, revision: String(r.revision)}));
          if (done) location.hash = projectHref(ref);
        }}, 'Roll back')},
    ], revs));
    return box;
  };

  const pipelinesTab = async () => {
    const box = h('div', {}, h('p', {class: 'muted'}, 'Loading pipelines…'));
    const res = await guarded(box, () => api.call('InfraPipelineService/ListInfraPipelines', {org, env, project_name: name, page_size: 50}));
    if (!res) return box;
    replace(box, table([
      {title: 'Pipeline', cell: p => link(`#/pipelines/${seg(p.id)}`, p.id)},
      {title: 'Kind', cell: p => p.kind}, {title: 'Trigger', cell: p => p.trigger},
      {title: 'Revision', cell: p => String(p.revision)}, {title: 'State', cell: p => badge(p.state)},
      {title: 'Created', cell: p => `${when(p.create_time)} by ${p.created_by}`},
    ], res.pipelines || []));
    return box;
  };

  const tabList = [['Graph', graphTab], ['Revisions', revisionsTab], ['Pipelines', pipelinesTab]];
  const open = async (i) => {
    [...tabs.children].forEach((b, k) => b.classList.toggle('active', k === i));
    const content = await tabList[i][1]();
    if (ctx.alive()) replace(tabBody, content);
  };
  tabList.forEach(([label], i) => tabs.appendChild(h('button', {class: 'tab', type: 'button', onclick: () => open(i)}, label)));
  await open(0);
  showPipeline();
  if (ctx.alive()) follow();
}

export async function pipelinePage(main, ctx, id) {
  const head = h('div', {class: 'page-head'});
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading the pipeline…'));
  main.append(head, body);
  let p = await guarded(body, () => api.call('InfraPipelineService/GetInfraPipeline', {id}));
  if (!p || !ctx.alive()) return;
  const gateBox = h('div', {});
  const nodesBox = h('div', {});
  const logBox = h('div', {});
  let closeLog = null;
  ctx.defer(() => { if (closeLog) closeLog(); });

  const resolve = async (node, approve) => {
    const what = node ? `${node.kind}/${node.name}` : 'the pipeline';
    const comment = await confirmDialog({title: `${approve ? 'Approve' : 'Reject'} ${what}?`, comment: true,
      action: approve ? 'Approve' : 'Reject', danger: !approve,
      message: approve ? 'It goes on at once.' : 'The pipeline stops here.'});
    if (comment === null) return;
    try {
      p = await api.call('InfraPipelineService/ResolveGate', {pipeline_id: id, node: node ? `${node.kind}/${node.name}` : '',
                                                            approve, comment});
      toast(approve ? 'Approved' : 'Rejected');
      draw();
    } catch (err) { toast(err.message, 'bad'); }
  };
  const openLog = (jobId) => {
    if (closeLog) closeLog();
    const log = jobLog(jobId);
    closeLog = log.close;
    replace(logBox, section(`Log of ${jobId}`, log.el));
  };

  const draw = () => {
    replace(head, h('h1', {}, 'Pipeline ', h('code', {}, p.id)),
      kv([['Project', link(projectHref({org: p.org, env: p.env, name: p.project_name}), `${p.org}/${p.env}/${p.project_name}`)],
          ['State', badge(p.state)], ['Kind', `${p.kind} (${p.trigger})`], ['Revision', String(p.revision)],
          ['Created', `${when(p.create_time)} by ${p.created_by}`], ['Error', p.error]]),
      ENDED.has(p.state) ? null : h('button', {class: 'btn danger', type: 'button', onclick: async () => {
        const ok = await confirmDialog({title: 'Cancel this pipeline?', action: 'Cancel pipeline', danger: true,
          message: 'Running jobs get a graceful cancel; queued and waiting nodes are cancelled.'});
        if (ok === null) return;
        try { p = await api.call('InfraPipelineService/CancelInfraPipeline', {id}); draw(); }
        catch (err) { toast(err.message, 'bad'); }
      }}, 'Cancel pipeline'));
    replace(gateBox, p.gate === 'waiting'
      ? h('div', {class: 'gate'}, h('strong', {}, 'This pipeline waits for an approval before it starts. '),
          h('button', {class: 'btn primary', type: 'button', dataset: {gate: 'pipeline'}, onclick: () => resolve(null, true)}, 'Approve…'), ' ',
          h('button', {class: 'btn danger', type: 'button', onclick: () => resolve(null, false)}, 'Reject…'))
      : null,
      (p.decisions || []).length ? section('Decisions', table([
        {title: 'Target', cell: d => d.target}, {title: 'Stage', cell: d => d.stage},
        {title: 'Decision', cell: d => d.approved ? badge('approved') : badge('rejected')},
        {title: 'By', cell: d => d.actor}, {title: 'Message', cell: d => d.comment}, {title: 'When', cell: d => when(d.time)}],
        p.decisions)) : null);
    replace(nodesBox, section('Nodes', table([
      {title: '#', cell: n => String(n.index)},
      {title: 'Layer', cell: n => String(n.layer)},
      {title: 'Resource', cell: n => link(resourceHref({org: p.org, env: n.env, kind: n.kind, name: n.name}), `${n.kind}/${n.name}`)},
      {title: 'Operation', cell: n => n.operation},
      {title: 'State', cell: n => h('span', {}, badge(n.state), n.awaiting ? ` (${n.awaiting === 'plan' ? 'after its plan' : 'before its job'})` : '')},
      {title: 'Plan', cell: n => n.summary && n.summary.operation ? `+${n.summary.add} ~${n.summary.change} -${n.summary.remove}` : ''},
      {title: 'Job', cell: n => n.stack_job_id
        ? h('button', {class: 'btn small', type: 'button', dataset: {job: n.stack_job_id}, onclick: () => openLog(n.stack_job_id)}, 'Log')
        : ''},
      {title: '', cell: n => n.state === 'awaiting_approval'
        ? h('span', {}, h('button', {class: 'btn small primary', type: 'button', dataset: {approve: `${n.kind}/${n.name}`},
                                     onclick: () => resolve(n, true)}, 'Approve…'), ' ',
            h('button', {class: 'btn small danger', type: 'button', onclick: () => resolve(n, false)}, 'Reject…'))
        : (n.error ? h('span', {class: 'bad'}, n.error) : '')},
    ], p.nodes || [], {empty: 'This pipeline has no nodes.'})));
  };
  replace(body, gateBox, nodesBox, logBox);
  draw();
  if (!ENDED.has(p.state)) {
    ctx.defer(api.stream('InfraPipelineService/WatchInfraPipeline', {id}, (next) => {
      if (Number(next.change) < Number(p.change)) return;
      p = next;
      draw();
    }));
  }
}
