#!/usr/bin/env python3
"""Generate a Rapport SQLite database with N realistic contacts for benchmarks.

Like `pgbench -i`, this bypasses the API write path: rows are bulk-inserted
straight into the record tables, so there are no audit (rp_audit) or change
(rp_change) rows and no validation hooks run. The schema itself is created by
`rapport migrate`, so tables, indexes and FTS5 triggers are exactly the
server's own (with a contentless index, `rapport migrate` also fills it after
the load).

    bench/gen_contacts.py --rapport build/release/rapport --db /tmp/x.db [-n 1000000]

Writes, next to the database:
    FILE.token   a bearer token for an administrator ("bench")
    FILE.ids     the contact ids, one a line (for the get-by-id wrk script)

Python 3 standard library only.
"""

import argparse
import bisect
import itertools
import os
import random
import sqlite3
import subprocess
import sys
import time

# ---- names -------------------------------------------------------------------

# Chinese surnames with approximate shares of the population (per cent), and pinyin.
CN_SURNAMES = [
    ("王", "wang", 7.1), ("李", "li", 7.0), ("张", "zhang", 6.7), ("刘", "liu", 5.4),
    ("陈", "chen", 4.5), ("杨", "yang", 3.1), ("黄", "huang", 2.2), ("赵", "zhao", 2.0),
    ("吴", "wu", 2.0), ("周", "zhou", 1.9), ("徐", "xu", 1.5), ("孙", "sun", 1.4),
    ("马", "ma", 1.3), ("朱", "zhu", 1.3), ("胡", "hu", 1.2), ("郭", "guo", 1.1),
    ("何", "he", 1.1), ("高", "gao", 1.0), ("林", "lin", 1.0), ("罗", "luo", 0.9),
    ("郑", "zheng", 0.9), ("梁", "liang", 0.8), ("谢", "xie", 0.7), ("宋", "song", 0.6),
    ("唐", "tang", 0.6), ("许", "xu", 0.6), ("韩", "han", 0.6), ("冯", "feng", 0.6),
    ("邓", "deng", 0.5), ("曹", "cao", 0.5), ("彭", "peng", 0.5), ("曾", "zeng", 0.5),
    ("肖", "xiao", 0.5), ("田", "tian", 0.5), ("董", "dong", 0.5), ("袁", "yuan", 0.4),
    ("潘", "pan", 0.4), ("于", "yu", 0.4), ("蒋", "jiang", 0.4), ("蔡", "cai", 0.4),
    ("余", "yu", 0.4), ("杜", "du", 0.4), ("叶", "ye", 0.4), ("程", "cheng", 0.3),
    ("苏", "su", 0.3), ("魏", "wei", 0.3), ("吕", "lv", 0.3), ("丁", "ding", 0.3),
    ("任", "ren", 0.3), ("沈", "shen", 0.3), ("姚", "yao", 0.3), ("卢", "lu", 0.3),
    ("姜", "jiang", 0.3), ("崔", "cui", 0.3), ("钟", "zhong", 0.3), ("谭", "tan", 0.3),
    ("陆", "lu", 0.2), ("汪", "wang", 0.2), ("范", "fan", 0.2), ("金", "jin", 0.2),
    ("石", "shi", 0.2), ("廖", "liao", 0.2), ("贾", "jia", 0.2), ("夏", "xia", 0.2),
    ("韦", "wei", 0.2), ("付", "fu", 0.2), ("方", "fang", 0.2), ("白", "bai", 0.2),
    ("邹", "zou", 0.2), ("孟", "meng", 0.2), ("熊", "xiong", 0.2), ("秦", "qin", 0.2),
    ("邱", "qiu", 0.2), ("江", "jiang", 0.2), ("尹", "yin", 0.2), ("薛", "xue", 0.2),
    ("闫", "yan", 0.2), ("段", "duan", 0.2), ("雷", "lei", 0.1), ("侯", "hou", 0.1),
    ("龙", "long", 0.1), ("史", "shi", 0.1), ("欧阳", "ouyang", 0.05), ("司马", "sima", 0.01),
    ("上官", "shangguan", 0.01), ("诸葛", "zhuge", 0.01),
]

