/*
 * Demo data: a small, realistic B2B data set in Chinese and English for
 * trying Rapport out (`rapport serve --demo`): campaigns, products and a
 * standard price book, accounts with valid unified social credit codes,
 * contacts, leads in every status, opportunities in every stage, campaign
 * members, cases and activities.
 *
 * The set is deterministic: a fixed-seed xorshift64* generator picks every
 * value, and only dates move, because they are placed relative to the app
 * clock (the last 18 months and the next 6) so the demo always looks
 * current. Everything goes through the records write path as atomic batches,
 * one per object (two where records refer to records of the same object),
 * so the data obeys the same validation and rules as data typed by a user.
 * Nothing is loaded when the database already holds an account.
 */
#include "app/app.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/time.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define DEMO_SEED  UINT64_C(0x9e3779b97f4a7c15)
#define BATCH_MAX  256
#define MS_HOUR    INT64_C(3600000)
#define MS_MINUTE  INT64_C(60000)
#define NELEMS(a)  (sizeof(a) / sizeof((a)[0]))
#define PICK(d, a) ((a)[rnd_below((d), NELEMS(a))])

#define N_CN_ACCOUNTS   26
#define N_INTL_ACCOUNTS 12
#define N_ACCOUNTS      (N_CN_ACCOUNTS + N_INTL_ACCOUNTS + 2) /* two subsidiaries */
#define N_CONTACTS      120
#define N_OPPS          60
#define N_LEADS         80
#define N_CASES         30
#define N_ACTIVITIES    100
#define N_EVENT_GUESTS  10 /* contacts invited to the first event */

/* ---- reference tables ---- */

struct syllable {
    const char *zh, *py; /* a character and its pinyin, for names and ASCII handles */
};

struct city {
    const char *name, *province, *region;
    const char *code; /* administrative division code, positions 3-8 of a credit code */
    const char *area; /* telephone area code */
    int local_digits; /* digits of a local landline number */
    const char *postal, *district;
};

static const struct city cities[] = {
    {"上海", "上海市", "east_china", "310000", "21", 8, "200120", "浦东新区"},
    {"北京", "北京市", "north_china", "110000", "10", 8, "100080", "海淀区"},
    {"深圳", "广东省", "south_china", "440300", "755", 8, "518057", "南山区"},
    {"广州", "广东省", "south_china", "440100", "20", 8, "510620", "天河区"},
    {"杭州", "浙江省", "east_china", "330100", "571", 8, "310051", "滨江区"},
    {"苏州", "江苏省", "east_china", "320500", "512", 8, "215021", "工业园区"},
    {"南京", "江苏省", "east_china", "320100", "25", 8, "210008", "鼓楼区"},
    {"成都", "四川省", "southwest_china", "510100", "28", 8, "610041", "武侯区"},
    {"武汉", "湖北省", "central_china", "420100", "27", 8, "430074", "洪山区"},
    {"西安", "陕西省", "northwest_china", "610100", "29", 8, "710065", "雁塔区"},
    {"沈阳", "辽宁省", "northeast_china", "210100", "24", 8, "110179", "浑南区"},
    {"重庆", "重庆市", "southwest_china", "500000", "23", 8, "401120", "渝北区"},
    {"天津", "天津市", "north_china", "120000", "22", 8, "300457", "滨海新区"},
    {"青岛", "山东省", "east_china", "370200", "532", 8, "266061", "崂山区"},
    {"长沙", "湖南省", "central_china", "430100", "731", 8, "410205", "岳麓区"},
    {"厦门", "福建省", "east_china", "350200", "592", 7, "361001", "思明区"},
};

/* Brand words are two syllables, one from each list; see brand_of(). */
static const struct syllable brand_a[] = {
    {"瑞", "rui"}, {"恒", "heng"}, {"博", "bo"},  {"鼎", "ding"}, {"嘉", "jia"},
    {"启", "qi"},  {"泓", "hong"}, {"锦", "jin"}, {"朗", "lang"}, {"晟", "sheng"},
    {"澜", "lan"}, {"铭", "ming"}, {"昱", "yu"},  {"翰", "han"},  {"禾", "he"},
    {"骏", "jun"}, {"致", "zhi"},  {"凯", "kai"}, {"卓", "zhuo"}, {"盈", "ying"},
};
static const struct syllable brand_b[] = {
    {"拓", "tuo"},  {"源", "yuan"}, {"驰", "chi"}, {"川", "chuan"}, {"宸", "chen"}, {"航", "hang"},
    {"途", "tu"},   {"辉", "hui"},  {"泽", "ze"},  {"岳", "yue"},   {"达", "da"},   {"峰", "feng"},
    {"桥", "qiao"}, {"联", "lian"}, {"芯", "xin"}, {"科", "ke"},
};

struct industry {
    const char *zh;       /* in the company name */
    const char *short_zh; /* in short names: 瑞拓科技 */
    const char *value;    /* picklist value */
    const char *slug;     /* in the web domain */
};

static const struct industry industries[] = {
    {"信息科技", "科技", "technology", "tech"},
    {"软件", "软件", "software", "soft"},
    {"智能装备", "装备", "manufacturing", "mfg"},
    {"汽车零部件", "汽配", "automotive", "auto"},
    {"医疗器械", "医疗", "healthcare", "med"},
    {"生物医药", "医药", "pharmaceuticals", "bio"},
    {"供应链管理", "供应链", "logistics", "scm"},
    {"电子商务", "电商", "retail", "ec"},
    {"食品", "食品", "consumer_goods", "food"},
    {"新能源", "新能源", "energy", "energy"},
    {"建设工程", "建设", "construction", "build"},
    {"教育科技", "教育", "education", "edu"},
    {"文化传媒", "传媒", "media", "media"},
    {"保险经纪", "保险", "insurance", "ins"},
    {"融资租赁", "租赁", "financial_services", "fin"},
    {"酒店管理", "酒店", "hospitality", "hotel"},
    {"通信技术", "通信", "telecommunications", "telecom"},
    {"企业管理咨询", "咨询", "professional_services", "consult"},
    {"农业科技", "农业", "agriculture", "agri"},
    {"物业服务", "物业", "real_estate", "pm"},
};

static const char *const roads[] = {"科苑路", "创新大道", "长江路",   "人民中路",
                                    "建设路", "中山东路", "滨江大道", "高新大道",
                                    "学府路", "园区大道", "湖滨路",   "金融街"};
static const char *const buildings[] = {"", "A座", "B座", "2号楼", "科技大厦", "国际中心"};

static const struct syllable surnames[] = {
    {"王", "wang"}, {"李", "li"},    {"张", "zhang"}, {"刘", "liu"}, {"陈", "chen"},
    {"杨", "yang"}, {"黄", "huang"}, {"赵", "zhao"},  {"吴", "wu"},  {"周", "zhou"},
    {"徐", "xu"},   {"孙", "sun"},   {"马", "ma"},    {"朱", "zhu"}, {"胡", "hu"},
    {"郭", "guo"},  {"何", "he"},    {"高", "gao"},   {"林", "lin"}, {"罗", "luo"},
};
static const struct syllable given_m[] = {
    {"伟", "wei"},  {"磊", "lei"},  {"军", "jun"},  {"勇", "yong"},  {"杰", "jie"}, {"涛", "tao"},
    {"明", "ming"}, {"超", "chao"}, {"刚", "gang"}, {"强", "qiang"}, {"浩", "hao"}, {"宇", "yu"},
    {"俊", "jun"},  {"博", "bo"},   {"鹏", "peng"}, {"志", "zhi"},   {"海", "hai"}, {"建", "jian"},
    {"文", "wen"},  {"凯", "kai"},  {"晨", "chen"}, {"天", "tian"},  {"国", "guo"}, {"华", "hua"},
};
static const struct syllable given_f[] = {
    {"芳", "fang"}, {"娜", "na"},  {"敏", "min"},  {"静", "jing"}, {"丽", "li"},   {"艳", "yan"},
    {"婷", "ting"}, {"雪", "xue"}, {"梅", "mei"},  {"欣", "xin"},  {"佳", "jia"},  {"怡", "yi"},
    {"琳", "lin"},  {"慧", "hui"}, {"颖", "ying"}, {"倩", "qian"}, {"雨", "yu"},   {"思", "si"},
    {"晓", "xiao"}, {"嘉", "jia"}, {"洁", "jie"},  {"霞", "xia"},  {"玲", "ling"}, {"萍", "ping"},
};

static const char *const en_first_m[] = {"James",  "Oliver",  "Liam",   "Noah",   "Lucas", "Ethan",
                                         "Daniel", "Matthew", "Arjun",  "Kenji",  "Lars",  "Marco",
                                         "Pierre", "Hans",    "Samuel", "Thomas", "David", "Ravi"};
static const char *const en_first_f[] = {
    "Emma", "Sophia", "Isabella", "Mia",     "Charlotte", "Amelia", "Hannah", "Grace", "Priya",
    "Yuki", "Ingrid", "Giulia",   "Camille", "Lena",      "Olivia", "Chloe",  "Aisha", "Sarah"};
static const char *const en_last[] = {
    "Carter", "Nguyen",    "Patel",     "Schmidt", "Rossi",    "Dubois",  "Tanaka", "Walker",
    "Okafor", "Fernandes", "Murphy",    "Jensen",  "Kowalski", "Bennett", "Hughes", "Sato",
    "Moreau", "Becker",    "Lindqvist", "Fraser",  "Ito",      "Reyes",   "Novak",  "Kaur"};

struct role {
    const char *title, *dept, *buying_role;
};

static const struct role cn_heads[] = {
    {"总经理", "总经办", "decision_maker"},
    {"董事长", "董事会", "decision_maker"},
    {"首席执行官", "总经办", "decision_maker"},
};
static const struct role cn_roles[] = {
    {"首席技术官", "技术中心", "technical_evaluator"},
    {"信息中心主任", "信息中心", "champion"},
    {"IT 经理", "信息技术部", "technical_evaluator"},
    {"采购经理", "采购部", "gatekeeper"},
    {"财务总监", "财务部", "economic_buyer"},
    {"销售总监", "销售部", "influencer"},
    {"运营总监", "运营部", "influencer"},
    {"市场经理", "市场部", "end_user"},
    {"客服主管", "客户服务部", "end_user"},
    {"项目经理", "项目管理部", "champion"},
    {"行政主管", "行政部", "other"},
    {"人力资源总监", "人力资源部", "influencer"},
};
static const struct role en_heads[] = {
    {"Chief Executive Officer", "Executive", "decision_maker"},
    {"Managing Director", "Executive", "decision_maker"},
    {"President", "Executive", "decision_maker"},
};
static const struct role en_roles[] = {
    {"Chief Technology Officer", "Technology", "technical_evaluator"},
    {"Head of IT", "IT", "champion"},
    {"IT Manager", "IT", "technical_evaluator"},
    {"Procurement Manager", "Procurement", "gatekeeper"},
    {"Finance Director", "Finance", "economic_buyer"},
    {"VP Sales", "Sales", "influencer"},
    {"Operations Director", "Operations", "influencer"},
    {"Marketing Manager", "Marketing", "end_user"},
    {"Customer Service Lead", "Customer Service", "end_user"},
    {"Project Manager", "PMO", "champion"},
    {"Office Manager", "Administration", "other"},
    {"HR Director", "Human Resources", "influencer"},
};

struct country {
    const char *name, *state, *city, *region, *postal, *street;
    const char *phone, *mobile; /* prefixes; random digits follow */
    int phone_digits, mobile_digits;
    const char *currency;
    int cny_per_100; /* CNY for 100 units of the currency, to size deals */
};

enum { US, CA, UK, DE, NL, FR, IT, SG, JP, AU, IN, HK };

