import { createApp } from 'vue'
// Only the Element Plus components the templates use are registered (each parent registers its
// parts: ElForm → ElFormItem, ElSelect → ElOption, ...), so the first chunk carries no others.
// ElMessage and ElMessageBox are imported where they are called.
import {
  ElAlert, ElButton, ElCheckbox, ElConfigProvider, ElDatePicker, ElDialog, ElDropdown, ElEmpty, ElForm, ElInput,
  ElInputNumber, ElPopover, ElSelect, ElSwitch, ElTable, ElTabs, ElTag, ElTimeline,
} from 'element-plus'
import 'element-plus/dist/index.css'
import './style.css'
import App from './App.vue'
import { router } from './router.js'
import { i18n } from './i18n.js'

const COMPONENTS = [ElAlert, ElButton, ElCheckbox, ElConfigProvider, ElDatePicker, ElDialog, ElDropdown, ElEmpty, ElForm, ElInput, ElInputNumber, ElPopover, ElSelect, ElSwitch, ElTable, ElTabs, ElTag, ElTimeline]

document.documentElement.lang = i18n.global.locale.value
const app = createApp(App).use(i18n).use(router)
for (const c of COMPONENTS) app.use(c)
app.mount('#app')
