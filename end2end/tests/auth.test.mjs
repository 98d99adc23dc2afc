// The dashboard with [auth] on: the login page, the session cookie, hydration and live updates
// under the content security policy, task ownership in the page, logging out, and the usage view
// (a bar per user) as a viewer sees it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, launchBrowser, watchPage, waitForNode, waitFor, screenshot } from './harness.mjs';

const RUNNER_TOKEN = 'e2e-runner-token-3c9f1a7b5d2e80';
const ADMIN_TOKEN = 'e2e-admin-token-6b2d8f0e4a1c97';

let cluster;
let browser;
let cleanup;
const tokens = {};

async function api(path, token, body) {
  const r = await fetch(`${cluster.base}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(r.status < 300, `${path}: ${r.status} ${await r.clone().text()}`);
  return r.json();
}

before(async () => {
  cluster = await Cluster.create([
    '[auth]', 'enabled = true', `runner_token = "${RUNNER_TOKEN}"`, `admin_token = "${ADMIN_TOKEN}"`,
    // Users may run tasks without a container (as `nobody`); privileged containers and host
    // mounts stay the admin's.
    '[policy]', 'native_role = "user"',
  ]);
  await cluster.startHost();
  await cluster.startRunner('e2e-auth');
  await waitForNode(cluster.base, 'e2e-auth', ADMIN_TOKEN).catch((e) => cluster.fail(e));
  for (const [name, role] of [['alice', 'user'], ['bob', 'user'], ['vera', 'viewer']]) {
    tokens[name] = (await api('/api/auth/tokens', ADMIN_TOKEN, { name, role })).token;
  }
  ({ browser, cleanup } = await launchBrowser());
});

after(async () => {
  await cleanup?.();
  cluster?.stop();
});

const fail = (e) => cluster.fail(e);
const sleeper = (token) => api('/api/submit', token, {
  command: 'sleep', arguments: ['300'], targets: ['e2e-auth'], container_name: 'NULL',
}).then((r) => r.task_ids[0]);

test('log in with a token, work under the security policy, and log out', async () => {
  const page = await browser.newPage();
  const problems = watchPage(page);
  const violations = [];
  page.on('console', (msg) => { if (msg.text().includes('Content Security Policy')) violations.push(msg.text()); });

  // Not logged in: the page sends us to the login form, which remembers where we were going.
  await page.goto(`${cluster.base}/tasks`);
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.fill('input[name="token"]', 'not-a-token-not-a-token');
  await page.click('button[type="submit"]');
  await page.waitForSelector('.login-error');
  problems.length = 0; // the 401 of the wrong token is the point of that step

  await page.fill('input[name="token"]', tokens.alice);
  await page.click('button[type="submit"]');
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 }).catch(fail);
  assert.equal(new URL(page.url()).pathname, '/tasks');
  await page.waitForSelector('[data-link="live"]', { timeout: 10000 }).catch(fail);
  assert.match(await page.textContent('.session-user'), /alice \(user\)/);
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'hakuriver_session');
  assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Strict');

  // Her own task: she kills it from the page (a server function with the cookie).
  const own = await sleeper(tokens.alice);
  await page.waitForSelector(`tr[data-task="${own}"][data-status="running"]`, { timeout: 30000 }).catch(fail);
  await page.click(`tr[data-task="${own}"] button.action-kill`);
  await page.click(`tr[data-task="${own}"] button[data-confirm="kill"]`);
  await page.waitForSelector(`tr[data-task="${own}"][data-status="killed"]`, { timeout: 20000 }).catch(fail);

  // Bob's task: the page offers her no actions on it (the host would refuse them too).
  const bobs = await sleeper(tokens.bob);
  await page.waitForSelector(`tr[data-task="${bobs}"][data-status="running"]`, { timeout: 30000 }).catch(fail);
  assert.equal(await page.locator(`tr[data-task="${bobs}"] button.action-kill`).count(), 0);
  assert.equal(await page.locator('[data-testid="submit-task"]').count(), 1, 'a user may submit');
  await screenshot(page, 'auth-tasks');
  assert.deepEqual(problems, []);
  assert.deepEqual(violations, [], 'no content security policy violations');

  // Logging out ends the session: the next page is the login form again.
  await page.click('button.session-logout');
  await page.waitForSelector('input[name="token"]');
  await page.goto(`${cluster.base}/nodes`);
  assert.equal(new URL(page.url()).pathname, '/login');

  // A viewer reads the same page without a submit form or any task action.
  await page.goto(`${cluster.base}/login?next=%2Ftasks`);
  await page.fill('input[name="token"]', tokens.vera);
  await page.click('button[type="submit"]');
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 }).catch(fail);
  await page.waitForSelector(`tr[data-task="${bobs}"]`, { timeout: 10000 }).catch(fail);
  assert.match(await page.textContent('.session-user'), /vera \(viewer\)/);
  assert.equal(await page.locator('[data-testid="submit-task"]').count(), 0);
  assert.equal(await page.locator('button.action-kill, button.action-pause').count(), 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test('the submit form offers only what the role may ask for', async () => {
  const offered = async (token) => {
    const page = await browser.newPage();
    const problems = watchPage(page);
    await page.goto(`${cluster.base}/login?next=%2Ftasks`);
    await page.fill('input[name="token"]', token);
    await page.click('button[type="submit"]');
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 }).catch(fail);
    await page.click('[data-testid="submit-task"] summary');
    const form = {
      privileged: await page.locator('[data-testid="privileged"]').count(),
      mounts: await page.locator('#t-mounts').count(),
      native: await page.locator('#t-env-name option[value="NULL"]').count(),
    };
    assert.deepEqual(problems, []);
    return { page, form };
  };
  // A user: no privileged box, no mounts field (nothing in the allowlist); natively allowed here.
  const { page: users, form: user } = await offered(tokens.alice);
  assert.deepEqual(user, { privileged: 0, mounts: 0, native: 1 });
  // What the page does not offer, the host refuses anyway (403 naming the key), shown inline.
  const r = await fetch(`${cluster.base}/api/submit`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' },
    // No container: the policy alone decides (no environment has to exist on this machine).
    body: JSON.stringify({ command: 'true', privileged: true, container_name: 'NULL', targets: ['e2e-auth'] }),
  });
  assert.equal(r.status, 403);
  assert.match((await r.json()).detail, /privileged_role/);
  await screenshot(users, 'policy-user-form');
  await users.close();
  // The admin: everything.
  const { page: admins, form: admin } = await offered(ADMIN_TOKEN);
  assert.deepEqual(admin, { privileged: 1, mounts: 1, native: 1 });
  await admins.close();
});

test('an open page goes to the login form when its token is revoked', async () => {
  const dora = await api('/api/auth/tokens', ADMIN_TOKEN, { name: 'dora', role: 'viewer' });
  const page = await browser.newPage();
  await page.goto(`${cluster.base}/login?next=%2Fnodes%3Fview%3Dall`);
  await page.fill('input[name="token"]', dora.token);
  await page.click('button[type="submit"]');
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 }).catch(fail);
  await page.waitForSelector('[data-link="live"]', { timeout: 10000 }).catch(fail);
  assert.equal(new URL(page.url()).pathname, '/nodes');

  // Revoked elsewhere (an admin's CLI): the live link closes with 1008 and the page logs in again,
  // coming back to where it was.
  const r = await fetch(`${cluster.base}/api/auth/tokens/${dora.id}`, {
    method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  assert.equal(r.status, 200);
  await page.waitForURL((url) => url.pathname === '/login', { timeout: 10000 }).catch(fail);
  assert.equal(new URL(page.url()).searchParams.get('next'), '/nodes?view=all');
  await page.waitForSelector('input[name="token"]');
  await page.close();
});

test('the usage view charts what each user ran', async () => {
  const run = (token, script) => api('/api/submit', token, {
    command: 'sh', arguments: ['-c', script], targets: ['e2e-auth'], container_name: 'NULL', required_cores: 1,
  }).then((r) => r.task_ids[0]);
  const busy = await run(tokens.alice, 'end=$(($(date +%s)+2)); while [ $(date +%s) -lt $end ]; do :; done');
  const idle = await run(tokens.bob, 'sleep 1');
  for (const id of [busy, idle]) {
    await waitFor(`task ${id} to end`, 30000, async () => (await api(`/api/status/${id}`, ADMIN_TOKEN)).status === 'completed')
      .catch(fail);
  }

  // A viewer opens the view: a bar per user for core- and GPU-hours, and the table.
  const page = await browser.newPage();
  const problems = watchPage(page);
  await page.goto(`${cluster.base}/login?next=%2Fusage`);
  await page.fill('input[name="token"]', tokens.vera);
  await page.click('button[type="submit"]');
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 }).catch(fail);
  assert.equal(new URL(page.url()).pathname, '/usage');
  await page.waitForSelector('[data-testid="usage-chart"]', { timeout: 20000 }).catch(fail);
  const bar = (name, metric) => page.getAttribute(`rect[data-name="${name}"][data-metric="${metric}"]`, 'width');
  assert.ok(Number(await bar('alice', 'core_hours')) > 0, 'alice has a core-hours bar');
  assert.ok(Number(await bar('bob', 'core_hours')) > 0, 'bob has a core-hours bar (his sleeper still runs)');
  const table = await page.innerText('[data-testid="usage-table"]');
  assert.match(table, /alice/);
  assert.match(table, /bob/);
  await screenshot(page, 'usage-by-user');

  // By node: one row, this cluster's node, with every task.
  await page.selectOption('[data-testid="usage-by"]', 'node');
  await page.waitForSelector('rect[data-name="e2e-auth"][data-metric="core_hours"]', { timeout: 10000 }).catch(fail);
  const report = await api('/api/usage?by=node', ADMIN_TOKEN);
  const row = await page.innerText('[data-testid="usage-table"] tr[data-name="e2e-auth"]');
  assert.match(row, new RegExp(`^e2e-auth\\s+${report.rows[0].tasks}\\b`));
  assert.deepEqual(problems, []);
  await page.close();
});