/* Phone prefixes use ranges set aside for fiction or examples where a country has one. */
static const struct country countries[] = {
    [US] = {"United States", "California", "San Jose", "americas", "95131", "2150 Orchard Parkway",
            "+1 408 555 01", "+1 650 555 01", 2, 2, "usd", 720},
    [CA] = {"Canada", "Ontario", "Toronto", "americas", "M5J 0B8", "88 Queens Quay West",
            "+1 416 555 01", "+1 647 555 01", 2, 2, "usd", 720},
    [UK] = {"United Kingdom", "England", "London", "emea", "W2 6LG", "20 Eastbourne Terrace",
            "+44 20 7946 0", "+44 7700 900", 3, 3, "gbp", 910},
    [DE] = {"Germany", "Bayern", "München", "emea", "80804", "Leopoldstraße 180", "+49 89 5550 ",
            "+49 151 2345 ", 4, 4, "eur", 780},
    [NL] = {"Netherlands", "Noord-Holland", "Amsterdam", "emea", "1019 GM", "Piet Heinkade 55",
            "+31 20 555 ", "+31 6 1234 ", 4, 4, "eur", 780},
    [FR] = {"France", "Île-de-France", "Paris", "emea", "75008", "40 Rue de Courcelles",
            "+33 1 55 55 ", "+33 6 55 55 ", 4, 4, "eur", 780},
    [IT] = {"Italy", "Lombardia", "Milano", "emea", "20144", "Via Tortona 27", "+39 02 5555 ",
            "+39 347 555 ", 4, 4, "eur", 780},
    [SG] = {"Singapore", "Singapore", "Singapore", "apac", "098632", "1 HarbourFront Avenue",
            "+65 6555 ", "+65 9555 ", 4, 4, "usd", 720},
    [JP] = {"Japan", "Tokyo", "Tokyo", "apac", "105-0011", "2-4-1 Shibakoen, Minato-ku",
            "+81 3 5555 ", "+81 90 5555 ", 4, 4, "jpy", 5},
    [AU] = {"Australia", "New South Wales", "Sydney", "apac", "2000", "200 George Street",
            "+61 2 5550 ", "+61 491 570 ", 4, 3, "usd", 720},
    [IN] = {"India", "Karnataka", "Bengaluru", "apac", "560103", "Outer Ring Road, Bellandur",
            "+91 80 5555 ", "+91 98450 ", 4, 5, "usd", 720},
    [HK] = {"Hong Kong SAR", "Hong Kong", "Hong Kong", "hk_macao_taiwan", "",
            "1 Austin Road West, Kowloon", "+852 5555 ", "+852 6555 ", 4, 4, "hkd", 92},
};

struct intl_account {
    const char *name, *short_name, *domain;
    int country;
    const char *industry;
};

static const struct intl_account intl_accounts[N_INTL_ACCOUNTS] = {
    {"Kestrel Dynamics Inc.", "Kestrel Dynamics", "kestreldynamics.com", US, "technology"},
    {"Granite Peak Builders Corp.", "Granite Peak", "granitepeakbuilders.ca", CA, "construction"},
    {"Tamarind Health Ltd", "Tamarind Health", "tamarindhealth.co.uk", UK, "healthcare"},
    {"Bluefjord Analytics GmbH", "Bluefjord", "bluefjord.de", DE, "software"},
    {"Polderline Freight B.V.", "Polderline", "polderline.nl", NL, "logistics"},
    {"Solvane Énergie SA", "Solvane", "solvane-energie.fr", FR, "energy"},
    {"Veloria Meccanica S.p.A.", "Veloria", "veloria-meccanica.it", IT, "automotive"},
    {"Straitsnet Telecom Pte. Ltd.", "Straitsnet", "straitsnet.com.sg", SG, "telecommunications"},
    {"Orbiton Devices K.K.", "Orbiton", "orbiton-devices.co.jp", JP, "manufacturing"},
    {"Coralstone Insurance Pty Ltd", "Coralstone", "coralstone.com.au", AU, "insurance"},
    {"Saffron Lane Hospitality Pvt. Ltd.", "Saffron Lane", "saffronlane.in", IN, "hospitality"},
    {"Meridian Pearl Trading Ltd", "Meridian Pearl", "meridianpearl.com.hk", HK, "consumer_goods"},
};

/* English lead companies: one word from each list and a legal form from the country. */
static const char *const en_co_a[] = {
    "Aster",     "Brightwater", "Cobalt",      "Driftwood", "Elmstead",  "Fairhaven", "Glenmore",
    "Hollowell", "Juniper",     "Kingsbridge", "Larkspur",  "Maplewood", "Northgate", "Oakridge",
    "Quillon",   "Redfern",     "Silverline",  "Thornbury", "Westbrook", "Yarrow"};
static const char *const en_co_b[] = {"Labs",     "Logistics", "Foods",     "Medical",
                                      "Partners", "Robotics",  "Textiles",  "Energy",
                                      "Retail",   "Software",  "Consulting"};
static const char *const en_co_b_industry[] = {"technology",
                                               "logistics",
                                               "consumer_goods",
                                               "healthcare",
                                               "professional_services",
                                               "manufacturing",
                                               "manufacturing",
                                               "energy",
                                               "retail",
                                               "software",
                                               "professional_services"};
static const char *const legal_forms[] = {
    [US] = "Inc.", [CA] = "Corp.",   [UK] = "Ltd",       [DE] = "GmbH",
    [NL] = "B.V.", [FR] = "SAS",     [IT] = "S.r.l.",    [SG] = "Pte. Ltd.",
    [JP] = "K.K.", [AU] = "Pty Ltd", [IN] = "Pvt. Ltd.", [HK] = "Limited"};

static const char *const sources[] = {"web",           "referral", "event", "partner", "cold_call",
                                      "advertisement", "social",   "email", "other"};

/* ---- the generator ---- */

struct acct {
    const char *id, *name, *short_name, *domain, *phone;
    const char *brand;          /* Chinese accounts: the brand word */
    const struct industry *ind; /* Chinese accounts */
    int nation;                 /* international accounts: index into countries */
    const char *country, *province, *city, *street, *postal;
    const char *currency;
    int cny_per_100;
    bool cn, customer;
};

struct person {
    const char *id, *last, *first, *email, *mobile;
    int account;
};

struct opp {
    const char *id;
    int account;
};

struct campaign {
    const char *id, *type;
    int64_t start; /* day */
};

struct lead {
    const char *id;
    int campaign; /* index, or -1 */
    const char *status;
};

struct demo {
    struct rp_app *app;
    struct rp_arena *arena; /* everything of the load, released at its end */
    struct rp_error *err;   /* the caller's */
    uint64_t rng;
    int64_t now_ms, today;
    int created;
    struct campaign campaigns[8]; /* sized for the plans; see the static assertions */
    int ncampaigns;
    const char *product_ids[16];
    int64_t product_prices[16];
    int nproducts;
    struct acct accounts[N_ACCOUNTS];
    int naccounts;
    struct person contacts[N_CONTACTS];
    int ncontacts;
    struct opp opps[N_OPPS];
    int nopps;
    struct lead leads[N_LEADS];
    int nleads;
};

/* A batch of create operations on one object. */
struct batch {
    const char *object;
    json_t *rows[BATCH_MAX];
    const char *ids[BATCH_MAX]; /* after batch_write */
    size_t n;
};

/* xorshift64* (Vigna): small, fast and the same on every platform. */
static uint64_t rnd(struct demo *d)
{
    uint64_t x = d->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    d->rng = x;
    return x * UINT64_C(0x2545f4914f6cdd1d);
}

static int rnd_below(struct demo *d, size_t n)
{
    return (int)(rnd(d) % n);
}

/* Uniform in [lo, hi]. */
static int rnd_range(struct demo *d, int lo, int hi)
{
    return lo + rnd_below(d, (size_t)(hi - lo + 1));
}

static bool rnd_chance(struct demo *d, int percent)
{
    return rnd_below(d, 100) < percent;
}

/* An index into weights, chosen with probability proportional to its weight. */
static int rnd_weighted(struct demo *d, const int *weights, size_t n)
{
    int total = 0, r;
    for (size_t i = 0; i < n; i++)
        total += weights[i];
    r = rnd_below(d, (size_t)total);
    for (size_t i = 0; i < n; i++) {
        if (r < weights[i])
            return (int)i;
        r -= weights[i];
    }
    return (int)n - 1;
}

/* Days ago in [1, max], weighted towards the recent past as real activity is. */
static int rnd_days_ago(struct demo *d, int max)
{
    int a = rnd_range(d, 1, max), b = rnd_range(d, 1, max);
    int v = a * b / max;
    return v < 1 ? 1 : v;
}

/* A time in Beijing office hours (09:00-17:55, UTC+8) on a day, at a 5-minute mark. */
static int64_t office_time(struct demo *d, int64_t day)
{
    return day * RP_MS_PER_DAY + rnd_range(d, 1, 9) * MS_HOUR + rnd_range(d, 0, 11) * 5 * MS_MINUTE;
}

static char *fmt(struct demo *d, const char *f, ...) __attribute__((format(printf, 2, 3)));

static char *fmt(struct demo *d, const char *f, ...)
{
    va_list ap;
    char *s;
    va_start(ap, f);
    s = rp_arena_vsprintf(d->arena, f, ap);
    va_end(ap);
    return s;
}

static const char *date_text(struct demo *d, int64_t day)
{
    struct rp_buf b;
    rp_buf_init(&b, d->arena, 32);
    rp_time_format_date(&b, day);
    return b.data;
}

static const char *datetime_text(struct demo *d, int64_t ms)
{
    struct rp_buf b;
    rp_buf_init(&b, d->arena, 40);
    rp_time_format_datetime(&b, ms);
    return b.data;
}

/* A prefix followed by n random digits. */
static const char *digits(struct demo *d, const char *prefix, int n)
{
    struct rp_buf b;
    rp_buf_init(&b, d->arena, 64);
    rp_buf_adds(&b, prefix);
    for (int i = 0; i < n; i++)
        rp_buf_addc(&b, (char)('0' + rnd_below(d, 10)));
    return b.data;
}

/* A WeChat ID from a name handle: letters, digits and an underscore, starting with a letter. */
static const char *wechat_id(struct demo *d, const char *handle)
{
    struct rp_buf b;
    rp_buf_init(&b, d->arena, 64);
    for (const char *c = handle; *c; c++)
        if (*c != '.')
            rp_buf_addc(&b, *c);
    rp_buf_addf(&b, "_%02d", rnd_below(d, 100));
    return b.data;
}

static const char *cn_mobile(struct demo *d)
{
    return fmt(d, "+86 1%c%d %04d %04d", "35789"[rnd_below(d, 5)], rnd_below(d, 10),
               rnd_below(d, 10000), rnd_below(d, 10000));
}

static const char *cn_landline(struct demo *d, const struct city *c)
{
    int head = "2568"[rnd_below(d, 4)] - '0';
    if (c->local_digits == 7)
        return fmt(d, "+86 %s %d%02d %04d", c->area, head, rnd_below(d, 100), rnd_below(d, 10000));
    return fmt(d, "+86 %s %d%03d %04d", c->area, head, rnd_below(d, 1000), rnd_below(d, 10000));
}

static void ascii_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* ---- unified social credit code (GB 32100-2015) ---- */

