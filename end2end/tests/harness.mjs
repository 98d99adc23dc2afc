// Starts the real host and runner binaries on free ports in a temporary folder, and Debian's
// Chromium through playwright-core. No browser is downloaded: the test fails if Chromium is absent.
import { spawn, spawnSync } from 'node:child_process';
import {
  mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync, openSync, mkdirSync, copyFileSync, chmodSync, symlinkSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const binDir = process.env.HAKURIVER_BIN_DIR ?? join(root, 'target/debug');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function bin(name) {
  const path = join(binDir, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: build first (cargo build --bins)`);
  return path;
}

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

export class Cluster {
  // `extra`: more config lines, appended (e.g. a [docker] section).
  static async create(extra = []) {
    const c = new Cluster();
    c.dir = mkdtempSync(join(tmpdir(), 'hakuriver-e2e-'));
    c.hostPort = await freePort();
    c.base = `http://127.0.0.1:${c.hostPort}`;
    c.config = join(c.dir, 'config.toml');
    writeFileSync(c.config, [
      '[network]', `host_port = ${c.hostPort}`, `host_ssh_proxy_port = ${await freePort()}`, 'runner_address = "127.0.0.1"',
      '[paths]', 'shared_dir = "shared"', 'local_temp_dir = "temp"',
      '[database]', 'db_file = "host.db"',
      '[timing]', 'heartbeat_interval = 0.5', 'heartbeat_timeout_factor = 4', 'cleanup_check_interval = 0.5',
      ...extra, '',
    ].join('\n'));
    c.procs = [];
    c.nodes = [];
    return c;
  }

  spawn(name, binary, env = {}) {
    const log = join(this.dir, `${name}.log`);
    const fd = openSync(log, 'w');
    const child = spawn(bin(binary), ['--config', this.config], {
      // No default environment is built (the tests bring their own images).
      env: {
        ...process.env, HAKURIVER_HOME: join(this.dir, 'home'), RUST_LOG: 'info', HAKURIVER_DOCKER_INITIAL_BASE_IMAGE: '',
        ...env,
      },
      stdio: ['ignore', fd, fd],
    });
    const proc = { name, child, log: () => readFileSync(log, 'utf8') };
    this.procs.push(proc);
    return proc;
  }

  // `env`: more environment for the host, e.g. HAKURIVER_NETWORK_BASE_PATH.
  async startHost(env = {}) {
    const host = this.spawn('host', 'hakuriver-host', env);
    await waitFor('the host to answer', 20000, async () => {
      // Any answer will do: with [auth] on, an unauthenticated health check is a 401.
      const r = await fetch(`${this.base}/api/health`).catch(() => null);
      return r !== null && r.status < 500;
    });
    return host;
  }

  async startRunner(hostname) {
    this.nodes.push(hostname);
    return this.spawn(`runner-${hostname}`, 'hakuriver-runner', {
      HAKURIVER_RUNNER_HOSTNAME: hostname,
      HAKURIVER_NETWORK_RUNNER_PORT: String(await freePort()),
    });
  }

  // For `.catch(...)`: the failure with every process's log appended.
  fail(e) {
    throw new Error(`${e.message}\n${this.logs()}`);
  }

  logs() {
    return this.procs.map((p) => `----- ${p.name} -----\n${p.log()}`).join('\n');
  }

  stop() {
    for (const p of this.procs) p.child.kill('SIGKILL');
    // Task containers a killed runner left behind go with the cluster.
    for (const node of this.nodes) {
      const listed = spawnSync('docker', ['ps', '--all', '--quiet', '--filter', `label=hakuriver.node=${node}`]);
      const ids = String(listed.stdout ?? '').split(/\s+/).filter(Boolean);
      if (ids.length > 0) spawnSync('docker', ['rm', '--force', ...ids]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitFor(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// A fresh Chromium profile in a temporary folder; returns a context to open pages in.
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  const userDataDir = mkdtempSync(join(tmpdir(), 'hakuriver-chromium-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  return { browser, cleanup: async () => { await browser.close(); rmSync(userDataDir, { recursive: true, force: true }); } };
}

// Collects console errors and failed requests so a test can assert the page ran cleanly.
export function watchPage(page) {
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    if (!req.url().endsWith('/favicon.ico')) problems.push(`request failed: ${req.url()}`);
  });
  return problems;
}

// The busybox test image (the same recipe as itest's images.rs: Debian's static busybox imported
// as a root file system), saved as an environment tarball into `sharedDir` so the dashboard's
// environment picker offers it. Throws with the fix when Docker or busybox-static is missing.
export const BUSYBOX_ENV = 'hakuriver-test-busybox';
const BUSYBOX_IMAGE = `hakuriver/${BUSYBOX_ENV}:base`;
const APPLETS = ['sh', 'echo', 'sleep', 'cat', 'env', 'ls', 'head', 'tail', 'dd', 'true', 'false', 'printf', 'nproc', 'grep', 'stty'];

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

export function busyboxEnvTarball(sharedDir) {
  run('docker', ['info', '--format', '{{.ServerVersion}}']);
  if (spawnSync('docker', ['image', 'inspect', BUSYBOX_IMAGE]).status !== 0) {
    if (!existsSync('/bin/busybox')) throw new Error('/bin/busybox is missing: apt-get install busybox-static');
    const dir = mkdtempSync(join(tmpdir(), 'busybox-'));
    const root = join(dir, 'rootfs');
    for (const sub of ['bin', 'tmp', 'shared', 'local_temp', 'etc']) mkdirSync(join(root, sub), { recursive: true });
    copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
    chmodSync(join(root, 'bin/busybox'), 0o755);
    for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
    run('tar', ['-C', root, '-cf', join(dir, 'rootfs.tar'), '.']);
    run('docker', ['import', '--change', 'ENV PATH=/bin', join(dir, 'rootfs.tar'), BUSYBOX_IMAGE]);
    rmSync(dir, { recursive: true, force: true });
  }
  const created = Math.floor(Date.parse(run('docker', ['image', 'inspect', '--format', '{{.Created}}', BUSYBOX_IMAGE])) / 1000);
  const dir = join(sharedDir, 'hakuriver-containers');
  mkdirSync(dir, { recursive: true });
  run('docker', ['save', '-o', join(dir, `${BUSYBOX_ENV}-${created}.tar`), BUSYBOX_IMAGE]);
}

// Saves a screenshot of `page` as `<name>.png` when E2E_SCREENSHOT_DIR is set (CI keeps them).
export async function screenshot(page, name) {
  if (process.env.E2E_SCREENSHOT_DIR) {
    mkdirSync(process.env.E2E_SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: join(process.env.E2E_SCREENSHOT_DIR, `${name}.png`), fullPage: true });
  }
}

// The Debian test image with openssh-server (scripts/test-image-sshd.sh: debootstrap once, cached).
export const SSHD_ENV = 'hakuriver-test-sshd';
export function ensureSshdImage() {
  run('bash', [join(root, 'scripts/test-image-sshd.sh')]);
}

// A fresh ed25519 key pair; returns the public key line.
export function newPublicKey() {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-key-'));
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'e2e', '-f', join(dir, 'id_ed25519')]);
  const key = readFileSync(join(dir, 'id_ed25519.pub'), 'utf8').trim();
  rmSync(dir, { recursive: true, force: true });
  return key;
}

// Opens `path` in a new page and waits until it is hydrated and its live link is up; returns the
// page and the list of problems (console errors, failed requests) seen on it.
export async function openHydrated(browser, base, path, options = {}) {
  const page = await browser.newPage(options);
  const problems = watchPage(page);
  await page.goto(`${base}${path}`);
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 });
  await page.waitForSelector('[data-link="live"]', { timeout: 10000 });
  return { page, problems };
}

// Waits until node `name` is online.
// `token`: a bearer token, for clusters with [auth] on.
export async function waitForNode(base, name, token) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  await waitFor(`node ${name}`, 20000, async () => {
    const nodes = await (await fetch(`${base}/api/nodes`, { headers })).json();
    return nodes.some((n) => n.hostname === name && n.status === 'online');
  });
}
