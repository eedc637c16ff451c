// The console's shell: sign in, the header, and hash routes to the pages.
import {h, replace, clear, link} from './dom.js';
import * as api from './api.js';
import {errorBox} from './ui.js';
import {overviewPage, resourcesPage, resourcePage, jobsPage, jobPage, connectionsPage} from './pages_lists.js';
import {projectPage, pipelinePage} from './pages_project.js';
import {chartsPage, installPage} from './pages_catalog.js';

const routes = [
  [/^\/$/, overviewPage, 'overview'],
  [/^\/projects\/([^/]+)\/([^/]+)\/([^/]+)$/, projectPage, 'overview'],
  [/^\/pipelines\/([^/]+)$/, pipelinePage, 'overview'],
  [/^\/charts$/, chartsPage, 'charts'],
  [/^\/charts\/([^/]+)\/install$/, installPage, 'charts'],
  [/^\/resources$/, resourcesPage, 'resources'],
  [/^\/resources\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/, resourcePage, 'resources'],
  [/^\/jobs$/, jobsPage, 'jobs'],
  [/^\/jobs\/([^/]+)$/, jobPage, 'jobs'],
  [/^\/connections$/, connectionsPage, 'connections'],
];

const NAV = [['overview', '#/', 'Overview'], ['charts', '#/charts', 'Charts'], ['resources', '#/resources', 'Resources'],
             ['jobs', '#/jobs', 'Jobs'], ['connections', '#/connections', 'Connections']];

let seq = 0;
let cleanups = [];

function header(section) {
  const top = document.getElementById('top');
  if (!api.identity()) return void clear(top);
  replace(top, h('nav', {class: 'bar'},
    h('a', {class: 'brand', href: '#/'}, h('img', {src: '/ui/favicon.svg', alt: ''}), 'plinth'),
    NAV.map(([key, href, label]) => h('a', {href, class: key === section ? 'active' : ''}, label)),
    h('span', {class: 'spacer'}),
    h('span', {class: 'who', title: 'signed in as'}, api.identity()),
    h('button', {class: 'btn small', type: 'button', id: 'sign-out', onclick: async () => {
      await api.signOut();
      location.hash = '#/';
      render();
    }}, 'Sign out')));
}

function signInPage(main, info) {
  header('');
  const token = h('input', {id: 'token', type: 'password', name: 'token', autocomplete: 'current-password',
                            placeholder: info.auth_required ? 'plinth token' : '(this plinthd needs no token)'});
  const problem = h('div', {});
  const form = h('form', {class: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    replace(problem);
    try {
      await api.signIn(token.value);
      render();
    } catch (err) {
      replace(problem, errorBox(err));
    }
  }},
  h('h1', {}, h('img', {src: '/ui/favicon.svg', alt: ''}), ' plinth'),
  h('p', {class: 'muted'}, info.auth_required
    ? 'Sign in with a plinth token (a line of plinthd\'s token file). You see and do what its grants allow.'
    : 'This plinthd has no token file: everyone is the anonymous admin. Leave the token empty.'),
  h('label', {for: 'token'}, 'Token'), token, problem,
  h('button', {class: 'btn primary', type: 'submit', id: 'sign-in'}, 'Sign in'));
  replace(main, form);
  token.focus();
}

async function render() {
  const mine = ++seq;
  for (const f of cleanups) { try { f(); } catch (e) { /* already closed */ } }
  cleanups = [];
  const main = document.getElementById('main');
  if (!api.identity()) {
    const info = await api.loadSession();
    if (mine !== seq) return;
    if (info.signedOut) return signInPage(main, info);
  }
  const raw = (location.hash || '#/').slice(1) || '/';
  const [path, query] = raw.split('?');
  for (const [re, page, sectionName] of routes) {
    const m = path.match(re);
    if (!m) continue;
    header(sectionName);
    clear(main);
    const ctx = {
      query: query || '',
      alive: () => mine === seq,
      defer: (f) => { if (mine === seq) cleanups.push(f); else f(); },
    };
    try {
      await page(main, ctx, ...m.slice(1).map(decodeURIComponent));
    } catch (err) {
      if (mine === seq) main.appendChild(errorBox(err));
    }
    if (mine === seq) document.body.dataset.page = sectionName + ':' + path;
    return;
  }
  header('');
  replace(main, h('h1', {}, 'Not found'), h('p', {}, 'No page at this address. ', link('#/', 'Go to the overview'), '.'));
}

api.whenSignedOut(() => {
  // The session ended (sign-out elsewhere, or plinthd restarted).
  if (api.identity()) {
    api.signOut().finally(render);
  }
});
window.addEventListener('hashchange', render);
render();
