// The dashboard served under a base path (`network.base_path`, what a reverse proxy's sub-path
// needs): links, assets, live updates, server functions and navigation all stay under it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, launchBrowser, openHydrated, waitForNode, screenshot } from './harness.mjs';

let cluster;
let browser;
let cleanup;

before(async () => {
  cluster = await Cluster.create();
  // Waits on /api/health at the root: the REST API answers there too (runners and the
  // original's clients know no base path).
  await cluster.startHost({ HAKURIVER_NETWORK_BASE_PATH: '/hakuriver' });
  await cluster.startRunner('e2e-base');
  await waitForNode(cluster.base, 'e2e-base');
  ({ browser, cleanup } = await launchBrowser());
});

after(async () => {
  await cleanup?.();
  cluster?.stop();
});

const fail = (e) => cluster.fail(e);

test('under /hakuriver: live nodes, client-side navigation, and a kill through a server function', async () => {
  const base = `${cluster.base}/hakuriver`;
  const { page, problems } = await openHydrated(browser, base, '/nodes');
  const notFound = [];
  page.on('response', (r) => { if (r.status() >= 400) notFound.push(`${r.status()} ${r.url()}`); });
  await page.waitForSelector('tr[data-node="e2e-base"][data-status="online"]', { timeout: 15000 }).catch(fail);
  for (const href of await page.locator('nav a').evaluateAll((links) => links.map((a) => a.getAttribute('href')))) {
    assert.match(href, /^\/hakuriver\//, 'every link stays under the base path');
  }
  await page.evaluate(() => { window.__noReload = true; });
  await page.click('nav a[href="/hakuriver/tasks"]');
  await page.waitForSelector('h1:has-text("Command Tasks")');
  assert.equal(new URL(page.url()).pathname, '/hakuriver/tasks');

  // A task appears live (events websocket under the base path) and is killed from the page
  // (a server function under the base path).
  const r = await fetch(`${base}/api/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ command: 'sleep', arguments: ['300'], targets: ['e2e-base'], container_name: 'NULL' }),
  });
  const id = (await r.json()).task_ids[0];
  await page.waitForSelector(`tr[data-task="${id}"][data-status="running"]`, { timeout: 30000 }).catch(fail);
  await page.click(`tr[data-task="${id}"] button.action-kill`);
  await page.click(`tr[data-task="${id}"] button[data-confirm="kill"]`);
  await page.waitForSelector(`tr[data-task="${id}"][data-status="killed"]`, { timeout: 20000 }).catch(fail);
  assert.equal(await page.evaluate(() => window.__noReload), true, 'navigation stayed in the app');
  await screenshot(page, 'base-path-tasks');
  assert.deepEqual(problems, []);
  assert.deepEqual(notFound, []);
  await page.close();
});