# Characters common in given names, with pinyin.
CN_GIVEN_CHARS = [
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"),
    ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("霞", "xia"),
    ("平", "ping"), ("刚", "gang"), ("桂", "gui"), ("英", "ying"), ("华", "hua"), ("建", "jian"),
    ("国", "guo"), ("文", "wen"), ("玲", "ling"), ("红", "hong"), ("志", "zhi"), ("鹏", "peng"),
    ("辉", "hui"), ("婷", "ting"), ("雪", "xue"), ("俊", "jun"), ("浩", "hao"), ("宇", "yu"),
    ("欣", "xin"), ("怡", "yi"), ("佳", "jia"), ("子", "zi"), ("涵", "han"), ("梓", "zi"),
    ("轩", "xuan"), ("晨", "chen"), ("博", "bo"), ("嘉", "jia"), ("思", "si"), ("雨", "yu"),
    ("欢", "huan"), ("琳", "lin"), ("晓", "xiao"), ("东", "dong"), ("海", "hai"), ("波", "bo"),
    ("斌", "bin"), ("宁", "ning"), ("秀", "xiu"), ("兰", "lan"), ("凤", "feng"), ("梅", "mei"),
    ("颖", "ying"), ("慧", "hui"), ("倩", "qian"), ("悦", "yue"), ("峰", "feng"), ("凯", "kai"),
    ("亮", "liang"), ("飞", "fei"), ("帆", "fan"), ("瑶", "yao"), ("萍", "ping"), ("丹", "dan"),
    ("晶", "jing"), ("淑", "shu"), ("珍", "zhen"), ("振", "zhen"), ("昊", "hao"), ("天", "tian"),
    ("然", "ran"), ("一", "yi"), ("诺", "nuo"), ("安", "an"), ("泽", "ze"), ("铭", "ming"),
]

EN_FIRST = [
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark",
    "Betty", "Paul", "Emily", "Steven", "Ashley", "Andrew", "Michelle", "Kevin", "Amanda", "Brian",
    "Melissa", "George", "Stephanie", "Edward", "Rebecca", "Ryan", "Laura", "Jacob", "Helen",
    "Gary", "Anna", "Eric", "Olivia", "Peter", "Sophie", "Oliver", "Emma", "Lucas", "Chloe",
]

EN_SURNAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green", "Adams", "Baker",
    "Nelson", "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Parker",
    "Evans", "Edwards", "Collins", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan",
    "Cooper", "Peterson", "Reed", "Bailey", "Bell", "Kelly", "Howard", "Ward", "Cox",
    "Richardson", "Wood", "Watson", "Brooks", "Bennett", "Gray", "James", "Hughes", "Price",
    "Sanders", "Myers", "Long", "Ross", "Foster", "Schmidt", "Müller", "Dubois", "Rossi",
    "Tanaka", "Kim", "Nguyen", "Singh", "Kumar", "O'Brien", "MacDonald",
]

CN_TITLES = [
    ("销售经理", 8), ("采购经理", 8), ("总经理", 5), ("副总经理", 4), ("IT 经理", 5),
    ("技术总监", 4), ("财务总监", 3), ("采购总监", 3), ("市场经理", 5), ("运营经理", 4),
    ("项目经理", 6), ("工程师", 8), ("高级工程师", 5), ("行政主管", 3), ("人事经理", 3),
    ("董事长", 1), ("首席执行官", 1), ("首席信息官", 1), ("客服主管", 2), ("区域经理", 3),
]
EN_TITLES = [
    ("Sales Manager", 8), ("Procurement Manager", 6), ("CEO", 2), ("CTO", 2), ("CFO", 2),
    ("IT Director", 4), ("Software Engineer", 6), ("Marketing Manager", 5),
    ("Operations Manager", 4), ("Project Manager", 5), ("Head of Purchasing", 3),
    ("VP Sales", 2), ("Account Executive", 4), ("Office Manager", 3), ("Data Analyst", 3),
]
CN_DEPARTMENTS = ["销售部", "采购部", "信息技术部", "财务部", "市场部", "运营部", "人力资源部",
                  "研发中心", "总经办", "客户服务部"]
EN_DEPARTMENTS = ["Sales", "Purchasing", "IT", "Finance", "Marketing", "Operations", "HR",
                  "R&D", "Executive Office", "Customer Service"]

