//! Unsolicited mail and chat from strangers: cold pitches (a seller introducing itself with an
//! offer: freight forwarders, SEO and marketing agencies, "factory direct", lead lists),
//! investment and prize spam, surveys and recruiters. Judged only for senders who are neither
//! customers nor in a customer's group, so a customer's own words are never discarded; a
//! stranger who asks about *our* products (price, catalogue, sample, MOQ) is a buyer and stays
//! human, which is how a lead is born.
//!
//! Pure and linear: the folded opening of the text (3,000 characters) is searched once by one
//! automaton holding every phrase list.

use std::sync::OnceLock;

use crate::normalize::text::{fold_str, is_word_char};

/// What kind of unsolicited message this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsolicited {
    /// A seller introducing itself with an offer.
    ColdPitch,
    /// Investment, crypto, prize, part-time "tasks".
    Scam,
    /// A survey or questionnaire.
    Survey,
    /// A recruiter or job offer.
    Recruiter,
}

/// How much of a text is read: pitches say what they are at the start.
const OPENING_CHARS: usize = 3000;

/// A seller describing itself.
const SELF_INTRO: &[&str] = &[
    // English
    "we are a",
    "we are an",
    "we are the",
    "we are one of",
    "we're a",
    "we are leading",
    "we are professional",
    "we are manufacturer",
    "we are factory",
    "we are freight",
    "we are supplier",
    "this is",
    "my name is",
    "i am",
    "i'm",
    "our company",
    "our factory",
    "our agency",
    "our team",
    "we specialize",
    "we specialise",
    "specialized in",
    "specialised in",
    "specializing in",
    "years of experience",
    "years experience",
    "we help",
    "we work with",
    "we have helped",
    // Chinese
    "我们是",
    "我司",
    "本公司",
    "我公司",
    "我们公司",
    "我们专业",
    "专业生产",
    "专业从事",
    "我们工厂",
    "本厂",
    "我是",
    // Spanish, Portuguese, Italian
    "somos",
    "nuestra empresa",
    "nos especializamos",
    "empresa especializada",
    "nossa empresa",
    "especializada em",
    "siamo",
    "la nostra azienda",
    "mi nombre es",
    "meu nome e",
    // French, German
    "nous sommes",
    "notre societe",
    "notre entreprise",
    "specialisee dans",
    "wir sind",
    "unser unternehmen",
    "unsere firma",
    "spezialisiert auf",
    "je m'appelle",
    // Russian, Turkish, Arabic, Japanese
    "мы —",
    "мы -",
    "мы являемся",
    "наша компания",
    "компания «",
    "специализируется",
    "firmamız",
    "şirketimiz",
    "firmamiz",
    "sirketimiz",
    "biz ",
    "نحن شركة",
    "شركتنا",
    "نحن ",
    "弊社は",
    "当社は",
    "私どもは",
    "と申します",
];