static const char uscc_charset[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/* The check character of an organisation code (GB 11714-1997) over its first 8 characters. */
static char org_code_check(const char *s)
{
    static const int weights[8] = {3, 7, 9, 10, 5, 8, 4, 2};
    int sum = 0, c;
    for (int i = 0; i < 8; i++)
        sum += (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : s[i] - 'A' + 10) * weights[i];
    c = 11 - sum % 11;
    return c == 10 ? 'X' : c == 11 ? '0' : (char)('0' + c);
}

static char uscc_check(const char *s)
{
    static const int weights[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
    int sum = 0;
    for (int i = 0; i < 17; i++)
        sum += (int)(strchr(uscc_charset, s[i]) - uscc_charset) * weights[i];
    return uscc_charset[(31 - sum % 31) % 31];
}

/*
 * A valid code for an enterprise ("91") registered in a division: an
 * organisation code in the older all-digit form or the newer "MA" form,
 * its GB 11714 check character, then the GB 32100 check character.
 */
static const char *make_uscc(struct demo *d, const char *division)
{
    char s[19];
    int i = 10;

    s[0] = '9';
    s[1] = '1';
    memcpy(s + 2, division, 6);
    if (rnd_chance(d, 50)) {
        s[8] = 'M';
        s[9] = 'A';
        for (; i < 16; i++)
            s[i] = uscc_charset[rnd_below(d, sizeof(uscc_charset) - 1)];
    } else {
        for (i = 8; i < 16; i++)
            s[i] = (char)('0' + rnd_below(d, 10));
    }
    s[16] = org_code_check(s + 8);
    s[17] = uscc_check(s);
    s[18] = '\0';
    return rp_arena_strdup(d->arena, s);
}

/* ---- JSON rows and batches ---- */

static void decref(void *p)
{
    json_decref(p);
}

static struct batch *batch_new(struct demo *d, const char *object)
{
    struct batch *b = rp_arena_calloc(d->arena, 1, sizeof(*b));
    b->object = object;
    return b;
}

/* A new empty record in the batch; the arena owns it. */
static json_t *batch_row(struct demo *d, struct batch *b)
{
    json_t *o = json_object();
    assert(b->n < BATCH_MAX);
    rp_arena_defer(d->arena, decref, o);
    b->rows[b->n++] = o;
    return o;
}

static void put_s(json_t *o, const char *key, const char *v)
{
    if (v && *v)
        json_object_set_new(o, key, json_string(v));
}

static void put_i(json_t *o, const char *key, int64_t v)
{
    json_object_set_new(o, key, json_integer(v));
}

static void put_b(json_t *o, const char *key, bool v)
{
    json_object_set_new(o, key, json_boolean(v));
}

static void put_date(struct demo *d, json_t *o, const char *key, int64_t day)
{
    put_s(o, key, date_text(d, day));
}

static void put_dt(struct demo *d, json_t *o, const char *key, int64_t ms)
{
    put_s(o, key, datetime_text(d, ms));
}

static void log_item(const char *object, size_t i, const struct rp_write *w)
{
    rp_log_error("demo %s %zu: status %d: %s", object, i, w->status,
                 w->err.detail ? w->err.detail : "(no detail)");
    for (size_t k = 0; k < w->err.nfields; k++)
        rp_log_error("demo %s %zu: field \"%s\" (%s): %s", object, i, w->err.fields[k].field,
                     w->err.fields[k].code, w->err.fields[k].message);
}

/*
 * Writes the batch as one atomic unit and records the new ids. Any item
 * that is not created fails the load: the demo must be valid data, so a
 * failure here means the generator and the catalogue disagree.
 */
static int batch_write(struct demo *d, struct batch *b)
{
    struct rp_write *w = rp_arena_calloc(d->arena, b->n, sizeof(*w));
    struct rp_error werr;
    const struct rp_write *bad = NULL;
    struct rp_write_request wr = {
        .principal = &d->app->system,
        .object = b->object,
        .writes = w,
        .nwrites = b->n,
        .batch = true,
        .atomic = true,
        .arena = d->arena,
        .err = &werr,
    };
    int rc;

    if (b->n == 0)
        return 0;
    rp_error_init(&werr, d->arena);
    for (size_t i = 0; i < b->n; i++) {
        w[i].op = RP_WRITE_CREATE;
        w[i].data = b->rows[i];
        w[i].if_match = -1;
    }
    rc = rp_records_write(d->app->records, &wr);
    for (size_t i = 0; i < b->n; i++) {
        if (w[i].status == 201 && rc == 0)
            continue;
        if (w[i].err.code) {
            log_item(b->object, i, &w[i]);
            if (!bad)
                bad = &w[i];
        }
    }
    if (rc == 0 && !bad) {
        for (size_t i = 0; i < b->n; i++) {
            if (w[i].status != 201) {
                rc = rp_error_set(d->err, RP_EINTERNAL,
                                  "could not load demo %s records: item %zu has status %d",
                                  b->object, i, w[i].status);
                return rc;
            }
            b->ids[i] = rp_arena_strdup(d->arena, w[i].new_id);
        }
        d->created += (int)b->n;
        return 0;
    }
    rc = rc < 0 ? rc : bad->err.code;
    if (bad)
        rp_error_set(d->err, rc, "could not load demo %s records: item %zu: %s", b->object,
                     (size_t)(bad - w), bad->err.detail ? bad->err.detail : rp_err_title(rc));
    else
        rp_error_set(d->err, rc, "could not load demo %s records: %s", b->object,
                     werr.detail ? werr.detail : rp_err_title(rc));
    if (bad)
        for (size_t k = 0; k < bad->err.nfields; k++)
            rp_error_field(d->err, rc, bad->err.fields[k].field, bad->err.fields[k].code, "%s",
                           bad->err.fields[k].message);
    return rc;
}

/* ---- people and companies ---- */

struct cn_name {
    const char *last, *first, *handle; /* handle: "wang.lei", ASCII */
    bool female;
};

static struct cn_name cn_person(struct demo *d)
{
    const struct syllable *s = &PICK(d, surnames);
    bool female = rnd_chance(d, 45);
    const struct syllable *pool = female ? given_f : given_m;
    size_t n = female ? NELEMS(given_f) : NELEMS(given_m);
    const struct syllable *g1 = &pool[rnd_below(d, n)], *g2;
    struct cn_name p = {.last = s->zh, .female = female};

    if (rnd_chance(d, 40)) {
        p.first = g1->zh;
        p.handle = fmt(d, "%s.%s", s->py, g1->py);
        return p;
    }
    do
        g2 = &pool[rnd_below(d, n)];
    while (g2 == g1);
    p.first = fmt(d, "%s%s", g1->zh, g2->zh);
    p.handle = fmt(d, "%s.%s%s", s->py, g1->py, g2->py);
    return p;
}

struct en_name {
    const char *last, *first, *handle;
    bool female;
};

static struct en_name en_person(struct demo *d)
{
    struct en_name p;
    char *h;
    p.female = rnd_chance(d, 45);
    p.first = p.female ? PICK(d, en_first_f) : PICK(d, en_first_m);
    p.last = PICK(d, en_last);
    h = fmt(d, "%s.%s", p.first, p.last);
    ascii_lower(h);
    p.handle = h;
    return p;
}

/*
 * The k-th Chinese brand word. Words k and k + 20m share the first syllable
 * and differ in the second, since 21m is not a multiple of 16 for 0 < m < 16:
 * the first 320 words are distinct.
 */
static void brand_of(int k, const struct syllable **a, const struct syllable **b)
{
    *a = &brand_a[(size_t)k % NELEMS(brand_a)];
    *b = &brand_b[((size_t)k / NELEMS(brand_a) + (size_t)k) % NELEMS(brand_b)];
}

struct cn_company {
    const char *name, *short_name, *domain, *brand;
    const struct city *city;
    const struct industry *ind;
};

static struct cn_company cn_company(struct demo *d, int k, bool listed)
{
    const struct syllable *a, *b;
    struct cn_company c;
    static const char *const tlds[] = {"cn", "com.cn", "com"};

    brand_of(k, &a, &b);
    c.city = &PICK(d, cities);
    c.ind = &PICK(d, industries);
    c.brand = fmt(d, "%s%s", a->zh, b->zh);
    c.name =
        fmt(d, "%s%s%s%s", c.city->name, c.brand, c.ind->zh, listed ? "股份有限公司" : "有限公司");
    c.short_name = fmt(d, "%s%s%s", a->zh, b->zh, c.ind->short_zh);
    c.domain = fmt(d, "%s%s-%s.%s", a->py, b->py, c.ind->slug, PICK(d, tlds));
    return c;
}

static const char *cn_street(struct demo *d)
{
    return fmt(d, "%s%d号%s%d室", PICK(d, roads), rnd_range(d, 1, 1999), PICK(d, buildings),
               rnd_range(d, 2, 28) * 100 + rnd_range(d, 1, 20));
}

/* ---- campaigns ---- */

struct campaign_plan {
    const char *name, *type;
    int start, end; /* days from today; end 0: none */
    bool aborted;
    int budget; /* CNY */
    const char *utm, *audience, *currency;
};

static const struct campaign_plan campaign_plans[] = {
    {"智能制造数字化峰会（上海站）", "event", -400, -398, false, 380000, "smart-mfg-summit",
     "华东制造业 CIO、运营负责人", "cny"},
    {"Webinar: Modern Revenue Operations", "webinar", -200, -200, false, 45000, "revops-webinar",
     "Sales and RevOps leaders in APAC and EMEA", "usd"},
    {"微信公众号内容营销", "content", -300, 60, false, 120000, "wechat-content",
     "关注数字化转型的中小企业管理者", "cny"},
    {"搜索引擎广告投放", "advertisement", -120, 30, false, 260000, "sem-crm",
     "搜索“CRM 系统”“客户管理软件”的企业用户", "cny"},
    {"Customer Referral Programme", "referral", -500, 0, false, 80000, "referral",
     "Existing customers and partners", "cny"},
    {"年度客户答谢会", "event", 45, 46, false, 300000, "customer-gala", "金牌及 VIP 客户决策人",
     "cny"},
    {"Spring Product Launch EDM", "email", -90, -60, true, 20000, "spring-launch-edm",
     "Opted-in prospects in the marketing database", "usd"},
};

_Static_assert(NELEMS(campaign_plans) <= NELEMS(((struct demo *)0)->campaigns),
               "struct demo holds every campaign");

static int load_campaigns(struct demo *d)
{
    struct batch *b = batch_new(d, "campaign");
    int rc;

    for (size_t i = 0; i < NELEMS(campaign_plans); i++) {
        const struct campaign_plan *p = &campaign_plans[i];
        json_t *o = batch_row(d, b);
        int64_t start = d->today + p->start, end = d->today + p->end;
        bool has_end = p->end != 0;
        const char *status = p->aborted                  ? "aborted"
                             : start > d->today          ? "planned"
                             : has_end && end < d->today ? "completed"
                                                         : "active";
        put_s(o, "name", p->name);
        put_s(o, "type", p->type);
        put_s(o, "status", status);
        put_date(d, o, "start_date", start);
        if (has_end)
            put_date(d, o, "end_date", end);
        put_s(o, "currency", p->currency);
        put_i(o, "budget", p->budget);
        if (strcmp(status, "planned") != 0)
            put_i(o, "actual_cost", p->budget * rnd_range(d, 60, 105) / 100);
        put_i(o, "expected_revenue", (int64_t)p->budget * rnd_range(d, 4, 12));
        put_i(o, "expected_responses", rnd_range(d, 4, 60) * 10);
        put_s(o, "utm_campaign", p->utm);
        put_s(o, "target_audience", p->audience);
        d->campaigns[i].type = p->type;
        d->campaigns[i].start = start;
    }
    if ((rc = batch_write(d, b)) < 0)
        return rc;
    for (size_t i = 0; i < b->n; i++)
        d->campaigns[i].id = b->ids[i];
    d->ncampaigns = (int)b->n;
    return 0;
}

/* ---- products and the standard price book ---- */

struct product_plan {
    const char *sku, *name, *family, *unit, *billing; /* billing: NULL when not recurring */
    int price, tax, discount;                         /* CNY, percent, percent */
    int min_quantity;
    const char *description;
};

static const struct product_plan product_plans[] = {
    {"SUB-CRM-STD", "云客 CRM 标准版 / Cloud CRM Standard", "subscription", "seat", "annual", 1980,
     6, 20, 5,
     "销售自动化、客户与联系人管理、移动端。Sales automation, accounts and contacts, mobile."},
    {"SUB-CRM-PRO", "云客 CRM 专业版 / Cloud CRM Professional", "subscription", "seat", "annual",
     3980, 6, 25, 5,
     "含审批流、报价、SLA 工单与报表。Adds approvals, quotes, SLA cases and reports."},
    {"SUB-CRM-ENT", "云客 CRM 企业版 / Cloud CRM Enterprise", "subscription", "seat", "annual",
     6800, 6, 30, 20, "含记录级权限、审计与沙箱。Adds record-level security, audit and sandbox."},
    {"SUB-ANL-ADD", "数据分析套件 / Analytics Add-on", "subscription", "seat", "annual", 880, 6, 30,
     5, NULL},
    {"SW-ONPREM-LIC", "私有化部署许可 / On-premise Licence", "software", "license", NULL, 280000,
     13, 15, 1, "永久许可，含首年升级。Perpetual licence with first-year upgrades."},
    {"HW-CG200", "呼叫中心网关 CG-200 / Call Gateway CG-200", "hardware", "each", NULL, 18500, 13,
     10, 1, "32 路 SIP 中继，机架式。32 SIP trunks, rack-mounted."},
    {"PS-IMPL-DAY", "实施服务（人天） / Implementation (person-day)", "professional_services",
     "person_day", NULL, 3500, 6, 15, 5, NULL},
    {"PS-MIGR", "数据迁移服务 / Data Migration", "professional_services", "set", NULL, 45000, 6, 20,
     1, NULL},
    {"SUP-PREM", "高级支持服务 / Premium Support", "support", "year", "annual", 60000, 6, 10, 1,
     "7×24 小时响应，专属客户成功经理。24×7 response and a named success manager."},
    {"TRN-ADMIN", "管理员培训 / Administrator Training", "training", "each", NULL, 4800, 6, 20, 1,
     NULL},
    {"OTH-API-1M", "API 调用包（100 万次） / API Pack (1M calls)", "other", "each", NULL, 9900, 6,
     10, 1, NULL},
};

_Static_assert(NELEMS(product_plans) <= NELEMS(((struct demo *)0)->product_ids),
               "struct demo holds every product");

static int load_products(struct demo *d)
{
    struct batch *b = batch_new(d, "product"), *pb, *pe;
    json_t *o;
    int rc;

    for (size_t i = 0; i < NELEMS(product_plans); i++) {
        const struct product_plan *p = &product_plans[i];
        o = batch_row(d, b);
        put_s(o, "sku", p->sku);
        put_s(o, "name", p->name);
        put_s(o, "family", p->family);
        put_i(o, "list_price", p->price);
        put_s(o, "currency", "cny");
        put_i(o, "discount_ceiling", p->discount);
        put_i(o, "tax_rate", p->tax);
        put_s(o, "unit", p->unit);
        put_b(o, "recurring", p->billing != NULL);
        put_s(o, "billing_period", p->billing);
        put_b(o, "active", true);
        put_s(o, "description", p->description);
    }
    if ((rc = batch_write(d, b)) < 0)
        return rc;
    for (size_t i = 0; i < b->n; i++) {
        d->product_ids[i] = b->ids[i];
        d->product_prices[i] = product_plans[i].price;
    }
    d->nproducts = (int)b->n;

    pb = batch_new(d, "price_book");
    o = batch_row(d, pb);
    put_s(o, "name", "标准价格表 / Standard Price Book");
    put_s(o, "currency", "cny");
    put_b(o, "active", true);
    put_b(o, "is_standard", true);
    put_date(d, o, "valid_from", d->today - 540);
    put_s(o, "description",
          "所有产品的标准人民币目录价。Standard CNY list prices for every product.");
    if ((rc = batch_write(d, pb)) < 0)
        return rc;

    pe = batch_new(d, "price_book_entry");
    for (int i = 0; i < d->nproducts; i++) {
        o = batch_row(d, pe);
        put_s(o, "price_book_id", pb->ids[0]);
        put_s(o, "product_id", d->product_ids[i]);
        put_i(o, "unit_price", d->product_prices[i]);
        put_s(o, "currency", "cny");
        put_i(o, "min_quantity", product_plans[i].min_quantity);
        put_b(o, "active", true);
    }
    return batch_write(d, pe);
}

/* ---- quotes and the approval matrix (docs/api.md, "Quotes") ---- */

/*
 * The approval matrix by effective discount, as data: processes chosen by order and criteria.
 * Up to 10% needs nobody; up to 20% the owner's manager; up to 30% the manager, then a
 * director; beyond, the manager, a director and the CFO.
 */
static const struct {
    const char *name, *definition;
} quote_matrix[] = {
    {"quote_discount_10",
     "{\"object\": \"quote\", \"order\": 10, \"criteria\": \"effective_discount_percent <= 10\","
     " \"steps\": []}"},
    {"quote_discount_20",
     "{\"object\": \"quote\", \"order\": 20, \"criteria\": \"effective_discount_percent <= 20\","
     " \"steps\": [{\"approver\": {\"type\": \"manager\"}}]}"},
    {"quote_discount_30",
     "{\"object\": \"quote\", \"order\": 30, \"criteria\": \"effective_discount_percent <= 30\","
     " \"steps\": [{\"approver\": {\"type\": \"manager\"}}, {\"approver\": {\"type\": \"role\","
     " \"role\": \"director\"}}]}"},
    {"quote_discount_cfo",
     "{\"object\": \"quote\", \"order\": 40, \"steps\": [{\"approver\": {\"type\": \"manager\"}},"
     " {\"approver\": {\"type\": \"role\", \"role\": \"director\"}}, {\"approver\": {\"type\":"
     " \"role\", \"role\": \"cfo\"}}]}"},
};

/* What every band does to the quote's status. */
static const char quote_outcomes[] =
    "{\"guards\": [{\"condition\": \"total > 0\", \"message\": \"add priced lines before"
    " submitting the quote\"}, {\"condition\": \"status = 'draft' or status = 'rejected'\","
    " \"message\": \"only a draft or rejected quote is submitted; re-open it first\"}], \"on_submit\": {\"status\": \"pending_approval\"},"
    " \"on_approve\": {\"status\": \"approved\"}, \"on_reject\": {\"status\": \"rejected\"},"
    " \"on_recall\": {\"status\": \"draft\"}}";

/* Quotes of the first accounts: a discount in each of the three lower bands. */
static const struct {
    int account, product, quantity, discount;
} quote_plans[] = {{0, 1, 20, 5}, {1, 1, 50, 15}, {2, 2, 120, 25}};

static int load_quotes(struct demo *d)
{
    struct batch *q = batch_new(d, "quote"), *l = batch_new(d, "quote_line");
    json_t *o, *outcomes = rp_json_loads(quote_outcomes, 0, NULL);
    int rc = 0;

    for (size_t i = 0; i < NELEMS(quote_matrix) && rc == 0; i++) {
        json_t *def = rp_json_loads(quote_matrix[i].definition, 0, NULL);
        json_object_update(def, outcomes);
        rc = rp_approval_process_put(d->app->automation, &d->app->system, quote_matrix[i].name, def,
                                     NULL, d->err);
        json_decref(def);
    }
    json_decref(outcomes);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < NELEMS(quote_plans) && quote_plans[i].account < d->naccounts; i++) {
        const struct acct *a = &d->accounts[quote_plans[i].account];
        o = batch_row(d, q);
        put_s(o, "name", fmt(d, "%s 年度订阅报价 / Annual subscription", a->name));
        put_s(o, "account_id", a->id);
        put_date(d, o, "valid_until", d->today + 30);
        put_i(o, "tax_percent", 6);
        put_s(o, "terms",
              "付款方式：合同签订后 30 日内一次付清。报价有效期内价格不变。\n"
              "Payment in full within 30 days of signature. Prices hold until the validity date.");
    }
    if ((rc = batch_write(d, q)) < 0)
        return rc;
    for (size_t i = 0; i < q->n; i++) {
        o = batch_row(d, l);
        put_s(o, "quote_id", q->ids[i]);
        put_s(o, "product_id", d->product_ids[quote_plans[i].product]);
        put_i(o, "quantity", quote_plans[i].quantity);
        put_i(o, "discount_percent", quote_plans[i].discount);
        put_i(o, "sort_order", 1);
        o = batch_row(d, l);
        put_s(o, "quote_id", q->ids[i]);
        put_s(o, "product_id", d->product_ids[6]); /* implementation days */
        put_i(o, "quantity", 10);
        put_i(o, "sort_order", 2);
    }
    return batch_write(d, l);
}

/* ---- accounts ---- */

static const char *const cn_focus[] = {"销售过程数字化",       "客服工单与 SLA 管理",
                                       "渠道伙伴管理",         "私有化部署与数据合规",
                                       "营销自动化与线索培育", "续约与客户成功"};
static const char *const en_focus[] = {
    "pipeline visibility",     "case management and SLAs", "partner channel management",
    "data residency in China", "marketing automation",     "renewals and customer success"};

static const char *pick_lifecycle(struct demo *d)
{
    static const char *const values[] = {"customer", "prospect", "partner",
                                         "reseller", "churned",  "inactive"};
    static const int weights[] = {50, 30, 5, 5, 5, 5};
    return values[rnd_weighted(d, weights, NELEMS(weights))];
}

static const char *pick_tier(struct demo *d)
{
    static const char *const values[] = {"standard", "silver", "gold", "vip"};
    static const int weights[] = {40, 25, 20, 15};
    return values[rnd_weighted(d, weights, NELEMS(weights))];
}

/* Fields every account has, Chinese or not. */
static void account_common(struct demo *d, json_t *o, struct acct *a, const char *lifecycle)
{
    static const char *const ratings[] = {"hot", "warm", "cold"};
    int employees = rnd_chance(d, 30) ? rnd_range(d, 20, 200) : rnd_range(d, 200, 20000);

    put_s(o, "tier", pick_tier(d));
    put_s(o, "lifecycle_stage", lifecycle);
    put_s(o, "rating", PICK(d, ratings));
    put_s(o, "source", PICK(d, sources));
    put_s(o, "website", fmt(d, "https://www.%s", a->domain));
    put_s(o, "phone", a->phone);
    put_i(o, "employees", employees);
    /* Revenue in CNY, the reporting currency, whatever the account's home currency. */
    put_i(o, "annual_revenue", (int64_t)employees * rnd_range(d, 30, 200) * 10000);
    if (strcmp(lifecycle, "customer") == 0 || strcmp(lifecycle, "churned") == 0 ||
        strcmp(lifecycle, "partner") == 0 || strcmp(lifecycle, "reseller") == 0)
        put_date(d, o, "customer_since", d->today - rnd_range(d, 60, 1800));
    put_s(o, "country", a->country);
    put_s(o, "province", a->province);
    put_s(o, "city", a->city);
    put_s(o, "street", a->street);
    put_s(o, "postal_code", a->postal);
    a->customer = strcmp(lifecycle, "customer") == 0;
}

/* A Chinese account; with a parent, a branch of the parent's company registered in city. */
static void cn_account(struct demo *d, json_t *o, struct acct *a, int k, const struct acct *parent,
                       const struct city *city)
{
    static const char *const ownerships[] = {"private", "state_owned", "listed", "joint_venture",
                                             "foreign_owned"};
    static const int ownership_weights[] = {60, 10, 15, 10, 5};
    const char *ownership =
        ownerships[rnd_weighted(d, ownership_weights, NELEMS(ownership_weights))];
    struct cn_company c = cn_company(d, k, strcmp(ownership, "listed") == 0);
    struct cn_name rep = cn_person(d);
    const char *lifecycle = pick_lifecycle(d);

    if (parent) {
        c.city = city;
        c.ind = parent->ind;
        c.brand = parent->brand;
        c.domain = parent->domain;
        c.name = fmt(d, "%s%s（%s）有限公司", parent->brand, c.ind->zh, city->name);
        c.short_name = fmt(d, "%s%s", parent->short_name, city->name);
        ownership = "private";
    }
    a->cn = true;
    a->nation = -1;
    a->brand = c.brand;
    a->ind = c.ind;
    a->name = c.name;
    a->short_name = c.short_name;
    a->domain = c.domain;
    a->phone = cn_landline(d, c.city);
    a->country = "中国";
    a->province = c.city->province;
    a->city = fmt(d, "%s市", c.city->name);
    a->street = cn_street(d);
    a->postal = c.city->postal;
    a->currency = "cny";
    a->cny_per_100 = 100;
    put_s(o, "name", c.name);
    put_s(o, "uscc", make_uscc(d, c.city->code));
    put_s(o, "legal_representative", fmt(d, "%s%s", rep.last, rep.first));
    put_s(o, "industry", c.ind->value);
    put_s(o, "ownership", ownership);
    put_s(o, "region", c.city->region);
    put_s(o, "district", c.city->district);
    put_i(o, "registered_capital", (int64_t)rnd_range(d, 1, 200) * 500000);
    put_s(o, "description", fmt(d, "%s行业客户，重点关注%s。", c.ind->zh, PICK(d, cn_focus)));
    account_common(d, o, a, lifecycle);
}

static void intl_account(struct demo *d, json_t *o, struct acct *a, const struct intl_account *ia)
{
    const struct country *c = &countries[ia->country];

    a->cn = false;
    a->nation = ia->country;
    a->name = ia->name;
    a->short_name = ia->short_name;
    a->domain = ia->domain;
    a->phone = digits(d, c->phone, c->phone_digits);
    a->country = c->name;
    a->province = c->state;
    a->city = c->city;
    a->street = c->street;
    a->postal = c->postal;
    a->currency = c->currency;
    a->cny_per_100 = c->cny_per_100;
    put_s(o, "name", ia->name);
    put_s(o, "industry", ia->industry);
    put_s(o, "ownership", rnd_chance(d, 40) ? "listed" : "private");
    put_s(o, "region", c->region);
    put_s(o, "description", fmt(d, "International account; main interest: %s.", PICK(d, en_focus)));
    account_common(d, o, a, pick_lifecycle(d));
}

static int load_accounts(struct demo *d)
{
    struct batch *b = batch_new(d, "account"), *subs;
    static const struct intl_account kestrel_japan = {
        "Kestrel Dynamics Japan K.K.", "Kestrel Japan", "kestreldynamics.co.jp", JP, "technology"};
    json_t *o;
    int rc;

    for (int i = 0; i < N_CN_ACCOUNTS; i++)
        cn_account(d, batch_row(d, b), &d->accounts[i], i, NULL, NULL);
    for (int i = 0; i < N_INTL_ACCOUNTS; i++)
        intl_account(d, batch_row(d, b), &d->accounts[N_CN_ACCOUNTS + i], &intl_accounts[i]);
    if ((rc = batch_write(d, b)) < 0)
        return rc;
    for (size_t i = 0; i < b->n; i++)
        d->accounts[i].id = b->ids[i];

    /* Subsidiaries refer to their parents, so they go in a second batch. */
    subs = batch_new(d, "account");
    o = batch_row(d, subs);
    cn_account(d, o, &d->accounts[b->n], 0, &d->accounts[0], &cities[7]);
    put_s(o, "parent_id", d->accounts[0].id);
    o = batch_row(d, subs);
    intl_account(d, o, &d->accounts[b->n + 1], &kestrel_japan);
    put_s(o, "parent_id", d->accounts[N_CN_ACCOUNTS].id);
    if ((rc = batch_write(d, subs)) < 0)
        return rc;
    d->accounts[b->n].id = subs->ids[0];
    d->accounts[b->n + 1].id = subs->ids[1];
    d->naccounts = (int)(b->n + subs->n);
    return 0;
}

/* ---- contacts ---- */

static bool email_taken(struct demo *d, int account, const char *email)
{
    for (int i = 0; i < d->ncontacts; i++)
        if (d->contacts[i].account == account && strcmp(d->contacts[i].email, email) == 0)
            return true;
    return false;
}

/* One contact of account a; head contacts are the decision makers others report to. */
static void contact_row(struct demo *d, json_t *o, int account, bool head)
{
    struct acct *a = &d->accounts[account];
    struct person *p = &d->contacts[d->ncontacts];
    const struct role *r;
    const char *handle, *email, *salutation;
    bool female;

    if (a->cn) {
        struct cn_name n = cn_person(d);
        r = head ? &PICK(d, cn_heads) : &PICK(d, cn_roles);
        p->last = n.last;
        p->first = n.first;
        handle = n.handle;
        female = n.female;
        p->mobile = cn_mobile(d);
        put_s(o, "wechat", rnd_chance(d, 60) ? wechat_id(d, handle) : NULL);
        put_s(o, "preferred_language", "zh");
    } else {
        const struct country *c = &countries[a->nation];
        struct en_name n = en_person(d);
        r = head ? &PICK(d, en_heads) : &PICK(d, en_roles);
        p->last = n.last;
        p->first = n.first;
        handle = n.handle;
        female = n.female;
        p->mobile = digits(d, c->mobile, c->mobile_digits);
        put_s(o, "preferred_language", "en");
    }
    email = fmt(d, "%s@%s", handle, a->domain);
    if (email_taken(d, account, email))
        email = fmt(d, "%s%d@%s", handle, d->ncontacts % 10, a->domain);
    p->email = email;
    p->account = account;
    salutation = rnd_chance(d, 8) ? "dr" : female ? "ms" : "mr";

    put_s(o, "salutation", salutation);
    put_s(o, "last_name", p->last);
    put_s(o, "first_name", p->first);
    put_s(o, "title", r->title);
    put_s(o, "department", r->dept);
    put_s(o, "buying_role", r->buying_role);
    put_s(o, "account_id", a->id);
    put_s(o, "email", email);
    put_s(o, "mobile", p->mobile);
    if (rnd_chance(d, 50))
        put_s(o, "phone", fmt(d, "%s x%d", a->phone, rnd_range(d, 100, 899)));
    if (rnd_chance(d, 30))
        put_date(d, o, "birthdate",
                 rp_time_days_from_civil(rnd_range(d, 1965, 1997), (unsigned)rnd_range(d, 1, 12),
                                         (unsigned)rnd_range(d, 1, 28)));
    put_s(o, "lead_source", PICK(d, sources));
    put_s(o, "status", !head && rnd_chance(d, 6) ? "left_company" : "active");
    put_b(o, "do_not_email", rnd_chance(d, 10));
    put_b(o, "do_not_call", rnd_chance(d, 6));
    put_dt(d, o, "last_contacted_at", office_time(d, d->today - rnd_days_ago(d, 120)));
    put_s(o, "mailing_country", a->country);
    put_s(o, "mailing_province", a->province);
    put_s(o, "mailing_city", a->city);
    put_s(o, "mailing_street", a->street);
    put_s(o, "mailing_postal_code", a->postal);
    d->ncontacts++;
}

static int load_contacts(struct demo *d)
{
    struct batch *heads = batch_new(d, "contact"), *rest = batch_new(d, "contact");
    int per[N_ACCOUNTS], rc;

    /* Three contacts per account on average: 4, 2, 3, 3, 4, 2, 3, 3, ... */
    for (int i = 0; i < d->naccounts; i++)
        per[i] = i % 4 == 0 ? 4 : i % 4 == 1 ? 2 : 3;
    for (int i = 0; i < d->naccounts; i++)
        contact_row(d, batch_row(d, heads), i, true);
    if ((rc = batch_write(d, heads)) < 0)
        return rc;
    for (int i = 0; i < d->naccounts; i++)
        d->contacts[i].id = heads->ids[i];

    /* The others, some reporting to their account's head. */
    for (int i = 0; i < d->naccounts; i++) {
        for (int k = 1; k < per[i] && d->ncontacts < N_CONTACTS; k++) {
            json_t *o = batch_row(d, rest);
            contact_row(d, o, i, false);
            if (rnd_chance(d, 70))
                put_s(o, "reports_to_id", d->contacts[i].id);
        }
    }
    if ((rc = batch_write(d, rest)) < 0)
        return rc;
    for (size_t i = 0; i < rest->n; i++)
        d->contacts[(size_t)d->naccounts + i].id = rest->ids[i];
    return 0;
}

/*
 * Contacts are stored heads first (contact i is the head of account i), then
 * the others in account order: the index of an account's k-th contact.
 */
static int contact_of(struct demo *d, int account, int k)
{
    int other = 0;
    if (k == 0)
        return account;
    for (int i = d->naccounts; i < d->ncontacts; i++)
        if (d->contacts[i].account == account && ++other == k)
            return i;
    return account;
}

static int contacts_at(struct demo *d, int account)
{
    int n = 1;
    for (int i = d->naccounts; i < d->ncontacts; i++)
        n += d->contacts[i].account == account;
    return n;
}

static int random_contact(struct demo *d, int account)
{
    return contact_of(d, account, rnd_below(d, (size_t)contacts_at(d, account)));
}

/* ---- opportunities ---- */

struct stage_plan {
    const char *stage, *forecast;
    int probability, count;
};

static const struct stage_plan stage_plans[] = {
    {"prospecting", "pipeline", 10, 8},    {"qualification", "pipeline", 20, 8},
    {"needs_analysis", "pipeline", 40, 8}, {"proposal", "best_case", 60, 8},
    {"negotiation", "commit", 80, 7},      {"closed_won", "closed", 100, 12},
    {"closed_lost", "omitted", 0, 9},
};

struct opp_kind {
    const char *zh, *en, *type;
    bool seats; /* priced per seat, and the name carries the seat count */
    int unit;   /* CNY per seat; otherwise a typical deal in 10,000 CNY, scaled by 1 to 8 */
};

static const struct opp_kind opp_kinds[] = {
    {"CRM 专业版采购", "CRM Professional rollout", "new_business", true, 3980},
    {"升级 CRM 企业版", "Upgrade to CRM Enterprise", "upsell", true, 2820},
    {"私有化部署项目", "On-premise deployment", "new_business", false, 60},
    {"呼叫中心网关扩容", "Contact centre gateway expansion", "cross_sell", false, 12},
    {"数据分析套件", "Analytics add-on", "cross_sell", true, 880},
    {"年度续约", "Annual renewal", "renewal", false, 30},
    {"实施与数据迁移", "Implementation and data migration", "cross_sell", false, 18},
    {"高级支持服务", "Premium support", "upsell", false, 6},
};

static const char *const cn_next_steps[] = {"安排产品演示", "发送报价单",
                                            "技术交流会",   "商务谈判：确认折扣",
                                            "提交合同审批", "拜访信息中心主任"};
static const char *const en_next_steps[] = {"Schedule a product demo",  "Send the proposal",
                                            "Technical deep dive",      "Agree the discount",
                                            "Contract to legal review", "Meet the CIO"};
static const char *const cn_competitors[] = {"某国际 SaaS 厂商", "本地 CRM 厂商", "客户自研系统"};
static const char *const en_competitors[] = {"Global SaaS vendor", "Regional CRM vendor",
                                             "In-house build"};

static int pick_account_for(struct demo *d, bool want_customer)
{
    for (int tries = 0; tries < 20; tries++) {
        int i = rnd_below(d, (size_t)d->naccounts);
        if (!want_customer || d->accounts[i].customer)
            return i;
    }
    return rnd_below(d, (size_t)d->naccounts);
}

static int load_opportunities(struct demo *d)
{
    static const char *const lost_reasons[] = {"price",  "competitor",  "no_budget", "no_decision",
                                               "timing", "product_fit", "other"};
    struct batch *b = batch_new(d, "opportunity");
    int n = 0, rc;

    for (size_t s = 0; s < NELEMS(stage_plans); s++) {
        const struct stage_plan *sp = &stage_plans[s];
        bool closed = sp->probability == 100 || sp->probability == 0;
        for (int k = 0; k < sp->count; k++, n++) {
            /* Spread the first pass over every account, then favour customers for wins. */
            int ai =
                n < d->naccounts ? n : pick_account_for(d, strcmp(sp->stage, "closed_won") == 0);
            struct acct *a = &d->accounts[ai];
            const struct opp_kind *kind = &PICK(d, opp_kinds);
            json_t *o = batch_row(d, b);
            int seats = rnd_range(d, 2, 40) * 10;
            int64_t cny = kind->seats ? (int64_t)seats * kind->unit * rnd_range(d, 80, 100) / 100
                                      : (int64_t)kind->unit * rnd_range(d, 5, 40) * 2000;
            int64_t amount = cny * 100 / a->cny_per_100 / 100 * 100;
            int64_t close_day;

            if (a->cn)
                put_s(o, "name",
                      kind->seats ? fmt(d, "%s - %s（%d 席位）", a->short_name, kind->zh, seats)
                                  : fmt(d, "%s - %s", a->short_name, kind->zh));
            else
                put_s(o, "name",
                      kind->seats ? fmt(d, "%s – %s (%d seats)", a->short_name, kind->en, seats)
                                  : fmt(d, "%s – %s", a->short_name, kind->en));
            put_s(o, "account_id", a->id);
            put_s(o, "primary_contact_id", d->contacts[random_contact(d, ai)].id);
            put_s(o, "economic_buyer_id", d->contacts[ai].id);
            put_s(o, "stage", sp->stage);
            put_i(o, "amount", amount < 100 ? 100 : amount);
            put_s(o, "currency", a->currency);
            put_i(o, "probability", sp->probability);
            put_s(o, "forecast_category", sp->forecast);
            put_s(o, "type", kind->type);
            if (rnd_chance(d, 30)) {
                int c = rnd_below(d, (size_t)d->ncampaigns);
                if (d->campaigns[c].start <= d->today)
                    put_s(o, "campaign_id", d->campaigns[c].id);
            }
            put_s(o, "source", PICK(d, sources));
            put_b(o, "pain_confirmed", sp->probability >= 40);
            put_b(o, "budget_confirmed", sp->probability >= 60);
            if (closed) {
                close_day = d->today - rnd_days_ago(d, 540) - 2;
                put_date(d, o, "expected_close_date", close_day + rnd_range(d, -10, 20));
                put_dt(d, o, "closed_at", office_time(d, close_day));
                /* opened a sales cycle before it closed (the KPIs' cycle length) */
                put_dt(d, o, "created_at", office_time(d, close_day - rnd_range(d, 14, 160)));
            } else {
                /* A few open deals have slipped past their date, as in every real pipeline. */
                close_day = rnd_chance(d, 10) ? d->today - rnd_range(d, 1, 14)
                                              : d->today + rnd_range(d, 7, 180);
                put_date(d, o, "expected_close_date", close_day);
                put_dt(d, o, "created_at", office_time(d, d->today - rnd_range(d, 1, 120)));
                put_s(o, "next_step", a->cn ? PICK(d, cn_next_steps) : PICK(d, en_next_steps));
            }
            if (strcmp(sp->stage, "closed_lost") == 0) {
                const char *reason = PICK(d, lost_reasons);
                put_s(o, "lost_reason", reason);
                if (strcmp(reason, "competitor") == 0 || strcmp(reason, "price") == 0)
                    put_s(o, "competitor",
                          a->cn ? PICK(d, cn_competitors) : PICK(d, en_competitors));
            }
            d->opps[n].account = ai;
        }
    }
    if ((rc = batch_write(d, b)) < 0)
        return rc;
    for (size_t i = 0; i < b->n; i++)
        d->opps[i].id = b->ids[i];
    d->nopps = (int)b->n;
    return 0;
}

/* ---- leads ---- */

struct lead_plan {
    const char *status;
    int count, score_lo, score_hi;
};

static const struct lead_plan lead_plans[] = {
    {"new", 14, 0, 40},          {"working", 14, 20, 60}, {"nurturing", 10, 10, 50},
    {"mql", 12, 50, 80},         {"sql", 10, 70, 95},     {"converted", 10, 75, 100},
    {"disqualified", 10, 0, 30},
};

static const char *source_for_campaign(const char *type)
{
    static const char *const map[][2] = {{"event", "event"},
                                         {"webinar", "web"},
                                         {"email", "email"},
                                         {"content", "web"},
                                         {"advertisement", "advertisement"},
                                         {"social", "social"},
                                         {"referral", "referral"}};
    for (size_t i = 0; i < NELEMS(map); i++)
        if (strcmp(map[i][0], type) == 0)
            return map[i][1];
    return "other";
}

/*
 * Converted leads take their company and person from the account and contact
 * they became. Returns whether the account is Chinese.
 */
static bool converted_lead(struct demo *d, json_t *o, int k)
{
    int ai = (k * 7 + 3) % d->naccounts;
    const struct acct *a = &d->accounts[ai];
    const struct person *p = &d->contacts[contact_of(d, ai, contacts_at(d, ai) > 1 ? 1 : 0)];

    put_s(o, "last_name", p->last);
    put_s(o, "first_name", p->first);
    put_s(o, "company", a->name);
    put_s(o, "email", p->email);
    put_s(o, "mobile", p->mobile);
    put_s(o, "preferred_language", a->cn ? "zh" : "en");
    put_s(o, "website", fmt(d, "https://www.%s", a->domain));
    put_s(o, "country", a->country);
    put_s(o, "city", a->city);
    put_dt(d, o, "converted_at", office_time(d, d->today - rnd_days_ago(d, 500)));
    put_s(o, "converted_account_id", a->id);
    put_s(o, "converted_contact_id", p->id);
    for (int i = 0; i < d->nopps; i++) {
        if (d->opps[i].account == ai) {
            put_s(o, "converted_opportunity_id", d->opps[i].id);
            break;
        }
    }
    return a->cn;
}

static void cn_lead(struct demo *d, json_t *o, int k)
{
    struct cn_company c = cn_company(d, 100 + k, false);
    struct cn_name n = cn_person(d);

    put_s(o, "salutation", n.female ? "ms" : "mr");
    put_s(o, "last_name", n.last);
    put_s(o, "first_name", n.first);
    put_s(o, "company", c.name);
    put_s(o, "title", PICK(d, cn_roles).title);
    put_s(o, "email", fmt(d, "%s@%s", n.handle, c.domain));
    put_s(o, "mobile", cn_mobile(d));
    if (rnd_chance(d, 40))
        put_s(o, "phone", cn_landline(d, c.city));
    if (rnd_chance(d, 50))
        put_s(o, "wechat", wechat_id(d, n.handle));
    put_s(o, "industry", c.ind->value);
    put_s(o, "region", c.city->region);
    if (rnd_chance(d, 50))
        put_s(o, "uscc", make_uscc(d, c.city->code));
    put_s(o, "website", fmt(d, "https://www.%s", c.domain));
    put_i(o, "employees", rnd_range(d, 20, 3000));
    put_s(o, "country", "中国");
    put_s(o, "province", c.city->province);
    put_s(o, "city", fmt(d, "%s市", c.city->name));
    put_s(o, "street", cn_street(d));
    put_s(o, "postal_code", c.city->postal);
    put_s(o, "preferred_language", "zh");
}

static void en_lead(struct demo *d, json_t *o, int k)
{
    int country = rnd_below(d, NELEMS(countries));
    const struct country *c = &countries[country];
    size_t bi = ((size_t)k * 3) % NELEMS(en_co_b);
    const char *word = en_co_a[(size_t)k % NELEMS(en_co_a)];
    const char *company = fmt(d, "%s %s %s", word, en_co_b[bi], legal_forms[country]);
    char *domain = fmt(d, "%s%s.com", word, en_co_b[bi]);
    struct en_name n = en_person(d);

    ascii_lower(domain);
    put_s(o, "salutation", n.female ? "ms" : "mr");
    put_s(o, "last_name", n.last);
    put_s(o, "first_name", n.first);
    put_s(o, "company", company);
    put_s(o, "title", PICK(d, en_roles).title);
    put_s(o, "email", fmt(d, "%s@%s", n.handle, domain));
    put_s(o, "mobile", digits(d, c->mobile, c->mobile_digits));
    put_s(o, "industry", en_co_b_industry[bi]);
    put_s(o, "region", c->region);
    put_s(o, "website", fmt(d, "https://www.%s", domain));
    put_i(o, "employees", rnd_range(d, 10, 5000));
    put_s(o, "country", c->name);
    put_s(o, "province", c->state);
    put_s(o, "city", c->city);
    put_s(o, "preferred_language", "en");
}

/* How a lead from each source arrived, in sources[] order. */
static const char *const source_notes[][2] = {
    {"官网申请试用，希望了解报价。", "Requested a trial from the website."},
    {"老客户推荐，关注移动端与审批流程。",
     "Referred by an existing customer; interested in mobile and approvals."},
    {"展会现场扫码留资。", "Met at our booth; wants a follow-up call."},
    {"渠道伙伴报备的项目线索。", "Registered by a channel partner."},
    {"电话外呼，对方表示愿意进一步了解。", "Cold call; agreed to hear more."},
    {"搜索广告落地页留资。", "Filled in the ad landing page."},
    {"通过社交媒体私信咨询。", "Asked a question on social media."},
    {"点击了邮件中的产品介绍链接。", "Clicked the product tour in an email."},
    {"来源待核实。", "Source to be checked."},
};

_Static_assert(NELEMS(source_notes) == NELEMS(sources), "one note per lead source");

static const char *source_note(const char *source, bool english)
{
    for (size_t i = 0; i < NELEMS(sources); i++)
        if (strcmp(sources[i], source) == 0)
            return source_notes[i][english];
    return NULL;
}

static int load_leads(struct demo *d)
{
    static const char *const dq_reasons[] = {"no_budget",    "no_need",    "no_authority",
                                             "bad_timing",   "competitor", "unreachable",
                                             "invalid_info", "duplicate",  "spam"};
    struct batch *b = batch_new(d, "lead");
    int n = 0, converted = 0, rc;

    for (size_t s = 0; s < NELEMS(lead_plans); s++) {
        const struct lead_plan *lp = &lead_plans[s];
        for (int k = 0; k < lp->count; k++, n++) {
            json_t *o = batch_row(d, b);
            bool english = n % 3 == 2;
            int score = rnd_range(d, lp->score_lo, lp->score_hi);
            int campaign = -1;
            const char *source;
            int64_t touched;

            if (strcmp(lp->status, "converted") == 0)
                english = !converted_lead(d, o, converted++);
            else if (english)
                en_lead(d, o, n);
            else
                cn_lead(d, o, n);
            if (rnd_chance(d, 35)) {
                campaign = rnd_below(d, (size_t)d->ncampaigns);
                if (d->campaigns[campaign].start > d->today)
                    campaign = -1;
            }
            if (campaign >= 0)
                put_s(o, "campaign_id", d->campaigns[campaign].id);
            source =
                campaign >= 0 ? source_for_campaign(d->campaigns[campaign].type) : PICK(d, sources);
            put_s(o, "source", source);
            put_s(o, "status", lp->status);
            put_i(o, "score", score);
            put_s(o, "rating", score >= 70 ? "hot" : score >= 40 ? "warm" : "cold");
            if (strcmp(lp->status, "new") == 0) {
                /* Due within hours of arrival; a few are already overdue. */
                put_dt(d, o, "first_touch_due",
                       d->now_ms / MS_MINUTE * MS_MINUTE +
                           (rnd_chance(d, 25) ? -rnd_range(d, 1, 5) : rnd_range(d, 1, 8)) *
                               MS_HOUR);
            } else {
                touched = office_time(d, d->today - rnd_days_ago(d, 400));
                put_dt(d, o, "first_touch_due", touched + MS_HOUR);
                put_dt(d, o, "first_touched_at", touched);
            }
            if (strcmp(lp->status, "disqualified") == 0)
                put_s(o, "disqualified_reason", PICK(d, dq_reasons));
            put_b(o, "do_not_email", rnd_chance(d, 8));
            put_s(o, "description", source_note(source, english));
            d->leads[n].campaign = campaign;
            d->leads[n].status = lp->status;
        }
    }
    if ((rc = batch_write(d, b)) < 0)
        return rc;
    for (size_t i = 0; i < b->n; i++)
        d->leads[i].id = b->ids[i];
    d->nleads = (int)b->n;
    return 0;
}

/* ---- campaign members ---- */

static const char *member_status(struct demo *d, const char *type)
{
    static const char *const event[] = {"registered", "attended", "attended", "no_show"};
    static const char *const email[] = {"sent", "responded", "responded", "bounced",
                                        "unsubscribed"};
    static const char *const other[] = {"sent", "responded"};
    if (strcmp(type, "event") == 0 || strcmp(type, "webinar") == 0)
        return PICK(d, event);
    if (strcmp(type, "email") == 0)
        return PICK(d, email);
    return PICK(d, other);
}

static void member_row(struct demo *d, json_t *o, int campaign)
{
    const struct campaign *c = &d->campaigns[campaign];
    const char *status = member_status(d, c->type);
    int64_t span = d->today - c->start, day;

    put_s(o, "campaign_id", c->id);
    put_s(o, "status", status);
    if (strcmp(status, "responded") != 0 && strcmp(status, "attended") != 0 &&
        strcmp(status, "registered") != 0)
        return;
    /* Registration comes before the start, attendance on it, other responses within a month. */
    if (strcmp(status, "registered") == 0)
        day = c->start - rnd_range(d, 1, 14);
    else if (strcmp(status, "attended") == 0)
        day = c->start;
    else
        day = c->start + rnd_below(d, (size_t)(span < 1 ? 1 : span > 30 ? 30 : span));
    put_dt(d, o, "first_responded_at", office_time(d, day < d->today ? day : d->today - 1));
}

static int load_members(struct demo *d)
{
    struct batch *b = batch_new(d, "campaign_member");
    for (int i = 0; i < d->nleads; i++) {
        json_t *o;
        if (d->leads[i].campaign < 0)
            continue;
        o = batch_row(d, b);
        member_row(d, o, d->leads[i].campaign);
        put_s(o, "lead_id", d->leads[i].id);
    }
    /* Customers at the first event (a summit held more than a year ago). */
    for (int i = 0; i < N_EVENT_GUESTS && i < d->ncontacts; i++) {
        json_t *o = batch_row(d, b);
        member_row(d, o, 0);
        put_s(o, "contact_id", d->contacts[(i * 11) % d->ncontacts].id);
    }
    return batch_write(d, b);
}

/* ---- cases ---- */

struct case_topic {
    const char *type, *zh, *en, *root_cause;
    const char *fix_zh, *fix_en; /* the resolution */
};

static const struct case_topic case_topics[] = {
    {"problem", "登录后首页加载缓慢", "Home page slow to load after sign-in", "infrastructure",
     "扩容数据库节点后页面加载恢复正常。",
     "Page loads are back to normal after adding a database node."},
    {"problem", "批量导入失败：日期字段格式错误", "Bulk import fails on date format", "user_error",
     "指导客户将日期改为 YYYY-MM-DD 格式后导入成功。",
     "Import succeeded once the dates were changed to YYYY-MM-DD."},
    {"problem", "移动端无法同步联系人", "Mobile app does not sync contacts", "product_defect",
     "已发布补丁修复，客户确认同步正常。", "Fixed in a patch release; the customer confirmed."},
    {"incident", "生产环境无法访问", "Production instance unreachable", "infrastructure",
     "机房网络故障已排除，服务恢复。", "Data-centre network fault cleared; service restored."},
    {"incident", "邮件通知发送延迟", "Email notifications delayed", "third_party",
     "邮件服务商队列积压已清空，通知恢复及时发送。",
     "The mail provider cleared its backlog; notifications are on time again."},
    {"question", "如何配置折扣审批流程", "How to set up discount approvals", "documentation",
     "已提供操作指引并更新知识库文章。", "Shared the how-to and updated the knowledge base."},
    {"question", "如何按区域导出客户数据", "How to export accounts by region", "documentation",
     "已远程演示按区域筛选后导出。",
     "Walked the customer through filtering by region and exporting."},
    {"feature_request", "希望支持企业微信单点登录", "Single sign-on with Microsoft Entra ID",
     "feature_gap", "需求已录入产品路线图，上线后通知客户。",
     "Added to the roadmap; the customer will be told when it ships."},
    {"feature_request", "报表增加按行业筛选", "Filter reports by industry", "feature_gap",
     "告知客户可通过自定义报表筛选条件实现。",
     "Explained how to add the filter in a custom report."},
    {"billing", "发票抬头需要更正", "Invoice shows the wrong legal entity", "billing",
     "财务已作废原发票并重新开具。", "Finance voided the invoice and issued a corrected one."},
    {"complaint", "实施顾问响应不及时", "Slow response from the implementation team",
     "configuration", "已更换项目经理并约定每周例会。",
     "Assigned a new project manager and set up a weekly call."},
    {"return", "呼叫中心网关故障申请换货", "Call gateway faulty, replacement requested",
     "product_defect", "已寄出替换设备，旧设备返厂检测。",
     "Replacement shipped; the faulty unit is back for analysis."},
};

struct case_status_plan {
    const char *status;
    int count;
};

static const struct case_status_plan case_status_plans[] = {
    {"new", 4},       {"open", 6},     {"pending_customer", 4},
    {"escalated", 3}, {"resolved", 6}, {"closed", 7},
};

/* SLA targets by priority p1..p4: first response and resolution, in hours. */
static const int sla_response_h[] = {1, 4, 8, 24};
static const int sla_resolution_h[] = {4, 24, 72, 168};

/* The SLA fields of a case, placed around an opening time; none lies in the future. */
static void case_times(struct demo *d, json_t *o, const char *status, int prio)
{
    bool is_new = strcmp(status, "new") == 0, closed = strcmp(status, "closed") == 0;
    bool done = closed || strcmp(status, "resolved") == 0;
    int64_t now = d->now_ms / MS_MINUTE * MS_MINUTE, latest = now - 10 * MS_MINUTE;
    int64_t response = sla_response_h[prio] * MS_HOUR,
            resolution = sla_resolution_h[prio] * MS_HOUR;
    /* Open cases are younger than one and a half resolution targets, so some have breached. */
    int64_t age = is_new ? rnd_range(d, 10, 360) * MS_MINUTE
                  : done ? rnd_range(d, 48, closed ? 9000 : 1200) * MS_HOUR
                         : rnd_range(d, 30, sla_resolution_h[prio] * 90) * MS_MINUTE;
    int64_t opened = now - age, responded = 0, resolved, t;
    bool breached = is_new && opened + response < now;

    put_dt(d, o, "first_response_due", opened + response);
    put_dt(d, o, "resolution_due", opened + resolution);
    if (!is_new) {
        /* Most first responses land well inside the target; about one in eight is late. */
        responded = opened + response * (rnd_chance(d, 12) ? 150 : 20) / 100;
        responded = responded < latest ? responded : latest;
        put_dt(d, o, "first_responded_at", responded);
        breached = responded > opened + response;
    }
    if (done) {
        resolved = opened + resolution * rnd_range(d, 20, 120) / 100;
        resolved = resolved > responded + 30 * MS_MINUTE ? resolved : responded + 30 * MS_MINUTE;
        resolved = resolved < latest ? resolved : latest;
        put_dt(d, o, "resolved_at", resolved);
        breached = breached || resolved > opened + resolution;
        if (closed) {
            t = resolved + rnd_range(d, 1, 7) * RP_MS_PER_DAY;
            put_dt(d, o, "closed_at", t < latest ? t : resolved + (latest - resolved) / 2);
        }
    } else {
        breached = breached || opened + resolution < now;
    }
    if (strcmp(status, "escalated") == 0) {
        t = opened + 2 * response;
        put_b(o, "escalated", true);
        put_dt(d, o, "escalated_at", t < latest ? t : latest);
    }
    put_b(o, "sla_breached", breached);
}

static int load_cases(struct demo *d)
{
    static const char *const channels[] = {"email",  "phone",  "web",    "chat",
                                           "wechat", "social", "walk_in"};
    static const int channel_weights[] = {30, 25, 15, 10, 12, 4, 4};
    static const int priority_weights[] = {10, 25, 45, 20};
    struct batch *b = batch_new(d, "case");
    int n = 0;

    for (size_t s = 0; s < NELEMS(case_status_plans); s++) {
        const char *status = case_status_plans[s].status;
        bool done = strcmp(status, "resolved") == 0 || strcmp(status, "closed") == 0;
        for (int k = 0; k < case_status_plans[s].count; k++, n++) {
            json_t *o = batch_row(d, b);
            int ai = pick_account_for(d, true);
            const struct acct *a = &d->accounts[ai];
            const struct case_topic *t = &PICK(d, case_topics);
            const char *channel =
                channels[rnd_weighted(d, channel_weights, NELEMS(channel_weights))];
            int prio = rnd_weighted(d, priority_weights, NELEMS(priority_weights));

            put_s(o, "subject", a->cn ? t->zh : t->en);
            put_s(o, "description",
                  a->cn ? fmt(d, "客户反馈：%s。请尽快排查并回复。", t->zh)
                        : fmt(d, "Customer reports: %s. Please investigate and reply.", t->en));
            put_s(o, "account_id", a->id);
            if (strcmp(channel, "web") == 0 && rnd_chance(d, 60)) {
                /* Web forms come from people who are not contacts yet. */
                if (a->cn) {
                    struct cn_name p = cn_person(d);
                    put_s(o, "supplied_name", fmt(d, "%s%s", p.last, p.first));
                    put_s(o, "supplied_email", fmt(d, "%s@%s", p.handle, a->domain));
                    put_s(o, "supplied_phone", cn_mobile(d));
                } else {
                    struct en_name p = en_person(d);
                    put_s(o, "supplied_name", fmt(d, "%s %s", p.first, p.last));
                    put_s(o, "supplied_email", fmt(d, "%s@%s", p.handle, a->domain));
                }
            } else {
                put_s(o, "contact_id", d->contacts[random_contact(d, ai)].id);
            }
            if (rnd_chance(d, 60))
                put_s(o, "product_id", d->product_ids[rnd_below(d, (size_t)d->nproducts)]);
            put_s(o, "channel", channel);
            put_s(o, "priority", fmt(d, "p%d", prio + 1));
            put_s(o, "status", status);
            put_s(o, "type", t->type);
            case_times(d, o, status, prio);
            if (done) {
                put_s(o, "root_cause", t->root_cause);
                put_s(o, "resolution", a->cn ? t->fix_zh : t->fix_en);
                put_b(o, "first_contact_resolution",
                      (strcmp(channel, "phone") == 0 || strcmp(channel, "chat") == 0) &&
                          rnd_chance(d, 60));
                if (rnd_chance(d, 15))
                    put_i(o, "reopen_count", 1);
            }
            if (strcmp(status, "closed") == 0 && rnd_chance(d, 80)) {
                static const int csat_weights[] = {3, 5, 12, 40, 40};
                put_i(o, "csat", rnd_weighted(d, csat_weights, NELEMS(csat_weights)) + 1);
            }
        }
    }
    return batch_write(d, b);
}

/* ---- activities ---- */

struct activity_kind {
    const char *type;
    const char *zh[5], *en[5];
};

static const struct activity_kind activity_kinds[] = {
    {"call",
     {"首次电话沟通需求", "跟进报价反馈", "确认演示时间", "续约意向电话", "回访使用情况"},
     {"Discovery call", "Follow-up on the proposal", "Confirm the demo slot", "Renewal check-in",
      "Quarterly check-in"}},
    {"email",
     {"发送产品资料", "报价单及方案说明", "会议纪要", "合同条款确认", "培训安排通知"},
     {"Product overview and pricing", "Proposal and statement of work", "Meeting notes",
      "Contract redlines", "Training schedule"}},
    {"meeting",
     {"产品演示会", "需求调研会", "商务谈判", "项目启动会", "季度业务回顾"},
     {"Product demo", "Requirements workshop", "Commercial negotiation", "Project kick-off",
      "Quarterly business review"}},
    {"task",
     {"准备技术方案", "提交折扣审批", "更新客户组织架构", "寄送合同原件", "安排上门培训"},
     {"Prepare the solution design", "Submit the discount approval", "Update the org chart",
      "Send the countersigned contract", "Book onsite training"}},
    {"note",
     {"客户关注数据安全与私有化部署", "竞品报价低 15%，需突出实施能力", "采购流程需要三家比价",
      "预算已批复，预计下季度签约", "客户对移动端体验评价很好"},
     {"Security review and data residency are the main concerns",
      "Competitor is 15% cheaper; stress implementation quality", "Procurement needs three quotes",
      "Budget approved; signing expected next quarter",
      "Very positive feedback on the mobile app"}},
    {"visit",
     {"上门拜访", "工厂参观与需求调研", "拜访信息中心", "年度回访", "现场培训"},
     {"On-site visit", "Plant tour and discovery", "Visit to the IT department", "Annual visit",
      "On-site training"}},
    {"chat",
     {"微信沟通试用问题", "微信确认会议议程", "在线答疑", "微信发送报价", "沟通上线时间"},
     {"Chat about the trial", "Agenda confirmed over chat", "Live Q&A", "Quote sent over chat",
      "Go-live date discussed"}},
};

static const int activity_weights[] = {25, 25, 15, 15, 10, 5, 5};

static void activity_details(struct demo *d, json_t *o, const char *type, bool cn, bool done)
{
    static const char *const outcomes[] = {"connected",  "no_answer",      "left_message",
                                           "interested", "meeting_booked", "follow_up"};
    static const char *const cn_places[] = {"客户会议室", "腾讯会议", "公司总部 3 楼会议室"};
    static const char *const en_places[] = {"Customer office", "Zoom", "Microsoft Teams"};

    if (strcmp(type, "call") == 0) {
        put_s(o, "direction", rnd_chance(d, 75) ? "outbound" : "inbound");
        if (done) {
            put_i(o, "duration_minutes", rnd_range(d, 2, 45));
            put_s(o, "outcome", PICK(d, outcomes));
        }
    } else if (strcmp(type, "email") == 0 || strcmp(type, "chat") == 0) {
        put_s(o, "direction", rnd_chance(d, 60) ? "outbound" : "inbound");
    } else if (strcmp(type, "meeting") == 0 || strcmp(type, "visit") == 0) {
        put_i(o, "duration_minutes", rnd_range(d, 2, 8) * 15);
        put_s(o, "location", cn ? PICK(d, cn_places) : PICK(d, en_places));
        if (strcmp(type, "visit") == 0)
            put_s(o, "direction", "outbound");
    }
}

static int load_activities(struct demo *d)
{
    static const char *const priorities[] = {"high", "normal", "normal", "low"};
    struct batch *b = batch_new(d, "activity");

    for (int i = 0; i < N_ACTIVITIES; i++) {
        bool on_lead = i % 10 == 9; /* one in ten is a first call or email to a lead */
        const struct activity_kind *kind =
            on_lead ? &activity_kinds[rnd_below(d, 2)]
                    : &activity_kinds[rnd_weighted(d, activity_weights, NELEMS(activity_weights))];
        json_t *o = batch_row(d, b);
        bool note = strcmp(kind->type, "note") == 0; /* notes record the past */
        bool future = !note && rnd_chance(d, 25);
        bool cn;
        int64_t day, at;
        const char *status;
        int subject = on_lead ? 0 : rnd_below(d, 5);

        if (on_lead) {
            int li = rnd_below(d, (size_t)d->nleads);
            while (strcmp(d->leads[li].status, "new") == 0 ||
                   strcmp(d->leads[li].status, "converted") == 0 ||
                   strcmp(d->leads[li].status, "disqualified") == 0)
                li = (li + 1) % d->nleads;
            cn = li % 3 != 2;
            put_s(o, "lead_id", d->leads[li].id);
        } else {
            int ai = rnd_below(d, (size_t)d->naccounts);
            cn = d->accounts[ai].cn;
            put_s(o, "account_id", d->accounts[ai].id);
            put_s(o, "contact_id", d->contacts[random_contact(d, ai)].id);
            if (rnd_chance(d, 40)) {
                for (int k = 0; k < d->nopps; k++) {
                    if (d->opps[k].account == ai) {
                        put_s(o, "related_object", "opportunity");
                        put_s(o, "related_id", d->opps[k].id);
                        break;
                    }
                }
            }
        }
        day = future ? d->today + rnd_range(d, 1, 45) : d->today - rnd_days_ago(d, 540);
        at = office_time(d, day);
        if (future)
            status = "planned";
        else if (strcmp(kind->type, "task") == 0 && rnd_chance(d, 25))
            status = "planned"; /* overdue */
        else
            status = !note && rnd_chance(d, 8) ? "cancelled" : "completed";
        put_s(o, "type", kind->type);
        put_s(o, "subject", cn ? kind->zh[subject] : kind->en[subject]);
        put_s(o, "status", status);
        put_s(o, "priority", PICK(d, priorities));
        if (!note)
            put_dt(d, o, "due_at", at);
        if (strcmp(status, "completed") == 0)
            put_dt(d, o, "completed_at", at + rnd_range(d, 0, 6) * 5 * MS_MINUTE);
        if (note)
            put_s(o, "body", cn ? kind->zh[subject] : kind->en[subject]);
        activity_details(d, o, kind->type, cn, strcmp(status, "completed") == 0);
    }
    return batch_write(d, b);
}

/* ---- entry point ---- */

/*
 * The configuration of the lead-to-order loop, as an administrator would give it: a pipeline
 * with stage gates, a lead scoring model (the demo leads are scored at once), the website's
 * capture form and the rule that moves orders on the warehouse's shipment events. Loaded after
 * the records, so the demo data was not judged by it; it applies to what happens next.
 */
static const struct {
    const char *kind, *name, *definition;
} demo_definitions[] = {
    {"pipelines", "sales",
     "{\"object\": \"opportunity\", \"field\": \"stage\", \"stages\": ["
     "{\"value\": \"prospecting\", \"probability\": 10, \"forecast_category\": \"pipeline\"},"
     "{\"value\": \"qualification\", \"probability\": 20, \"forecast_category\": \"pipeline\"},"
     "{\"value\": \"needs_analysis\", \"probability\": 35, \"forecast_category\": \"pipeline\"},"
     "{\"value\": \"proposal\", \"probability\": 50, \"forecast_category\": \"best_case\","
     " \"entry_criteria\": [{\"condition\": \"pain_confirmed = true\", \"message\": \"Confirm the"
     " customer's pain before a proposal / 提交方案前请确认客户痛点\"}]},"
     "{\"value\": \"negotiation\", \"probability\": 75, \"forecast_category\": \"commit\","
     " \"entry_criteria\": [{\"condition\": \"budget_confirmed = true\", \"message\": \"Confirm"
     " the budget before negotiating / 谈判前请确认预算\"}, {\"condition\": \"amount is not null\","
     " \"message\": \"Give the amount / 请填写金额\"}]},"
     "{\"value\": \"closed_won\", \"probability\": 100, \"forecast_category\": \"closed\","
     " \"won\": true},"
     "{\"value\": \"closed_lost\", \"probability\": 0, \"forecast_category\": \"omitted\","
     " \"lost\": true}]}"},
    {"scoring-models", "lead_fit",
     "{\"object\": \"lead\", \"field\": \"score\", \"max\": 100, \"rules\": ["
     "{\"name\": \"sizeable company\", \"category\": \"profile\", \"condition\":"
     " \"employees >= 200\", \"points\": 20},"
     "{\"name\": \"decision maker\", \"category\": \"profile\", \"condition\": \"title contains"
     " '总' or title contains '经理' or title contains 'Director' or title contains 'Manager' or"
     " title contains 'Head'\", \"points\": 20},"
     "{\"name\": \"referred\", \"category\": \"channel\", \"condition\": \"source in"
     " ('referral', 'partner')\", \"points\": 15},"
     "{\"name\": \"met at an event\", \"category\": \"channel\", \"condition\": \"source ="
     " 'event'\", \"points\": 10},"
     "{\"name\": \"opened an e-mail\", \"category\": \"behaviour\", \"touchpoint\": \"opened\","
     " \"points\": 3, \"decay_days\": 30, \"max_points\": 15},"
     "{\"name\": \"clicked through\", \"category\": \"behaviour\", \"touchpoint\": \"clicked\","
     " \"points\": 8, \"decay_days\": 30, \"max_points\": 24},"
     "{\"name\": \"filled in a form\", \"category\": \"behaviour\", \"touchpoint\":"
     " \"form_submit\", \"points\": 15, \"decay_days\": 60, \"max_points\": 30}]}"},
    {"capture-forms", "website",
     "{\"fields\": [\"first_name\", \"last_name\", \"email\", \"company\", \"title\","
     " \"phone\"], \"required\": [\"last_name\", \"email\"], \"values\": {\"source\": \"web\"},"
     " \"honeypot\": \"website_url\", \"consent\": {\"field\": \"newsletter\", \"channel\":"
     " \"email\", \"purpose\": \"marketing\"}}"},
};

static const char demo_shipment_rule[] =
    "{\"object\": \"order\", \"trigger\": {\"on\": \"event\", \"type\": \"shipment.updated\"},"
    " \"description\": \"The warehouse's shipment events move orders\", \"actions\":"
    " [{\"type\": \"set_fields\", \"values\": {\"status\": {\"event\": \"status\"},"
    " \"carrier\": {\"event\": \"carrier\"}, \"tracking_number\": {\"event\":"
    " \"tracking_number\"}}}]}";

static int load_configuration(struct demo *d)
{
    size_t scored = 0;
    json_t *def;
    int rc = 0;

    for (size_t i = 0; i < NELEMS(demo_definitions) && rc == 0; i++) {
        def = rp_json_loads(demo_definitions[i].definition, 0, NULL);
        rc = def ? rp_records_definition_put(d->app->records, &d->app->system,
                                             demo_definitions[i].kind, demo_definitions[i].name,
                                             def, NULL, d->err)
                 : rp_error_set(d->err, RP_EINTERNAL, "demo definition %s is not JSON",
                                demo_definitions[i].name);
        json_decref(def);
    }
    if (rc == 0) {
        def = rp_json_loads(demo_shipment_rule, 0, NULL);
        rc = rp_automation_rule_put(d->app->automation, &d->app->system, "shipments", def, NULL,
                                    d->err);
        json_decref(def);
    }
    if (rc == 0)
        rc = rp_sales_score_recompute(d->app->sales, "lead_fit", &scored, d->err);
    return rc;
}

static int has_accounts(struct demo *d, bool *yes)
{
    struct rp_list_query lq = {.limit = 1};
    struct rp_buf out;
    json_error_t jerr;
    json_t *root;
    int rc;

    rp_buf_init(&out, d->arena, RP_LIMIT_RESPONSE_BYTES);
    rc = rp_records_list(d->app->records, &d->app->system, "account", &lq, d->arena, &out, d->err);
    if (rc < 0)
        return rc;
    root = rp_json_loadb(out.data, out.len, 0, &jerr);
    if (!root)
        return rp_error_set(d->err, RP_EINTERNAL, "could not read the account list: %s", jerr.text);
    *yes = json_array_size(json_object_get(root, "data")) > 0;
    json_decref(root);
    return 0;
}

int rp_app_load_demo(struct rp_app *app, struct rp_error *err)
{
    struct rp_arena arena;
    struct demo *d;
    bool exists = false;
    int rc;

    rp_arena_init(&arena);
    d = rp_arena_calloc(&arena, 1, sizeof(*d));
    d->app = app;
    d->arena = &arena;
    d->err = err;
    d->rng = DEMO_SEED;
    d->now_ms = rp_clock_now_ms(&app->clock);
    d->today = rp_time_day_of(d->now_ms);

    if ((rc = has_accounts(d, &exists)) < 0 || exists)
        goto out;
    if ((rc = load_campaigns(d)) < 0 || (rc = load_products(d)) < 0 ||
        (rc = load_accounts(d)) < 0 || (rc = load_contacts(d)) < 0 ||
        (rc = load_opportunities(d)) < 0 || (rc = load_leads(d)) < 0 ||
        (rc = load_members(d)) < 0 || (rc = load_cases(d)) < 0 || (rc = load_activities(d)) < 0 ||
        (rc = load_quotes(d)) < 0 || (rc = load_configuration(d)) < 0)
        goto out;
    rc = d->created;
out:
    rp_arena_release(&arena);
    return rc;
}
