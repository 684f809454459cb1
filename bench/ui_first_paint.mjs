// The measuring half of bench/ui_first_paint.sh (not a test): headless chromium loads the
// contacts list view of a running rapport and reports the time from navigation start to the
// "rp:list-rows-painted" mark (web/src/views/ObjectList.vue sets it in the first task after the
// frame that shows the first page of rows), median and p95, cold and warm.
//
//   node bench/ui_first_paint.mjs BASE_URL USERNAME PASSWORD [LOADS]
//
// Cold: a new browser context per load (empty HTTP cache and memory cache; the session cookie
// set by an API login first). Warm: one context, one page, LOADS navigations after a first
// unmeasured one (the content-hashed assets come from the cache). Also reports the bytes the
// cold loads transferred and the time to the first API answer of the list.
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, '../web/package.json'))
const { chromium } = require('playwright-core')

const [base, username, password, loadsArg] = process.argv.slice(2)
if (!base || !username || !password) {
  console.error('usage: node bench/ui_first_paint.mjs BASE_URL USERNAME PASSWORD [LOADS]')
  process.exit(2)
}
const LOADS = Number(loadsArg || 10)
const URL_LIST = base + '/records/contact'

const browser = await chromium.launch({
  executablePath: process.env.RP_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage', '--disable-gpu'],
})

async function signedInContext() {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1366, height: 900 } })
  const r = await context.request.post(base + '/api/v1/auth/login', { data: { username, password, session: 'cookie' } })
  if (!r.ok()) throw new Error('login failed: ' + r.status())
  return context
}

// One load: navigation start to the mark, and what the page fetched.
async function measure(page) {
  await page.goto(URL_LIST, { waitUntil: 'commit' })
  await page.waitForFunction(() => performance.getEntriesByName('rp:list-rows-painted').length > 0, null, { timeout: 30000, polling: 20 })
  return page.evaluate(() => {
    const mark = performance.getEntriesByName('rp:list-rows-painted')[0]
    const res = performance.getEntriesByType('resource')
    const list = res.find((e) => e.name.includes('/api/v1/records/contact'))
    const nav = performance.getEntriesByType('navigation')[0]
    const rows = document.querySelectorAll('[data-test=list-table] tr.el-table__row').length
    const at = (re, key) => {
      const e = res.find((x) => re.test(x.name))
      return e ? e[key] : null
    }
    return {
      phases: {
        'main script loaded': at(/\/assets\/index-[^/]*\.js$/, 'responseEnd'),
        'auth/me asked': at(/\/api\/v1\/auth\/me/, 'startTime'),
        'meta/objects loaded': at(/\/api\/v1\/meta\/objects/, 'responseEnd'),
        'list view chunk loaded': at(/\/assets\/ObjectList-/, 'responseEnd'),
        'records asked': at(/\/api\/v1\/records\/contact/, 'startTime'),
        'records loaded': at(/\/api\/v1\/records\/contact/, 'responseEnd'),
        'rows painted': mark.startTime,
      },
      paint: mark.startTime,
      listApiEnd: list ? list.responseEnd : null,
      listApiMs: list ? list.responseEnd - list.requestStart : null,
      bytes: res.reduce((s, e) => s + (e.transferSize || 0), 0) + (nav ? nav.transferSize : 0),
      rows,
    }
  })
}

function stats(xs) {
  const s = xs.slice().sort((a, b) => a - b)
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]
  return { median: s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2, p95: q(0.95), min: s[0], max: s[s.length - 1] }
}
const fmt = (x) => x.toFixed(0)
function report(name, runs) {
  const p = stats(runs.map((r) => r.paint))
  const a = stats(runs.map((r) => r.listApiMs))
  const b = stats(runs.map((r) => r.bytes))
  console.log(`${name}: first rows painted median ${fmt(p.median)} ms, p95 ${fmt(p.p95)} ms (min ${fmt(p.min)}, max ${fmt(p.max)}) over ${runs.length} loads; ` +
    `list API request ${fmt(a.median)} ms median; ${runs[0].rows} rows shown; transferred ${fmt(b.median)} bytes median`)
  // where the time goes: the median of each phase, from navigation start
  const phases = Object.keys(runs[0].phases).map((k) => {
    const xs = runs.map((r) => r.phases[k]).filter((x) => x !== null && x !== undefined)
    return xs.length ? `${k} ${fmt(stats(xs).median)}` : `${k} -`
  })
  console.log(`${name} phases (median ms from navigation start): ${phases.join(', ')}`)
}

try {
  const cold = []
  for (let i = 0; i < LOADS; i++) {
    const context = await signedInContext()
    const page = await context.newPage()
    cold.push(await measure(page))
    await context.close()
  }
  const context = await signedInContext()
  const page = await context.newPage()
  await measure(page) // fills the cache
  const warm = []
  for (let i = 0; i < LOADS; i++) warm.push(await measure(page))
  await context.close()
  report('cold', cold)
  report('warm', warm)
} finally {
  await browser.close()
}
