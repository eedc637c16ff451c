// DOM helpers. Everything a user or a manifest wrote reaches the page as
// text (textContent, attribute values): never as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h('a', {href: '#/x', class: 'btn', onclick: fn}, 'text', child, [more])
export function h(tag, props, ...children) {
  return build(document.createElement(tag), props, children);
}

export function s(tag, props, ...children) {
  return build(document.createElementNS(SVG_NS, tag), props, children);
}

function build(el, props, children) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.setAttribute('class', v);
    } else if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = dv;
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'required') {
      el[k] = !!v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// "2026-12-06T21:04:52Z" -> "2026-12-06 21:04:52"; "" -> "".
export function when(ts) {
  if (!ts) return '';
  return String(ts).replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '');
}

// A state as a coloured badge.
export function badge(state) {
  const st = String(state || 'none').toLowerCase();
  return h('span', {class: `badge st-${st.replace(/[^a-z_]/g, '')}`}, st.replace(/_/g, ' '));
}

// A table from rows: cols = [{title, cell: row => node|string}].
export function table(cols, rows, opts = {}) {
  if (!rows.length) return h('p', {class: 'muted empty'}, opts.empty || 'Nothing here yet.');
  return h('table', {class: 'list'},
    h('thead', {}, h('tr', {}, cols.map(c => h('th', {}, c.title)))),
    h('tbody', {}, rows.map(r => h('tr', {}, cols.map(c => h('td', {class: c.class || ''}, c.cell(r)))))));
}

export function link(href, ...children) {
  return h('a', {href}, ...children);
}

// A path segment for a hash route.
export function seg(v) {
  return encodeURIComponent(v);
}
