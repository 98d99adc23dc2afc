// The dashboard in Chromium: server-rendered, hydrated, and live.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, launchBrowser, screenshot, openHydrated } from './harness.mjs';

let cluster;
let browser;
let cleanup;

before(async () => {
  cluster = await Cluster.create();
  await cluster.startHost();
  ({ browser, cleanup } = await launchBrowser());
});

after(async () => {
  await cleanup?.();
  cluster?.stop();
});


test('a runner appears on the Nodes page without a reload, then goes offline', async () => {
  const { page, problems } = await openHydrated(browser, cluster.base, '/nodes');
  await page.waitForSelector('[data-testid="no-nodes"]');
  // A marker that a reload would wipe out.
  await page.evaluate(() => { window.__noReload = true; });

  const runner = await cluster.startRunner('e2e-node');
  const row = page.locator('tr[data-node="e2e-node"]');
  await row.waitFor({ timeout: 20000 }).catch((e) => { throw new Error(`${e.message}\n${cluster.logs()}`); });
  await page.waitForSelector('tr[data-node="e2e-node"][data-status="online"]', { timeout: 10000 });
  assert.match(await row.locator('td').nth(1).innerText(), /online/);

  runner.child.kill('SIGKILL');
  await page.waitForSelector('tr[data-node="e2e-node"][data-status="offline"]', { timeout: 15000 });

  assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was never reloaded');
  await screenshot(page, 'nodes');
  assert.deepEqual(problems, []);
  await page.close();
});

test('the overview counts nodes and client-side navigation reaches the Nodes page', async () => {
  const { page, problems } = await openHydrated(browser, cluster.base, '/');
  await page.waitForSelector('[data-testid="card-nodes"]');
  assert.match(await page.locator('[data-testid="card-nodes"] .card-value').innerText(), /^\d+ \/ \d+$/);
  await page.evaluate(() => { window.__noReload = true; });
  await page.click('nav a[href="/nodes"]');
  await page.waitForSelector('h1:has-text("Compute Nodes")');
  assert.equal(await page.evaluate(() => window.__noReload), true, 'navigation stayed in the app');
  assert.deepEqual(problems, []);
  await page.close();
});

test('unknown pages answer 404 with the dashboard around them', async () => {
  const response = await fetch(`${cluster.base}/no-such-page`, { headers: { accept: 'text/html' } });
  assert.equal(response.status, 404);
  assert.match(await response.text(), /Page not found/);
});