/// What a seller offers.
const OFFER: &[&str] = &[
    // English
    "we offer",
    "we provide",
    "we can provide",
    "we can offer",
    "we can help",
    "our services",
    "our service",
    "best price",
    "best prices",
    "lowest price",
    "special price",
    "special offer",
    "discount",
    "free quotation",
    "free quote",
    "free samples",
    "free sample",
    "free audit",
    "free trial",
    "door to door",
    "oem",
    "odm",
    "welcome to contact",
    "contact us",
    "feel free to contact",
    "reply to this",
    "reply with",
    "reply yes",
    "whatsapp me",
    "add me",
    "click here",
    "book a call",
    "schedule a call",
    "a quick call",
    "we guarantee",
    "guaranteed",
    "limited time",
    "this week only",
    "only today",
    "welcome",
    "cheap",
    "competitive price",
    "per month",
    "no upfront",
    // Chinese
    "提供",
    "特价",
    "优惠",
    "价格最低",
    "全网最低",
    "免费",
    "欢迎咨询",
    "欢迎合作",
    "欢迎来电",
    "欢迎联系",
    "可以联系",
    "有需要",
    "期待合作",
    "代工",
    "承接",
    "包税",
    "双清",
    "门到门",
    "加微信",
    "加我",
    "联系我",
    "保证",
    "低价",
    // Spanish, Portuguese, Italian
    "ofrecemos",
    "brindamos",
    "mejor precio",
    "precios competitivos",
    "contactenos",
    "no dude en",
    "oferecemos",
    "melhor preco",
    "entre em contato",
    "offriamo",
    // French, German
    "nous proposons",
    "nous offrons",
    "meilleur prix",
    "contactez-nous",
    "n'hesitez pas",
    "wir bieten",
    "bester preis",
    "besten preise",
    "kontaktieren sie uns",
    // Russian, Turkish, Arabic, Japanese
    "предлагаем",
    "лучшие цены",
    "лучшая цена",
    "выгодные цены",
    "под ключ",
    "свяжитесь",
    "sunuyoruz",
    "en uygun fiyat",
    "teklif icin",
    "hizmet",
    "نقدم",
    "أفضل الأسعار",
    "تواصل معنا",
    "ご提供",
    "ご案内",
    "お問い合わせください",
    "格安",
    "注册",
    "免费试用",
    "sign up",
    "register now",
];

/// The trades whose pitches reach sales inboxes.
const TRADE: &[&str] = &[
    // freight and logistics
    "freight forwarder",
    "forwarder",
    "forwarding",
    "logistics",
    "shipping agent",
    "sea freight",
    "air freight",
    "货代",
    "物流公司",
    "国际物流",
    "海运",
    "空运",
    "lojistik",
    "kargo",
    "логистик",
    "грузоперевоз",
    "доставка грузов",
    "transitario",
    "agente de carga",
    "spedition",
    "transitaire",
    // marketing, websites, leads
    "seo",
    "google ranking",
    "rank above",
    "page 1",
    "first page",
    "website",
    "web design",
    "digital marketing",
    "marketing agency",
    "lead generation",
    "leads",
    "buyer list",
    "buyers list",
    "buyer database",
    "importers list",
    "email list",
    "推广",
    "网站",
    "询盘",
    "客户名单",
    "sitio web",
    "pagina web",
    "site internet",
    "webseite",
    "сайт",
    "продвижение",
    // sellers of goods
    "factory",
    "manufacturer",
    "manufacturing",
    "supplier",
    "工厂",
    "厂家",
    "生产",
    "制造商",
    "供应商",
    "fabricante",
    "fabrica",
    "fabricant",
    "hersteller",
    "производител",
    "завод",
    "uretici",
    "fabrika",
    "مصنع",
    "メーカー",
    "工場",
    // packaging, printing, finance
    "packaging",
    "包装",
    "printing",
    "印刷",
    "loan",
    "funding",
    "贷款",
    "采购商",
    "开发客户",
    "客户开发",
    "外贸软件",
    "获客",
    "邮箱搜索",
    "lead list",
    "buyer emails",
];

/// Investment, crypto, prize and task scams: enough on their own from a stranger.
const SCAM: &[&str] = &[
    "guaranteed return",
    "guaranteed profit",
    "daily profit",
    "daily income",
    "passive income",
    "crypto",
    "bitcoin",
    "usdt",
    "forex",
    "trading signal",
    "investment plan",
    "investment opportunity",
    "high returns",
    "you have won",
    "you've won",
    "you won",
    "congratulations! you",
    "lottery",
    "claim your",
    "prize",
    "part-time job",
    "part time job",
    "work from home",
    "earn $",
    "earn up to",
    "on hold at customs",
    "customs fee",
    "to release your",
    "release your parcel",
    "release your shipment",
    "open the attached",
    "view the attached",
    "shared a document",
    "view document",
    "verify your",
    "投资",
    "理财",
    "高收益",
    "回报率",
    "日赚",
    "中奖",
    "恭喜您",
    "炒股",
    "股票群",
    "加群",
    "返利",
    "兼职",
    "刷单",
    "inversion garantizada",
    "ganancias diarias",
    "investimento",
    "lucro diario",
    "инвестиц",
    "заработок",
    "доход от",
    "выигрыш",
    "yatırım",
    "kazanç",
    "استثمار",
    "أرباح",
    "投資",
    "副業",
    "当選",
    "your payment is pending",
    "payment is pending",
    "check the attached invoice",
    "view the attached invoice",
    "open the attached invoice",
];

