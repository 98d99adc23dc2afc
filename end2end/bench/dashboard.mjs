// Dashboard benchmark: prints JSON.
//   - the bundle's gzip size (wasm, JS glue, CSS, xterm.js): target ≤ 600 KB for the whole app
//   - navigation to hydrated on loopback, for the overview and for the tasks view
//   - the tasks view with 10 000 tasks in the database: server render, hydration, a filter, and
//     the main thread while a burst of 512 tasks arrives as live events (long tasks, blocking time)
// Build first: scripts/build-site.sh --release && cargo build --release --bins
// Run: cd end2end && HAKURIVER_BIN_DIR=../target/release node bench/dashboard.mjs
import { readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, launchBrowser } from '../tests/harness.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const site = join(root, 'target/site');

function gz(path) {
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/build-site.sh --release`);
  return gzipSync(readFileSync(path), { level: 9 }).length;
}

const bundle = {
  wasm: gz(join(site, 'pkg/hakuriver_bg.wasm')),
  js: gz(join(site, 'pkg/hakuriver.js')),
  css: gz(join(site, 'pkg/hakuriver.css')),
  xterm: gz(join(site, 'xterm/xterm.mjs')) + gz(join(site, 'xterm/addon-fit.mjs')) + gz(join(site, 'xterm/xterm.css')),
};
bundle.total = bundle.wasm + bundle.js + bundle.css + bundle.xterm;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function post(base, path, body) {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok && r.status !== 503) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

// `n` command tasks for a registered node whose runner never answers (it goes offline; its
// tasks stay queued or end failed or lost).
async function fillTasks(base, n) {
  await post(base, '/api/register', {
    hostname: 'bench-ghost', total_cores: 4096, total_ram_bytes: 1e12, runner_url: 'http://127.0.0.1:9',
  });
  for (let made = 0; made < n; made += 256) {
    const count = Math.min(256, n - made);
    await post(base, '/api/submit', {
      command: 'python', arguments: ['train.py', `--seed=${made}`], required_cores: 0, container_name: 'NULL',
      targets: Array(count).fill('bench-ghost'),
    });
  }
}

async function timeToHydrated(browser, url, runs = 5) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const page = await browser.newPage();
    const start = performance.now();
    await page.goto(url);
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 60000 });
    times.push(performance.now() - start);
    await page.close();
  }
  return Math.round(median(times));
}

const cluster = await Cluster.create();
const { browser, cleanup } = await launchBrowser();
try {
  await cluster.startHost();
  const result = { bundle_gzip_bytes: bundle, target_bundle_gzip_bytes: 600 * 1024 };
  result.overview_to_hydrated_ms = await timeToHydrated(browser, `${cluster.base}/`);

  const fillStart = performance.now();
  await fillTasks(cluster.base, 10000);
  result.tasks_in_database = 10000;
  result.fill_seconds = Math.round((performance.now() - fillStart) / 100) / 10;

  const ssr = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    const r = await fetch(`${cluster.base}/tasks`, { headers: { accept: 'text/html' } });
    await r.text();
    ssr.push(performance.now() - start);
  }
  result.tasks_server_render_ms = Math.round(median(ssr));
  result.tasks_to_hydrated_ms = await timeToHydrated(browser, `${cluster.base}/tasks`);

  const filter = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    const r = await fetch(`${cluster.base}/tasks?q=seed%3D${i * 256}&status=failed`, { headers: { accept: 'text/html' } });
    await r.text();
    filter.push(performance.now() - start);
  }
  result.tasks_filtered_render_ms = Math.round(median(filter));

  // A burst arriving live while the page is open: how long the main thread is blocked.
  const page = await browser.newPage();
  await page.goto(`${cluster.base}/tasks`);
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 60000 });
  await page.waitForSelector('[data-link="live"]');
  await page.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration); })
      .observe({ type: 'longtask', buffered: false });
  });
  const burstStart = performance.now();
  await post(cluster.base, '/api/submit', { command: 'burst', required_cores: 0, container_name: 'NULL', targets: Array(256).fill('bench-ghost') });
  await post(cluster.base, '/api/submit', { command: 'burst', required_cores: 0, container_name: 'NULL', targets: Array(256).fill('bench-ghost') });
  await page.waitForFunction(
    () => [...document.querySelectorAll('td.command')].filter((td) => td.textContent === 'burst').length >= 512,
    null,
    { timeout: 60000 },
  );
  result.burst_512_tasks_visible_ms = Math.round(performance.now() - burstStart);
  const long = await page.evaluate(() => window.__long);
  result.burst_long_tasks = long.length;
  result.burst_longest_task_ms = Math.round(Math.max(0, ...long));
  result.burst_total_blocking_ms = Math.round(long.reduce((s, d) => s + Math.max(0, d - 50), 0));
  // Still responsive: a click on the submit panel opens it at once.
  const clickStart = performance.now();
  await page.click('[data-testid="submit-task"] summary');
  await page.waitForSelector('#t-command', { state: 'visible' });
  result.click_after_burst_ms = Math.round(performance.now() - clickStart);
  await page.close();
  console.log(JSON.stringify(result, null, 2));
} finally {
  await cleanup();
  cluster.stop();
}
