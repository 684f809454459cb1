import { createRouter, createWebHistory } from 'vue-router'
import { session, loadMe } from './api.js'
import { loadMeta } from './meta.js'

const Login = () => import('./views/Login.vue')
const ObjectList = () => import('./views/ObjectList.vue')
const RecordPage = () => import('./views/RecordPage.vue')
const Pipeline = () => import('./views/Pipeline.vue')
const Audit = () => import('./views/Audit.vue')
const Search = () => import('./views/Search.vue')
const Admin = () => import('./views/Admin.vue')
const Dashboard = () => import('./views/Dashboard.vue')
const LeadInbox = () => import('./views/LeadInbox.vue')
const QuoteBuilder = () => import('./views/QuoteBuilder.vue')

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', redirect: '/records/account' },
    { path: '/login', component: Login, meta: { public: true } },
    { path: '/records/:object', component: ObjectList, props: true },
    { path: '/records/:object/:id', component: RecordPage, props: true },
    { path: '/pipeline', component: Pipeline },
    { path: '/audit', component: Audit },
    { path: '/search', component: Search },
    { path: '/admin', component: Admin },
    { path: '/dashboard', component: Dashboard },
    { path: '/inbox', component: LeadInbox },
    { path: '/quotes/:id', component: QuoteBuilder, props: true },
    { path: '/:rest(.*)*', redirect: '/records/account' },
  ],
})

router.beforeEach(async (to) => {
  if (!session.checked) {
    // First load: the metadata (and a list view's code) are fetched while the session is
    // checked, not after it, since a list's first rows wait for both (bench/ui_first_paint.sh).
    let early = null
    if (!to.meta.public) {
      early = loadMeta().catch(() => {})
      if (/^\/records\/[^/]+\/?$/.test(to.path)) ObjectList().catch(() => {})
    }
    await loadMe()
    if (early) await early
  }
  if (to.meta.public) return session.user && to.path === '/login' ? '/' : true
  if (!session.user) return { path: '/login', query: { next: to.fullPath } }
  await loadMeta()
  return true
})
