// The sales screens in a real browser against a real `rapport serve --demo`: the pipeline board
// with stage gates, the lead inbox (score explanation, SLA clock, duplicates, conversion), the
// quote builder (server-priced lines, approval, PDF preview, signing link), the KPI dashboard,
// the automation admin with the server's 422s, keyboard shortcuts, the language switch, and an
// XSS sweep. Every check compares what the page shows with what the API answers.
//
// usage: node tests/browser/test_sales.mjs RAPPORT_BINARY WEB_DIST_DIR [ARTEFACT_DIR]
import path from 'node:path'
import assert from 'node:assert/strict'
import { apiClient, finish, launchBrowser, noteFailure, parseArgs, playwright, startServer, stepper, until } from './harness.mjs'

const { rapportBin, distDir, artefacts } = parseArgs('test_sales.mjs')
const { chromium } = playwright()
const { step, counts } = stepper()

const q = (s) => "'" + String(s).replace(/'/g, "''") + "'"
const enc = encodeURIComponent
const cny = (v, digits) => new Intl.NumberFormat('en', { style: 'currency', currency: 'CNY', minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v)
const pct = (r) => (r === null || r === undefined ? '—' : (Number(r) * 100).toFixed(1) + '%')
const day = (ms) => new Date(ms).toISOString().slice(0, 10)

// Script payloads: each would set window.__xss or open a dialog if it ever ran.
const XSS = {
  img: '<img src=x onerror="window.__xss=1;alert(1)">',
  script: '<script>window.__xss=2;alert(2)</script>',
  svg: '"><svg onload="window.__xss=3">',
  js: 'javascript:window.__xss=4',
  mustache: "{{ (window.__xss=5) }}",
}
const GATE_XSS = 'Write the next step <img src=x onerror="window.__xss=6">'
const SCORE_XSS = 'xss rule <img src=x onerror="window.__xss=7">'

let server = null
let browser = null
let exitCode = 1

try {
  server = await startServer(rapportBin, distDir)
  const { base, password } = server
  const api = await apiClient(base, 'admin', password)
  const me = api.user

  // The test's own configuration: a pipeline with gates (replacing the demo's), a scoring model
  // (instead of the demo's: two models writing one field would race), a duplicate rule and a
  // first-touch SLA for leads.
  const demoModel = await api.call('DELETE', '/definitions/scoring-models/lead_fit')
  assert.equal(demoModel.status, 204, 'the demo defines a scoring model')
  await api.put('/definitions/pipelines/sales', {
    object: 'opportunity', field: 'stage', stages: [
      { value: 'prospecting', probability: 10 }, { value: 'qualification', probability: 20 },
      { value: 'needs_analysis', probability: 40 },
      { value: 'proposal', probability: 60, entry_criteria: [
        { condition: 'pain_confirmed = true', message: 'Confirm the pain first' },
        { condition: 'economic_buyer_id is not null', message: 'Name the economic buyer' },
        { condition: 'next_step is not null', message: GATE_XSS }] },
      { value: 'negotiation', probability: 80 }, { value: 'closed_won', probability: 100, won: true },
      { value: 'closed_lost', probability: 0, lost: true }],
  })
  await api.put('/definitions/scoring-models/basic', {
    object: 'lead', field: 'score', max: 100, rules: [
      { name: 'big company', category: 'profile', condition: 'employees >= 500', points: 20 },
      { name: 'from referral', category: 'channel', condition: "source = 'referral'", points: 15 },
      { name: 'has email', category: 'fit', condition: 'email is not null', points: 10 },
      { name: SCORE_XSS, category: 'fit', condition: "last_name contains '<'", points: 1 }],
  })
  await api.put('/definitions/duplicate-rules/lead_email', { object: 'lead', action: 'warn', match: [{ method: 'email', field: 'email' }] })
  await api.put('/sla/policies/lead_touch', {
    object: 'lead', criteria: "status = 'new'",
    targets: [{ name: 'first_touch', minutes: 240, due_field: 'first_touch_due', met_when: 'first_touched_at is not null' }],
  })

  browser = await launchBrowser(chromium)
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1366, height: 900 }, acceptDownloads: false })
  const page = await context.newPage()
  page.setDefaultTimeout(15000)
  const problems = []
  const dialogs = []
  await context.addInitScript(() => {
    window.__csp = []
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`))
  })
  page.on('pageerror', (e) => problems.push('page error: ' + e.message))
  page.on('dialog', (d) => {
    dialogs.push(d.message())
    d.dismiss().catch(() => {})
  })
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) problems.push('console: ' + m.text())
  })
  const shot = (name) => page.screenshot({ path: path.join(artefacts, name + '.png'), fullPage: false })
  const field = (name) => page.locator(`input[data-test=${name}], textarea[data-test=${name}], [data-test=${name}] input, [data-test=${name}] textarea`).filter({ visible: true }).first()
  const option = (text) => page.locator('.el-select-dropdown__item:visible', { hasText: text }).first()
  const noScript = async (where) => {
    const flag = await page.evaluate(() => window.__xss)
    assert.equal(flag, undefined, `a payload ran on ${where}: window.__xss = ${flag}`)
    assert.deepEqual(dialogs, [], `a dialog opened on ${where}`)
    assert.equal(await page.locator('a[href^="javascript:" i]').count(), 0, `a javascript: link on ${where}`)
    // markup that became elements would be caught here even where the CSP stops it from running
    const injected = await page.evaluate(() => document.querySelectorAll('img[src="x"], svg[onload], [onerror], [onload], script:not([src])').length)
    assert.equal(injected, 0, `payload markup became elements on ${where}`)
    assert.deepEqual(await page.evaluate(() => window.__csp), [], `the CSP blocked something on ${where}`)
  }

  await step('sign in (English)', async () => {
    await page.goto(base + '/login')
    await field('username').fill('admin')
    await field('password').fill(password)
    await page.locator('[data-test=login-submit]').click()
    await page.waitForURL(/\/records\/account$/)
  })

  // ---- pipeline ----
  const acct = (await api.get('/records/account?limit=1&sort=name')).data[0]
  const gated = await api.post('/records/opportunity', { name: 'Gate test deal', account_id: acct.id, stage: 'prospecting', amount: 4321, currency: 'cny', pain_confirmed: false })
  // Drops land on a column's head; the board gets a tall window, so that no scroll moves the
  // cards between the press and the first move of a drag.
  const HEAD = { targetPosition: { x: 60, y: 12 } }
  await step('pipeline: columns in the pipeline order with probabilities and totals from the API', async () => {
    await page.setViewportSize({ width: 1366, height: 1800 })
    await page.goto(base + '/pipeline')
    await page.locator(`[data-test=opp-${gated.id}]`).waitFor()
    const stages = await page.locator('.rp-col').evaluateAll((cols) => cols.map((c) => c.dataset.stage))
    assert.deepEqual(stages.slice(0, 7), ['prospecting', 'qualification', 'needs_analysis', 'proposal', 'negotiation', 'closed_won', 'closed_lost'])
    assert.equal(await page.locator('[data-test=prob-proposal]').innerText(), 'Probability 60% · 3 entry criteria')
    assert.equal(await page.locator('[data-test=prob-qualification]').innerText(), 'Probability 20%')
    const opps = (await api.get('/records/opportunity?limit=500&filter=' + enc("stage = 'prospecting'"))).data
    assert.equal(await page.locator('[data-test=count-prospecting]').innerText(), String(opps.length))
    const sum = opps.filter((o) => (o.currency || 'cny') === 'cny').reduce((s, o) => s + Math.round(o.amount * 10000), 0) / 10000
    await page.waitForFunction((f) => document.querySelector('[data-test=total-prospecting]')?.innerText.includes(f), cny(sum, 0))
  })

  await step('pipeline: a drag into an open stage PATCHes it', async () => {
    await page.locator(`[data-test=opp-${gated.id}]`).dragTo(page.locator('.rp-col[data-stage=qualification]'), HEAD)
    await page.locator(`.rp-col[data-stage=qualification] [data-test=opp-${gated.id}]`).waitFor()
    await until(async () => (await api.get('/records/opportunity/' + gated.id)).stage === 'qualification', 'the stage change')
  })

  await step('pipeline: a gated stage refuses the drag, lists every failed criterion and puts the card back', async () => {
    const r = await api.call('PATCH', '/records/opportunity/' + gated.id, { stage: 'proposal' })
    assert.equal(r.status, 422)
    const expected = r.body.errors.map((e) => e.message)
    assert.equal(expected.length, 3, JSON.stringify(r.body))
    await page.locator(`[data-test=opp-${gated.id}]`).dragTo(page.locator('.rp-col[data-stage=proposal]'), HEAD)
    await page.locator('[data-test=pipeline-error]').waitFor()
    await page.waitForFunction(() => document.querySelectorAll('[data-test=gate-message]').length === 3)
    assert.deepEqual(await page.locator('[data-test=gate-message]').allInnerTexts(), expected)
    assert.match(await page.locator('[data-test=pipeline-error]').innerText(), /Cannot move to Proposal: 3 entry criteria not met/)
    await page.locator(`.rp-col[data-stage=qualification] [data-test=opp-${gated.id}]`).waitFor()
    assert.equal(await page.locator(`.rp-col[data-stage=proposal] [data-test=opp-${gated.id}]`).count(), 0)
    assert.equal((await api.get('/records/opportunity/' + gated.id)).stage, 'qualification')
    await noScript('the pipeline error') // the third message carries markup: shown as text
    await shot('20-pipeline-gate')
  })

  await step('pipeline: the stage picker moves a card without drag-and-drop, gates included', async () => {
    await page.locator(`[data-test=move-${gated.id}]`).click()
    await page.locator('[data-test=move-to-proposal]:visible').click()
    await page.waitForFunction(() => document.querySelectorAll('[data-test=gate-message]').length === 3)
    await page.locator(`.rp-col[data-stage=qualification] [data-test=opp-${gated.id}]:not(.saving)`).waitFor()
    await page.locator(`[data-test=move-${gated.id}]`).click()
    assert.equal(await page.locator('[data-test=move-to-qualification]:visible').isDisabled(), true) // where it is
    await page.locator('[data-test=move-to-needs_analysis]:visible').click()
    await page.locator(`.rp-col[data-stage=needs_analysis] [data-test=opp-${gated.id}]:not(.saving)`).waitFor()
    assert.equal((await api.get('/records/opportunity/' + gated.id)).stage, 'needs_analysis')
    assert.equal(await page.locator('[data-test=pipeline-error]').count(), 0) // a success clears the refusal
    await page.setViewportSize({ width: 1366, height: 900 })
    // the opportunity's page tells the stages it went through, as GET .../stages does
    const history = (await api.get(`/records/opportunity/${gated.id}/stages`)).data
    assert.deepEqual(history.map((h) => h.stage), ['prospecting', 'qualification', 'needs_analysis'])
    await page.goto(base + '/records/opportunity/' + gated.id)
    await page.waitForFunction(() => document.querySelectorAll('[data-test=stage-row]').length === 3)
    const rows = await page.locator('[data-test=stage-row]').allInnerTexts()
    assert.match(rows[0], /^Prospecting/)
    assert.match(rows[2], /^Needs analysis[\s\S]*days so far$/)
  })

  // ---- lead inbox ----
  const twin = (await api.get('/records/lead?limit=1&filter=' + enc("email is not null and status = 'new'"))).data[0]
  assert.ok(twin, 'a demo lead with an e-mail')
  const dupe = await api.post('/records/lead?allow_duplicates=true', { last_name: 'Inbox', first_name: 'Tester', company: 'Inbox Test Ltd', email: twin.email, status: 'new', employees: 800, source: 'referral' })
  await step('lead inbox: score explanation, SLA clock and duplicate warning from the API', async () => {
    const clock = await until(async () => (await api.get(`/records/lead/${dupe.id}/sla`)).data[0], 'the SLA clock of the new lead')
    assert.equal(clock.state, 'running')
    const score = await api.get(`/records/lead/${dupe.id}/score`)
    const dups = (await api.get(`/records/lead/${dupe.id}/duplicates`)).data
    assert.ok(dups.some((d) => d.id === twin.id), 'the API sees the duplicate')
    await page.goto(base + '/inbox')
    await page.locator(`[data-test=lead-${dupe.id}]`).waitFor()
    // the countdown of the lead's running clock (GET .../sla), its target named
    await page.waitForFunction((id) => /^First touch due in [34] h \d+ min \(first_touch\)$/.test(document.querySelector(`[data-test=sla-${id}]`)?.innerText || ''), dupe.id)
    await page.locator(`[data-test=dupe-${dupe.id}] a[href="/records/lead/${twin.id}"]`).waitFor()
    assert.match(await page.locator(`[data-test=dupe-${dupe.id}]`).innerText(), /matched email, 100%/)
    assert.equal(await page.locator(`[data-test=score-${dupe.id}]`).innerText(), `Score ${score.score}`)
    await page.locator(`[data-test=score-${dupe.id}]`).click()
    await page.locator(`[data-test=why-${dupe.id}] [data-test=why-row]`).first().waitFor()
    const rows = await page.locator(`[data-test=why-${dupe.id}] [data-test=why-row]`).allInnerTexts()
    assert.equal(rows.length, score.contributions.length)
    for (const c of score.contributions) assert.ok(rows.some((r) => r.includes(`+${c.points}`) && r.includes(c.rule)), `contribution ${c.rule}: ${rows}`)
    await shot('21-inbox-score')
    await page.locator('h2').first().click() // a click elsewhere closes the explanation
    await page.locator(`[data-test=why-${dupe.id}]`).waitFor({ state: 'hidden' })
  })

  await step('lead record page: score explanation, SLA clock and duplicates as the API has them', async () => {
    const score = await api.get(`/records/lead/${dupe.id}/score`)
    await page.goto(base + '/records/lead/' + dupe.id)
    await page.waitForFunction((n) => document.querySelectorAll('[data-test=insight-score-row]').length === n, score.contributions.length)
    assert.equal(await page.locator('[data-test=insight-score] > div').first().innerText(), `Score ${score.score} (model basic)`)
    assert.match(await page.locator('[data-test=insight-sla-row]').innerText(), /first_touch \(lead_touch\)\s+running · /)
    await page.locator(`[data-test=insight-dupes] a[href="/records/lead/${twin.id}"]`).waitFor()
    assert.match(await page.locator('[data-test=insight-dupes]').innerText(), /email · 100%/)
  })

  let converted
  await step('lead inbox: convert through the dialog and land on the new opportunity', async () => {
    await page.goto(base + '/inbox')
    await page.locator(`[data-test=convert-${dupe.id}]`).click()
    await field('convert-opp-name').waitFor()
    await field('convert-amount').fill('12,345.67x')
    await page.locator('[data-test=convert-submit]').click()
    await page.getByText('Give an amount such as 12000 or 12000.50').waitFor() // checked before any request
    await field('convert-opp-name').fill('Inbox Test – first order')
    await field('convert-amount').fill('12,345.67')
    await page.locator('[data-test=convert-submit]').click()
    await page.waitForURL(/\/records\/opportunity\/[0-9a-f-]+$/)
    const lead = await api.get('/records/lead/' + dupe.id)
    assert.equal(lead.status, 'converted')
    assert.ok(page.url().endsWith('/records/opportunity/' + lead.converted_opportunity_id))
    converted = await api.get('/records/opportunity/' + lead.converted_opportunity_id)
    assert.equal(converted.name, 'Inbox Test – first order')
    assert.equal(converted.amount, 12345.67)
    assert.equal(converted.account_id, lead.converted_account_id)
    await page.locator('[data-test=record-title]', { hasText: 'Inbox Test – first order' }).waitFor()
  })

  await step('convert dialog: an existing account of the same name is offered and linked', async () => {
    const account = (await api.get('/records/account?limit=1&sort=name&filter=' + enc('name is not null'))).data[0]
    const lead = await api.post('/records/lead', { last_name: 'Existing', first_name: 'Customer', company: account.name, status: 'working' })
    await page.goto(base + '/records/lead/' + lead.id)
    await page.locator('[data-test=record-convert]').click()
    await page.locator(`[data-test=use-account-${account.id}]`).click()
    await page.locator('[data-test=suggest-accounts]').waitFor({ state: 'detached' })
    await page.locator('[data-test=convert-create-opp]').click() // no opportunity this time
    await page.locator('[data-test=convert-submit]').click()
    await page.waitForURL(/\/records\/contact\/[0-9a-f-]+$/)
    const after = await api.get('/records/lead/' + lead.id)
    assert.equal(after.status, 'converted')
    assert.equal(after.converted_account_id, account.id)
    assert.equal(after.converted_opportunity_id, null)
    assert.ok(page.url().endsWith('/records/contact/' + after.converted_contact_id))
    assert.equal((await api.get('/records/contact/' + after.converted_contact_id)).account_id, account.id)
  })

  // ---- quote builder ----
  let quoteId
  await step('quote builder: a new quote from the opportunity, two lines priced by the server', async () => {
    await page.goto(base + '/records/opportunity/' + converted.id)
    await page.locator('[data-test=new-quote]').click()
    await page.waitForURL(/\/quotes\/[0-9a-f-]+$/)
    quoteId = page.url().split('/').pop()
    const created = await api.get('/records/quote/' + quoteId)
    assert.equal(created.opportunity_id, converted.id)
    const products = (await api.get('/records/product?limit=50&sort=name&filter=' + enc("active = true and currency = 'cny'"))).data
    assert.ok(products.length >= 2)
    const picks = [{ p: products[0], qty: 2, disc: null }, { p: products[1], qty: 3, disc: 5 }]
    for (const { p, qty, disc } of picks) {
      await page.locator('[data-test=product-picker]').click()
      await option(p.name).click()
      await field('add-qty').fill(String(qty))
      await field('add-qty').press('Tab')
      if (disc !== null) {
        await field('add-discount').fill(String(disc))
        await field('add-discount').press('Tab')
      }
      await page.locator('[data-test=add-line-submit]').click()
      await page.waitForFunction((sku) => [...document.querySelectorAll('[data-test=lines-table] [data-test=line-product]')].some((e) => e.innerText.includes(sku)), p.name.slice(0, 6))
    }
    await page.waitForFunction(() => document.querySelectorAll('[data-test=lines-table] tr.el-table__row').length === 2)
    const lines = (await api.get('/records/quote_line?sort=sort_order&filter=' + enc(`quote_id = ${q(quoteId)}`))).data
    assert.equal(lines.length, 2)
    assert.deepEqual(lines.map((l) => l.quantity), [2, 3])
    const quote = await api.get('/records/quote/' + quoteId)
    // the page shows the server's prices and totals, to the cent
    await page.waitForFunction((t) => document.querySelector('[data-test=q-total]')?.innerText === t, cny(quote.total, 2))
    assert.deepEqual(await page.locator('[data-test=line-unit]').allInnerTexts(), lines.map((l) => cny(l.unit_price, 2)))
    assert.deepEqual(await page.locator('[data-test=line-total]').allInnerTexts(), lines.map((l) => cny(l.line_total, 2)))
    assert.equal(await page.locator('[data-test=q-subtotal]').innerText(), cny(quote.subtotal, 2))
    assert.ok(lines[1].line_total < lines[1].quantity * lines[1].unit_price, 'the line discount applies')
  })

  await step('quote builder: PDF preview loads in the frame', async () => {
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/v1/records/quote/${quoteId}/pdf`)),
      page.locator('[data-test=pdf-show]').click(),
    ])
    assert.equal(res.status(), 200)
    assert.equal(res.headers()['content-type'], 'application/pdf')
    assert.equal(res.headers()['x-frame-options'], 'SAMEORIGIN')
    // the frame's bytes go to chromium's PDF viewer; the same URL read with the session is a PDF
    const head = await page.evaluate((u) => fetch(u).then((r) => r.arrayBuffer()).then((b) => String.fromCharCode(...new Uint8Array(b.slice(0, 5)))), `/api/v1/records/quote/${quoteId}/pdf`)
    assert.equal(head, '%PDF-')
    await page.locator('iframe[data-test=pdf-frame]').waitFor()
    await page.waitForTimeout(500)
    assert.deepEqual(problems.filter((p) => /frame|Refused/.test(p)), [])
    await shot('22-quote-builder')
  })

  await step('quote builder: submit for approval shows the state, then send for signature', async () => {
    await page.locator('[data-test=approval-submit]').click()
    await page.waitForFunction(() => document.querySelector('[data-test=approval-state]')?.innerText === 'Approved')
    const actions = (await api.get(`/records/quote/${quoteId}/approval`)).data
    assert.equal(actions[actions.length - 1].state, 'approved')
    assert.equal((await api.get('/records/quote/' + quoteId)).status, 'approved')
    await page.waitForFunction(() => document.querySelector('[data-test=quote-status]')?.innerText === 'Approved')
    assert.equal(await page.locator('[data-test=quote-locked]').count(), 1) // pricing is read-only now
    assert.equal(await page.locator('[data-test=add-line]').count(), 0)
    await page.locator('[data-test=sign-open]').click()
    await field('sign-name').fill('Li Lei')
    await field('sign-email').fill('li.lei@example.com')
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/records/quote/${quoteId}/signing-link`) && r.request().method() === 'POST'),
      page.locator('[data-test=sign-submit]').click(),
    ])
    if (res.status() === 200 || res.status() === 201) {
      const link = await res.json()
      await page.locator('[data-test=sign-url]', { hasText: link.url }).waitFor()
    } else {
      // the endpoint is being built on main: the button stays and the error is shown
      await page.locator('[data-test=sign-error]', { hasText: `(${res.status()})` }).waitFor()
    }
    await shot('23-quote-signing')
    await page.keyboard.press('Escape')
  })

  await step('quote builder: re-open an approved quote as a draft', async () => {
    assert.ok(['approved', 'sent'].includes((await api.get('/records/quote/' + quoteId)).status)) // sent: by a signing link
    await page.locator('[data-test=quote-reopen]').click()
    await page.waitForFunction(() => document.querySelector('[data-test=quote-status]')?.innerText === 'Draft')
    await page.waitForFunction(() => document.querySelector('[data-test=approval-state]')?.innerText === 'Not submitted')
    await page.locator('[data-test=add-line]').waitFor()
    assert.equal((await api.get('/records/quote/' + quoteId)).status, 'draft')
  })

  await step('quote builder: reached from the opportunity\'s related quotes', async () => {
    await page.goto(base + '/records/opportunity/' + converted.id)
    await page.locator(`[data-test=builder-${quoteId}]`).click()
    await page.waitForURL(new RegExp('/quotes/' + quoteId + '$'))
    await page.locator('[data-test=quote-title]').waitFor()
  })

  // ---- dashboard ----
  await step('dashboard: KPI numbers match the KPI API, for all time, a period and one owner', async () => {
    const kpi = (name, qs = '') => api.get(`/kpis/${name}${qs}`)
    const check = async (qs, owner) => {
      const g = owner ? (qs ? '&' : '?') + 'group=owner_id' : ''
      const pick = (a) => (owner ? a.data.filter((r) => r.group === owner) : a.data)
      const win = pick(await kpi('win_rate', qs + g))[0]
      const cycle = pick(await kpi('median_sales_cycle_days', qs + g))[0]
      const funnel = pick(await kpi('lead_funnel', qs + g))
      const leads = (funnel.find((r) => r.step === 'lead') || { count: 0 }).count
      const pipe = pick(await kpi('pipeline_by_stage', qs + (owner ? g : (qs ? '&' : '?') + 'group=currency')))
      const open = pipe.reduce((s, r) => s + r.count, 0)
      await page.waitForFunction(
        ([w, l, o]) => document.querySelector('[data-test=kpi-win-rate]')?.innerText === w &&
          document.querySelector('[data-test=kpi-leads]')?.innerText === l &&
          (document.querySelector('[data-test=kpi-pipeline-sub]')?.innerText || '').startsWith(o),
        [pct(win ? win.value : null), String(leads), `${open} open`],
      )
      assert.equal(await page.locator('[data-test=kpi-cycle]').innerText(), cycle && cycle.value !== null ? `${Number(cycle.value).toFixed(1)} days` : '—')
      return { win, leads }
    }
    await page.goto(base + '/dashboard')
    const all = await check('', null)
    assert.ok(all.win && all.win.denominator > 0, 'the demo has closed opportunities')
    for (const c of ['funnel', 'stage']) await page.locator(`[data-test=chart-${c}] canvas`).waitFor()
    await page.waitForTimeout(600) // the charts' entry animation, for the screenshot only
    await shot('24-dashboard-kpis')
    await page.locator('[data-test=dash-period]').click()
    await option('Last 30 days').click()
    const now = Date.now()
    await check(`?from=${day(now - 29 * 86400000)}&to=${day(now)}`, null)
    await page.locator('[data-test=dash-period]').click()
    await option('All time').click()
    await page.locator('[data-test=dash-owner]').click()
    await option('My records').click()
    const mine = await check('', me.id)
    assert.ok(mine.leads >= 1 && mine.leads < all.leads, `my leads: ${mine.leads} of ${all.leads}`)
  })

  // ---- admin ----
  await step('admin: an automation rule refused with the server\'s 422 inline, then saved', async () => {
    await page.goto(base + '/admin')
    await page.locator('.el-tabs__item', { hasText: 'Automation rules' }).click()
    await page.locator('[data-test=def-add-rules]').click()
    await field('def-name').fill('escalate_p1')
    await field('def-json').fill('{"object": "case",')
    await page.locator('[data-test=def-save]:visible').click()
    await page.locator('.el-form-item__error', { hasText: 'Not valid JSON' }).waitFor()
    const bad = { object: 'case', trigger: { on: 'created' }, condition: "priority = 'p1'", description: XSS.img,
      actions: [{ type: 'set_fields', values: { escalated: true } }, { type: 'set_fields', values: { nope: 1 } }] }
    await field('def-json').fill(JSON.stringify(bad))
    await page.locator('[data-test=def-save]:visible').click()
    await page.locator('[data-test=def-error]:visible', { hasText: 'actions[1]' }).waitFor()
    assert.match(await page.locator('[data-test=def-errors]').innerText(), /"nope" is not a field of case/)
    assert.match(await page.locator('[data-test=def-errors] pre').innerText(), /"nope": 1/) // the part it names
    bad.actions.pop()
    await field('def-json').fill(JSON.stringify(bad))
    await page.locator('[data-test=def-active]:visible').click() // saved inactive
    await page.locator('[data-test=def-save]:visible').click()
    await page.locator('[data-test=defs-table-rules] .el-table__row', { hasText: 'escalate_p1' }).waitFor()
    const rule = (await api.get('/automation/rules')).data.find((r) => r.name === 'escalate_p1')
    assert.ok(rule, 'the rule was stored')
    assert.equal(rule.active, false)
    assert.equal(rule.definition.actions.length, 1)
    await noScript('the rules tab')
    await shot('25-admin-rules')
  })

  await step('admin: queues, assignment rules and journeys are listed and edited the same way', async () => {
    await page.locator('.el-tabs__item', { hasText: 'Queues' }).click()
    await page.locator('[data-test=def-add-queues]').click()
    await field('def-name').fill('east_team')
    await field('def-json').fill(JSON.stringify({ members: ['nobody'], strategy: 'round_robin' }))
    await page.locator('[data-test=def-save]:visible').click()
    await page.locator('[data-test=def-error]:visible', { hasText: 'members' }).waitFor()
    await field('def-json').fill(JSON.stringify({ members: [me.id], strategy: 'round_robin' }))
    await page.locator('[data-test=def-save]:visible').click()
    await page.locator('[data-test=defs-table-queues] .el-table__row', { hasText: '1 member · round_robin' }).waitFor()
    await page.locator('.el-tabs__item', { hasText: 'Assignment rules' }).click()
    await page.locator('[data-test=def-add-assignment-rules]').click()
    await field('def-name').fill('lead_routing')
    await field('def-json').fill(JSON.stringify({ object: 'lead', entries: [{ criteria: "region = 'east_china'", queue: 'east_team' }, { queue: 'east_team' }] }))
    await page.locator('[data-test=def-save]:visible').click()
    await page.locator('[data-test=defs-table-assignment-rules] .el-table__row', { hasText: 'lead_routing' }).waitFor()
    assert.equal((await api.get('/definitions/assignment-rules')).data[0].name, 'lead_routing')
    await page.locator('.el-tabs__item', { hasText: 'Journeys' }).click()
    await page.locator('[data-test=defs-table-journeys]').waitFor()
  })

  // ---- keyboard ----
  await step('keyboard: ? shows the shortcuts, g p goes to the pipeline, / focuses search', async () => {
    await page.locator('h2').first().click()
    await page.keyboard.press('?')
    await page.locator('.el-dialog__title', { hasText: 'Keyboard shortcuts' }).waitFor()
    assert.match(await page.locator('.rp-shortcuts').innerText(), /Go to the pipeline/)
    await page.keyboard.press('Escape')
    await page.locator('.el-dialog__title', { hasText: 'Keyboard shortcuts' }).waitFor({ state: 'hidden' })
    await page.keyboard.press('g')
    await page.keyboard.press('p')
    await page.waitForURL(/\/pipeline$/)
    await page.locator('[data-test=board]').waitFor()
    await page.keyboard.press('g')
    await page.keyboard.press('d')
    await page.waitForURL(/\/dashboard$/)
    await page.keyboard.press('/')
    await page.waitForFunction(() => document.activeElement === document.querySelector('input[data-test=global-search]'))
    await page.keyboard.type('gp') // typing in a field is not a shortcut
    await page.waitForTimeout(200)
    assert.match(page.url(), /\/dashboard$/)
  })

  // ---- language ----
  await step('language switch: the new screens in Chinese', async () => {
    await page.goto(base + '/pipeline')
    await page.locator('[data-test=lang]').click()
    await option('中文').click()
    await page.waitForFunction(() => document.querySelector('[data-test=prob-proposal]')?.innerText === '赢单概率 60% · 3 项准入条件')
    assert.equal(await page.locator('h2').first().innerText(), '销售管道')
    await page.goto(base + '/quotes/' + quoteId)
    await page.locator('[data-test=quote-lines] h3', { hasText: '报价明细' }).waitFor()
    // re-opened as a draft above: it waits for a new approval
    await page.waitForFunction(() => document.querySelector('[data-test=approval-state]')?.innerText === '未提交')
    assert.equal(await page.locator('[data-test=quote-status]').innerText(), '草稿')
    await page.goto(base + '/dashboard')
    await page.locator('.rp-card', { hasText: '销售周期中位数' }).waitFor()
    await shot('26-dashboard-zh')
    await page.locator('[data-test=lang]').click()
    await option('English').click()
    await page.locator('.rp-card', { hasText: 'Median sales cycle' }).waitFor()
  })

  await step('phone width: the new screens fit without a page-wide horizontal scroll', async () => {
    await page.setViewportSize({ width: 390, height: 844 })
    for (const [url, ready] of [
      ['/pipeline', '[data-test=board]'], ['/inbox', '[data-test^=lead-]'], ['/quotes/' + quoteId, '[data-test=lines-table]'],
      ['/dashboard', '[data-test=chart-funnel] canvas'], ['/admin', '[data-test=admin-tabs]'],
    ]) {
      await page.goto(base + url)
      await page.locator(ready).first().waitFor()
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      assert.ok(overflow <= 0, `${url} scrolls sideways by ${overflow} px at phone width`)
      if (url.startsWith('/quotes/')) await shot('28-phone-quote')
    }
    await page.setViewportSize({ width: 1366, height: 900 })
  })

  // ---- XSS ----
  await step('XSS: script payloads in every text field type are shown as text and never run', async () => {
    // a custom text field and a picklist whose labels are payloads (labels come from metadata)
    await api.post('/meta/objects/lead/fields', { name: 'xss_note', type: 'text', label: { en: 'Note ' + XSS.img, zh: '备注 ' + XSS.img } })
    await api.post('/meta/objects/lead/fields', { name: 'xss_pick', type: 'picklist', label: { en: 'Pick ' + XSS.svg, zh: 'Pick ' + XSS.svg },
      values: [{ value: 'a', label: { en: XSS.script, zh: XSS.script } }] })
    const lead = await api.post('/records/lead', {
      last_name: XSS.img, first_name: XSS.script, company: XSS.svg, title: XSS.mustache, wechat: XSS.js, city: XSS.img,
      street: XSS.script, description: `${XSS.img}\n${XSS.script}\n${XSS.js}`, xss_note: XSS.svg, xss_pick: 'a', status: 'new',
    })
    // typed fields: the server refuses what is not an e-mail, phone or http(s) URL
    for (const [f, v] of [['email', `${XSS.img}@example.com`], ['phone', XSS.script], ['website', XSS.js], ['website', 'https://example.com/' + XSS.svg]]) {
      const r = await api.call('PATCH', '/records/lead/' + lead.id, { [f]: v })
      assert.equal(r.status, 422, `${f} = ${v} is refused: ${r.status}`)
    }
    const r = await api.call('PATCH', '/records/lead/' + lead.id, { website: 'https://example.com/?q=%3Cimg%20src%3Dx%3E' })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    const opp = await api.post('/records/opportunity', { name: XSS.img, stage: 'prospecting', amount: 1, next_step: XSS.script, competitor: XSS.js })
    const acc = await api.post('/records/account', { name: XSS.script, description: XSS.img })
    const qt = await api.post('/records/quote', { name: XSS.img, opportunity_id: opp.id, account_id: acc.id, terms: XSS.script })
    await api.post('/records/quote_line', { quote_id: qt.id, description: XSS.svg, quantity: 1, unit_price: 10 })

    const visits = [
      ['/records/lead/' + lead.id, () => page.locator('[data-test=record-title]', { hasText: '<img src=x' }).waitFor()],
      ['/records/lead?sort=-created_at', () => page.locator('[data-test=list-table] tr.el-table__row', { hasText: '<img src=x' }).first().waitFor()],
      ['/inbox', async () => {
        await page.locator(`[data-test=lead-${lead.id}]`, { hasText: '<img src=x' }).waitFor()
        // the cards' details (scores, clocks, duplicates) arrive one by one and move the layout
        await page.locator('[data-test=inbox-details-loading]').waitFor({ state: 'detached' })
        await page.locator(`[data-test=lead-${lead.id}]`).scrollIntoViewIfNeeded()
        await page.locator(`[data-test=score-${lead.id}]`).click()
        await page.locator(`[data-test=why-${lead.id}] [data-test=why-row]`, { hasText: 'xss rule <img' }).waitFor()
      }],
      ['/search?q=' + enc('onerror'), () => page.locator('[data-test=search-title]').waitFor()],
      ['/pipeline', () => page.locator(`[data-test=opp-${opp.id}]`, { hasText: '<img src=x' }).waitFor()],
      ['/records/opportunity/' + opp.id, () => page.locator('[data-test=value-next_step]', { hasText: '<script>' }).waitFor()],
      ['/records/account/' + acc.id, () => page.locator('[data-test=related-quote]').waitFor()],
      ['/quotes/' + qt.id, () => page.locator('[data-test=line-product]', { hasText: '<svg' }).waitFor()],
      ['/admin', () => page.locator('[data-test=users-table]').waitFor()],
      ['/dashboard', () => page.locator('[data-test=chart-funnel] canvas').waitFor()],
    ]
    for (const [url, ready] of visits) {
      await page.goto(base + url)
      await ready()
      await page.waitForTimeout(300)
      await noScript(url)
    }
    // the record page in edit mode puts the payloads in inputs, and the labels are text
    await page.goto(base + '/records/lead/' + lead.id)
    await page.locator('[data-field=xss_note] .el-form-item__label', { hasText: 'Note <img' }).waitFor()
    assert.equal(await page.locator('[data-test=value-xss_pick]').innerText(), XSS.script)
    const site = page.locator('a[data-test=value-website]')
    assert.match(await site.getAttribute('href'), /^https:\/\/example\.com\//)
    await page.locator('[data-test=record-edit]').click()
    assert.equal(await field('input-last_name').inputValue(), XSS.img)
    await page.waitForTimeout(300)
    await noScript('the lead in edit mode')
    await page.locator('[data-test=record-cancel]').click()
    // Chinese labels take the same path
    await page.locator('[data-test=lang]').click()
    await option('中文').click()
    await page.locator('[data-field=xss_note] .el-form-item__label', { hasText: '备注 <img' }).waitFor()
    await noScript('the lead in Chinese')
    await shot('27-xss-lead')
  })

  await step('the Content-Security-Policy blocked nothing, no script failed, no dialog opened', async () => {
    assert.deepEqual(await page.evaluate(() => window.__csp), [])
    assert.deepEqual(problems, [])
    assert.deepEqual(dialogs, [])
  })

  exitCode = 0
} catch (e) {
  noteFailure(counts, e)
}
await finish({ browser, server, counts, exitCode })
