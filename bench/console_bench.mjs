// The web console with a project of 1,000 resources, in Debian's Chromium
// (headless) against a real plinthd with the SIMULATED engine:
//
//   - load: from navigation to the project page to its DAG drawn with every
//     node and the page taking input (a task queued after the draw runs);
//   - live: while a pipeline runs all 1,000 nodes, the main thread's worst
//     delay (a 50 ms probe timer's lateness), long tasks (> 50 ms), and the
//     delay from a node's end (plinthd's end_time) to the page showing it;
//   - a click on a node during the run: time to the side panel showing it.
//
//   node bench/console_bench.mjs [--nodes 1000] [--width 50] [--runs 3]
// (after scripts/test, which installs tests/browser's npm packages)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {TOKENS, startDaemon, launchBrowser, signIn, wideChart} from '../tests/browser/harness.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = opt('nodes', 1000), WIDTH = opt('width', 50), RUNS = opt('runs', 3);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

async function once(run) {
  const daemon = await startDaemon({workers: 8});
  const browser = await launchBrowser();
  try {
    const chart = fs.mkdtempSync(path.join(os.tmpdir(), 'plinth-wide-'));
    wideChart(chart, N, WIDTH);
    daemon.cli(['chart', 'install', 'wide', chart, '--org', 'acme', '--env', 'perf', '--no-deploy']);
    const context = await browser.newContext({viewport: {width: 1500, height: 950}});
    await signIn(context, daemon.url, TOKENS.admin);
    const page = await context.newPage();
    await page.addInitScript(() => {
      window.__long = [];
      new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })
        .observe({type: 'longtask', buffered: true});
    });
    await page.goto(`${daemon.url}/#/projects/acme/perf/wide`);
    await page.waitForFunction((n) => document.querySelectorAll('.dag-host svg.dag .node').length === n, N, {timeout: 60000});
    const load = await page.evaluate(() => new Promise((resolve) => setTimeout(() => resolve(performance.now()), 0)));
    const loadLong = await page.evaluate(() => window.__long.length);

    // The live part: probes in the page, then the pipeline.
    await page.evaluate(() => {
      window.__lag = [];
      window.__shown = [];
      let last = performance.now();
      window.__probe = setInterval(() => {
        const now = performance.now();
        window.__lag.push(now - last - 50);
        last = now;
      }, 50);
      const seen = new Map();
      new MutationObserver((records) => {
        const wall = Date.now();
        for (const r of records) {
          const key = r.target.dataset && r.target.dataset.key;
          if (!key || !r.target.classList.contains('st-succeeded') || seen.has(key)) continue;
          seen.set(key, wall);
          window.__shown.push({key, wall});
        }
      }).observe(document.querySelector('.dag-host'), {subtree: true, attributes: true, attributeFilter: ['class']});
      window.__long = [];
    });
    const t0 = Date.now();
    daemon.cli(['project', 'run-pipeline', 'wide', '--org', 'acme', '--env', 'perf']);
    // A click on a node while the pipeline runs.
    await page.waitForFunction(() => window.__shown.length > 50, null, {timeout: 300000});
    const clickStart = await page.evaluate(() => performance.now());
    await page.click('.dag-host svg.dag .node[data-key="perf/KubernetesNamespace/ns-999"]', {force: true});
    await page.waitForFunction(() => /ns-999/.test(document.querySelector('aside.side h2')?.textContent || ''));
    const clickMs = (await page.evaluate(() => performance.now())) - clickStart;
    await page.waitForFunction((n) => window.__shown.length === n, N, {timeout: 600000});
    const wallRun = Date.now() - t0;
    const live = await page.evaluate(() => ({lag: window.__lag, long: window.__long, shown: window.__shown}));
    await page.evaluate(() => clearInterval(window.__probe));
    const project = JSON.parse(daemon.cli(['project', 'get', 'wide', '--org', 'acme', '--env', 'perf', '-o', 'json']));
    const pipeline = JSON.parse(daemon.cli(['pipeline', 'get', project.lastPipeline.id, '-o', 'json']));
    const ends = new Map(pipeline.nodes.map(n => [`${n.env}/${n.kind}/${n.name}`, Date.parse(n.endTime)]));
    const delays = live.shown.map(s => s.wall - ends.get(s.key)).filter(Number.isFinite);
    fs.rmSync(chart, {recursive: true, force: true});
    const r = {
      run, load_ms: load, load_long_tasks: loadLong,
      pipeline_s: wallRun / 1000,
      max_lag_ms: Math.max(...live.lag), p99_lag_ms: pct(live.lag, 0.99),
      long_tasks: live.long.length, longest_task_ms: live.long.length ? Math.max(...live.long) : 0,
      shown_p50_ms: pct(delays, 0.5), shown_p95_ms: pct(delays, 0.95), shown_max_ms: Math.max(...delays),
      click_ms: clickMs,
    };
    console.log(JSON.stringify(r));
    return r;
  } finally {
    await browser.close();
    await daemon.stop();
  }
}

const results = [];
for (let i = 1; i <= RUNS; i++) results.push(await once(i));
const keys = Object.keys(results[0]).filter(k => k !== 'run');
console.log(`\n${N} nodes, layers of ${WIDTH}; medians of ${RUNS} runs:`);
for (const k of keys) console.log(`  ${k.padEnd(16)} ${results.map(r => r[k].toFixed(1)).join('  ').padEnd(30)} median ${median(results.map(r => r[k])).toFixed(1)}`);
