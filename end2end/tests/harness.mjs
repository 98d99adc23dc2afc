// Starts the real host and runner binaries on free ports in a temporary folder, and Debian's
// Chromium through playwright-core. No browser is downloaded: the test fails if Chromium is absent.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync, openSync } from 'node:fs';
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
  static async create() {
    const c = new Cluster();
    c.dir = mkdtempSync(join(tmpdir(), 'hakuriver-e2e-'));
    c.hostPort = await freePort();
    c.base = `http://127.0.0.1:${c.hostPort}`;
    c.config = join(c.dir, 'config.toml');
    writeFileSync(c.config, [
      '[network]', `host_port = ${c.hostPort}`, `host_ssh_proxy_port = ${await freePort()}`, 'runner_address = "127.0.0.1"',
      '[paths]', 'shared_dir = "shared"', 'local_temp_dir = "temp"',
      '[database]', 'db_file = "host.db"',
      '[timing]', 'heartbeat_interval = 0.5', 'heartbeat_timeout_factor = 4', 'cleanup_check_interval = 0.5', '',
    ].join('\n'));
    c.procs = [];
    return c;
  }

  spawn(name, binary, env = {}) {
    const log = join(this.dir, `${name}.log`);
    const fd = openSync(log, 'w');
    const child = spawn(bin(binary), ['--config', this.config], {
      env: { ...process.env, HAKURIVER_HOME: join(this.dir, 'home'), RUST_LOG: 'info', ...env },
      stdio: ['ignore', fd, fd],
    });
    const proc = { name, child, log: () => readFileSync(log, 'utf8') };
    this.procs.push(proc);
    return proc;
  }

  async startHost() {
    const host = this.spawn('host', 'hakuriver-host');
    await waitFor('the host to answer', 20000, async () => {
      const r = await fetch(`${this.base}/api/health`).catch(() => null);
      return r?.ok;
    });
    return host;
  }

  async startRunner(hostname) {
    return this.spawn(`runner-${hostname}`, 'hakuriver-runner', {
      HAKURIVER_RUNNER_HOSTNAME: hostname,
      HAKURIVER_NETWORK_RUNNER_PORT: String(await freePort()),
    });
  }

  logs() {
    return this.procs.map((p) => `----- ${p.name} -----\n${p.log()}`).join('\n');
  }

  stop() {
    for (const p of this.procs) p.child.kill('SIGKILL');
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
