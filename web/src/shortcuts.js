// Keyboard shortcuts: single keys ("/", "?") and two-key sequences ("g p"), matched by a small
// state machine. No imports: unit-tested under plain node (tests/web/).

// The shortcuts of the app: keys (space-separated sequence), what they do, and the message key
// of their description in the catalogue (shortcuts.*).
export const SHORTCUTS = [
  { keys: '/', action: 'search', label: 'search' },
  { keys: '?', action: 'help', label: 'help' },
  { keys: 'g p', action: { go: '/pipeline' }, label: 'pipeline' },
  { keys: 'g d', action: { go: '/dashboard' }, label: 'dashboard' },
  { keys: 'g i', action: { go: '/inbox' }, label: 'inbox' },
  { keys: 'g a', action: { go: '/records/account' }, label: 'accounts' },
  { keys: 'g c', action: { go: '/records/contact' }, label: 'contacts' },
  { keys: 'g l', action: { go: '/records/lead' }, label: 'leads' },
  { keys: 'g o', action: { go: '/records/opportunity' }, label: 'opportunities' },
  { keys: 'g q', action: { go: '/records/quote' }, label: 'quotes' },
  { keys: 'g s', action: { go: '/admin' }, label: 'admin' },
]

// A matcher over the bindings: feed(key, now) returns the action the key completes, or null
// (a prefix that waits for its next key, or a key that matches nothing). A sequence's next key
// must come within timeoutMs.
export function createMatcher(bindings = SHORTCUTS, timeoutMs = 1500) {
  const seqs = bindings.map((b) => ({ keys: b.keys.split(' '), action: b.action }))
  let pending = []
  let at = 0
  return {
    feed(key, now = Date.now()) {
      if (pending.length && now - at > timeoutMs) pending = []
      const tried = [...pending, key]
      const exact = seqs.find((s) => s.keys.length === tried.length && s.keys.every((k, i) => k === tried[i]))
      if (exact) {
        pending = []
        return exact.action
      }
      const prefix = seqs.some((s) => s.keys.length > tried.length && tried.every((k, i) => s.keys[i] === k))
      if (prefix) {
        pending = tried
        at = now
        return null
      }
      // a stray key ends the sequence; it may start a new one
      pending = []
      if (tried.length > 1) return this.feed(key, now)
      return null
    },
    get pending() {
      return pending.join(' ')
    },
  }
}

// True when the event comes from a place where keys are text (inputs, text areas, editable
// content), or carries a modifier other than Shift: shortcuts leave those alone.
export function isTyping(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return true
  const el = e.target
  if (!el) return false
  const tag = (el.tagName || '').toUpperCase()
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || !!el.isContentEditable
}
