// The VPS page in Chromium against a real host, runner and Docker engine (the Debian sshd test
// image): a VPS is created from the form, its ssh line is ready to copy, its web terminal (xterm.js)
// runs `echo` and shows the output, it is saved as an environment (with the save's progress),
// stopped and started again from its row, and it is killed from the page.
import { test, before, after } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { Cluster, launchBrowser, watchPage, ensureSshdImage, newPublicKey, SSHD_ENV, screenshot, waitForNode } from './harness.mjs';

let cluster;
let browser;
let cleanup;

before(async () => {
  ensureSshdImage();
  cluster = await Cluster.create(['[docker]', `default_container_name = "${SSHD_ENV}"`]);
  await cluster.startHost();
  await cluster.startRunner('e2e-vps');
  await waitForNode(cluster.base, 'e2e-vps');
  ({ browser, cleanup } = await launchBrowser());
});

after(async () => {
  await cleanup?.();
  cluster?.stop();
  // The image the save made on this engine.
  spawnSync('docker', ['rmi', '--force', `hakuriver/${SAVED_ENV}:base`], { stdio: 'ignore' });
});

const SAVED_ENV = `e2e-saved-${process.pid}`;

const fail = (e) => cluster.fail(e);

test('a VPS made from the form runs echo in its web terminal and is killed from the page', async () => {
  const page = await browser.newPage();
  const problems = watchPage(page);
  await page.goto(`${cluster.base}/vps`);
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 });
  await page.waitForSelector('[data-link="live"]', { timeout: 10000 });
  await page.waitForSelector('[data-testid="no-vps"]');

  await page.click('[data-testid="create-vps"] summary');
  await page.fill('#v-key', 'not a key');
  await page.click('[data-testid="create-vps"] button[type="submit"]');
  await page.waitForSelector('.field-error[data-field="command"]');
  await page.fill('#v-key', newPublicKey());
  await page.check('.node-choice[data-node="e2e-vps"] input[type="checkbox"]');
  await page.click('[data-testid="create-vps"] button[type="submit"]');
  const result = await page.waitForSelector('[data-testid="vps-result"]', { timeout: 60000 }).catch(fail);
  const id = (await result.innerText()).match(/VPS (\d+)/)[1];

  const row = `tr[data-task="${id}"][data-status="running"]`;
  await page.waitForSelector(row, { timeout: 60000 }).catch(fail);
  const line = await page.inputValue(`${row} .copy-line input`);
  assert.match(line, new RegExp(`^ssh -J hakuriver@127\\.0\\.0\\.1:\\d+ root@vps-${id}$`));

  await page.click(`${row} button.action-terminal`);
  const terminal = page.locator('[data-testid="terminal"] .xterm');
  await terminal.waitFor({ timeout: 15000 });
  await page.waitForFunction(() => document.querySelector('.xterm-rows')?.innerText.includes('Terminal connected'), null, { timeout: 15000 }).catch(fail);
  await terminal.click();
  await page.keyboard.type('echo hello-$((6*7))\n');
  await page.waitForFunction(() => document.querySelector('.xterm-rows')?.innerText.includes('hello-42'), null, { timeout: 15000 }).catch(fail);
  await screenshot(page, 'vps');

  // Saved as an environment from its row: the save's progress, then done.
  await page.click(`${row} .save-vps summary`);
  await page.fill(`#save-${id}`, 'Not A Name');
  await page.click(`${row} .save-vps button[type="submit"]`);
  await page.waitForSelector(`${row} .save-vps .field-error`);
  await page.fill(`#save-${id}`, SAVED_ENV);
  await page.click(`${row} .save-vps button[type="submit"]`);
  await page.waitForSelector(`${row} [data-testid="operation"][data-state="succeeded"]`, { timeout: 120000 }).catch(fail);
  const tars = await (await fetch(`${cluster.base}/api/docker/list`)).json();
  assert.ok(tars[SAVED_ENV], `a tarball of ${SAVED_ENV}`);
  // Stopped (its disk kept) and started again from its row.
  await page.click(`${row} button.action-stop`);
  await page.click(`tr[data-task="${id}"] button[data-confirm="stop"]`);
  await page.waitForSelector(`tr[data-task="${id}"][data-status="shut_off"]`, { timeout: 30000 }).catch(fail);
  await page.click(`tr[data-task="${id}"] button.action-start`);
  await page.click(`tr[data-task="${id}"] button[data-confirm="start"]`);
  await page.waitForSelector(row, { timeout: 60000 }).catch(fail);

  await page.click(`tr[data-task="${id}"] button.action-kill`);
  await page.click(`tr[data-task="${id}"] button[data-confirm="kill"]`);
  // The list shows VPS tasks that are not over: the killed one leaves it.
  await page.waitForSelector(`tr[data-task="${id}"]`, { state: 'detached', timeout: 30000 }).catch(fail);
  assert.equal((await (await fetch(`${cluster.base}/api/status/${id}`)).json()).status, 'killed');
  assert.deepEqual(problems, []);
  await page.close();
});
