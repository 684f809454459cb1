// The web UI in a real browser: Debian's chromium, driven by playwright-core, against a real
// `rapport serve --demo` on loopback. Every step checks what the page shows against what the
// API says, so the test fails when either side breaks.
//
// usage: node tests/browser/test_ui.mjs RAPPORT_BINARY WEB_DIST_DIR [ARTEFACT_DIR]
// Fails (it never skips) when chromium or the built app is missing: `make test` provides both.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'
import { launchBrowser } from './harness.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const [rapportBin, distDir, artefactArg] = process.argv.slice(2)
const artefacts = artefactArg || path.join(process.cwd(), 'browser-artefacts')
const CHROMIUM = process.env.RP_CHROMIUM || '/usr/bin/chromium'

if (!rapportBin || !distDir) {
  console.error('usage: node test_ui.mjs RAPPORT_BINARY WEB_DIST_DIR [ARTEFACT_DIR]')
  process.exit(2)
}
if (!existsSync(CHROMIUM) || !existsSync(path.join(distDir, 'index.html'))) {
  console.log(`FAIL: needs ${CHROMIUM} (scripts/install-deps.sh) and ${distDir}/index.html (make web)`)
  process.exit(1)
}
const require = createRequire(path.join(here, '../../web/package.json'))
const { chromium } = require('playwright-core')

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

