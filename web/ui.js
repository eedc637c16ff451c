// Shared pieces of the console's pages: errors, dialogs, key-value lists,
// and a stack job's log that follows the job live.
import {h, replace, badge, when} from './dom.js';
import * as api from './api.js';

export function errorBox(err) {
  const code = err && err.code ? err.code : 'ERROR';
  return h('div', {class: 'error', role: 'alert'}, h('strong', {}, code.replace(/_/g, ' ').toLowerCase()), ': ',
           err && err.message ? err.message : String(err));
}

// Runs `f`; shows its failure in `where` (replacing what is there).
export async function guarded(where, f) {
  try {
    return await f();
  } catch (err) {
    replace(where, errorBox(err));
    return undefined;
  }
}

export function kv(pairs) {
  return h('dl', {class: 'kv'}, pairs.filter(p => p[1] !== undefined && p[1] !== null && p[1] !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function section(title, ...body) {
  return h('section', {class: 'panel'}, h('h2', {}, title), ...body);
}

// A modal dialog (never window.confirm: pages run no native dialogs).
// `expected`: text the user must type to confirm. Resolves to the text of
// the comment field (or '') when confirmed, null when cancelled.
export function confirmDialog({title, message, action = 'Confirm', danger = false, expected = '', comment = false}) {
  return new Promise((resolve) => {
    const typed = expected ? h('input', {type: 'text', class: 'typed', 'aria-label': 'confirmation', autocomplete: 'off'}) : null;
    const note = comment ? h('textarea', {class: 'comment', rows: 3, placeholder: 'A message (optional)', 'aria-label': 'message'}) : null;
    const ok = h('button', {class: danger ? 'btn danger' : 'btn primary', type: 'submit', disabled: !!expected}, action);
    if (typed) typed.addEventListener('input', () => { ok.disabled = typed.value !== expected; });
    const close = (v) => { overlay.remove(); resolve(v); };
    const form = h('form', {class: 'dialog', role: 'dialog', 'aria-modal': 'true',
                            onsubmit: (e) => { e.preventDefault(); if (!ok.disabled) close(note ? note.value : ''); }},
      h('h3', {}, title),
      h('p', {}, message),
      expected ? h('p', {}, 'Type ', h('code', {}, expected), ' to confirm.') : null,
      typed, note,
      h('div', {class: 'actions'}, h('button', {class: 'btn', type: 'button', onclick: () => close(null)}, 'Cancel'), ok));
    const overlay = h('div', {class: 'overlay', onkeydown: (e) => { if (e.key === 'Escape') close(null); }}, form);
    document.body.appendChild(overlay);
    (typed || note || ok).focus();
  });
}

export function toast(text, kind = 'info') {
  const t = h('div', {class: `toast ${kind}`, role: 'status'}, text);
  document.body.appendChild(t);
  setTimeout(() => t.remove(), 4000);
}

// Terraform's and OpenTofu's -json lines read as their message.
function readable(line) {
  if (!line.startsWith('{"@level"')) return line;
  try {
    const m = JSON.parse(line);
    const level = m['@level'] === 'info' ? '' : `[${m['@level']}] `;
    return level + (m['@message'] || line);
  } catch (e) {
    return line;
  }
}

// A stack job's log, following the job until it ends. Returns {el, close}.
export function jobLog(jobId) {
  const pre = h('pre', {class: 'log', 'aria-label': 'job log'});
  const status = h('div', {class: 'log-status muted'}, 'connecting…');
  const el = h('div', {class: 'log-box', dataset: {job: jobId}}, status, pre);
  let last = 0;
  let pending = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(pending.join('')));
    pending = [];
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  };
  const close = api.stream('StackJobService/StreamStackJobEvents', {job_id: jobId}, (ev) => {
    const seq = Number(ev.seq || 0);
    if (seq && seq <= last) return;  // a reconnect replays from the start
    last = seq;
    if (ev.type === 'state') {
      replace(status, 'job ', badge(ev.state));
      return;
    }
    if (ev.type === 'event') return;
    const prefix = ev.type === 'system' ? '▸ ' : ev.type === 'stderr' ? '! ' : '';
    pending.push(prefix + readable(String(ev.text || '')) + (String(ev.text || '').endsWith('\n') ? '' : '\n'));
    if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
  }, (err) => {
    if (err) replace(status, errorBox(err));
    else if (!status.querySelector('.badge')) replace(status, 'log ended');
  });
  return {el, close};
}

export function jobRow(j) {
  return [h('a', {href: `#/jobs/${encodeURIComponent(j.id)}`}, j.id), `${j.kind}/${j.name}`, j.operation, badge(j.state), when(j.create_time)];
}
