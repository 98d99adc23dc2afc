// The Tasks page in Chromium against a real host, runner and Docker engine: a task submitted from
// the form completes and its output shows in the detail panel; a running task is killed from the
// page; reading works without JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Cluster, launchBrowser, busyboxEnvTarball, BUSYBOX_ENV, screenshot, openHydrated, waitForNode } from './harness.mjs';

let cluster;
let browser;
let cleanup;

before(async () => {
  cluster = await Cluster.create();
  busyboxEnvTarball(join(cluster.dir, 'shared'));
  await cluster.startHost();
  await cluster.startRunner('e2e-tasks');
  await waitForNode(cluster.base, 'e2e-tasks');
  ({ browser, cleanup } = await launchBrowser());
});

after(async () => {
  await cleanup?.();
  cluster?.stop();
});


const fail = (e) => cluster.fail(e);

test('a task submitted from the form completes and its stdout shows in the detail panel', async () => {
  const { page, problems } = await openHydrated(browser, cluster.base, '/tasks');
  await page.click('[data-testid="submit-task"] summary');
  // The browser checks with the host's rules before sending: a bad memory size stays here.
  await page.fill('#t-command', 'echo');
  await page.fill('#t-memory', '12Q');
  await page.click('button[type="submit"]');
  await page.waitForSelector('.field-error[data-field="required_memory_bytes"]');
  await page.fill('#t-memory', '64M');
  await page.fill('#t-arguments', 'hello-from-the-form');
  await page.selectOption('#t-env-name', BUSYBOX_ENV);
  await page.check('.node-choice[data-node="e2e-tasks"] input[type="checkbox"]');
  await page.click('button[type="submit"]');
  const result = await page.waitForSelector('[data-testid="submit-result"]', { timeout: 15000 }).catch(fail);
  const id = (await result.innerText()).match(/Task ids: (\d+)/)[1];

  // The new task shows up in the list live, then completes.
  await page.waitForSelector(`tr[data-task="${id}"][data-status="completed"]`, { timeout: 30000 }).catch(fail);
  await page.click(`tr[data-task="${id}"] a`);
  await page.waitForSelector('[data-testid="task-detail"]');
  await page.waitForFunction(
    () => document.querySelector('[data-testid="log-stdout"]')?.innerText.includes('hello-from-the-form'),
    null,
    { timeout: 15000 },
  ).catch(fail);
  await screenshot(page, 'tasks');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a running task is killed from the page', async () => {
  const r = await fetch(`${cluster.base}/api/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ command: 'sleep', arguments: ['300'], targets: ['e2e-tasks'], container_name: BUSYBOX_ENV }),
  });
  const id = (await r.json()).task_ids[0];
  const { page, problems } = await openHydrated(browser, cluster.base, '/tasks');
  await page.waitForSelector(`tr[data-task="${id}"][data-status="running"]`, { timeout: 30000 }).catch(fail);
  await page.click(`tr[data-task="${id}"] button.action-kill`);
  await page.click(`tr[data-task="${id}"] button[data-confirm="kill"]`);
  await page.waitForSelector(`tr[data-task="${id}"][data-status="killed"]`, { timeout: 20000 }).catch(fail);
  const status = await (await fetch(`${cluster.base}/api/status/${id}`)).json();
  assert.equal(status.status, 'killed');
  assert.deepEqual(problems, []);
  await page.close();
});

test('a task submitted to wait for another shows why it waits, by name', async () => {
  const r = await fetch(`${cluster.base}/api/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ command: 'sleep', arguments: ['300'], targets: ['e2e-tasks'], container_name: BUSYBOX_ENV }),
  });
  const parent = (await r.json()).task_ids[0];
  const { page, problems } = await openHydrated(browser, cluster.base, '/tasks');
  await page.click('[data-testid="submit-task"] summary');
  await page.fill('#t-name', 'after-the-sleep');
  await page.fill('#t-command', 'echo');
  await page.fill('#t-time', '90');
  await page.click('button[type="submit"]');
  await page.waitForSelector('.field-error[data-field="time_limit_seconds"]');
  await page.fill('#t-time', '10m');
  await page.fill('#t-after', parent);
  await page.selectOption('#t-env-name', BUSYBOX_ENV);
  await page.click('button[type="submit"]');
  const result = await page.waitForSelector('[data-testid="submit-result"]', { timeout: 15000 }).catch(fail);
  const id = (await result.innerText()).match(/Task ids: (\d+)/)[1];

  // The list says, live, what it waits for; the detail shows its name, parent and limit.
  const reason = `Dependency: waits for task ${parent} to end (afterok)`;
  await page.waitForFunction(
    ([id, reason]) => document.querySelector(`tr[data-task="${id}"] [data-testid="pending-reason"]`)?.innerText === reason,
    [id, reason],
    { timeout: 20000 },
  ).catch(fail);
  await page.click(`tr[data-task="${id}"] a`);
  await page.waitForSelector('[data-testid="detail-pending-reason"]');
  const detail = await page.innerText('[data-testid="task-detail"]');
  assert.match(detail, /after-the-sleep/);
  assert.match(detail, new RegExp(`${parent} \\(afterok\\)`));
  assert.match(detail, /10m/);
  await screenshot(page, 'tasks-pending-reason');

  // Its parent killed, it can never start: it fails, naming the parent.
  await fetch(`${cluster.base}/api/kill/${parent}`, { method: 'POST' });
  await page.waitForSelector(`tr[data-task="${id}"][data-status="failed"]`, { timeout: 20000 }).catch(fail);
  const status = await (await fetch(`${cluster.base}/api/status/${id}`)).json();
  assert.match(status.error_message, new RegExp(`task ${parent} ended killed`));
  assert.deepEqual(problems, []);
  await page.close();
});

test('the task list and a task detail read without JavaScript', async () => {
  const html = await (await fetch(`${cluster.base}/tasks?status=killed`, { headers: { accept: 'text/html' } })).text();
  assert.match(html, /data-testid="tasks-table"/);
  assert.match(html, /data-status="killed"/);
  assert.doesNotMatch(html, /data-status="completed"/, 'the filter applies on the server');
  const tasks = await (await fetch(`${cluster.base}/api/tasks`)).json();
  const done = tasks.find((t) => t.status === 'completed');
  const detail = await (await fetch(`${cluster.base}/tasks?task=${done.task_id}`, { headers: { accept: 'text/html' } })).text();
  assert.match(detail, /data-testid="task-detail"/);
  assert.match(detail, /hello-from-the-form/);
});
