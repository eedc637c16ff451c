// What the console's browser test and benchmark share: a real plinthd (the
// SIMULATED engine, a temp data dir, free ports, a token file), the plinth
// CLI against it, and Debian's Chromium driven by playwright-core.
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const BIN = process.env.PLINTH_BIN_DIR || path.join(ROOT, 'build/bin');

export const TOKENS = {
  admin: 'console-admin-token-0001',
  viewer: 'console-viewer-token-002',
};

export async function startDaemon({workers = 4} = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-console-'));
  fs.writeFileSync(path.join(dir, 'tokens'),
                   `${TOKENS.admin} admin\n${TOKENS.viewer} viewer scoped\n`, {mode: 0o600});
  const config = path.join(dir, 'plinthd.yaml');
  fs.writeFileSync(config, [
    'listen: 127.0.0.1:0',
    'http_listen: 127.0.0.1:0',
    `data_dir: ${path.join(dir, 'data')}`,
    'log: {level: warn, format: text}',
    `auth_token_file: ${path.join(dir, 'tokens')}`,
    `engines: {tofu: {binary: ${path.join(BIN, 'plinth-sim-tofu')}}}`,
    `modules: {default: {engine: tofu, source: ${path.join(ROOT, 'examples/modules/sim')}}}`,
    `jobs: {max_concurrent_jobs: ${workers}, max_jobs_per_pipeline: ${workers}, step_timeout_seconds: 120}`,
    '',
  ].join('\n'));
  const ready = path.join(dir, 'ready');
  const log = fs.openSync(path.join(dir, 'plinthd.log'), 'a');
  const proc = spawn(path.join(BIN, 'plinthd'), ['--config', config, '--ready-file', ready],
                     {stdio: ['ignore', log, log]});
  const deadline = Date.now() + 30000;
  while (!fs.existsSync(ready)) {
    if (proc.exitCode !== null) throw new Error(`plinthd exited: ${fs.readFileSync(path.join(dir, 'plinthd.log'), 'utf8')}`);
    if (Date.now() > deadline) throw new Error('plinthd did not become ready in 30 s');
    await new Promise(r => setTimeout(r, 50));
  }
  const lines = fs.readFileSync(ready, 'utf8').trim().split('\n');
  const grpc = lines[0];
  const http = lines.find(l => l.startsWith('http ')).slice(5);
  return {
    dir, grpc, http, url: `http://${http}`, proc,
    cli(args, token = TOKENS.admin) {
      return execFileSync(path.join(BIN, 'plinth'), args, {
        env: {...process.env, PLINTH_SERVER: grpc, PLINTH_TOKEN: token}, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
      });
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise(r => (proc.exitCode !== null ? r() : proc.once('exit', r)));
      fs.rmSync(dir, {recursive: true, force: true});
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.PLINTH_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // The machine's network is closed: no background connections.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

// Signs in on a fresh page; returns the page.
export async function signIn(context, url, token) {
  const page = await context.newPage();
  await page.goto(url + '/');
  await page.fill('#token', token);
  await page.click('#sign-in');
  await page.waitForSelector('nav.bar .who');
  return page;
}

// A chart of `n` resources in `groups` groups, each resource depending on
// one of the layer before (so the DAG has n / width layers).
export function wideChart(dir, n, width) {
  fs.mkdirSync(path.join(dir, 'templates'), {recursive: true});
  fs.writeFileSync(path.join(dir, 'Chart.yaml'),
    'apiVersion: infra-hub.planton.dev/v1\nkind: InfraChart\nmetadata:\n  name: wide\n  version: 1.0.0\n' +
    `spec:\n  description: ${n} namespaces in layers of ${width}, for the console's benchmark.\n`);
  fs.writeFileSync(path.join(dir, 'values.yaml'), `params:\n  - name: count\n    type: number\n    value: ${n}\n`);
  fs.writeFileSync(path.join(dir, 'templates/all.yaml'), `{%- for i in range(values.count | int) %}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesNamespace
metadata:
  name: ns-{{ i }}
  group: band-{{ i % 5 }}
{%- if i >= ${width} %}
  relationships:
    - {kind: KubernetesNamespace, name: ns-{{ i - ${width} }}, type: depends_on}
{%- endif %}
spec:
  name: ns-{{ i }}
{%- endfor %}
`);
}
