// The metadata administration and the server-side saved views in a real browser against a real
// `rapport serve --demo`: a custom object and fields of several types created in the admin
// pages, a refused definition's message shown beside its input, a record of the new object
// created through the metadata-driven form, a picklist value added and used, an old one
// deactivated, saved views kept on the server per user (private, and shared by an
// administrator) and the admin labels in Chinese. Every check compares the page with the API.
//
// usage: node tests/browser/test_admin_meta.mjs RAPPORT_BINARY WEB_DIST_DIR [ARTEFACT_DIR]
import path from 'node:path'
import assert from 'node:assert/strict'
import { apiClient, finish, launchBrowser, noteFailure, parseArgs, playwright, startServer, stepper } from './harness.mjs'

const { rapportBin, distDir, artefacts } = parseArgs('test_admin_meta.mjs')
const { chromium } = playwright()
const { step, counts } = stepper()
const enc = encodeURIComponent

let server = null
let browser = null
let exitCode = 1

try {
  server = await startServer(rapportBin, distDir)
  const { base, password } = server
  const api = await apiClient(base, 'admin', password)
  await api.post('/admin/users', { username: 'mei', password: 'mei-password-1', display_name: '王梅', permission_sets: ['standard'] }, [201])
  const mei = await apiClient(base, 'mei', 'mei-password-1')

  browser = await launchBrowser(chromium)
  const problems = []
  async function newPage() {
    const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1366, height: 900 } })
    await context.addInitScript(() => {
      window.__csp = []
      document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`))
    })
    const page = await context.newPage()
    page.setDefaultTimeout(15000)
    page.on('pageerror', (e) => problems.push('page error: ' + e.message))
    return page
  }
  const page = await newPage()
  const helpers = (p) => ({
    shot: (name) => p.screenshot({ path: path.join(artefacts, name + '.png'), fullPage: false }),
    field: (name) => p.locator(`input[data-test="${name}"], textarea[data-test="${name}"], [data-test="${name}"] input, [data-test="${name}"] textarea`).filter({ visible: true }).first(),
    option: (text) => p.locator('.el-select-dropdown__item:visible', { hasText: text }).first(),
    pick: async (selectTest, text) => {
      await p.locator(`[data-test="${selectTest}"]`).filter({ visible: true }).first().click()
      await p.locator('.el-select-dropdown__item:visible', { hasText: text }).first().click()
      // the next select's options must not be confused with these while they fade out
      await p.waitForFunction(() => ![...document.querySelectorAll('.el-select-dropdown')].some((e) => e.offsetParent !== null))
    },
  })
  const { shot, field, option, pick } = helpers(page)
  const signIn = async (p, user, pw) => {
    const h = helpers(p)
    await p.goto(base + '/login')
    await h.field('username').fill(user)
    await h.field('password').fill(pw)
    await p.locator('[data-test=login-submit]').click()
    await p.waitForURL(/\/records\/account$/)
  }
  const objectOf = async (name) => api.get('/meta/objects/' + name)
  const fieldOf = async (object, name) => (await objectOf(object)).fields.find((f) => f.name === name)

  await step('sign in as the administrator and open the objects and fields tab', async () => {
    await signIn(page, 'admin', password)
    await page.locator('[data-test=nav] a', { hasText: 'Administration' }).click()
    await page.locator('.el-tabs__item', { hasText: 'Objects & fields' }).click()
    await page.locator('[data-test=meta-objects]').waitFor()
    // standard objects are listed with their fields
    await page.locator('[data-test=meta-object-account]').waitFor()
    await shot('01-meta-admin')
  })

  await step('create a custom object with English and Chinese labels', async () => {
    await page.locator('[data-test=object-new]').click()
    await field('object-name').fill('project')
    await field('object-label-en').fill('Project')
    await field('object-label-zh').fill('项目')
    await field('object-plural-en').fill('Projects')
    await field('object-plural-zh').fill('项目')
    await page.locator('[data-test=object-save]').click()
    await page.locator('[data-test=meta-object-title]', { hasText: 'Project' }).waitFor()
    const o = await objectOf('project')
    assert.equal(o.custom, true)
    assert.deepEqual(o.label, { en: 'Project', zh: '项目' })
    assert.deepEqual(o.plural, { en: 'Projects', zh: '项目' })
  })

  const addField = async (def) => {
    await page.locator('[data-test=field-new]').click()
    await field('field-name').fill(def.name)
    await pick('field-type', def.typeLabel)
    await field('field-label-en').fill(def.en)
    await field('field-label-zh').fill(def.zh)
    if (def.fill) await def.fill()
    await page.locator('[data-test=field-save]').click()
  }
  const added = async (name) => {
    await page.locator(`[data-test=meta-field-${name}]`).waitFor()
    await page.locator('.el-dialog:visible [data-test=field-form]').waitFor({ state: 'detached' }).catch(() => {})
  }

  await step('add fields of several types: text (required, unique), money, date, yes/no, picklist, reference, formula', async () => {
    await addField({ name: 'code', typeLabel: /^Text$/, en: 'Code', zh: '编号', fill: async () => {
      await page.locator('[data-test=field-required]').click()
      await page.locator('[data-test=field-unique]').click()
      await field('field-max-length').fill('20')
      await field('field-help-en').fill('Project code, e.g. P-001')
      await field('field-help-zh').fill('项目编号，例如 P-001')
    } })
    await added('code')
    await addField({ name: 'budget', typeLabel: /^Money$/, en: 'Budget', zh: '预算' })
    await added('budget')
    await addField({ name: 'kickoff', typeLabel: /^Date$/, en: 'Kick-off', zh: '启动日期', fill: async () => page.locator('[data-test=field-indexed]').click() })
    await added('kickoff')
    await addField({ name: 'billable', typeLabel: /^Yes\/No$/, en: 'Billable', zh: '可计费', fill: async () => pick('field-default', /^Yes$/) })
    await added('billable')
    await addField({ name: 'phase', typeLabel: /^Picklist$/, en: 'Phase', zh: '阶段', fill: async () => {
      await field('pv-value-0').fill('plan')
      await field('pv-label-en-0').fill('Plan')
      await field('pv-label-zh-0').fill('计划')
      await page.locator('[data-test=pv-add]').filter({ visible: true }).click()
      await field('pv-value-1').fill('build')
      await field('pv-label-en-1').fill('Build')
      await field('pv-label-zh-1').fill('建设')
    } })
    await added('phase')
    await addField({ name: 'account_id', typeLabel: /^Reference$/, en: 'Customer', zh: '客户', fill: async () => pick('field-target', '(account)') })
    await added('account_id')
    await addField({ name: 'budget_k', typeLabel: /^Formula$/, en: 'Budget (k)', zh: '预算（千）', fill: async () => {
      await field('field-formula').fill('budget / 1000')
      await pick('field-result', /^Number$/)
    } })
    await added('budget_k')
    const o = await objectOf('project')
    const by = Object.fromEntries(o.fields.map((f) => [f.name, f]))
    assert.equal(by.code.type, 'text')
    assert.equal(by.code.required, true)
    assert.equal(by.code.unique, true)
    assert.equal(by.code.max_length, 20)
    assert.equal(by.budget.type, 'money')
    assert.deepEqual(by.code.help, { en: 'Project code, e.g. P-001', zh: '项目编号，例如 P-001' })
    assert.equal(by.kickoff.type, 'date')
    assert.equal(by.kickoff.indexed, true)
    assert.equal(by.billable.type, 'bool')
    assert.equal(by.billable.default, true)
    assert.deepEqual(by.phase.values.map((v) => [v.value, v.label.en, v.label.zh]), [['plan', 'Plan', '计划'], ['build', 'Build', '建设']])
    assert.equal(by.account_id.target, 'account')
    assert.equal(by.budget_k.formula, 'budget / 1000')
    assert.deepEqual(by.phase.label, { en: 'Phase', zh: '阶段' })
    await shot('02-fields')
  })

  await step('a refused definition: the server’s message sits beside the input it is about', async () => {
    await addField({ name: 'broken', typeLabel: /^Formula$/, en: 'Broken', zh: '错误', fill: async () => {
      await field('field-formula').fill('no_such_field * 2')
      await pick('field-result', /^Number$/)
    } })
    const err = page.locator('[data-part=formula] .el-form-item__error').filter({ visible: true })
    await err.waitFor()
    const direct = await api.call('POST', '/meta/objects/project/fields', { name: 'broken', type: 'formula', label: { en: 'Broken', zh: '错误' }, formula: 'no_such_field * 2', result: 'number' })
    assert.ok(direct.status >= 400 && direct.status < 500, 'the API refuses it too: ' + direct.status)
    assert.equal((await err.innerText()).trim(), direct.body.detail)
    await shot('03-refused-formula')
    // a name already taken: the message is under the name
    await field('field-name').fill('code')
    await pick('field-type', /^Text$/)
    await page.locator('[data-test=field-save]').click()
    const nameErr = page.locator('[data-part=name] .el-form-item__error').filter({ visible: true })
    await nameErr.waitFor()
    assert.match(await nameErr.innerText(), /already exists/)
    await page.locator('.el-dialog:visible .el-button', { hasText: 'Cancel' }).click()
    assert.equal(await fieldOf('project', 'broken'), undefined)
  })

  let rec = null
  await step('the new fields are at once in the list’s column chooser and on the record form; create a record', async () => {
    await page.locator('[data-test=meta-open-list]').click()
    await page.waitForURL(/\/records\/project$/)
    await page.locator('[data-test=list-title]', { hasText: 'Projects' }).waitFor()
    await page.locator('[data-test=columns-button]').click()
    const chooser = page.locator('[data-test=column-chooser]').filter({ visible: true })
    for (const label of ['Code', 'Budget', 'Kick-off', 'Billable', 'Phase', 'Customer', 'Budget (k)']) await chooser.locator('.el-checkbox', { hasText: label }).first().waitFor()
    await page.keyboard.press('Escape')
    await page.locator('[data-test=record-new]').click()
    await page.waitForURL(/\/records\/project\/new$/)
    await page.locator('[data-test=help-code]', { hasText: 'Project code, e.g. P-001' }).waitFor()
    await field('input-code').fill('P-001')
    await field('input-budget').fill('125000')
    await page.locator('[data-field=phase] .el-select').click()
    await option(/^Build$/).click()
    await page.locator('[data-field=kickoff] input').fill('2026-12-01')
    await page.locator('[data-field=kickoff] input').press('Enter')
    await shot('04-record-form')
    await page.locator('[data-test=record-save]').click()
    await page.waitForURL(/\/records\/project\/[0-9a-f-]{36}$/)
    const id = page.url().split('/').pop()
    rec = await api.get('/records/project/' + id)
    assert.equal(rec.code, 'P-001')
    assert.equal(rec.budget, 125000)
    assert.equal(rec.phase, 'build')
    assert.equal(rec.kickoff, '2026-12-01')
    assert.equal(rec.billable, true, 'the default applies')
    assert.equal(rec.budget_k, 125)
  })

  await step('add a picklist value, deactivate an old one, and use the new one', async () => {
    await page.goto(base + '/admin?tab=meta')
    await page.locator('[data-test=meta-objects]').waitFor()
    await page.locator('[data-test=meta-object-project]').click()
    await page.locator('[data-test=field-edit-phase]').click()
    await page.locator('[data-test=pv-add]').filter({ visible: true }).click()
    await field('pv-value-2').fill('closed')
    await field('pv-label-en-2').fill('Closed')
    await field('pv-label-zh-2').fill('已关闭')
    await field('pv-label-en-1').fill('Construction')
    await page.locator('[data-test=pv-active-0]').filter({ visible: true }).click()
    await page.locator('[data-test=edit-save]').click()
    await page.locator('[data-test=field-edit-form]').filter({ visible: true }).waitFor({ state: 'hidden' })
    const f = await fieldOf('project', 'phase')
    assert.deepEqual(f.values.map((v) => [v.value, v.label.en, v.active !== false]), [['plan', 'Plan', false], ['build', 'Construction', true], ['closed', 'Closed', true]])
    // the record form offers the new value and not the inactive one
    await page.goto(base + '/records/project/' + rec.id)
    await page.locator('[data-test=record-edit]').click()
    await page.locator('[data-field=phase] .el-select').click()
    await option(/^Closed$/).waitFor()
    assert.equal(await page.locator('.el-select-dropdown__item:visible', { hasText: /^Plan$/ }).count(), 0)
    await option(/^Closed$/).click()
    await page.locator('[data-test=record-save]').click()
    await page.locator('[data-test=record-edit]').waitFor()
    assert.equal((await api.get('/records/project/' + rec.id)).phase, 'closed')
    // the API refuses the inactive value
    const r = await api.call('POST', '/records/project', { code: 'P-002', phase: 'plan' })
    assert.equal(r.status, 422)
  })

  let privateView = null
  await step('save a view: it is kept on the server and comes back after a reload', async () => {
    await api.post('/records/project', { code: 'P-003', phase: 'build' }, [201])
    const expr = "phase = 'closed'"
    await page.goto(base + '/records/project?sort=code&filter=' + enc(expr))
    await page.waitForFunction((e) => document.querySelector('[data-test=filter-expr]')?.innerText === e, expr)
    await page.locator('[data-test=views-button]').click()
    await page.locator('[data-test=view-save]').filter({ visible: true }).click()
    await field('view-name').fill('Closed projects')
    await page.locator('[data-test=view-dialog-save]').click()
    await page.waitForURL(/view=/)
    const views = (await api.get('/views?object=project')).data
    assert.equal(views.length, 1)
    privateView = views[0]
    assert.equal(privateView.name, 'Closed projects')
    assert.equal(privateView.filter, expr)
    assert.equal(privateView.sort, 'code')
    assert.equal(privateView.shared, false)
    // a reload starts from the URL's view: filter and rows from the server
    await page.goto(base + '/records/project?view=' + privateView.id)
    await page.waitForFunction((e) => document.querySelector('[data-test=filter-expr]')?.innerText === e, expr)
    await page.waitForFunction(() => document.querySelectorAll('[data-test=list-table] tr.el-table__row').length === 1)
    await page.locator('[data-test=views-button]', { hasText: 'Closed projects' }).waitFor()
    await shot('05-saved-view')
    // without the view in the URL it is still listed
    await page.goto(base + '/records/project')
    await page.locator('[data-test=views-button]').click()
    await page.locator('[data-test="view-Closed projects"]').filter({ visible: true }).waitFor()
    await page.keyboard.press('Escape')
  })

  await step('an administrator shares a second view', async () => {
    await page.goto(base + '/records/project?sort=-code')
    await page.locator('[data-test=views-button]').click()
    await page.locator('[data-test=view-save]').filter({ visible: true }).click()
    await field('view-name').fill('All projects')
    await page.locator('[data-test=view-shared]').click()
    await page.locator('[data-test=view-dialog-save]').click()
    await page.waitForURL(/view=/)
    const shared = (await api.get('/views?object=project')).data.find((v) => v.name === 'All projects')
    assert.equal(shared.shared, true)
  })

  await step('a second user sees the shared view and not the private one', async () => {
    const other = await newPage()
    await signIn(other, 'mei', 'mei-password-1')
    await other.goto(base + '/records/project')
    await other.locator('[data-test=views-button]').click()
    await other.locator('[data-test="view-All projects"]').filter({ visible: true }).waitFor()
    assert.equal(await other.locator('[data-test="view-Closed projects"]').count(), 0)
    const seen = (await mei.get('/views?object=project')).data.map((v) => v.name)
    assert.deepEqual(seen, ['All projects'])
    assert.equal((await mei.call('GET', '/views')).body.data.some((v) => v.id === privateView.id), false)
    assert.equal((await mei.call('DELETE', '/views/' + privateView.id)).status, 404)
    // the URL of someone else's view shows the plain list
    await other.goto(base + '/records/project?view=' + privateView.id)
    await other.waitForFunction(() => document.querySelector('[data-test=filter-expr]')?.innerText === 'No filter')
    await helpers(other).shot('06-second-user-views')
    await other.context().close()
  })

  await step('in Chinese the admin pages use the catalogue and the metadata labels', async () => {
    await page.goto(base + '/admin?tab=meta')
    await page.locator('[data-test=lang]').click()
    await option('中文').click()
    await page.locator('.el-tabs__item', { hasText: '对象与字段' }).waitFor()
    await page.locator('[data-test=meta-object-project]', { hasText: '项目' }).click()
    await page.locator('[data-test=meta-field-phase]', { hasText: '阶段' }).waitFor()
    await page.locator('[data-test=meta-field-code]', { hasText: '编号' }).waitFor()
    await page.locator('[data-test=meta-fields]', { hasText: '选项列表' }).waitFor()
    await page.locator('[data-test=field-new]', { hasText: '新建字段' }).waitFor()
    await page.locator('[data-test=field-new]').click()
    await page.locator('.el-dialog:visible .el-form-item__label', { hasText: '显示名（中文）' }).first().waitFor()
    await shot('07-meta-admin-zh')
    await page.locator('.el-dialog:visible .el-button', { hasText: '取消' }).click()
    await page.locator('[data-test=lang]').click()
    await option('English').click()
  })

  await step('a custom field is deleted and an empty custom object too', async () => {
    await page.locator('[data-test=field-delete-budget_k]').click()
    await page.locator('.el-message-box__btns .el-button--primary').click()
    await page.locator('[data-test=meta-field-budget_k]').waitFor({ state: 'detached' })
    assert.equal(await fieldOf('project', 'budget_k'), undefined)
    await api.post('/meta/objects', { name: 'scratch', label: { en: 'Scratch', zh: '草稿' } }, [201])
    await page.reload()
    await page.locator('[data-test=meta-object-scratch]').click()
    await page.locator('[data-test=object-delete]').click()
    await page.locator('.el-message-box__btns .el-button--primary').click()
    await page.locator('[data-test=meta-object-scratch]').waitFor({ state: 'detached' })
    assert.equal((await api.call('GET', '/meta/objects/scratch')).status, 404)
  })

  await step('the Content-Security-Policy blocked nothing and no script failed', async () => {
    assert.deepEqual(await page.evaluate(() => window.__csp), [])
    assert.deepEqual(problems, [])
  })

  exitCode = 0
} catch (e) {
  noteFailure(counts, e)
}
await finish({ browser, server, counts, exitCode })
