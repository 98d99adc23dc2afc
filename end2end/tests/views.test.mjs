// Every other view in Chromium against a real host, runner (with a GPU inventory) and Docker
// engine: the overview's cards and charts, a node's details with its charts, the GPU cards, and
// the Docker page (create an environment container, type in its terminal, pack it into a tarball
// with progress). A screenshot of each view is kept.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, launchBrowser, busyboxEnvTarball, screenshot, openHydrated, waitForNode } from './harness.mjs';

let cluster;
let browser;
let cleanup;
const ENV = `e2e-env-${process.pid}`;

before(async () => {
  cluster = await Cluster.create(['[runner]', 'gpu_inventory_file = "gpus.json"']);
  busyboxEnvTarball(join(cluster.dir, 'shared'));
  writeFileSync(join(cluster.dir, 'gpus.json'), JSON.stringify([{
    gpu_id: 0, name: 'Test GPU 24GB', driver_version: '550.54', pci_bus_id: '00000000:01:00.0',
    gpu_utilization: 37, graphics_clock_mhz: 1500, mem_utilization: 20, mem_clock_mhz: 9000,
    memory_total_mib: 24576, memory_used_mib: 8192, memory_free_mib: 16384,
    temperature: 61, fan_speed: 40, power_usage_mw: 120000, power_limit_mw: 300000,
  }]));
  await cluster.startHost();
  await cluster.startRunner('e2e-views');
  await waitForNode(cluster.base, 'e2e-views');
  ({ browser, cleanup } = await launchBrowser());
});

after(async () => {
  await cleanup?.();
  cluster?.stop();
  spawnSync('docker', ['rm', '-f', ENV]);
  spawnSync('docker', ['rmi', `hakuriver/${ENV}:base`]);
});


const fail = (e) => cluster.fail(e);

test('the overview shows totals, task counts and live load charts', async () => {
  const { page, problems } = await openHydrated(browser, cluster.base, '/');
  await page.waitForSelector('[data-testid="card-nodes"]');
  assert.match(await page.locator('[data-testid="card-nodes"] .card-value').innerText(), /^1 \/ 1$/);
  await page.waitForSelector('[data-testid="task-counts"]');
  // The chart's line grows from live node events (heartbeats every 0.5 s).
  await page.waitForSelector('[data-testid="chart-cluster-load"] svg path.line', { state: 'attached', timeout: 20000 }).catch(fail);
  assert.match(await page.locator('[data-testid="chart-cluster-load"] svg').innerHTML(), /100 %/);
  await screenshot(page, 'overview');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a node shows its NUMA layout, GPUs and charts', async () => {
  const { page, problems } = await openHydrated(browser, cluster.base, '/nodes');
  await page.click('tr[data-node="e2e-views"] a');
  await page.waitForSelector('[data-testid="node-detail"]');
  assert.match(await page.locator('[data-testid="node-detail"]').innerText(), /Test GPU 24GB/);
  await page.waitForSelector('[data-testid="chart-node-load"] svg path.line', { state: 'attached', timeout: 20000 }).catch(fail);
  await screenshot(page, 'nodes-detail');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the GPU page shows a card per GPU with its readings and history', async () => {
  const { page, problems } = await openHydrated(browser, cluster.base, '/gpus');
  const card = page.locator('section[data-node="e2e-views"] article[data-gpu="0"]');
  await card.waitFor();
  const text = await card.innerText();
  assert.match(text, /Test GPU 24GB/);
  assert.match(text, /8192 \/ 24576 MiB/);
  assert.match(text, /61 °C/);
  assert.match(text, /120 \/ 300 W/);
  await page.waitForSelector('[data-testid="chart-gpu-0"] svg path.line', { state: 'attached', timeout: 20000 }).catch(fail);
  await screenshot(page, 'gpus');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the Docker page creates an environment, opens its terminal and packs a tarball with progress', async () => {
  const { page, problems } = await openHydrated(browser, cluster.base, '/docker');
  await page.click('[data-testid="create-env"] summary');
  await page.fill('#e-image', 'hakuriver/hakuriver-test-busybox:base');
  await page.fill('#e-name', ENV);
  await page.click('[data-testid="create-env"] button[type="submit"]');
  const row = `tr[data-env="${ENV}"][data-status="running"]`;
  await page.waitForSelector(row, { timeout: 30000 }).catch(fail);

  await page.click(`${row} button.action-terminal`);
  const terminal = page.locator('[data-testid="terminal"] .xterm');
  await terminal.waitFor({ timeout: 15000 });
  await page.waitForFunction(() => document.querySelector('.xterm-rows')?.innerText.includes('Terminal connected'), null, { timeout: 15000 }).catch(fail);
  await terminal.click();
  await page.keyboard.type('echo env-$((40+2)) > /marker; cat /marker\n');
  await page.waitForFunction(() => document.querySelector('.xterm-rows')?.innerText.includes('env-42'), null, { timeout: 15000 }).catch(fail);

  await page.click(`${row} button.action-create-tar`);
  await page.waitForSelector(`tr[data-env="${ENV}"] [data-testid="operation"]`, { timeout: 15000 }).catch(fail);
  await page.waitForSelector(`[data-testid="operation"][data-state="succeeded"]`, { timeout: 60000 }).catch(fail);
  await page.waitForSelector(`[data-testid="tarball-table"] tr[data-env="${ENV}"]`, { timeout: 15000 }).catch(fail);
  await screenshot(page, 'docker');

  await page.click(`tr[data-env="${ENV}"] button.action-delete`);
  await page.click(`tr[data-env="${ENV}"] button.danger`);
  await page.waitForSelector(`[data-testid="env-table"] tr[data-env="${ENV}"]`, { state: 'detached', timeout: 30000 }).catch(fail);
  assert.deepEqual(problems, []);
  await page.close();
});

test('every view renders on the server and fits a phone-sized screen', async () => {
  for (const path of ['/', '/nodes', '/gpus', '/tasks', '/vps', '/docker']) {
    const r = await fetch(`${cluster.base}${path}`, { headers: { accept: 'text/html' } });
    assert.equal(r.status, 200, path);
    assert.match(await r.text(), /<main>/, path);
  }
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  for (const path of ['/', '/nodes', '/gpus', '/tasks', '/vps', '/docker']) {
    await page.goto(`${cluster.base}${path}`);
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${path} is ${overflow}px wider than a 390px screen`);
  }
  await page.goto(`${cluster.base}/tasks`);
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 });
  await screenshot(page, 'tasks-390px');
  await page.close();
});
