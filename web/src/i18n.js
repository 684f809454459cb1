// The message catalogue: every label that does not come from metadata. zh-CN is the default
// when the browser prefers Chinese, English otherwise; the choice is kept in localStorage.
import { createI18n } from 'vue-i18n'

const en = {
  app: { name: 'Rapport' },
  common: {
    yes: 'Yes', no: 'No', save: 'Save', cancel: 'Cancel', delete: 'Delete', edit: 'Edit',
    close: 'Close', apply: 'Apply', clear: 'Clear', loading: 'Loading…', loadingMore: 'Loading more…',
    noMore: 'No more records', empty: 'Nothing here yet', error: 'Something went wrong',
    saved: 'Saved', deleted: 'Deleted {n} records', confirm: 'Confirm', language: 'Language', new: 'New',
  },
  login: {
    title: 'Sign in to Rapport', username: 'Username', password: 'Password', submit: 'Sign in',
    failed: 'Sign-in failed: {msg}',
  },
  nav: { records: 'Records', pipeline: 'Pipeline', dashboard: 'Dashboard', inbox: 'Lead inbox', audit: 'Audit log', admin: 'Administration', logout: 'Sign out', more: 'More objects' },
  search: { placeholder: 'Search (press /)', title: 'Search results for “{q}”', none: 'No records match “{q}”' },
  list: {
    columns: 'Columns', filter: 'Filter', addCondition: 'Add condition', expression: 'Filter expression',
    noFilter: 'No filter', export: 'Export CSV', deleteSelected: 'Delete selected ({n})',
    confirmDelete: 'Delete {n} records? They can be restored later.', count: '{n} records',
    countMore: 'more than {n} records', empty: 'No {object} match', emptyNoFilter: 'No {object} yet',
    inlineHint: 'Double-click a cell to edit it', field: 'Field', op: 'Operator', value: 'Value',
    editFailed: 'Could not save: {msg}', editSelected: 'Edit selected ({n})', bulkSaved: 'Updated {n} records',
    views: 'Views', saveView: 'Save view…', deleteView: 'Delete view “{name}”', viewName: 'Name of the view', stale: 'The record was changed by someone else; reloaded it',
  },
  ops: {
    eq: 'equals', ne: 'does not equal', lt: 'less than', le: 'at most', gt: 'greater than',
    ge: 'at least', contains: 'contains', starts_with: 'starts with', is_null: 'is empty',
    is_not_null: 'is not empty', in: 'is one of',
  },
  record: {
    details: 'Details', relations: 'Relations', system: 'System', related: 'Related', timeline: 'Timeline',
    reveal: 'Reveal', revealed: 'Revealed (audited)', masked: 'Masked', noHistory: 'No history yet',
    noRelated: 'No related {object}', back: 'Back to list', notFound: 'This record does not exist or you may not see it',
    saveFailed: 'Could not save the record: {msg}', new: 'New {object}', logCall: 'Log a call', addTask: 'Add a task',
    subjectNeeded: 'Give a subject',
    stageHistory: 'Stage history', stageDays: '{n} days', stageNow: '{n} days so far',
  },
  history: { create: 'Created', update: 'Updated', delete: 'Deleted', restore: 'Restored', reveal: 'Revealed', by: 'by {who}' },
  pipeline: {
    title: 'Pipeline', total: 'Total', moved: 'Moved to {stage}', refused: 'Cannot move to {stage}: {n} entry criteria not met',
    empty: 'No opportunities yet', emptyStage: 'No opportunities', count: '{n} opportunities', definition: 'Pipeline “{name}”',
    probability: 'Probability {p}%', gates: '{n} entry criteria',
    moveTo: 'Move to another stage', moveTitle: 'Move “{name}” to',
  },
  insights: {
    title: 'Insights', score: 'Score {score} (model {model})', sla: 'SLA clocks', duplicates: 'Possible duplicates',
    state: { running: 'running', paused: 'paused', met: 'met', breached: 'breached', stopped: 'stopped' },
  },
  convert: {
    button: 'Convert', title: 'Convert lead {name}', account: 'Account', contact: 'Contact',
    linkExisting: 'Links the chosen record', createAccount: 'Leave empty to create an account named “{company}”',
    createContact: 'Leave empty to create a contact from the lead', createOpportunity: 'Create an opportunity',
    opportunityName: 'Opportunity name', amount: 'Amount', submit: 'Convert', badAmount: 'Give an amount such as 12000 or 12000.50',
    failed: 'Could not convert: {msg}', done: 'Lead converted', existing: 'Existing:',
  },
  quote: {
    builder: 'Quote builder', newQuote: 'New quote', saving: 'Saving…', locked: 'The quote is {status}: its pricing is read-only until it is re-opened as a draft',
    lines: 'Lines', noLines: 'No lines yet: pick a product below', pickProduct: 'Product from the price book', discount: 'Discount %',
    addLine: 'Add line', pricedByServer: 'List prices, unit prices and totals are set by the server from the price book.',
    totals: 'Totals', approval: 'Approval', process: 'Process {name}, step {step}', submitApproval: 'Submit for approval',
    approvalState: { none: 'Not submitted', pending: 'Pending approval', approved: 'Approved', rejected: 'Rejected', recalled: 'Recalled' },
    submitted: 'Submitted: {state}', sendForSignature: 'Send for signature', pdf: 'PDF preview', previewPdf: 'Show preview',
    refreshPdf: 'Refresh preview', openPdf: 'Open the PDF', signLink: 'Signing link for the customer:', expires: 'Expires {at}',
    createLink: 'Create signing link', signFailed: 'Could not create the signing link ({status}): {msg}',
    recall: 'Recall the approval', reopen: 'Re-open as draft',
  },
  shortcuts: {
    title: 'Keyboard shortcuts', search: 'Search', help: 'Show this help', pipeline: 'Go to the pipeline', dashboard: 'Go to the dashboard',
    inbox: 'Go to the lead inbox', accounts: 'Go to accounts', contacts: 'Go to contacts', leads: 'Go to leads',
    opportunities: 'Go to opportunities', quotes: 'Go to quotes', admin: 'Go to administration',
  },
  audit: {
    title: 'Audit log', at: 'When', actor: 'Actor', action: 'Action', object: 'Object', record: 'Record',
    changes: 'Changes', request: 'Request', since: 'Since', until: 'Until', empty: 'No audit entries match',
    forbidden: 'Only administrators may read the audit log',
  },
  inbox: {
    title: 'Lead inbox', count: '{n} leads to touch', empty: 'No leads waiting for a first touch', score: 'Score {n}',
    duplicate: 'Possible duplicate:', touch: 'Mark as touched', noSla: 'No first-touch deadline',
    dueIn: 'First touch due in {span}', overdue: 'First touch overdue by {span}', hm: '{h} h {m} min', days: '{n} days',
    loadingDetails: 'Loading SLA clocks and duplicates of {n} leads…', scoreWhy: 'Why this score',
    noExplanation: 'No scoring model explains this score', model: 'Model {model}: {score}', noPoints: 'No rule gave points',
    category: { profile: 'Profile', behaviour: 'Behaviour', channel: 'Channel', engagement: 'Engagement', fit: 'Fit' },
    matched: 'matched {what}, {score}%', slaMet: 'First touch made in time', paused: 'paused',
  },
  dashboard: {
    title: 'Dashboard', allTime: 'All time', lastDays: 'Last {n} days', everyone: 'Everyone', mine: 'My records',
    winRate: 'Win rate', winRateDef: 'Won ÷ closed opportunities, closed in the period',
    cycle: 'Median sales cycle', cycleDef: 'Days from creation to close of won opportunities closed in the period',
    openPipeline: 'Open pipeline', openPipelineDef: 'Amount of open opportunities, by expected close date',
    sla: 'SLA attainment', slaDef: 'Met ÷ decided SLA clocks of leads started in the period',
    leads: 'Leads', leadsDef: 'Leads created in the period, every status', funnel: 'Lead funnel',
    byStage: 'Open opportunities by stage', slaByTarget: 'SLA attainment by target', allOwners: 'all owners',
    noOpen: 'No open opportunities', noSla: 'No decided SLA clocks in the period', ofClosed: '{won} won of {closed} closed',
    daysValue: '{n} days', wonDeals: 'over {n} won deals', openCount: '{n} open', slaMet: '{met} met of {decided}', allTargets: 'All targets',
    mixedCurrencies: 'currencies not converted', amountAll: 'amount {amount} (currencies not converted)',
    step: { lead: 'Leads', mql: 'MQL', sql: 'SQL', opportunity: 'Converted', won: 'Won' },
  },
  admin: {
    title: 'Administration', users: 'Users', roles: 'Roles', sets: 'Permission sets', sharing: 'Sharing defaults',
    username: 'Username', displayName: 'Display name', email: 'Email', isAdmin: 'Administrator', active: 'Active',
    role: 'Role', permissionSets: 'Permission sets', password: 'Initial password', addUser: 'Add user',
    addRole: 'Add role', name: 'Name', label: 'Label', parent: 'Reports to role', definition: 'Definition',
    object: 'Object', access: 'Default access', created: 'Created {name}', updated: 'Saved {name}',
    addDefinition: 'New', noDefinitions: 'None defined yet', summary: 'What it does', updatedAt: 'Updated',
    newDefinition: 'New {kind}', editDefinition: 'Edit “{name}”', definitionJson: 'Definition (JSON)',
    badName: 'Use lower-case letters, digits and _ (starting with a letter)', badJson: 'Not valid JSON: {msg}',
    confirmDelete: 'Delete “{name}”?',
    kind: { rules: 'Automation rules', queues: 'Queues', assignment_rules: 'Assignment rules', journeys: 'Journeys' },
    count: { actions: 'no actions | {n} action | {n} actions', members: 'no members | {n} member | {n} members', entries: 'no entries | {n} entry | {n} entries', steps: 'no steps | {n} step | {n} steps' },
  },
  metaAdmin: {
    tab: 'Objects & fields', newObject: 'New object', newField: 'New field', editLabels: 'Edit labels',
    editLabelsOf: 'Labels of “{name}”', newFieldOf: 'New field of {object}', editField: 'Edit field “{name}”',
    openList: 'Open list', deleteObject: 'Delete object', object: 'Object', field: 'Field', kind: 'Kind', type: 'Type',
    custom: 'Custom', standard: 'Standard', system: 'System', fieldCount: 'Fields', properties: 'Properties',
    required: 'Required', unique: 'Unique', indexed: 'Indexed (faster filters and sorts)', sensitive: 'Personal data (masked)',
    valueCount: '{n} values', apiName: 'API name',
    apiNameHint: '1–40 lower-case letters, digits and _, starting with a letter; it cannot change later',
    referenceHint: 'A reference field name ends in _id (account_id); it cannot change later',
    labelEn: 'Label (English)', labelZh: 'Label (Chinese)', pluralEn: 'Plural (English)', pluralZh: 'Plural (Chinese)',
    helpEn: 'Help text (English)', helpZh: 'Help text (Chinese)', maxLength: 'Maximum length', min: 'Minimum', max: 'Maximum',
    values: 'Picklist values', value: 'Value', addValue: 'Add value', active: 'Active',
    valuesHint: 'Stored values cannot be removed or renamed (records hold them): relabel or deactivate them',
    target: 'Refers to object', formula: 'Formula', formulaHint: 'An expression over this object’s fields, e.g. amount * 0.1 or days_between(created_at, now())',
    result: 'Result type', default: 'Default value', fieldCreated: 'Field {name} created', deleted: 'Deleted {name}',
    confirmDeleteObject: 'Delete the object “{name}”? Only an object without records can be deleted.',
    confirmDeleteField: 'Delete the field “{name}”? Its values are kept in the database but no longer shown.',
    types: {
      text: 'Text', email: 'Email', phone: 'Phone', url: 'URL', number: 'Number', money: 'Money', percent: 'Percent',
      date: 'Date', datetime: 'Date and time', bool: 'Yes/No', picklist: 'Picklist', multi_picklist: 'Multi-select picklist',
      reference: 'Reference', formula: 'Formula', integer: 'Integer',
    },
  },
  views: {
    share: 'Share with everyone', shared: 'shared', mine: 'My views', others: 'Shared views', rename: 'Rename view…',
    renameTitle: 'Rename “{name}”', saved: 'View “{name}” saved', failed: 'Could not save the view: {msg}',
  },
  system: {
    id: 'ID', version: 'Version', created_at: 'Created', updated_at: 'Updated', created_by: 'Created by',
    updated_by: 'Updated by', owner_id: 'Owner',
  },
}

