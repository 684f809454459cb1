// The REST client of the UI: cookie session, X-CSRF-Token on every state-changing request,
// problem+json errors turned into ApiError (status, code, detail, field errors).
import { reactive } from 'vue'

export const session = reactive({ user: null, csrf: null, permissions: null, checked: false })

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`)
    this.status = status
    this.code = problem && problem.code
    this.errors = (problem && problem.errors) || []
  }
  fieldErrors() {
    const out = {}
    for (const e of this.errors) if (e.field) out[e.field] = e.message || e.code
    return out
  }
}

export async function api(method, path, { body, headers = {}, query } = {}) {
  const h = { Accept: 'application/json', ...headers }
  if (method !== 'GET' && method !== 'HEAD' && session.csrf) h['X-CSRF-Token'] = session.csrf
  if (body !== undefined) h['Content-Type'] = 'application/json'
  let url = '/api/v1' + path
  if (query) {
    const qs = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') qs.set(k, v)
    const s = qs.toString()
    if (s) url += '?' + s
  }
  const res = await fetch(url, {
    method,
    headers: h,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (res.status === 204) return { data: null, res }
  const text = await res.text()
  let data = null
  try {
    data = text ? JSON.parse(text) : null
  } catch {
    data = null
  }
  if (!res.ok) {
    if (res.status === 401 && session.user && !path.startsWith('/auth/login')) {
      session.user = null
      session.csrf = null
    }
    throw new ApiError(res.status, data)
  }
  return { data, res }
}

export async function login(username, password) {
  const { data } = await api('POST', '/auth/login', {
    body: { username, password, session: 'cookie' },
  })
  session.user = data.user
  session.csrf = data.csrf_token
  await loadMe() // the permissions of the new session
  return data
}

export async function loadMe() {
  try {
    const { data } = await api('GET', '/auth/me')
    session.user = data.user || data
    session.csrf = data.csrf_token || null
    session.permissions = data.permissions || null
  } catch {
    session.user = null
    session.csrf = null
    session.permissions = null
  }
  session.checked = true
}

export async function logout() {
  try {
    await api('POST', '/auth/logout')
  } finally {
    session.user = null
    session.csrf = null
  }
}

// What the signed-in user may do, from GET /auth/me "permissions" (system permissions, and
// per object the actions). Without that member (an older server) administrators may do
// everything and other users everything but the administrative pages.
export function can(action, object) {
  const u = session.user
  if (!u) return false
  const p = session.permissions
  if (!p) return object ? true : !!u.is_admin
  if (!object) return (p.system || []).includes(action)
  const acts = (p.objects || {})[object]
  return acts ? acts.includes(action) : !!u.is_admin
}