# Province, city, area code, postal-code prefix, admin division code (for USCC).
CITIES = [
    ("北京市", "北京", "10", "100", "110105"), ("上海市", "上海", "21", "200", "310115"),
    ("广东省", "广州", "20", "510", "440106"), ("广东省", "深圳", "755", "518", "440305"),
    ("浙江省", "杭州", "571", "310", "330106"), ("江苏省", "南京", "25", "210", "320106"),
    ("江苏省", "苏州", "512", "215", "320505"), ("四川省", "成都", "28", "610", "510107"),
    ("湖北省", "武汉", "27", "430", "420106"), ("陕西省", "西安", "29", "710", "610113"),
    ("天津市", "天津", "22", "300", "120104"), ("重庆市", "重庆", "23", "400", "500103"),
    ("山东省", "青岛", "532", "266", "370202"), ("福建省", "厦门", "592", "361", "350203"),
    ("湖南省", "长沙", "731", "410", "430104"), ("辽宁省", "沈阳", "24", "110", "210102"),
]
STREETS = ["中山路", "人民路", "解放路", "建设路", "和平路", "长江路", "科技园路", "滨江大道",
           "南京路", "复兴路", "光明路", "新华街"]
FREE_MAIL = ["qq.com", "163.com", "126.com", "sina.com", "gmail.com", "outlook.com", "foxmail.com"]

ACC_WORDS = ["华信", "中科", "博远", "鼎盛", "恒通", "天成", "汇智", "金桥", "新元", "海纳",
             "瑞丰", "启明", "东方", "长城", "联创", "宏图", "安泰", "星河", "云帆", "锦程",
             "万达", "正大", "和信", "嘉禾", "诚达", "远航", "润泽", "晨光", "蓝海", "卓越"]
ACC_KINDS = ["科技", "信息技术", "软件", "制造", "电子", "医药", "物流", "贸易", "能源", "建设",
             "咨询", "传媒", "食品", "汽车零部件", "环保"]
ACC_SUFFIX = ["有限公司", "股份有限公司", "集团有限公司"]
ACC_PINYIN = ["huaxin", "zhongke", "boyuan", "dingsheng", "hengtong", "tiancheng", "huizhi",
              "jinqiao", "xinyuan", "haina", "ruifeng", "qiming", "dongfang", "changcheng",
              "lianchuang", "hongtu", "antai", "xinghe", "yunfan", "jincheng", "wanda", "zhengda",
              "hexin", "jiahe", "chengda", "yuanhang", "runze", "chenguang", "lanhai", "zhuoyue"]
EN_ACC = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay",
          "Soylent", "Cyberdyne", "Tyrell", "Wonka", "Gringotts", "Oscorp", "Aperture",
          "Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware"]
EN_ACC_KIND = ["Systems", "Logistics", "Software", "Industries", "Foods", "Energy", "Consulting",
               "Medical", "Trading", "Robotics"]
EN_ACC_SUFFIX = ["Ltd", "Inc.", "GmbH", "Pte. Ltd.", "LLC"]

INDUSTRIES = ["technology", "software", "manufacturing", "automotive", "financial_services",
              "insurance", "retail", "consumer_goods", "healthcare", "pharmaceuticals",
              "education", "government", "energy", "telecommunications", "media", "real_estate",
              "construction", "logistics", "hospitality", "agriculture", "professional_services",
              "nonprofit", "other"]
REGIONS = ["north_china", "east_china", "south_china", "southwest_china", "central_china",
           "northeast_china", "northwest_china"]
LEAD_SOURCES = ["web", "referral", "event", "partner", "cold_call", "advertisement", "social",
                "email", "other"]
BUYING_ROLES = ["decision_maker", "economic_buyer", "champion", "influencer",
                "technical_evaluator", "end_user", "gatekeeper", "other"]

DAY_MS = 86_400_000


class Picker:
    """Weighted choice in O(log n) with precomputed cumulative weights."""

    def __init__(self, items, weights, rng):
        self.items = items
        self.cum = list(itertools.accumulate(weights))
        self.total = self.cum[-1]
        self.rng = rng

    def __call__(self):
        return self.items[bisect.bisect_right(self.cum, self.rng.random() * self.total)]


# ---- identifiers -------------------------------------------------------------