// Starts the server and resolves with {proc, base, password} once it prints the admin password.
async function startServer(dir) {
  const port = await freePort()
  const proc = spawn(rapportBin, ['serve', '--db', path.join(dir, 't.db'), '--listen', `127.0.0.1:${port}`, '--demo', '--web', distDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  proc.stderr.on('data', (d) => (err += d))
  const password = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 60 s:\n' + out + err)), 60000)
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
  return { proc, base: `http://127.0.0.1:${port}`, password, stderr: () => err }
}

let passed = 0
let failed = 0
async function step(name, fn) {
  const t0 = Date.now()
  try {
    await fn()
    passed++
    console.log(`ok   ${name} (${Date.now() - t0} ms)`)
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`)
    throw e
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'rp-browser-'))
mkdirSync(artefacts, { recursive: true })
let server = null
let browser = null
let exitCode = 1

try {
  server = await startServer(dir)
  const { base, password } = server

  // The API as a bearer client, to check what the UI shows against the data.
  const login = await fetch(base + '/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  }).then((r) => r.json())
  const bearer = { Authorization: 'Bearer ' + login.token }
  const apiGet = async (p) => {
    const r = await fetch(base + '/api/v1' + p, { headers: bearer })
    assert.equal(r.status, 200, `GET ${p}: ${r.status}`)
    return r.json()
  }

  browser = await launchBrowser(chromium)
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1366, height: 860 } })
  const page = await context.newPage()
  page.setDefaultTimeout(10000)
  const problems = []
  await context.addInitScript(() => {
    window.__csp = []
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`))
  })
  page.on('pageerror', (e) => problems.push('page error: ' + e.message))
  const assets = []
  page.on('response', async (r) => {
    if (new URL(r.url()).pathname.startsWith('/assets/')) assets.push({ url: r.url(), status: r.status(), headers: await r.allHeaders() })
  })
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) problems.push('console: ' + m.text())
  })
  const shot = (name) => page.screenshot({ path: path.join(artefacts, name + '.png'), fullPage: false })
  // el-input hands its attributes to the inner <input> (or <textarea>); el-select keeps them on its wrapper
  const field = (name) => page.locator(`input[data-test=${name}], textarea[data-test=${name}], [data-test=${name}] input, [data-test=${name}] textarea`).first()
  const rowsOf = () => page.locator('[data-test=list-table] .el-table__body-wrapper tr.el-table__row')

  await step('login page in English for an English browser, then sign in with the cookie session', async () => {
    await page.goto(base + '/records/account')
    await page.waitForURL(/\/login\?next=/)
    await page.getByText('Sign in to Rapport').waitFor()
    await field('username').fill('admin')
    await field('password').fill('wrong password')
    await page.locator('[data-test=login-submit]').click()
    await page.locator('[data-test=login-error]').waitFor()
    await field('password').fill(password)
    await page.locator('[data-test=login-submit]').click()
    await page.waitForURL(/\/records\/account$/)
    assert.equal(await page.locator('[data-test=list-title]').innerText(), 'Accounts')
    const cookies = await context.cookies()
    const c = cookies.find((x) => x.name === 'rp_session')
    assert.ok(c && c.httpOnly, 'HttpOnly rp_session cookie')
    await shot('01-accounts-en')
  })

  await step('assets come gzip-encoded with a long cache; pages carry the CSP', async () => {
    const js = assets.find((a) => /\/assets\/index-[^/]+\.js$/.test(a.url))
    assert.ok(js, 'the main script was loaded: ' + assets.map((a) => a.url))
    assert.equal(js.status, 200)
    assert.equal(js.headers['content-encoding'], 'gzip')
    assert.match(js.headers['content-type'], /^text\/javascript/)
    assert.match(js.headers['cache-control'], /immutable/)
    const doc = await fetch(base + '/records/contact')
    assert.equal(doc.status, 200)
    assert.match(doc.headers.get('content-security-policy'), /default-src 'self'/)
    assert.match(await doc.text(), /<div id="app">/)
    const missing = await fetch(base + '/assets/nope-123.js')
    assert.equal(missing.status, 404)
    assert.match(missing.headers.get('content-type'), /problem\+json/)
  })

  await step('language switch shows Chinese labels from metadata and the catalogue', async () => {
    await page.locator('[data-test=lang]').click()
    await page.locator('.el-select-dropdown__item', { hasText: '中文' }).click()
    await page.waitForFunction(() => document.querySelector('[data-test=list-title]')?.innerText === '客户')
    const nav = await page.locator('[data-test=nav]').innerText()
    assert.match(nav, /联系人/)
    assert.match(nav, /销售管道/)
    const headers = await page.locator('[data-test=list-table] th').allInnerTexts()
    assert.ok(headers.some((h) => h.includes('客户名称')), 'column label from metadata in Chinese: ' + headers)
  })

  const contactTotal = (await apiGet('/records/contact?limit=1&count=true')).total.count
  await step('contact list: first page, count, infinite scroll loads the next keyset page', async () => {
    await page.locator('[data-test=nav] a', { hasText: '联系人' }).click()
    await page.waitForURL(/\/records\/contact/)
    await page.waitForFunction(() => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length > 0)
    assert.equal(await page.locator('[data-test=list-count]').innerText(), `共 ${contactTotal} 条`)
    assert.ok(contactTotal > 50, 'the demo has more than one page of contacts')
    await page.waitForFunction(() => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length >= 50)
    await page.locator('[data-test=list-status]').scrollIntoViewIfNeeded()
    await page.waitForFunction(() => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length > 50)
    await page.locator('[data-test=list-status]').scrollIntoViewIfNeeded()
    await page.waitForFunction((n) => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length === n, Math.min(contactTotal, 150))
    await shot('02-contacts-zh')
  })

  await step('column chooser adds a column and remembers it', async () => {
    await page.locator('[data-test=columns-button]').click()
    await page.locator('[data-test=column-chooser] .el-checkbox', { hasText: '手机' }).click()
    await page.waitForFunction(() => [...document.querySelectorAll('[data-test=list-table] th')].some((th) => th.innerText.includes('手机')))
    await page.keyboard.press('Escape')
    await page.reload()
    await page.waitForFunction(() => [...document.querySelectorAll('[data-test=list-table] th')].some((th) => th.innerText.includes('手机')))
    // a sensitive column is masked in lists, even for an administrator who reads clear values
    await page.waitForFunction(() => [...document.querySelectorAll('[data-test=list-table] span.rp-cell[data-field=mobile]')].some((c) => c.innerText.trim()))
    const mobiles = await page.locator('[data-test=list-table] span.rp-cell[data-field=mobile]').allInnerTexts()
    assert.ok(mobiles.filter(Boolean).length > 0 && mobiles.filter(Boolean).every((m) => m.includes('*')), 'masked: ' + mobiles.slice(0, 3))
  })

  await step('filter builder writes an expression and the list shows only matching rows', async () => {
    await page.locator('[data-test=filter-button]').click()
    await page.locator('[data-test=add-condition]').click()
    await page.locator('[data-test=cond-field]').click()
    await page.locator('.el-select-dropdown__item:visible', { hasText: /^姓$/ }).click()
    await field('cond-value').fill('王')
    assert.equal(await field('filter-input').inputValue(), "last_name contains '王'")
    await page.locator('[data-test=filter-apply]').click()
    await page.waitForFunction(() => document.querySelector('[data-test=filter-expr]')?.innerText === "last_name contains '王'")
    const expected = await apiGet('/records/contact?limit=500&filter=' + encodeURIComponent("last_name contains '王'"))
    assert.ok(expected.data.length > 0, 'demo has contacts named 王')
    await page.waitForFunction((n) => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length === n, expected.data.length)
    const names = await page.locator('[data-test=row-link]').allInnerTexts()
    assert.ok(names.every((n) => n.startsWith('王')), 'every row is a 王: ' + names)
    await page.keyboard.press('Escape')
  })

  await step('a bad filter expression shows the API error and keeps the page usable', async () => {
    await page.goto(base + '/records/contact?filter=' + encodeURIComponent('nonsense_field = 1'))
    await page.locator('[data-test=list-error]').waitFor()
    assert.match(await page.locator('[data-test=list-error]').innerText(), /nonsense_field/)
  })

  await step('sorting by a column orders rows as the API does', async () => {
    await page.goto(base + '/records/contact')
    await page.waitForFunction(() => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length > 0)
    const header = page.locator('[data-test=list-table] th', { hasText: '职务' })
    await header.click() // ascending
    await page.waitForURL(/sort=title/)
    await header.click() // descending
    await page.waitForURL(/sort=-title/)
    const expected = (await apiGet('/records/contact?sort=-title&limit=5&fields=title')).data.map((r) => r.title ?? '')
    await page.waitForFunction(
      (exp) => {
        const cells = [...document.querySelectorAll('[data-test=list-table] tr.el-table__row span.rp-cell[data-field=title]')].slice(0, exp.length)
        return cells.length === exp.length && cells.every((c, i) => c.innerText.trim() === exp[i])
      },
      expected,
    )
  })

  let editedId
  await step('inline edit of a cell PATCHes with If-Match and persists after reload', async () => {
    await page.goto(base + '/records/contact?sort=last_name')
    await page.waitForFunction(() => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length > 0)
    const first = (await apiGet('/records/contact?sort=last_name&limit=1')).data[0]
    editedId = first.id
    const cell = rowsOf().first().locator('td', { has: page.locator('span.rp-cell[data-field=title]') })
    await cell.dblclick()
    const input = field('cell-editor')
    await input.fill('首席测试官')
    await input.press('Enter')
    await page.locator('.el-message--success').waitFor()
    await page.reload()
    await page.waitForFunction(() => document.querySelector('[data-test=list-table] tr.el-table__row span.rp-cell[data-field=title]')?.innerText === '首席测试官')
    const after = await apiGet('/records/contact/' + editedId)
    assert.equal(after.title, '首席测试官')
    assert.equal(after.version, first.version + 1)
  })

  await step('record page: sections, related lists, timeline, masked field revealed with an audit entry', async () => {
    const contact = await apiGet('/records/contact/' + editedId)
    await rowsOf().first().locator('[data-test=row-link]').click()
    await page.waitForURL(new RegExp('/records/contact/' + editedId))
    await page.locator('[data-test=section-details] h3', { hasText: '详细信息' }).waitFor()
    await page.locator('[data-test=timeline]', { hasText: '职务' }).waitFor() // the inline edit, from history
    assert.ok(contact.mobile, 'the demo contact has a mobile number')
    const masked = await page.locator('[data-test=value-mobile]').innerText()
    assert.notEqual(masked, contact.mobile)
    assert.match(masked, /\*\*/)
    await page.locator('[data-test=reveal-mobile]').click()
    await page.waitForFunction((m) => document.querySelector('[data-test=value-mobile]')?.innerText === m, contact.mobile)
    const audit = await apiGet('/audit?action=reveal&record_id=' + editedId)
    assert.equal(audit.data.length, 1)
    assert.deepEqual(audit.data[0].changes.fields, ['mobile'])
    await shot('03-contact-record')

    // the account of this contact lists it among its related contacts
    await page.locator('[data-test=value-account_id]').click()
    await page.waitForURL(new RegExp('/records/account/' + contact.account_id))
    await page.locator('[data-test=related-contact]', { hasText: contact.last_name }).waitFor()
    await shot('04-account-record')
  })

  await step('record page shows validation messages from the API next to the field', async () => {
    await page.locator('[data-test=record-edit]').click()
    await field('input-uscc').fill('123')
    await page.locator('[data-test=record-save]').click()
    await page.locator('[data-field=uscc] .el-form-item__error', { hasText: '统一社会信用代码' }).waitFor()
    await page.locator('[data-test=record-error]').waitFor()
  })

  await step('quick action: log a call from a contact; it shows in the contact and account timelines', async () => {
    const contact = await apiGet('/records/contact/' + editedId)
    await page.goto(base + '/records/contact/' + editedId)
    await page.locator('[data-test=quick-call]').click()
    await page.locator('[data-test=quick-save]').click()
    await page.locator('.el-dialog .el-form-item__error', { hasText: '请填写主题' }).waitFor()
    await field('quick-subject').fill('电话回访：确认报价')
    await field('quick-body').fill('客户希望下周收到正式报价')
    await page.locator('[data-test=quick-save]').click()
    await page.locator('[data-test=timeline]', { hasText: '电话回访：确认报价' }).waitFor()
    const acts = (await apiGet('/records/activity?filter=' + encodeURIComponent(`related_id = '${editedId}'`))).data
    assert.equal(acts.length, 1)
    assert.equal(acts[0].type, 'call')
    assert.equal(acts[0].status, 'completed')
    assert.equal(acts[0].contact_id, editedId)
    assert.equal(acts[0].account_id, contact.account_id)
    await page.goto(base + '/records/account/' + contact.account_id)
    await page.locator('[data-test=timeline]', { hasText: '电话回访：确认报价' }).waitFor()
  })

  await step('a custom object defined through the API: list, create with a reference picker, related list', async () => {
    const def = await fetch(base + '/api/v1/meta/objects', {
      method: 'POST',
      headers: { ...bearer, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'project', label: { en: 'Project', zh: '项目' }, plural: { en: 'Projects', zh: '项目' }, search: ['name'],
        fields: [
          { name: 'name', type: 'text', label: { en: 'Project name', zh: '项目名称' }, required: true },
          { name: 'budget', type: 'money', label: { en: 'Budget', zh: '预算' } },
          { name: 'account_id', type: 'reference', target: 'account', label: { en: 'Account', zh: '客户' } },
        ],
      }),
    })
    assert.equal(def.status, 201, await def.text())
    const acct = (await apiGet('/records/account?limit=1&sort=-name')).data[0]
    await page.goto(base + '/records/project')
    assert.equal(await page.locator('[data-test=list-title]').innerText(), '项目')
    await page.locator('.el-table__empty-text', { hasText: '还没有项目' }).waitFor()
    await page.locator('[data-test=record-new]').click()
    await page.waitForURL(/\/records\/project\/new$/)
    await page.locator('[data-test=record-save]').click()
    await page.locator('[data-field=name] .el-form-item__error').waitFor() // required, from the API
    await field('input-name').fill('数据中台二期')
    await field('input-budget').fill('250000.50')
    await page.locator('[data-test=ref-account_id]').click()
    await page.keyboard.type([...acct.name].slice(0, 4).join(''))
    await page.locator('.el-select-dropdown__item:visible', { hasText: acct.name }).first().click()
    await page.locator('[data-test=record-save]').click()
    await page.waitForURL(/\/records\/project\/[0-9a-f-]{36}$/)
    const created = (await apiGet('/records/project?limit=5')).data
    assert.equal(created.length, 1)
    assert.equal(created[0].name, '数据中台二期')
    assert.equal(created[0].budget, 250000.5)
    assert.equal(created[0].account_id, acct.id)
    await page.goto(base + '/records/account/' + acct.id)
    await page.locator('[data-test=related-project]', { hasText: '数据中台二期' }).waitFor()
  })

  await step('script payloads in text fields are shown as text and never run', async () => {
    const payloads = [
      '<img src=x onerror="window.__xss=1">',
      '<script>window.__xss=2</script>',
      '"><svg onload="window.__xss=3">',
      "javascript:window.__xss=4",
      '{{ constructor.constructor("window.__xss=5")() }}',
    ]
    const ids = []
    for (const [i, name] of payloads.entries()) {
      const r = await fetch(base + '/api/v1/records/account', {
        method: 'POST',
        headers: { ...bearer, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'XSS ' + i + ' ' + name, legal_representative: name, city: name, street: name, description: name }),
      })
      const body = await r.json()
      assert.equal(r.status, 201, JSON.stringify(body))
      ids.push(body.id)
    }
    await page.goto(base + '/records/account?filter=' + encodeURIComponent("name starts_with 'XSS '"))
    await page.waitForFunction((n) => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length === n, payloads.length)
    const shown = await page.locator('[data-test=row-link]').allInnerTexts()
    for (const [i, p] of payloads.entries()) assert.ok(shown.includes('XSS ' + i + ' ' + p), 'shown as text: ' + p)
    for (const id of ids.slice(0, 3)) {
      await page.goto(base + '/records/account/' + id)
      await page.locator('[data-test=value-legal_representative]').waitFor()
    }
    await page.goto(base + '/search?q=' + encodeURIComponent('XSS'))
    await page.locator('[data-test=search-group-account]').waitFor()
    assert.equal(await page.evaluate(() => window.__xss), undefined)
  })

  await step('search without hits shows an empty state', async () => {
    await page.goto(base + '/search?q=' + encodeURIComponent('不存在的公司名称'))
    await page.locator('[data-test=search-empty]', { hasText: '没有与' }).waitFor()
  })

  await step('global search: "/" focuses the box and Chinese text finds demo records', async () => {
    const acct = (await apiGet('/records/account?limit=1&sort=name')).data[0]
    const term = [...acct.name].slice(0, 4).join('')
    await page.goto(base + '/pipeline')
    await page.locator('[data-test=board]').waitFor()
    await page.keyboard.press('/')
    await page.waitForFunction(() => document.activeElement === document.querySelector('input[data-test=global-search]'))
    await page.keyboard.type(term)
    await page.keyboard.press('Enter')
    await page.waitForURL(/\/search\?q=/)
    await page.locator('[data-test=search-group-account] [data-test=search-hit]', { hasText: acct.name }).waitFor()
    await shot('05-search')
  })

  await step('pipeline: drag an opportunity to the next stage, totals per column', async () => {
    const opps = (await apiGet('/records/opportunity?limit=500&filter=' + encodeURIComponent("stage = 'prospecting'"))).data
    assert.ok(opps.length > 0)
    const sum = opps.filter((o) => (o.currency || 'cny') === 'cny').reduce((s, o) => s + Math.round(o.amount * 10000), 0) / 10000
    const fmt = new Intl.NumberFormat('zh-CN', { style: 'currency', currency: 'CNY', maximumFractionDigits: 0 }).format(sum)
    await page.goto(base + '/pipeline')
    const total = page.locator('[data-test=total-prospecting]')
    await page.waitForFunction((f) => document.querySelector('[data-test=total-prospecting]')?.innerText.includes(f), fmt)
    assert.match(await total.innerText(), /合计/)
    const opp = opps[0]
    await page.locator(`[data-test=opp-${opp.id}]`).dragTo(page.locator('.rp-col[data-stage=qualification]'), { targetPosition: { x: 60, y: 12 } })
    // the card moves at once and is marked as saving until the PATCH answers
    await page.locator(`.rp-col[data-stage=qualification] [data-test=opp-${opp.id}]:not(.saving)`).waitFor()
    assert.equal((await apiGet('/records/opportunity/' + opp.id)).stage, 'qualification')
    await shot('06-pipeline')
  })

  await step('pipeline: a refused stage change shows the rule message and the card stays', async () => {
    const opp = (await apiGet('/records/opportunity?limit=1&filter=' + encodeURIComponent("stage = 'proposal' and lost_reason is null"))).data[0]
    assert.ok(opp, 'a proposal-stage opportunity without a lost reason')
    await page.locator(`[data-test=opp-${opp.id}]`).dragTo(page.locator('.rp-col[data-stage=closed_lost]'), { targetPosition: { x: 60, y: 12 } })
    await page.locator('[data-test=pipeline-error]', { hasText: '输单时请填写输单原因' }).waitFor()
    assert.equal(await page.locator(`.rp-col[data-stage=proposal] [data-test=opp-${opp.id}]`).count(), 1)
    assert.equal((await apiGet('/records/opportunity/' + opp.id)).stage, 'proposal')
  })

  await step('bulk delete with confirmation, and the CSV export link', async () => {
    const before = (await apiGet('/records/lead?limit=1&count=true')).total.count
    await page.goto(base + '/records/lead')
    await page.waitForFunction(() => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length > 2)
    await rowsOf().nth(0).locator('.el-checkbox').click()
    await rowsOf().nth(1).locator('.el-checkbox').click()
    await page.locator('[data-test=bulk-delete]').click()
    await page.locator('.el-message-box__btns .el-button--primary').click()
    await page.waitForFunction((n) => document.querySelector('[data-test=list-count]')?.innerText === `共 ${n} 条`, before - 2)
    assert.equal((await apiGet('/records/lead?limit=1&count=true')).total.count, before - 2)
    const href = await page.locator('[data-test=export-csv]').getAttribute('href')
    assert.match(href, /^\/api\/v1\/records\/lead\/export\?format=csv/)
    const csv = await page.evaluate((h) => fetch(h).then(async (r) => ({ status: r.status, type: r.headers.get('content-type'), text: await r.text() })), href)
    assert.equal(csv.status, 200)
    assert.match(csv.type, /^text\/csv/)
    assert.equal(csv.text.trim().split('\r\n').length, before - 2 + 1)
  })

  await step('bulk edit sets a field on the selected rows through one batch', async () => {
    const leads = (await apiGet('/records/lead?limit=2')).data
    await page.goto(base + '/records/lead')
    await page.waitForFunction(() => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length > 2)
    await rowsOf().nth(0).locator('.el-checkbox').click()
    await rowsOf().nth(1).locator('.el-checkbox').click()
    await page.locator('[data-test=bulk-edit]').click()
    await page.locator('[data-test=bulk-field]').click()
    await page.locator('.el-select-dropdown__item:visible', { hasText: /^城市$/ }).click()
    await field('bulk-value').fill('苏州')
    await page.locator('[data-test=bulk-save]').click()
    await page.locator('.el-message--success', { hasText: '已更新 2 条记录' }).waitFor()
    for (const l of leads) assert.equal((await apiGet('/records/lead/' + l.id)).city, '苏州')
  })

  await step('a saved view (kept on the server) brings back its filter and sort', async () => {
    const expr = "city = '苏州'"
    await page.goto(base + '/records/lead?sort=-created_at&filter=' + encodeURIComponent(expr))
    await page.waitForFunction((e) => document.querySelector('[data-test=filter-expr]')?.innerText === e, expr)
    await page.locator('[data-test=views]').click()
    await page.locator('[data-test=view-save]').click()
    await field('view-name').fill('苏州线索')
    await page.locator('[data-test=view-dialog-save]').click()
    await page.locator('.el-message--success', { hasText: '苏州线索' }).waitFor()
    // kept on the server for this user (GET /api/v1/views)
    const saved = (await apiGet('/views?object=lead')).data
    assert.deepEqual(saved.map((v) => [v.name, v.filter, v.sort, v.mine]), [['苏州线索', expr, '-created_at', true]])
    await page.goto(base + '/records/lead')
    await page.waitForFunction(() => document.querySelector('[data-test=filter-expr]')?.innerText === '未筛选')
    await page.locator('[data-test=views]').click()
    await page.locator('[data-test="view-苏州线索"]').click()
    await page.waitForFunction((e) => document.querySelector('[data-test=filter-expr]')?.innerText === e, expr)
    await page.waitForURL(/sort=-created_at/)
    const n = (await apiGet('/records/lead?limit=500&filter=' + encodeURIComponent(expr))).data.length
    await page.waitForFunction((k) => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length === k, n)
  })

  await step('lead inbox: overdue first, duplicate warning, mark as touched', async () => {
    const contact = (await apiGet('/records/contact?limit=1&filter=' + encodeURIComponent('email is not null'))).data[0]
    const r = await fetch(base + '/api/v1/records/lead', {
      method: 'POST',
      headers: { ...bearer, 'Content-Type': 'application/json' },
      body: JSON.stringify({ last_name: '周', first_name: '子涵', company: '重复测试有限公司', email: contact.email, status: 'new', score: 88, first_touch_due: '2026-01-05T08:00:00Z' }),
    })
    const lead = await r.json()
    assert.equal(r.status, 201, JSON.stringify(lead))
    const open = (await apiGet('/records/lead?limit=50&filter=' + encodeURIComponent("status in ('new', 'working') and first_touched_at is null"))).data
    await page.goto(base + '/inbox')
    await page.locator(`[data-test=lead-${lead.id}]`).waitFor()
    assert.equal(await page.locator('[data-test=inbox-count]').innerText(), `${open.length} 条待跟进线索`)
    assert.equal(await page.locator('[data-test^=lead-]').first().getAttribute('data-test'), 'lead-' + lead.id) // overdue sorts first
    assert.match(await page.locator(`[data-test=sla-${lead.id}]`).innerText(), /首次跟进已超时/)
    // the demo's scoring model scores the lead on its own (the 88 given is not kept)
    const scored = await apiGet('/records/lead/' + lead.id)
    assert.equal(await page.locator(`[data-test=score-${lead.id}]`).innerText(), `评分 ${scored.score}`)
    await page.locator(`[data-test=dupe-${lead.id}] a[href="/records/contact/${contact.id}"]`).waitFor()
    await shot('10-inbox')
    await page.locator(`[data-test=touch-${lead.id}]`).click()
    await page.locator(`[data-test=lead-${lead.id}]`).waitFor({ state: 'detached' })
    const after = await apiGet('/records/lead/' + lead.id)
    assert.equal(after.status, 'working')
    assert.ok(after.first_touched_at)
  })

  await step('dashboard: charts render and the numbers match the KPI API', async () => {
    const win = (await apiGet('/kpis/win_rate')).data[0]
    const funnelLeads = async (q) => ((await apiGet('/kpis/lead_funnel' + q)).data.find((r) => r.step === 'lead' && (!q || r.group === login.user.id)) || { count: 0 }).count
    const leads = await funnelLeads('')
    await page.goto(base + '/dashboard')
    const rate = (win.value * 100).toFixed(1) + '%'
    await page.waitForFunction((r) => document.querySelector('[data-test=kpi-win-rate]')?.innerText === r, rate)
    assert.equal(await page.locator('[data-test=kpi-leads]').innerText(), String(leads))
    for (const c of ['funnel', 'stage']) await page.locator(`[data-test=chart-${c}] canvas`).waitFor()
    await page.waitForTimeout(600) // the charts' 300 ms entry animation, for the screenshot only
    await shot('09-dashboard')
    await page.locator('[data-test=dash-owner]').click()
    await page.locator('.el-select-dropdown__item:visible', { hasText: '我的记录' }).click()
    const mine = await funnelLeads('?group=owner_id') // the demo's leads belong to "system"
    assert.ok(mine < leads)
    await page.waitForFunction((n) => document.querySelector('[data-test=kpi-leads]')?.innerText === String(n), mine)
  })

  await step('audit log viewer filters by action', async () => {
    await page.goto(base + '/audit')
    await field('audit-action').fill('reveal')
    await page.locator('[data-test=audit-apply]').click()
    await page.waitForFunction(() => {
      const rows = document.querySelectorAll('[data-test=audit-table] tr.el-table__row')
      return rows.length === 1 && rows[0].innerText.includes('reveal')
    })
  })

  await step('admin page: add a read-only user through the UI', async () => {
    await page.goto(base + '/admin')
    await page.locator('[data-test=users-table] .el-table__row', { hasText: 'admin' }).waitFor()
    await page.locator('[data-test=user-add]').click()
    await field('new-username').fill('lihua')
    await field('new-password').fill('Readonly-pass-2026')
    await field('new-display-name').fill('李华')
    await page.locator('[data-test=new-sets]').click()
    await page.locator('.el-select-dropdown__item:visible', { hasText: 'Read only' }).click()
    await page.locator('.el-select-dropdown__item:visible', { hasText: 'Standard user' }).click()
    await page.locator('.el-dialog__title').click() // closes the dropdown, not the dialog
    await page.locator('[data-test=new-user-save]').click()
    await page.locator('[data-test=users-table] .el-table__row', { hasText: 'lihua' }).waitFor()
    const users = (await apiGet('/admin/users')).data
    const u = users.find((x) => x.username === 'lihua')
    assert.ok(u, 'user created')
    assert.equal(u.display_name, '李华')
    assert.deepEqual(u.permission_sets, ['read_only'])
    await shot('08-admin')
  })

  await step('a read-only user sees no write controls, no reveal and only masked values', async () => {
    const ro = await browser.newContext({ locale: 'zh-CN' })
    const p = await ro.newPage()
    p.setDefaultTimeout(10000)
    await p.goto(base + '/login')
    await p.locator('input[data-test=username]').fill('lihua')
    await p.locator('input[data-test=password]').fill('Readonly-pass-2026')
    await p.locator('[data-test=login-submit]').click()
    await p.waitForURL(/\/records\/account$/)
    await p.goto(base + '/records/contact')
    await p.waitForFunction(() => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length > 0)
    assert.equal(await p.locator('[data-test=record-new]').count(), 0)
    assert.equal(await p.locator('[data-test=export-csv]').count(), 0)
    assert.equal(await p.locator('[data-test=list-table] .el-checkbox').count(), 0)
    const nav = await p.locator('[data-test=nav]').innerText()
    assert.doesNotMatch(nav, /审计日志|系统管理/)
    await p.locator('[data-test=list-table] span.rp-cell[data-field=title]').first().dblclick()
    assert.equal(await p.locator('[data-test=cell-editor]').count(), 0)
    const id = (await apiGet('/records/contact?limit=1&filter=' + encodeURIComponent('mobile is not null'))).data[0].id
    await p.goto(base + '/records/contact/' + id)
    await p.locator('[data-test=value-mobile]').waitFor()
    assert.match(await p.locator('[data-test=value-mobile]').innerText(), /\*/)
    assert.equal(await p.locator('[data-test=reveal-mobile]').count(), 0)
    assert.equal(await p.locator('[data-test=record-edit]').count(), 0)
    await ro.close()
  })

  await step('a write with the session cookie but without X-CSRF-Token is refused (403)', async () => {
    const status = await page.evaluate(() =>
      fetch('/api/v1/records/account', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"name":"csrf probe"}' }).then((r) => r.status),
    )
    assert.equal(status, 403)
    const found = await apiGet('/records/account?limit=5&filter=' + encodeURIComponent("name = 'csrf probe'"))
    assert.equal(found.data.length, 0)
  })

  await step('phone width: the layout fits and the list is usable', async () => {
    await page.setViewportSize({ width: 390, height: 844 })
    await page.goto(base + '/records/opportunity')
    await page.waitForFunction(() => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length > 0)
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    assert.ok(overflow <= 0, 'no page-wide horizontal scroll at phone width: ' + overflow)
    assert.ok(await field('global-search').isVisible())
    const header = await page.locator('header.rp-top').boundingBox()
    assert.ok(header.height < 160, 'the header stays compact at phone width: ' + header.height)
    await shot('07-phone')
    await page.setViewportSize({ width: 1366, height: 860 })
  })

  await step('the Content-Security-Policy blocked nothing and no script failed', async () => {
    const csp = await page.evaluate(() => window.__csp)
    assert.deepEqual(csp, [])
    assert.deepEqual(problems, [])
  })

  await step('logout clears the session', async () => {
    await page.locator('[data-test=logout]').click()
    await page.waitForURL(/\/login/)
    const status = await page.evaluate(() => fetch('/api/v1/auth/me').then((r) => r.status))
    assert.equal(status, 401)
  })

  await step('a Chinese browser gets the Chinese UI by default', async () => {
    const zh = await browser.newContext({ locale: 'zh-CN' })
    const p = await zh.newPage()
    await p.goto(base + '/login')
    await p.getByText('登录 Rapport').waitFor()
    await zh.close()
  })

  exitCode = 0
} catch (e) {
  if (!failed) console.log('FAIL setup: ' + (e && e.stack ? e.stack : e))
  failed = failed || 1
  exitCode = 1
} finally {
  if (browser) await browser.close().catch(() => {})
  if (server) {
    server.proc.kill('SIGTERM')
    await new Promise((r) => {
      const t = setTimeout(() => {
        server.proc.kill('SIGKILL')
        r()
      }, 10000)
      server.proc.once('exit', () => {
        clearTimeout(t)
        r()
      })
    })
    if (exitCode !== 0) console.log('server stderr (tail):\n' + server.stderr().split('\n').slice(-20).join('\n'))
  }
  rmSync(dir, { recursive: true, force: true })
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(exitCode)
