// The chart catalog and the install wizard: a form made from the chart's
// params, the server's validation, a preview of the manifests and the DAG,
// then "Create and deploy".
import {h, replace, clear, link, seg} from './dom.js';
import * as api from './api.js';
import {drawDag} from './dag.js';
import {errorBox, guarded, section} from './ui.js';
import {projectHref} from './pages_lists.js';

function icon(chart) {
  const letter = h('span', {class: 'chart-icon letter', 'aria-hidden': 'true'},
                   (chart.display_name || chart.name || '?').slice(0, 1).toUpperCase());
  if (!/^https:\/\//.test(chart.icon_url || '')) return letter;
  const img = h('img', {class: 'chart-icon', src: chart.icon_url, alt: '', loading: 'lazy', referrerpolicy: 'no-referrer'});
  img.addEventListener('error', () => img.replaceWith(letter));
  return img;
}

export async function chartsPage(main, ctx) {
  main.appendChild(h('h1', {}, 'Infra charts'));
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading charts…'));
  main.appendChild(body);
  const charts = await guarded(body, () => api.listAll('InfraChartService/ListInfraCharts', {}, 'charts'));
  if (!charts || !ctx.alive()) return;
  // Newest version of each chart (the list is by name, newest first).
  const newest = new Map();
  for (const c of charts) if (!newest.has(c.name)) newest.set(c.name, {chart: c, versions: []});
  for (const c of charts) newest.get(c.name).versions.push(c.version);
  if (!newest.size) {
    replace(body, h('p', {class: 'empty'}, 'No charts yet: push one with ', h('code', {}, 'plinth chart push DIR'), '.'));
    return;
  }
  replace(body, h('div', {class: 'cards'}, [...newest.values()].map(({chart: c, versions}) => h('article', {class: 'card'},
    h('div', {class: 'card-head'}, icon(c), h('div', {},
      h('h2', {}, c.display_name || c.name),
      h('p', {class: 'muted small'}, `${c.name} ${c.version}`, versions.length > 1 ? ` (${versions.length} versions)` : ''))),
    h('p', {class: 'desc'}, c.description || ''),
    h('p', {class: 'muted small'}, `${c.template_count} templates, ${(c.params || []).filter(p => !p.hidden).length} params`),
    h('a', {class: 'btn primary', href: `#/charts/${seg(c.name)}/install?version=${encodeURIComponent(c.version)}`}, 'Install…')))));
}

// A param's input, and how to read it back (undefined: left empty).
function paramField(p) {
  const id = `param-${p.name}`;
  const dflt = p.has_default ? p.default_value : undefined;
  let input, read;
  switch (p.type) {
    case 'bool':
      input = h('input', {id, type: 'checkbox', name: p.name, checked: dflt === true});
      read = () => input.checked;
      break;
    case 'number':
      input = h('input', {id, type: 'number', name: p.name, step: 'any', value: dflt === undefined ? '' : String(dflt)});
      read = () => (input.value === '' ? undefined : Number(input.value));
      break;
    case 'string_enum':
      input = h('select', {id, name: p.name},
        p.has_default ? null : h('option', {value: ''}, '— choose —'),
        (p.enum_values || []).map(v => h('option', {value: v, selected: v === dflt}, v)));
      read = () => (input.value === '' ? undefined : input.value);
      break;
    case 'list':
      input = h('textarea', {id, name: p.name, rows: 3, placeholder: 'one item per line'});
      input.value = Array.isArray(dflt) ? dflt.join('\n') : '';
      read = () => (input.value.trim() === '' ? (p.has_default ? [] : undefined)
                    : input.value.split('\n').map(x => x.trim()).filter(Boolean));
      break;
    default:
      input = h('input', {id, type: 'text', name: p.name, value: dflt === undefined || dflt === null ? '' : String(dflt),
                          autocomplete: 'off'});
      read = () => (input.value === '' ? undefined : input.value);
  }
  const message = h('div', {class: 'field-error', role: 'alert'});
  const required = !p.has_default;
  const row = h('div', {class: `field${required ? ' required' : ''}`, dataset: {param: p.name}},
    h('label', {for: id}, p.name, required ? h('span', {class: 'req', title: 'required'}, ' *') : null),
    input,
    p.description ? h('p', {class: 'help'}, p.description) : null,
    message);
  return {name: p.name, row, read, message};
}

export async function installPage(main, ctx, name) {
  const version = new URLSearchParams(ctx.query || '').get('version') || '';
  main.appendChild(h('h1', {}, 'Install ', name));
  const body = h('div', {}, h('p', {class: 'muted'}, 'Loading the chart…'));
  main.appendChild(body);
  const chart = await guarded(body, () => api.call('InfraChartService/GetInfraChart', {name, version}));
  if (!chart || !ctx.alive()) return;
  const ref = {name: chart.name, version: chart.version};
  const target = {
    org: h('input', {id: 'install-org', type: 'text', name: 'org', value: 'acme', autocomplete: 'off'}),
    env: h('input', {id: 'install-env', type: 'text', name: 'env', value: 'dev', autocomplete: 'off'}),
    name: h('input', {id: 'install-name', type: 'text', name: 'project', value: chart.name, autocomplete: 'off'}),
  };
  const fields = (chart.params || []).filter(p => !p.hidden).map(paramField);
  const problems = h('div', {class: 'problems'});
  const preview = h('div', {class: 'preview'});

  const values = () => {
    const v = {};
    for (const f of fields) {
      const x = f.read();
      if (x !== undefined) v[f.name] = x;
    }
    return v;
  };
  // The server's message, next to the field it names when it names one.
  const show = (err) => {
    for (const f of fields) replace(f.message);
    replace(problems, errorBox(err));
    const named = new Set();
    for (const v of err.fieldViolations ? err.fieldViolations() : []) {
      for (const f of fields) if (String(v.field || '').split('.').pop() === f.name) { replace(f.message, v.description); named.add(f.name); }
    }
    for (const f of fields) {
      if (!named.has(f.name) && new RegExp(`\\b${f.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).test(err.message || '')) {
        replace(f.message, err.message);
      }
    }
  };
  const clearProblems = () => { replace(problems); for (const f of fields) replace(f.message); };

  const doPreview = async () => {
    clearProblems();
    replace(preview, h('p', {class: 'muted'}, 'Rendering…'));
    try {
      const r = await api.call('InfraChartService/RenderInfraChart', {chart: ref, values_yaml: JSON.stringify(values()),
                                                                      org: target.org.value, env: target.env.value});
      const host = h('div', {class: 'dag-host'});
      replace(preview, section(`Preview: ${(r.manifests || []).length} manifests (nothing is stored yet)`,
        h('div', {class: 'dag-scroll preview-dag'}, host),
        h('details', {}, h('summary', {}, 'Rendered manifests'), h('pre', {class: 'yaml'}, r.manifests_yaml || ''))));
      drawDag(host, r.graph || {}, {});
    } catch (err) {
      replace(preview);
      show(err);
    }
  };
  const doCreate = async (e) => {
    e.preventDefault();
    clearProblems();
    const req = {org: target.org.value, env: target.env.value, name: target.name.value, chart: ref,
                 values_yaml: JSON.stringify(values())};
    create.disabled = true;
    try {
      await api.call('InfraProjectService/CreateInfraProject', req);
      location.hash = projectHref(req);
    } catch (err) {
      show(err);
    } finally {
      create.disabled = false;
    }
  };
  const create = h('button', {class: 'btn primary', type: 'submit', id: 'create-deploy'}, 'Create and deploy');
  // No browser-side `required`: the server is the one judge of the values,
  // and its message is what the user sees.
  const form = h('form', {class: 'wizard', novalidate: true, onsubmit: doCreate},
    h('p', {class: 'desc'}, chart.description || ''),
    h('fieldset', {}, h('legend', {}, 'Where'),
      h('div', {class: 'field required'}, h('label', {for: 'install-org'}, 'Org'), target.org),
      h('div', {class: 'field required'}, h('label', {for: 'install-env'}, 'Env'), target.env),
      h('div', {class: 'field required'}, h('label', {for: 'install-name'}, 'Project name'), target.name)),
    h('fieldset', {}, h('legend', {}, `Parameters of ${chart.display_name || chart.name} ${chart.version}`),
      fields.length ? fields.map(f => f.row) : h('p', {class: 'muted'}, 'This chart has no parameters.')),
    problems,
    h('div', {class: 'actions'},
      h('button', {class: 'btn', type: 'button', id: 'preview', onclick: doPreview}, 'Preview'), ' ', create));
  replace(body, h('div', {class: 'wizard-layout'}, form, preview));
}