const zh = {
  app: { name: 'Rapport' },
  common: {
    yes: '是', no: '否', save: '保存', cancel: '取消', delete: '删除', edit: '编辑', close: '关闭',
    apply: '应用', clear: '清除', loading: '加载中…', loadingMore: '正在加载更多…', noMore: '没有更多记录了',
    empty: '暂无内容', error: '出错了', saved: '已保存', deleted: '已删除 {n} 条记录', confirm: '确认', new: '新建',
    language: '语言',
  },
  login: { title: '登录 Rapport', username: '用户名', password: '密码', submit: '登录', failed: '登录失败：{msg}' },
  nav: { records: '记录', pipeline: '销售管道', dashboard: '仪表盘', inbox: '线索收件箱', audit: '审计日志', admin: '系统管理', logout: '退出登录', more: '更多对象' },
  search: { placeholder: '搜索（按 / 键）', title: '“{q}”的搜索结果', none: '没有与“{q}”匹配的记录' },
  list: {
    columns: '显示列', filter: '筛选', addCondition: '添加条件', expression: '筛选表达式', noFilter: '未筛选',
    export: '导出 CSV', deleteSelected: '删除所选（{n}）', confirmDelete: '确定删除 {n} 条记录吗？之后可以恢复。',
    count: '共 {n} 条', countMore: '超过 {n} 条', empty: '没有符合条件的{object}', emptyNoFilter: '还没有{object}',
    inlineHint: '双击单元格即可编辑', field: '字段', op: '条件', value: '值', editFailed: '保存失败：{msg}',
    editSelected: '批量编辑（{n}）', bulkSaved: '已更新 {n} 条记录', views: '视图', saveView: '保存视图…',
    deleteView: '删除视图“{name}”', viewName: '视图名称',
    stale: '该记录已被他人修改，已重新加载',
  },
  ops: {
    eq: '等于', ne: '不等于', lt: '小于', le: '不大于', gt: '大于', ge: '不小于', contains: '包含',
    starts_with: '开头是', is_null: '为空', is_not_null: '不为空', in: '属于',
  },
  record: {
    details: '详细信息', relations: '关联', system: '系统信息', related: '相关记录', timeline: '时间线',
    reveal: '显示', revealed: '已显示（已审计）', masked: '已脱敏', noHistory: '暂无历史记录',
    noRelated: '没有相关的{object}', back: '返回列表', notFound: '记录不存在或无权查看', saveFailed: '保存失败：{msg}', new: '新建{object}',
    logCall: '记录通话', addTask: '添加任务', subjectNeeded: '请填写主题',
    stageHistory: '阶段历程', stageDays: '{n} 天', stageNow: '至今 {n} 天',
  },
  history: { create: '创建', update: '修改', delete: '删除', restore: '恢复', reveal: '显示敏感字段', by: '操作人 {who}' },
  pipeline: {
    title: '销售管道', total: '合计', moved: '已移至{stage}', refused: '无法移至{stage}：{n} 项准入条件未满足', empty: '还没有商机',
    emptyStage: '暂无商机', count: '{n} 个商机', definition: '销售流程“{name}”', probability: '赢单概率 {p}%', gates: '{n} 项准入条件',
    moveTo: '移至其他阶段', moveTitle: '将“{name}”移至',
  },
  insights: {
    title: '洞察', score: '评分 {score}（模型 {model}）', sla: 'SLA 计时', duplicates: '可能重复的记录',
    state: { running: '计时中', paused: '已暂停', met: '已达成', breached: '已超时', stopped: '已停止' },
  },
  convert: {
    button: '转化', title: '转化线索 {name}', account: '客户', contact: '联系人', linkExisting: '关联所选记录',
    createAccount: '留空则新建客户“{company}”', createContact: '留空则根据线索新建联系人', createOpportunity: '同时创建商机',
    opportunityName: '商机名称', amount: '金额', submit: '转化', badAmount: '请输入金额，例如 12000 或 12000.50',
    failed: '转化失败：{msg}', done: '线索已转化', existing: '已有记录：',
  },
  quote: {
    builder: '报价编辑器', newQuote: '新建报价', saving: '正在保存…', locked: '报价状态为{status}：重新打开为草稿前不能修改价格',
    lines: '报价明细', noLines: '还没有明细：请在下方选择产品', pickProduct: '从价格表选择产品', discount: '折扣 %', addLine: '添加明细',
    pricedByServer: '目录价、单价和合计均由服务器按价格表计算。', totals: '合计', approval: '审批', process: '审批流程 {name}，第 {step} 步',
    submitApproval: '提交审批', approvalState: { none: '未提交', pending: '审批中', approved: '已批准', rejected: '已驳回', recalled: '已撤回' },
    submitted: '已提交：{state}', sendForSignature: '发送签署', pdf: 'PDF 预览', previewPdf: '显示预览', refreshPdf: '刷新预览',
    openPdf: '打开 PDF', signLink: '客户签署链接：', expires: '有效期至 {at}', createLink: '生成签署链接',
    signFailed: '无法生成签署链接（{status}）：{msg}',
    recall: '撤回审批', reopen: '重新打开为草稿',
  },
  shortcuts: {
    title: '键盘快捷键', search: '搜索', help: '显示本帮助', pipeline: '前往销售管道', dashboard: '前往仪表盘', inbox: '前往线索收件箱',
    accounts: '前往客户', contacts: '前往联系人', leads: '前往线索', opportunities: '前往商机', quotes: '前往报价', admin: '前往系统管理',
  },
  audit: {
    title: '审计日志', at: '时间', actor: '操作人', action: '操作', object: '对象', record: '记录', changes: '变更',
    request: '请求', since: '开始', until: '结束', empty: '没有符合条件的审计记录', forbidden: '仅管理员可查看审计日志',
  },
  inbox: {
    title: '线索收件箱', count: '{n} 条待跟进线索', empty: '没有等待首次跟进的线索', score: '评分 {n}', duplicate: '可能重复：',
    touch: '标记为已跟进', noSla: '未设首次跟进期限', dueIn: '距首次跟进期限还有 {span}', overdue: '首次跟进已超时 {span}',
    hm: '{h} 小时 {m} 分', days: '{n} 天', loadingDetails: '正在加载 {n} 条线索的 SLA 计时和重复检查…', scoreWhy: '评分依据',
    noExplanation: '没有评分模型说明此评分', model: '模型 {model}：{score}', noPoints: '没有规则加分',
    category: { profile: '画像', behaviour: '行为', channel: '渠道', engagement: '互动', fit: '匹配度' },
    matched: '匹配 {what}，{score}%', slaMet: '已按时首次跟进', paused: '已暂停',
  },
  dashboard: {
    title: '仪表盘', allTime: '全部时间', lastDays: '最近 {n} 天', everyone: '所有人', mine: '我的记录', winRate: '赢单率',
    winRateDef: '期间内关闭的商机：赢单 ÷ 已关闭', cycle: '销售周期中位数', cycleDef: '期间内赢单商机从创建到关闭的天数',
    openPipeline: '进行中的商机金额', openPipelineDef: '未关闭商机的金额（按预计成交日期）', sla: 'SLA 达成率',
    slaDef: '期间内开始的线索 SLA 计时：达成 ÷ 已判定', leads: '线索', leadsDef: '期间内创建的线索（所有状态）', funnel: '线索漏斗',
    byStage: '各阶段进行中商机数', slaByTarget: '各目标 SLA 达成率', allOwners: '所有负责人', noOpen: '没有进行中的商机',
    noSla: '期间内没有已判定的 SLA 计时', ofClosed: '已关闭 {closed} 个，赢单 {won} 个', daysValue: '{n} 天', wonDeals: '基于 {n} 个赢单商机',
    openCount: '{n} 个进行中', slaMet: '已判定 {decided} 个，达成 {met} 个', allTargets: '所有目标',
    mixedCurrencies: '未做币种换算', amountAll: '金额 {amount}（未做币种换算）',
    step: { lead: '线索', mql: 'MQL', sql: 'SQL', opportunity: '已转化', won: '赢单' },
  },
  admin: {
    title: '系统管理', users: '用户', roles: '角色', sets: '权限集', sharing: '默认共享', username: '用户名',
    displayName: '显示名称', email: '邮箱', isAdmin: '管理员', active: '启用', role: '角色', permissionSets: '权限集',
    password: '初始密码', addUser: '添加用户', addRole: '添加角色', name: '名称', label: '显示名', parent: '上级角色',
    definition: '定义', object: '对象', access: '默认访问权限', created: '已创建 {name}', updated: '已保存 {name}',
    addDefinition: '新建', noDefinitions: '尚未定义', summary: '作用', updatedAt: '更新时间', newDefinition: '新建{kind}',
    editDefinition: '编辑“{name}”', definitionJson: '定义（JSON）', badName: '请使用小写字母、数字和下划线（以字母开头）',
    badJson: 'JSON 格式错误：{msg}', confirmDelete: '确定删除“{name}”吗？',
    kind: { rules: '自动化规则', queues: '队列', assignment_rules: '分配规则', journeys: '客户旅程' },
    count: { actions: '{n} 个动作', members: '{n} 名成员', entries: '{n} 条规则', steps: '{n} 个步骤' },
  },
  metaAdmin: {
    tab: '对象与字段', newObject: '新建对象', newField: '新建字段', editLabels: '编辑显示名',
    editLabelsOf: '“{name}”的显示名', newFieldOf: '为{object}新建字段', editField: '编辑字段“{name}”',
    openList: '打开列表', deleteObject: '删除对象', object: '对象', field: '字段', kind: '类别', type: '类型',
    custom: '自定义', standard: '标准', system: '系统', fieldCount: '字段数', properties: '属性',
    required: '必填', unique: '唯一', indexed: '建索引（筛选和排序更快）', sensitive: '个人数据（脱敏显示）',
    valueCount: '{n} 个选项', apiName: 'API 名称',
    apiNameHint: '1–40 个小写字母、数字或下划线，以字母开头；创建后不可修改',
    referenceHint: '引用字段名须以 _id 结尾（如 account_id）；创建后不可修改',
    labelEn: '显示名（英文）', labelZh: '显示名（中文）', pluralEn: '复数名（英文）', pluralZh: '复数名（中文）',
    helpEn: '帮助文本（英文）', helpZh: '帮助文本（中文）', maxLength: '最大长度', min: '最小值', max: '最大值',
    values: '选项值', value: '值', addValue: '添加选项', active: '启用',
    valuesHint: '已保存的选项不能删除或改值（记录可能在使用）：可修改显示名或停用',
    target: '引用对象', formula: '公式', formulaHint: '基于本对象字段的表达式，例如 amount * 0.1 或 days_between(created_at, now())',
    result: '结果类型', default: '默认值', fieldCreated: '已创建字段 {name}', deleted: '已删除 {name}',
    confirmDeleteObject: '确定删除对象“{name}”吗？只有没有记录的对象才能删除。',
    confirmDeleteField: '确定删除字段“{name}”吗？其数据仍保留在数据库中，但不再显示。',
    types: {
      text: '文本', email: '邮箱', phone: '电话', url: '网址', number: '数字', money: '金额', percent: '百分比',
      date: '日期', datetime: '日期时间', bool: '是/否', picklist: '选项列表', multi_picklist: '多选列表',
      reference: '引用', formula: '公式', integer: '整数',
    },
  },
  views: {
    share: '共享给所有人', shared: '已共享', mine: '我的视图', others: '共享视图', rename: '重命名视图…',
    renameTitle: '重命名“{name}”', saved: '已保存视图“{name}”', failed: '无法保存视图：{msg}',
  },
  system: { id: 'ID', version: '版本', created_at: '创建时间', updated_at: '更新时间', created_by: '创建人', updated_by: '修改人', owner_id: '负责人' },
}

function initialLocale() {
  const saved = localStorage.getItem('rapport.locale')
  if (saved === 'en' || saved === 'zh-CN') return saved
  const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en']
  return String(prefs[0]).toLowerCase().startsWith('zh') ? 'zh-CN' : 'en'
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'en',
  messages: { en, 'zh-CN': zh },
})

export function setLocale(l) {
  i18n.global.locale.value = l
  localStorage.setItem('rapport.locale', l)
  document.documentElement.lang = l
}