/// Surveys and questionnaires.
const SURVEY: &[&str] = &[
    "survey",
    "questionnaire",
    "research project",
    "my thesis",
    "dissertation",
    "take part in",
    "participate in",
    "问卷",
    "调查",
    "encuesta",
    "cuestionario",
    "pesquisa",
    "questionario",
    "enquete",
    "umfrage",
    "fragebogen",
    "опрос",
    "анкет",
    "anket",
    "استبيان",
    "アンケート",
];

/// Recruiters.
const RECRUITER: &[&str] = &[
    "we are hiring",
    "job opportunity",
    "job offer",
    "your resume",
    "your cv",
    "candidate",
    "headhunt",
    "recruit",
    "招聘",
    "猎头",
    "简历",
    "求职",
    "oferta de empleo",
    "vacante",
    "vaga de emprego",
    "stellenangebot",
    "вакансия",
    "is ilani",
    "iş ilanı",
    "وظيفة",
    "求人",
];

/// A stranger asking about what we sell: a buyer, whatever else the text says.
const BUYER: &[&str] = &[
    // English
    "your price",
    "your prices",
    "your product",
    "your products",
    "your catalog",
    "your catalogue",
    "price list",
    "pricelist",
    "please quote",
    "quote us",
    "quote me",
    "send us your",
    "send me your",
    "interested in your",
    "we need",
    "we would like to order",
    "we want to buy",
    "we would like to buy",
    "samples of your",
    "sample of your",
    "how much",
    "do you have",
    "can you supply",
    "can you make",
    "can you produce",
    "looking for",
    "your best price",
    "what's your",
    "what is your",
    "your moq",
    "the moq",
    "moq for",
    "your minimum order",
    // Chinese
    "贵司的产品",
    "贵公司的产品",
    "贵司产品",
    "你们的产品",
    "你们产品",
    "询价",
    "价格表",
    "目录",
    "起订量",
    "我们需要",
    "想采购",
    "要采购",
    "多少钱",
    "能否报价",
    "请报价",
    "有没有",
    // Spanish, Portuguese, Italian
    "sus productos",
    "su catalogo",
    "lista de precios",
    "estamos interesados",
    "estamos buscando",
    "necesitamos",
    "cotizacion de",
    "seus produtos",
    "catalogo de",
    "estamos procurando",
    "precisamos",
    "cotacao",
    "i vostri prodotti",
    "listino",
    // French, German
    "vos produits",
    "votre catalogue",
    "nous recherchons",
    "nous cherchons",
    "votre prix",
    "vos prix",
    "ihre produkte",
    "ihren katalog",
    "preisliste",
    "wir suchen",
    "wir benotigen",
    "ihr angebot fur",
    // Russian, Turkish, Arabic, Japanese
    "ваш каталог",
    "вашу продукцию",
    "ваши цены",
    "прайс",
    "ищем",
    "нам нужн",
    "интересует",
    "ürünleriniz",
    "urunleriniz",
    "katalog",
    "fiyat listesi",
    "منتجاتكم",
    "عرض سعر",
    "قائمة الأسعار",
    "نبحث عن",
    "御社の製品",
    "見積",
    "カタログ",
    "对贵司",
    "贵司的",
    "贵公司的",
    "请提供",
    "型录",
    "规格书",
    "多少折扣",
    "给多少",
    "报价单",
];

