// JSON values as YAML text, for reading manifests and outputs.

const PLAIN = /^[A-Za-z0-9_./][A-Za-z0-9_./ -]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function scalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const str = String(v);
  if (str === '' || !PLAIN.test(str) || RESERVED.test(str) || /^[0-9.+-]/.test(str) || / $/.test(str)) {
    return JSON.stringify(str);
  }
  return str;
}

function key(k) {
  return PLAIN.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k);
}

function lines(v, indent, out) {
  const pad = '  '.repeat(indent);
  if (Array.isArray(v)) {
    if (!v.length) return void out.push(pad + '[]');
    for (const item of v) {
      if (item !== null && typeof item === 'object' && Object.keys(item).length) {
        const sub = [];
        lines(item, indent + 1, sub);
        out.push(pad + '- ' + sub[0].trimStart());
        for (const l of sub.slice(1)) out.push(l);
      } else {
        out.push(pad + '- ' + inline(item));
      }
    }
    return;
  }
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    if (!keys.length) return void out.push(pad + '{}');
    for (const k of keys) {
      const x = v[k];
      if (x !== null && typeof x === 'object' && (Array.isArray(x) ? x.length : Object.keys(x).length)) {
        out.push(pad + key(k) + ':');
        lines(x, Array.isArray(x) ? indent : indent + 1, out);
      } else {
        out.push(pad + key(k) + ': ' + inline(x));
      }
    }
    return;
  }
  out.push(pad + scalar(v));
}

function inline(v) {
  if (Array.isArray(v)) return '[]';
  if (v !== null && typeof v === 'object') return '{}';
  if (typeof v === 'string' && v.includes('\n')) return JSON.stringify(v);
  return scalar(v);
}

// Manifests read in their usual order (protobuf's Struct keeps none).
const MANIFEST_ORDER = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

function manifestOrder(v) {
  if (!v || typeof v !== 'object' || Array.isArray(v) || !('kind' in v)) return v;
  const out = {};
  for (const k of MANIFEST_ORDER) if (k in v) out[k] = v[k];
  for (const k of Object.keys(v)) if (!(k in out)) out[k] = v[k];
  if (out.metadata && typeof out.metadata === 'object') {
    const m = {};
    for (const k of ['name', 'org', 'env', 'group', 'labels', 'annotations']) if (k in out.metadata) m[k] = out.metadata[k];
    for (const k of Object.keys(out.metadata)) if (!(k in m)) m[k] = out.metadata[k];
    out.metadata = m;
  }
  return out;
}

export function toYaml(v) {
  const out = [];
  lines(manifestOrder(v), 0, out);
  return out.join('\n') + '\n';
}
