// The web UI's pure helpers of the administration pages (admin.js) and the keyboard shortcuts
// (shortcuts.js) under Vitest.
import { test } from 'vitest'
import assert from 'node:assert/strict'
import { KINDS, parseDefinition, resolvePath, splitErrors, summary, summaryParts, validName } from '../../web/src/admin.js'
import { SHORTCUTS, createMatcher, isTyping } from '../../web/src/shortcuts.js'

test('validName: API names as the server takes them', () => {
  for (const ok of ['a', 'escalate_p1', 'east_team', 'x'.repeat(64)]) assert.equal(validName(ok), true, ok)
  for (const bad of ['', '1abc', 'East', 'a-b', 'a.b', 'a b', '_a', 'x'.repeat(65), null, 7]) assert.equal(validName(bad), false, String(bad))
})

test('summary: one line per kind, counts worded by the caller', () => {
  assert.equal(summary('rules', { object: 'case', trigger: { on: 'created' }, actions: [{}, {}] }), 'case · created · 2 actions')
  assert.equal(summary('rules', { object: 'order', trigger: { on: 'event', type: 'shipment.updated' }, actions: [] }), 'order · event shipment.updated · 0 actions')
  assert.equal(summary('rules', { object: 'contact', trigger: { on: 'date', field: 'birthdate' } }), 'contact · date birthdate · 0 actions')
  assert.equal(summary('queues', { members: ['a', 'b'], strategy: 'least_loaded' }), '2 members · least_loaded')
  assert.equal(summary('queues', {}), '0 members · round_robin')
  assert.equal(summary('assignment-rules', { object: 'lead', entries: [{}] }, (c, n) => `${n}×${c}`), 'lead · 1×entries')
  assert.equal(summary('journeys', { object: 'contact', steps: [{}, {}, {}] }), 'contact · 3 steps')
  assert.deepEqual(summaryParts('journeys', { object: 'contact', steps: [{}] }), ['contact', { count: 'steps', n: 1 }])
  assert.equal(summary('rules', null), '? · ? · 0 actions')
  assert.equal(summary('unknown', {}), '')
  for (const k of Object.keys(KINDS)) assert.ok(KINDS[k].path.startsWith('/'), k)
})

test('resolvePath: the part of a definition a 422 names', () => {
  const def = { actions: [{ type: 'a' }, { type: 'set_fields', values: { nope: 1 } }], hours: { mon: [['09:00', '12:00'], ['13:00', '18:00']] }, members: [] }
  assert.deepEqual(resolvePath(def, 'actions[1]'), { type: 'set_fields', values: { nope: 1 } })
  assert.equal(resolvePath(def, 'actions[1].values.nope'), 1)
  assert.equal(resolvePath(def, 'hours.mon[1][0]'), '13:00')
  assert.deepEqual(resolvePath(def, 'members'), [])
  assert.equal(resolvePath(def, 'actions[5]'), undefined)
  assert.equal(resolvePath(def, 'nothing.here'), undefined)
  assert.equal(resolvePath(def, ''), undefined)
  assert.equal(resolvePath(null, 'a'), undefined)
})

test('parseDefinition and splitErrors', () => {
  assert.deepEqual(parseDefinition('{"a": 1}'), { value: { a: 1 } })
  assert.ok(parseDefinition('{"a": ').error)
  assert.equal(parseDefinition('[1]').error, 'the definition must be a JSON object')
  assert.equal(parseDefinition('null').error, 'the definition must be a JSON object')
  const def = { actions: [{ type: 'x' }] }
  const out = splitErrors([
    { field: 'name', code: 'invalid_name', message: 'bad name' },
    { field: 'actions[0]', code: 'unknown_action', message: 'unknown action "x"' },
    { code: 'invalid' },
  ], def)
  assert.equal(out.name, 'bad name')
  assert.deepEqual(out.definition, [
    { field: 'actions[0]', message: 'unknown action "x"', part: { type: 'x' } },
    { field: '', message: 'invalid', part: undefined },
  ])
  assert.deepEqual(splitErrors(undefined, {}), { name: '', definition: [] })
})

test('shortcut matcher: single keys, sequences, timeouts and stray keys', () => {
  const m = createMatcher(SHORTCUTS, 1000)
  assert.equal(m.feed('/', 0), 'search')
  assert.equal(m.feed('?', 10), 'help')
  assert.equal(m.feed('g', 100), null)
  assert.equal(m.pending, 'g')
  assert.deepEqual(m.feed('p', 200), { go: '/pipeline' })
  assert.equal(m.pending, '')
  // too slow: the "g" is forgotten and "p" alone is nothing
  assert.equal(m.feed('g', 1000), null)
  assert.equal(m.feed('p', 2500), null)
  // a stray key ends the sequence, and may start the next one
  assert.equal(m.feed('g', 3000), null)
  assert.equal(m.feed('x', 3100), null)
  assert.equal(m.pending, '')
  assert.equal(m.feed('g', 3200), null)
  assert.equal(m.feed('g', 3300), null) // "g g" is no shortcut: the second g starts afresh
  assert.equal(m.pending, 'g')
  assert.deepEqual(m.feed('d', 3400), { go: '/dashboard' })
  assert.equal(m.feed('g', 3500), null)
  assert.equal(m.feed('/', 3600), 'search')
  // every sequence of the app is reachable and unique
  const keys = SHORTCUTS.map((s) => s.keys)
  assert.equal(new Set(keys).size, keys.length)
  for (const s of SHORTCUTS) {
    const mm = createMatcher(SHORTCUTS)
    let got = null
    for (const k of s.keys.split(' ')) got = mm.feed(k, 0)
    assert.deepEqual(got, s.action, s.keys)
  }
})

test('isTyping: inputs, text areas, editable content and modifiers are left alone', () => {
  assert.equal(isTyping({ target: { tagName: 'INPUT' } }), true)
  assert.equal(isTyping({ target: { tagName: 'textarea' } }), true)
  assert.equal(isTyping({ target: { tagName: 'SELECT' } }), true)
  assert.equal(isTyping({ target: { tagName: 'DIV', isContentEditable: true } }), true)
  assert.equal(isTyping({ target: { tagName: 'DIV' } }), false)
  assert.equal(isTyping({ target: { tagName: 'BODY' }, shiftKey: true }), false)
  assert.equal(isTyping({ target: { tagName: 'BODY' }, ctrlKey: true }), true)
  assert.equal(isTyping({ target: { tagName: 'BODY' }, metaKey: true }), true)
  assert.equal(isTyping({ target: null }), false)
})