/// The phrase lists, in the order of their counters.
const LISTS: [&[&str]; 7] = [SELF_INTRO, OFFER, TRADE, SCAM, SURVEY, RECRUITER, BUYER];
const INTRO: usize = 0;
const OFFERS: usize = 1;
const TRADES: usize = 2;
const SCAMS: usize = 3;
const SURVEYS: usize = 4;
const RECRUITERS: usize = 5;
const BUYERS: usize = 6;

/// Every phrase of every list (folded) in one automaton, with per phrase its list and its
/// word-boundary needs (a phrase that starts or ends with a letter or digit of a spaced
/// script must not be glued to a word).
struct Phrases {
    automaton: aho_corasick::AhoCorasick,
    /// Per pattern: (list, phrase index in the list, bound before, bound after).
    info: Vec<(usize, usize, bool, bool)>,
}

fn phrases() -> &'static Phrases {
    static PHRASES: OnceLock<Phrases> = OnceLock::new();
    PHRASES.get_or_init(|| {
        let spaced = |c: char| is_word_char(c) && !crate::normalize::text::is_cjk(c);
        let mut literals = Vec::new();
        let mut info = Vec::new();
        for (list, phrases) in LISTS.iter().enumerate() {
            for (i, p) in phrases.iter().enumerate() {
                let folded = fold_str(p);
                let first = folded.chars().next().unwrap_or(' ');
                let last = folded.chars().last().unwrap_or(' ');
                info.push((list, i, spaced(first), spaced(last)));
                literals.push(folded);
            }
        }
        let automaton = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            .build(&literals)
            .expect("the unsolicited-mail phrases build an automaton");
        Phrases { automaton, info }
    })
}

/// How many distinct phrases of each list stand in `text` (one pass).
fn counts(text: &str) -> [usize; 7] {
    let phrases = phrases();
    let mut seen: Vec<(usize, usize)> = Vec::new();
    for m in phrases.automaton.find_overlapping_iter(text) {
        let (list, i, bound_before, bound_after) = phrases.info[m.pattern().as_usize()];
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        let glued = (bound_before && before.is_some_and(is_word_char))
            || (bound_after && after.is_some_and(is_word_char));
        if !glued && !seen.contains(&(list, i)) {
            seen.push((list, i));
        }
    }
    let mut out = [0; 7];
    for (list, _) in seen {
        out[list] += 1;
    }
    out
}

