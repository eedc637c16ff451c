// Line diff (longest common subsequence), for revisions.

// [{op: ' ' | '+' | '-', text}]
export function diffLines(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  // Trim the common head and tail so that the table stays small.
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  const out = x.slice(0, head).map(text => ({op: ' ', text}));
  if (xs.length * ys.length > 4e6) {
    // Too large to align: all of one, then all of the other.
    for (const text of xs) out.push({op: '-', text});
    for (const text of ys) out.push({op: '+', text});
  } else {
    const n = xs.length, m = ys.length;
    const w = m + 1;
    const L = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        L[i * w + j] = xs[i] === ys[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
      }
    }
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (xs[i] === ys[j]) { out.push({op: ' ', text: xs[i]}); i++; j++; }
      else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) out.push({op: '-', text: xs[i++]});
      else out.push({op: '+', text: ys[j++]});
    }
    while (i < n) out.push({op: '-', text: xs[i++]});
    while (j < m) out.push({op: '+', text: ys[j++]});
  }
  for (const text of x.slice(x.length - tail)) out.push({op: ' ', text});
  return out;
}

// Only the changed lines with `context` lines around them; gaps as '…'.
export function hunks(lines, context = 3) {
  const keep = new Array(lines.length).fill(false);
  lines.forEach((l, i) => {
    if (l.op !== ' ') for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++) keep[k] = true;
  });
  const out = [];
  let gap = false;
  lines.forEach((l, i) => {
    if (keep[i]) { out.push(l); gap = false; }
    else if (!gap) { out.push({op: '…', text: ''}); gap = true; }
  });
  return out;
}
