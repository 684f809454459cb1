// Shared pieces of the browser tests (tests/browser/test_*.mjs): a real `rapport serve --demo`
// on a free loopback port, a bearer API client to check the UI against, Debian's chromium
// through playwright-core, and numbered steps that stop at the first failure.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'

const here = path.dirname(fileURLToPath(import.meta.url))
export const CHROMIUM = process.env.RP_CHROMIUM || '/usr/bin/chromium'

// The arguments of a test script: RAPPORT_BINARY WEB_DIST_DIR [ARTEFACT_DIR]. Exits 2 on a
// usage error and 1 (never "skipped") when chromium or the built app is missing.
export function parseArgs(script) {
  const [rapportBin, distDir, artefactArg] = process.argv.slice(2)
  if (!rapportBin || !distDir) {
    console.error(`usage: node ${script} RAPPORT_BINARY WEB_DIST_DIR [ARTEFACT_DIR]`)
    process.exit(2)
  }
  if (!existsSync(CHROMIUM) || !existsSync(path.join(distDir, 'index.html'))) {
    console.log(`FAIL: needs ${CHROMIUM} (scripts/install-deps.sh) and ${distDir}/index.html (make web)`)
    process.exit(1)
  }
  const artefacts = artefactArg || path.join(process.cwd(), 'browser-artefacts')
  mkdirSync(artefacts, { recursive: true })
  return { rapportBin, distDir, artefacts }
}

export function playwright() {
  const require = createRequire(path.join(here, '../../web/package.json'))
  return require('playwright-core')
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

// Starts `rapport serve --demo` in a fresh folder; resolves once it printed the admin password.
export async function startServer(rapportBin, distDir) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rp-browser-'))
  const port = await freePort()
  const proc = spawn(rapportBin, ['serve', '--db', path.join(dir, 't.db'), '--listen', `127.0.0.1:${port}`, '--demo', '--web', distDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  proc.stderr.on('data', (d) => (err += d))
  const password = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 90 s:\n' + out + err)), 90000)
    proc.stdout.on('data', (d) => {
      out += d
      const m = out.match(/password: (\S+)/)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${out}${err}`)))
  })
  const base = `http://127.0.0.1:${port}`
  const stop = async () => {
    proc.kill('SIGTERM')
    await new Promise((r) => {
      const t = setTimeout(() => {
        proc.kill('SIGKILL')
        r()
      }, 10000)
      proc.once('exit', () => {
        clearTimeout(t)
        r()
      })
    })
    rmSync(dir, { recursive: true, force: true })
  }
  return { proc, base, password, stderr: () => err, stop }
}

// A bearer client of the API: call(method, path, body) -> {status, body}; get(path) asserts 200.
export async function apiClient(base, username, password) {
  const login = await fetch(base + '/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  }).then((r) => r.json())
  const headers = { Authorization: 'Bearer ' + login.token }
  const call = async (method, p, body) => {
    const r = await fetch(base + '/api/v1' + p, {
      method,
      headers: body === undefined ? headers : { ...headers, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await r.text()
    let json = null
    try {
      json = text ? JSON.parse(text) : null
    } catch {
      json = text
    }
    return { status: r.status, body: json }
  }
  const get = async (p) => {
    const r = await call('GET', p)
    assert.equal(r.status, 200, `GET ${p}: ${r.status} ${JSON.stringify(r.body)}`)
    return r.body
  }
  const put = async (p, body, ok = [200, 201]) => {
    const r = await call('PUT', p, body)
    assert.ok(ok.includes(r.status), `PUT ${p}: ${r.status} ${JSON.stringify(r.body)}`)
    return r.body
  }
  const post = async (p, body, ok = [200, 201]) => {
    const r = await call('POST', p, body)
    assert.ok(ok.includes(r.status), `POST ${p}: ${r.status} ${JSON.stringify(r.body)}`)
    return r.body
  }
  return { user: login.user, call, get, put, post }
}

// Steps: each logs ok/FAIL with its time; the first failure ends the run.
export function stepper() {
  const counts = { passed: 0, failed: 0 }
  async function step(name, fn) {
    const t0 = Date.now()
    try {
      await fn()
      counts.passed++
      console.log(`ok   ${name} (${Date.now() - t0} ms)`)
    } catch (e) {
      counts.failed++
      console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`)
      throw e
    }
  }
  return { step, counts }
}

// Chromium as the browser tests run it: headless, and without the sandbox (CI may run as root).
export function launchBrowser(chromium) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage', '--disable-gpu'],
  })
}

// A run stopped by e: a failure, logged unless the step that threw logged it already.
export function noteFailure(counts, e) {
  if (!counts.failed) console.log('FAIL setup: ' + (e && e.stack ? e.stack : e))
  counts.failed = counts.failed || 1
}

// The end of a run: closes the browser and the server (the tail of the server's stderr shown
// when the run failed), prints the counts and exits with exitCode.
export async function finish({ browser, server, counts, exitCode }) {
  if (browser) await browser.close().catch(() => {})
  if (server) {
    if (exitCode !== 0) console.log('server stderr (tail):\n' + server.stderr().split('\n').slice(-20).join('\n'))
    await server.stop()
  }
  console.log(`${counts.passed} passed, ${counts.failed} failed`)
  process.exit(exitCode)
}

// Polls fn until it returns a truthy value (or throws after ms).
export async function until(fn, what, ms = 15000) {
  const t0 = Date.now()
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() - t0 > ms) throw new Error('timed out waiting for ' + what)
    await new Promise((r) => setTimeout(r, 200))
  }
}