/// Judge a message from a stranger (subject and text, before quote stripping is fine: a pitch
/// is not a reply).
pub fn judge(subject: &str, text: &str) -> Option<Unsolicited> {
    let mut opening: String = subject.chars().take(300).collect();
    opening.push('\n');
    opening.extend(text.chars().take(OPENING_CHARS));
    let c = counts(&fold_str(&opening));
    if c[SCAMS] > 0 {
        return Some(Unsolicited::Scam);
    }
    if c[BUYERS] > 0 {
        return None;
    }
    if c[SURVEYS] > 0 {
        return Some(Unsolicited::Survey);
    }
    if c[RECRUITERS] > 0 {
        return Some(Unsolicited::Recruiter);
    }
    let (intro, offer, trade) = (c[INTRO], c[OFFERS], c[TRADES]);
    // A seller: says what it is (or which trade) and offers; or names its trade and offers
    // more than once.
    let pitch =
        offer > 0 && ((trade > 0 && (intro > 0 || offer >= 2)) || (intro > 0 && offer >= 3));
    pitch.then_some(Unsolicited::ColdPitch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pitches_and_spam_from_strangers_in_many_languages() {
        let cases: &[(&str, &str, Option<Unsolicited>)] = &[
            // Cold pitches.
            (
                "Shipping from China",
                "Dear manager, we are a freight forwarder in Ningbo. We offer sea and air freight door to door, best price. Contact us!",
                Some(Unsolicited::ColdPitch),
            ),
            (
                "",
                "您好，我司专业做中东线海运，双清包税，价格优惠，有需要可以联系。",
                Some(Unsolicited::ColdPitch),
            ),
            (
                "Your Google ranking",
                "Hi, I did an audit of your website. Our agency can get you to page 1 with our SEO services. Reply YES for a free audit.",
                Some(Unsolicited::ColdPitch),
            ),
            (
                "Lista de importadores",
                "Somos una agencia de marketing. Ofrecemos listas de compradores verificados (leads) con descuento.",
                Some(Unsolicited::ColdPitch),
            ),
            (
                "",
                "Мы — логистическая компания, предлагаем доставку грузов из Китая под ключ, лучшие цены.",
                Some(Unsolicited::ColdPitch),
            ),
            (
                "",
                "Firmamız Çin'den Türkiye'ye lojistik hizmeti sunuyoruz, en uygun fiyat.",
                Some(Unsolicited::ColdPitch),
            ),
            (
                "Factory direct",
                "We are a leading LED factory with 15 years of experience. OEM/ODM welcome, free samples.",
                Some(Unsolicited::ColdPitch),
            ),
            (
                "",
                "弊社は梱包資材のメーカーです。格安でご提供いたします。お問い合わせください。",
                Some(Unsolicited::ColdPitch),
            ),
            // Scams, surveys, recruiters.
            (
                "",
                "Hello dear, join our crypto investment plan, daily profit 3% guaranteed.",
                Some(Unsolicited::Scam),
            ),
            (
                "",
                "恭喜您获得高收益理财名额，加群领取。",
                Some(Unsolicited::Scam),
            ),
            (
                "Your parcel",
                "Your shipment is on hold at customs. A customs fee of USD 2.99 is required to release your parcel.",
                Some(Unsolicited::Scam),
            ),
            (
                "",
                "您好，我们是中山灯具工厂，可以给贵司代工，价格优惠，欢迎合作。",
                Some(Unsolicited::ColdPitch),
            ),
            (
                "",
                "LED factory with ISO 9001, low MOQ, best price, free samples, OEM welcome.",
                Some(Unsolicited::ColdPitch),
            ),
            (
                "Short survey",
                "I am a student writing my thesis on export sales. Would you fill in a 5-minute questionnaire?",
                Some(Unsolicited::Survey),
            ),
            (
                "",
                "Somos una empresa de selección. Tenemos una vacante de gerente de ventas para usted.",
                Some(Unsolicited::Recruiter),
            ),
            // Buyers: a stranger asking about our products stays human.
            (
                "Inquiry",
                "We are a distributor in Kenya looking for LED panel lights. Please send your price list and MOQ.",
                None,
            ),
            (
                "",
                "我们是尼日利亚的进口商，需要太阳能灯报价，起订量多少？",
                None,
            ),
            (
                "Consulta",
                "Somos una empresa de construcción en Lima. Necesitamos 300 luminarias, ¿pueden enviar su catálogo?",
                None,
            ),
            (
                "",
                "Здравствуйте, нас интересует ваша продукция, пришлите прайс.",
                None,
            ),
            ("", "Hello, how much for 500 pcs of the 60W high bay?", None),
            (
                "",
                "We're a webshop looking for a new source of linen throws. What's your best price? We pay EUR 9 to our current supplier.",
                None,
            ),
            (
                "Re: order",
                "Please ship the balance next week, thanks.",
                None,
            ),
            // A trade word alone is no pitch.
            ("", "Our forwarder will collect the goods on Monday.", None),
        ];
        for (subject, text, want) in cases {
            assert_eq!(judge(subject, text), *want, "{subject} | {text}");
        }
    }

    #[test]
    fn words_inside_other_words_do_not_count() {
        // "seo" inside "Seoul", "leads" as a verb still needs an offer and a seller.
        assert_eq!(
            judge(
                "",
                "Our office in Seoul leads the project; we need your price."
            ),
            None
        );
    }
}
