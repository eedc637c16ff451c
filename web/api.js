// The API in JSON (plinthd's /ui/api and /ui/stream), with the session's
// CSRF token on every call.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || 'UNKNOWN';
    this.details = (body && body.details) || [];
  }
  // google.rpc.BadRequest field violations: [{field, description}].
  fieldViolations() {
    const out = [];
    for (const d of this.details) {
      for (const v of (d.field_violations || d.fieldViolations || [])) out.push(v);
    }
    return out;
  }
}

const session = {identity: '', csrf: ''};
let onSignedOut = () => {};

export function identity() {
  return session.identity;
}

export function whenSignedOut(f) {
  onSignedOut = f;
}

async function json(res) {
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : {};
  } catch (e) {
    return {code: 'UNKNOWN', message: text.slice(0, 200)};
  }
}

// The current session, or null when not signed in; {auth_required} then.
export async function loadSession() {
  const res = await fetch('/ui/session', {credentials: 'same-origin'});
  const body = await json(res);
  if (res.status === 200) {
    session.identity = body.identity;
    session.csrf = body.csrf;
    return body;
  }
  session.identity = session.csrf = '';
  return {signedOut: true, auth_required: body.auth_required !== false};
}

export async function signIn(token) {
  const res = await fetch('/ui/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({token}),
  });
  const body = await json(res);
  if (res.status !== 200) throw new ApiError(res.status, body);
  session.identity = body.identity;
  session.csrf = body.csrf;
  return body;
}

export async function signOut() {
  await fetch('/ui/session', {method: 'DELETE', credentials: 'same-origin', headers: {'X-Plinth-CSRF': session.csrf}});
  session.identity = session.csrf = '';
}

// call('InfraProjectService/ListInfraProjects', {org: 'acme'})
export async function call(method, request = {}) {
  const res = await fetch(`/ui/api/plinth.v1.${method}`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'X-Plinth-CSRF': session.csrf},
    body: JSON.stringify(request),
  });
  const body = await json(res);
  if (res.status === 401) onSignedOut();
  if (res.status !== 200) throw new ApiError(res.status, body);
  return body;
}

// Every page of a List call: items under `field`.
export async function listAll(method, request, field, limit = 5000) {
  let out = [];
  let token = '';
  do {
    const page = await call(method, {...request, page_size: 500, page_token: token});
    out = out.concat(page[field] || []);
    token = page.next_page_token || '';
  } while (token && out.length < limit);
  return out;
}

// A server stream as server-sent events: onMessage(each), onEnd(error|null).
// Returns a function that closes it.
export function stream(method, request, onMessage, onEnd = () => {}) {
  const url = `/ui/stream/plinth.v1.${method}?request=${encodeURIComponent(JSON.stringify(request))}`;
  const es = new EventSource(url);
  let done = false;
  const finish = (err) => {
    if (done) return;
    done = true;
    es.close();
    onEnd(err);
  };
  es.onmessage = (e) => {
    if (!done) onMessage(JSON.parse(e.data));
  };
  es.addEventListener('end', () => finish(null));
  es.addEventListener('failed', (e) => finish(new ApiError(0, JSON.parse(e.data))));
  es.onerror = () => {
    // The browser reconnects by itself; a refused stream (not signed in)
    // closes for good.
    if (es.readyState === EventSource.CLOSED) finish(new ApiError(0, {message: 'the stream was refused'}));
  };
  return () => {
    done = true;
    es.close();
  };
}