def uuid7(ms, rng):
    """A UUIDv7 string (RFC 9562): 48-bit ms time, version 7, variant 10."""
    ra = rng.getrandbits(12)
    rb = rng.getrandbits(62)
    v = (ms << 80) | (0x7 << 76) | (ra << 64) | (0b10 << 62) | rb
    h = "%032x" % v
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ORG_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def org_code(rng):
    """A 9-character organisation code (GB 11714) with its check character."""
    body = [rng.randrange(10) for _ in range(8)]
    s = sum(d * w for d, w in zip(body, [3, 7, 9, 10, 5, 8, 4, 2]))
    c = 11 - s % 11
    check = "X" if c == 10 else ("0" if c == 11 else str(c))
    return "".join(map(str, body)) + check


def uscc(division, rng):
    """A unified social credit code with a valid GB 32100-2015 check character."""
    body = "91" + division + org_code(rng)
    s = sum(USCC_CHARS.index(ch) * w for ch, w in zip(body, USCC_WEIGHTS))
    c = (31 - s % 31) % 31
    return body + USCC_CHARS[c]


# ---- helpers -----------------------------------------------------------------

def run(cmd, stdin=None):
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("command failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def log(msg):
    print("[gen] %s" % msg, file=sys.stderr, flush=True)


def mobile(rng):
    prefix = rng.choice(["130", "131", "132", "135", "136", "137", "138", "139", "150", "151",
                         "152", "155", "158", "159", "166", "176", "177", "180", "181", "186",
                         "187", "188", "189", "191", "199"])
    return "+86%s%08d" % (prefix, rng.randrange(100_000_000))


def office_phone(city, rng):
    area = city[2]
    return "+86-%s-%0*d" % (area, 8 if len(area) == 2 else 7, rng.randrange(10 ** (8 if len(area) == 2 else 7)))


# ---- accounts ----------------------------------------------------------------

def gen_accounts(db, n, owner, t0, t1, rng):
    rows = []
    ids = []
    domains = []
    step = max(1, (t1 - t0) // max(n, 1))
    for i in range(n):
        ms = t0 + i * step + rng.randrange(step)
        aid = uuid7(ms, rng)
        city = rng.choice(CITIES)
        if rng.random() < 0.85:
            w = rng.randrange(len(ACC_WORDS))
            name = "%s%s%s%s" % (city[1], ACC_WORDS[w], rng.choice(ACC_KINDS), rng.choice(ACC_SUFFIX))
            dom = "%s%d.com.cn" % (ACC_PINYIN[w], i)
            country = "中国"
        else:
            w = rng.randrange(len(EN_ACC))
            name = "%s %s %s" % (EN_ACC[w], rng.choice(EN_ACC_KIND), rng.choice(EN_ACC_SUFFIX))
            dom = "%s%d.com" % (EN_ACC[w].lower(), i)
            country = rng.choice(["中国", "Singapore", "Germany", "United States"])
        upd = min(t1, ms + rng.randrange(180) * DAY_MS)
        rows.append((
            aid, 1, ms, upd, owner, owner, None, owner, name,
            uscc(city[4], rng),
            rng.choice(CN_SURNAMES)[0] + rng.choice(CN_GIVEN_CHARS)[0] + rng.choice(CN_GIVEN_CHARS)[0],
            rng.choice(INDUSTRIES), rng.choice(["private", "state_owned", "foreign_owned", "listed", "joint_venture"]),
            rng.choices(["standard", "silver", "gold", "vip"], [70, 18, 9, 3])[0],
            rng.choice(REGIONS),
            rng.choices(["prospect", "customer", "partner", "churned"], [50, 35, 8, 7])[0],
            rng.choice(["hot", "warm", "cold"]), rng.choice(LEAD_SOURCES), None,
            "https://www." + dom, office_phone(city, rng),
            float(rng.choice([20, 50, 120, 300, 800, 2500, 12000])),
            rng.randrange(1, 5000) * 1_000_000 * 10_000,  # money: 1/10000 units
            rng.randrange(1, 500) * 100_000 * 10_000,
            (ms // DAY_MS) - rng.randrange(2000) if rng.random() < 0.4 else None,
            country, city[0], city[1], None, "%s%d号" % (rng.choice(STREETS), rng.randrange(1, 999)),
            city[3] + "%03d" % rng.randrange(1000), None,
        ))
        ids.append(aid)
        domains.append(dom)
    # USCC is unique among live rows: drop accidental duplicates by re-rolling.
    seen = set()
    for k, r in enumerate(rows):
        code = r[9]
        while code in seen:
            code = uscc(CITIES[k % len(CITIES)][4], rng)
        seen.add(code)
        if code != r[9]:
            rows[k] = r[:9] + (code,) + r[10:]
    cols = ("id, version, created_at, updated_at, created_by, updated_by, deleted_at, owner_id, "
            "name, uscc, legal_representative, industry, ownership, tier, region, "
            "lifecycle_stage, rating, source, parent_id, website, phone, employees, "
            "annual_revenue, registered_capital, customer_since, country, province, city, "
            "district, street, postal_code, description")
    db.executemany("INSERT INTO account (%s) VALUES (%s)" % (cols, ",".join("?" * len(rows[0]))), rows)
    return ids, domains


# ---- contacts ----------------------------------------------------------------

CONTACT_COLS = (
    "id", "version", "created_at", "updated_at", "created_by", "updated_by", "deleted_at",
    "owner_id", "salutation", "last_name", "first_name", "title", "department", "buying_role",
    "account_id", "reports_to_id", "email", "phone", "mobile", "wechat", "birthdate",
    "preferred_language", "lead_source", "status", "do_not_email", "do_not_call",
    "last_contacted_at", "mailing_country", "mailing_province", "mailing_city", "mailing_street",
    "mailing_postal_code", "description",
)


def contact_rows(n, owner, t0, t1, acc_ids, acc_domains, rng, ids_out):
    cn_surname = Picker(CN_SURNAMES, [s[2] for s in CN_SURNAMES], rng)
    en_surname = Picker(EN_SURNAMES, [1.0 / (k + 1) ** 0.8 for k in range(len(EN_SURNAMES))], rng)
    cn_title = Picker([t[0] for t in CN_TITLES], [t[1] for t in CN_TITLES], rng)
    en_title = Picker([t[0] for t in EN_TITLES], [t[1] for t in EN_TITLES], rng)
    nacc = len(acc_ids)
    span = t1 - t0
    rnd = rng.random
    rr = rng.randrange
    for i in range(n):
        # Increasing creation times over the span, so ids sort like real ones.
        ms = t0 + (span * i) // n + rr(max(1, span // n))
        cid = uuid7(ms, rng)
        ids_out.write(cid + "\n")
        has_acc = rnd() < 0.8
        acc = rr(nacc) if has_acc else -1
        city = CITIES[rr(len(CITIES))]
        if rnd() < 0.75:
            sn = cn_surname()
            g1 = CN_GIVEN_CHARS[rr(len(CN_GIVEN_CHARS))]
            if rnd() < 0.7:
                g2 = CN_GIVEN_CHARS[rr(len(CN_GIVEN_CHARS))]
                first, fpy = g1[0] + g2[0], g1[1] + g2[1]
            else:
                first, fpy = g1[0], g1[1]
            last, lpy = sn[0], sn[1]
            title = cn_title()
            dept = CN_DEPARTMENTS[rr(len(CN_DEPARTMENTS))]
            lang = "zh"
            sal = "mr" if rnd() < 0.55 else "ms"
            country = "中国"
            wechat = "wxid_%s%d" % (fpy, rr(100000)) if rnd() < 0.5 else None
        else:
            sn = en_surname()
            first = EN_FIRST[rr(len(EN_FIRST))]
            last, lpy, fpy = sn, sn.lower().replace("'", "").replace("ü", "ue"), first.lower()
            title = en_title()
            dept = EN_DEPARTMENTS[rr(len(EN_DEPARTMENTS))]
            lang = "en"
            sal = ("mr", "ms", "dr")[rr(3)]
            country = "中国" if rnd() < 0.6 else "Singapore"
            wechat = None
        if has_acc and rnd() < 0.85:
            email = "%s.%s%d@%s" % (fpy, lpy, i % 1000, acc_domains[acc])
        else:
            email = "%s%s%d@%s" % (fpy, lpy, rr(10000), FREE_MAIL[rr(len(FREE_MAIL))])
        upd = ms + rr(90) * DAY_MS
        if upd > t1:
            upd = t1
        r = rnd()
        last_contacted = (ms + rr(max(1, (t1 - ms) // 1000)) * 1000) if r < 0.6 else None
        yield (
            cid, 1 + rr(3), ms, upd, owner, owner, None, owner, sal, last, first, title, dept,
            BUYING_ROLES[rr(len(BUYING_ROLES))] if r < 0.5 else None,
            acc_ids[acc] if has_acc else None, None, email,
            office_phone(city, rng) if rnd() < 0.5 else None, mobile(rng), wechat,
            (rr(-7300, 12000) if rnd() < 0.2 else None),  # days since epoch (1950..2002)
            lang, LEAD_SOURCES[rr(len(LEAD_SOURCES))], "active" if rnd() < 0.92 else "left_company",
            1 if rnd() < 0.05 else 0, 1 if rnd() < 0.03 else 0, last_contacted,
            country, city[0], city[1], "%s%d号" % (STREETS[rr(len(STREETS))], rr(1, 999)),
            city[3] + "%03d" % rr(1000), None,
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True, help="database file to create (must not exist)")
    ap.add_argument("--rapport", default="build/release/rapport", help="the rapport binary")
    ap.add_argument("-n", "--contacts", type=int, default=1_000_000)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--analyze", action="store_true",
                    help="run ANALYZE at the end (the server itself does not)")
    args = ap.parse_args()

    if os.path.exists(args.db):
        sys.exit("%s exists; remove it first" % args.db)
    rng = random.Random(args.seed)
    started = time.time()

    run([args.rapport, "migrate", "--db", args.db])
    run([args.rapport, "user", "add", "bench", "--admin", "--name", "Benchmark", "--db", args.db],
        stdin="bench-%d-password\n" % rng.getrandbits(64))
    token = run([args.rapport, "token", "create", "bench", "--name", "bench", "--db", args.db]).strip()
    with open(args.db + ".token", "w") as f:
        f.write(token + "\n")

    db = sqlite3.connect(args.db, isolation_level=None)
    owner = db.execute("SELECT id FROM rp_user WHERE username = 'bench'").fetchone()[0]
    # Load-only settings: no fsync, no rollback journal. The server reopens in WAL + FULL.
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    db.execute("PRAGMA temp_store=MEMORY")

    now = int(time.time() * 1000)
    t0 = now - 3 * 365 * DAY_MS
    t1 = now - 60_000

    db.execute("BEGIN")
    acc_ids, acc_domains = gen_accounts(db, args.accounts, owner, t0 - 365 * DAY_MS, t0, rng)
    db.execute("COMMIT")
    log("%d accounts" % len(acc_ids))

    # The FTS triggers fire per row; drop them for the load, rebuild the index once,
    # then recreate them from the exact SQL the server created.
    triggers = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'contact'").fetchall()
    for name, _ in triggers:
        db.execute('DROP TRIGGER "%s"' % name)

    sql = "INSERT INTO contact (%s) VALUES (%s)" % (
        ",".join('"%s"' % c for c in CONTACT_COLS), ",".join("?" * len(CONTACT_COLS)))
    with open(args.db + ".ids", "w") as ids_out:
        gen = contact_rows(args.contacts, owner, t0, t1, acc_ids, acc_domains, rng, ids_out)
        done = 0
        while True:
            batch = list(itertools.islice(gen, args.batch))
            if not batch:
                break
            db.execute("BEGIN")
            db.executemany(sql, batch)
            db.execute("COMMIT")
            done += len(batch)
            if done % 200_000 == 0 or done == args.contacts:
                log("%d contacts (%.0f s)" % (done, time.time() - started))

    fts_sql = db.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'contact__fts'").fetchone()[0]
    contentless = "content=''" in fts_sql.replace(" ", "")
    log("rebuilding contact__fts")
    db.execute("BEGIN")
    if contentless:
        # A contentless index cannot 'rebuild', and its document expression lives in the
        # server. Forget the recorded signatures: the server's schema sync (run by
        # `rapport migrate` below) then drops and refills the contact and account indexes
        # and recreates their triggers itself. The account inserts above only left notes
        # in rp_fts_pending (the server flushes those at commit); the refill covers them.
        db.execute("DELETE FROM rp_setting WHERE key IN ('fts:contact', 'fts:account')")
        db.execute("DELETE FROM rp_fts_pending")
    else:
        db.execute("INSERT INTO contact__fts(contact__fts) VALUES ('rebuild')")
        for _, tsql in triggers:
            db.execute(tsql)
    db.execute("COMMIT")
    if args.analyze:
        log("analyze")
        db.execute("ANALYZE")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    if contentless:
        run([args.rapport, "migrate", "--db", args.db])
    log("done in %.0f s: %s (%.0f MB)" % (time.time() - started, args.db,
                                          os.path.getsize(args.db) / 1e6))


if __name__ == "__main__":
    main()
