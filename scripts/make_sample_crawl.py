"""Write pipelines/resources/sample/sample-crawl.warc.gz: the bundled demo crawl.

Run:  .venv/bin/python scripts/make_sample_crawl.py [output path]

`python -m pipelines.run` uses this file when no --input is given, so that the whole
pipeline (clean -> dedup -> tokenizer -> tokenize -> train) can be shown without a
download. Every page is hand-written for this file (no text is taken from the web;
the lorem ipsum filler is the usual public-domain placeholder). The output is
byte-identical on every run (fixed record ids via uuid5, fixed dates, warcio's gzip
members carry no timestamp), so tests/test_sample_crawl.py can check the committed
file against this script. House style: tests/data/make_sample_warc.py.

What is inside (pipelines/resources/sample/README.md has the table):
- warcinfo, request/metadata records for a few pages, one revisit, non-HTML responses
  (robots.txt, PNG, PDF, JSON, CSS) and HTML responses that never reach the text stages
  (404, 301, empty body);
- 25 good articles: en x8, de x3, fr x3, es x3, it, pt, zh x6 (five simplified, one
  traditional in Big5), in UTF-8, ISO-8859-1, windows-1252, GBK and Big5, one sent
  gzip-compressed and chunked;
- near-duplicates for MinHash: 2 copies of an English article, 1 of another English
  article, 1 of a German one and 2 of a Chinese one, on other URLs with other site
  chrome and a few edited words or one changed sentence;
- shared boilerplate for exact-substring dedup: a reader-membership notice repeated
  verbatim on 5 English pages and a copyright notice on 4 Chinese pages;
- junk the filters drop: site map (link list), shop product grid, SEO keyword spam
  (English and Chinese), lorem ipsum, a "coming soon" page, a guestbook of repeated
  lines, a code snippet page, a recipe that is mostly a list, a URL on a blocklisted
  adult domain, a two-line Icelandic notice and a one-word-per-language welcome page;
- PII inside good pages: e-mail addresses, phone numbers and one public IPv4 address.
"""
from __future__ import annotations

import gzip
import io
import sys
import uuid
from pathlib import Path

from warcio.warcwriter import WARCWriter

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when loaded by path (the tests)
from warc_fixtures import chunked, record_id, record_writer, tiny_png  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "pipelines" / "resources" / "sample" / "sample-crawl.warc.gz"
NS = uuid.UUID("0b7d2f4e-5c61-4a8e-9d3b-7e2a1c9f4b60")
FILENAME = "sample-crawl.warc.gz"


# --------------------------------------------------------------------------- helpers


def rid(key: str) -> str:
    return record_id(NS, key)


def edit(paragraphs: list[str], *changes: tuple[str, str]) -> list[str]:
    """A copy of ``paragraphs`` with each (old, new) replaced; ``old`` must occur exactly once."""
    text = "\n\n".join(paragraphs)
    for old, new in changes:
        assert text.count(old) == 1, f"edit: {old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    return text.split("\n\n")


# --------------------------------------------------------------------------- site chrome

SITES = {
    "courier": {
        "name": "The Harbour Town Courier",
        "nav": ["Home", "News", "Harbour", "Island", "Sport", "What's on", "Opinion", "Subscribe"],
        "related": ["Council approves new harbour wall", "Lifeboat crew honoured", "Five walks for a rainy day"],
        "footer": "&copy; 2024 Harbour Town Courier Ltd, 14 Quay Street, Harbour Town. Registered in England.",
    },
    "courier_mobile": {
        "name": "Courier",
        "nav": ["Menu", "Search", "Sign in"],
        "related": [],
        "footer": "View full site | Back to top",
    },
    "digest": {
        "name": "Local News Digest",
        "nav": ["Top stories", "UK", "World", "Money", "Tech", "Lifestyle"],
        "related": ["Trending: ten gadgets under twenty pounds", "Quiz of the week", "Horoscopes"],
        "footer": "Local News Digest aggregates stories from around the web. &copy; 2024 Digest Media.",
    },
    "skyforum": {
        "name": "Skywatchers Forum",
        "nav": ["Forum", "Observing reports", "Equipment", "Astrophotography", "Events"],
        "related": ["Meteor shower calendar", "Choosing your first telescope"],
        "footer": "Skywatchers Forum - posts are shared by members. &copy; 2024.",
    },
    "lantern": {
        "name": "Lantern Hosting Status Blog",
        "nav": ["Status", "Blog", "Documentation", "Support"],
        "related": ["Scheduled maintenance in May", "New data centre in Frankfurt"],
        "footer": "&copy; 2024 Lantern Hosting. Status updates are also posted to our mailing list.",
    },
    "shorelife": {
        "name": "Shorelife",
        "nav": ["Home", "Species", "Habitats", "Guides", "Events", "Donate"],
        "related": ["Identifying common crabs", "Seaweeds of the lower shore"],
        "footer": "Shorelife is a registered charity caring for coastal wildlife.",
    },
    "brookfield": {
        "name": "Brookfield Primary School",
        "nav": ["Home", "About us", "Classes", "Newsletter", "Term dates", "Contact"],
        "related": ["Sports day results", "Library book appeal"],
        "footer": "Brookfield Primary School, Orchard Road, Brookfield.",
    },
    "kreisbote": {
        "name": "Kreisbote Talheim",
        "nav": ["Startseite", "Lokales", "Sport", "Kultur", "Vereine", "Kontakt"],
        "related": ["Neue Ampel an der Hauptstra\u00dfe", "Feuerwehrfest am Wochenende"],
        "footer": "&copy; 2024 Kreisbote Talheim. Alle Rechte vorbehalten.",
    },
    "portal_de": {
        "name": "Nachrichten-Portal",
        "nav": ["Aktuell", "Politik", "Wirtschaft", "Panorama", "Reise", "Ratgeber"],
        "related": ["Die besten Badeseen der Region", "Wetter: Hitze am Wochenende"],
        "footer": "Nachrichten-Portal &ndash; Meldungen aus ganz Deutschland.",
    },
    "wandern": {
        "name": "Wanderfreunde Lautertal",
        "nav": ["Startseite", "Touren", "Termine", "Verein", "Impressum"],
        "related": ["Herbstwanderung zur Burgruine", "Neue Sitzbank am Sattel"],
        "footer": "Wanderfreunde Lautertal e.V.",
    },
    "gymnasium": {
        "name": "Gymnasium am See",
        "nav": ["Startseite", "Schulleben", "Unterricht", "AGs", "Termine", "Kontakt"],
        "related": ["Abiturfeier 2024", "Austausch mit unserer Partnerschule"],
        "footer": "Gymnasium am See &ndash; Seestra\u00dfe 3.",
    },
    "vallee": {
        "name": "Le Journal de la Vall\u00e9e",
        "nav": ["Accueil", "Actualit\u00e9s", "Agenda", "Sports", "Culture", "Contact"],
        "related": ["Travaux sur la d\u00e9partementale", "La f\u00eate du pain revient"],
        "footer": "&copy; 2024 Le Journal de la Vall\u00e9e. Tous droits r\u00e9serv\u00e9s.",
    },
    "velo": {
        "name": "Ville \u00e0 V\u00e9lo",
        "nav": ["Accueil", "Conseils", "Itin\u00e9raires", "Association", "Adh\u00e9rer"],
        "related": ["Choisir un bon antivol", "Nos sorties du dimanche"],
        "footer": "Ville \u00e0 V\u00e9lo, association d'usagers.",
    },
    "barrio": {
        "name": "Diario del Barrio",
        "nav": ["Portada", "Barrio", "Cultura", "Deportes", "Agenda", "Contacto"],
        "related": ["Nuevas zonas verdes en la avenida", "Fiestas de San Lorenzo"],
        "footer": "&copy; 2024 Diario del Barrio.",
    },
    "sierra": {
        "name": "Sierra Norte Cultura",
        "nav": ["Inicio", "Bibliotecas", "Actividades", "Noticias", "Contacto"],
        "related": ["Club de lectura de marzo", "Exposici\u00f3n de fotograf\u00eda"],
        "footer": "Servicio de Cultura de la Sierra Norte.",
    },
    "cronaca": {
        "name": "Cronaca di Citt\u00e0",
        "nav": ["Home", "Cronaca", "Cultura", "Sport", "Contatti"],
        "related": ["Il restauro del teatro comunale", "Concerti d'estate"],
        "footer": "&copy; 2024 Cronaca di Citt\u00e0.",
    },
    "bairro": {
        "name": "Jornal do Bairro",
        "nav": ["In\u00edcio", "Bairro", "Cultura", "Desporto", "Contactos"],
        "related": ["Obras na rua principal", "Festas de junho"],
        "footer": "&copy; 2024 Jornal do Bairro.",
    },
    "chenguang": {
        "name": "\u6668\u5149\u65e5\u62a5",
        "nav": ["\u9996\u9875", "\u672c\u5730", "\u6c11\u751f", "\u79d1\u6280", "\u6587\u5316", "\u4e13\u9898"],
        "related": ["\u57ce\u5e02\u516c\u56ed\u65b0\u589e\u4e09\u5904\u4f11\u95f2\u5e7f\u573a", "\u672c\u5468\u5929\u6c14\u9884\u62a5"],
        "footer": "\u6668\u5149\u65e5\u62a5\u793e \u7248\u6743\u6240\u6709",
    },
    "chenguang_mobile": {
        "name": "\u6668\u5149\u65e5\u62a5\u624b\u673a\u7248",
        "nav": ["\u83dc\u5355", "\u641c\u7d22"],
        "related": [],
        "footer": "\u8fd4\u56de\u9876\u90e8 | \u7535\u8111\u7248",
    },
    "portal_zh": {
        "name": "\u7efc\u5408\u8d44\u8baf\u7f51",
        "nav": ["\u8981\u95fb", "\u8d22\u7ecf", "\u5a31\u4e50", "\u4f53\u80b2", "\u6c7d\u8f66", "\u623f\u4ea7"],
        "related": ["\u70ed\u95e8\uff1a\u5341\u5927\u65c5\u6e38\u76ee\u7684\u5730", "\u4eca\u65e5\u6cb9\u4ef7"],
        "footer": "\u7efc\u5408\u8d44\u8baf\u7f51 \u4fe1\u606f\u6765\u6e90\u4e8e\u4e92\u8054\u7f51",
    },
    "xiangcun": {
        "name": "\u4e61\u6751\u5468\u520a",
        "nav": ["\u9996\u9875", "\u4e61\u6751", "\u519c\u4e1a", "\u6559\u80b2", "\u4eba\u7269"],
        "related": ["\u679c\u56ed\u91cc\u7684\u4e30\u6536\u5b63", "\u6751\u5c0f\u5f00\u5b66\u4e86"],
        "footer": "\u4e61\u6751\u5468\u520a\u7f16\u8f91\u90e8",
    },
    "yeshi": {
        "name": "\u57ce\u5357\u751f\u6d3b\u8a8c",
        "nav": ["\u9996\u9801", "\u7f8e\u98df", "\u65c5\u904a", "\u4eba\u7269", "\u806f\u7d61\u6211\u5011"],
        "related": ["\u8001\u8857\u7684\u8c46\u82b1\u5e97", "\u5468\u672b\u5e02\u96c6"],
        "footer": "\u57ce\u5357\u751f\u6d3b\u8a8c \u7248\u6b0a\u6240\u6709",
    },
    "plain": {"name": "", "nav": [], "related": [], "footer": ""},
}


def page(title: str, paragraphs: list[str], lang: str, site: str, head_extra: str = "",
         note: str | None = None) -> str:
    """A news-site page: nav, the article (title + paragraphs [+ note]), related links, footer."""
    s = SITES[site]
    nav = "".join(f'<li><a href="/{i}">{label}</a></li>' for i, label in enumerate(s["nav"]))
    related = "".join(f'<li><a href="/related/{i}">{label}</a></li>' for i, label in enumerate(s["related"]))
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    if note:
        body += f'\n<p class="member-note"><em>{note}</em></p>'
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n{head_extra}<title>{title} - {s["name"]}</title>\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<link rel="stylesheet" href="/static/site.css">\n</head>\n<body>\n'
        f'<header><div class="logo">{s["name"]}</div><nav><ul>{nav}</ul></nav></header>\n'
        f'<main><article>\n<h1>{title}</h1>\n{body}\n</article>\n'
        f'<aside><ul>{related}</ul></aside></main>\n<footer>{s["footer"]}</footer>\n'
        f'<script>window.dataLayer = window.dataLayer || [];</script>\n</body>\n</html>\n'
    )


def raw_page(title: str, body_html: str, lang: str, head_extra: str = "") -> str:
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n{head_extra}<title>{title}</title>\n</head>\n'
            f'<body>\n{body_html}\n</body>\n</html>\n')


# --------------------------------------------------------------------------- shared boilerplate

# Repeated verbatim at the end of five Courier articles: the substring stage removes it
# from all but the first.
COURIER_NOTE = (
    "The Harbour Town Courier is an independent, reader-funded newsroom. Our journalism is free to read, "
    "but it is not free to produce: every story takes time, travel and careful checking. If you value local "
    "reporting, please consider becoming a member for the price of a coffee each month. Members receive our "
    "weekly newsletter, early access to events and a printed edition at the end of each year."
)

# Repeated verbatim at the end of four Chen Guang Daily articles.
CHENGUANG_NOTE = (
    "\u3010\u7248\u6743\u58f0\u660e\u3011\u672c\u6587\u4e3a\u6668\u5149\u65e5\u62a5\u539f\u521b\u7a3f\u4ef6\uff0c"
    "\u7248\u6743\u5f52\u6668\u5149\u65e5\u62a5\u6240\u6709\u3002\u672a\u7ecf\u4e66\u9762\u6388\u6743\uff0c"
    "\u4efb\u4f55\u5355\u4f4d\u548c\u4e2a\u4eba\u4e0d\u5f97\u8f6c\u8f7d\u3001\u6458\u7f16\u6216\u4ee5\u5176\u4ed6"
    "\u65b9\u5f0f\u4f7f\u7528\u3002\u5df2\u83b7\u6388\u6743\u7684\u5a92\u4f53\u5728\u4f7f\u7528\u65f6\u8bf7\u6ce8"
    "\u660e\u6765\u6e90\uff0c\u8fdd\u8005\u672c\u62a5\u5c06\u4f9d\u6cd5\u8ffd\u7a76\u5176\u6cd5\u5f8b\u8d23\u4efb"
    "\u3002\u6b22\u8fce\u5173\u6ce8\u6668\u5149\u65e5\u62a5\u5b98\u65b9\u8d26\u53f7\uff0c\u83b7\u53d6\u66f4\u591a"
    "\u672c\u5730\u65b0\u95fb\u548c\u751f\u6d3b\u670d\u52a1\u4fe1\u606f\u3002"
)

# --------------------------------------------------------------------------- English

EN_REPAIR = [
    "On the first Saturday of every month, the back hall of St Anne's community centre fills with broken things. "
    "There are toasters that no longer toast, lamps with frayed cords, jeans with split seams and, on one memorable "
    "morning, a child's rocking horse that had lost a leg. By lunchtime most of them are working again, and almost "
    "none of them will end up in a skip.",
    "The Harbour Town Repair Caf\u00e9 was started four years ago by a handful of retired tradespeople who were tired "
    "of watching useful objects being thrown away. Visitors bring an item, sign a short form and sit down next to a "
    "volunteer, who talks them through the repair rather than simply doing it for them. The idea, says co-founder "
    "Margaret Ellis, is that people leave with a mended kettle and a little more confidence.",
    "Electrical repairs are the most common request, followed by clothing and bicycles. A former bike mechanic runs "
    "a stand near the door, where he adjusts brakes, straightens wheels and replaces worn chains for the cost of the "
    "parts. Sewing machines hum along one wall, and a table of donated tools is available for anyone who wants to "
    "try a job at home.",
    "Not every repair succeeds. Some modern devices are glued shut or need parts that the manufacturer no longer "
    "sells, and the volunteers keep a notebook of those cases to share with a national campaign for the right to "
    "repair. Even so, the team estimates that two out of every three items that come through the door go home in "
    "working order.",
    "The caf\u00e9 is free, although a jar for donations sits beside the tea urn. Anyone who would like to volunteer, "
    "or who has tools to give away, can write to the organisers at fixit@harbourtown-repair.example or simply turn "
    "up on the day.",
]
# Scraped copy on an aggregator: a few words changed, one sentence reworded.
EN_REPAIR_DIGEST = edit(
    EN_REPAIR,
    ("On the first Saturday of every month", "On the first Saturday of each month"),
    ("Electrical repairs are the most common request, followed by clothing and bicycles.",
     "Most visitors bring electrical items, though clothes and bicycles are popular too."),
)
# Mobile edition of the same story: one sentence changed.
EN_REPAIR_MOBILE = edit(
    EN_REPAIR,
    ("The caf\u00e9 is free, although a jar for donations sits beside the tea urn.",
     "Entry to the caf\u00e9 is free, but there is a donations jar by the tea urn."),
)

EN_DARKSKY = [
    "When the parish council of Upper Brindle voted to dim its streetlights after midnight, the decision was mostly "
    "about money. Electricity prices had doubled, and the old sodium lamps along the valley road were expensive to "
    "run and even more expensive to repair. Nobody expected that, two winters later, the village would be welcoming "
    "coach parties of amateur astronomers.",
    "Without the orange glow on the horizon, the night sky above the valley turned out to be remarkably dark. On a "
    "clear evening the Milky Way is visible from the village green, and the local astronomy society now counts more "
    "than two thousand stars in a patch of sky where it once counted a few hundred. The society has applied for "
    "official recognition as a dark-sky community, which would make the village one of only a handful in the region.",
    "The change has not pleased everyone. Some older residents said they felt less safe walking home in the dark, "
    "and the council responded by fitting low, shielded lamps at the bus stop and outside the surgery. These point "
    "downwards rather than into the sky, and use a warm colour that is gentler on wildlife as well as on telescopes.",
    "Local businesses have noticed the difference. The pub runs a monthly stargazing supper, the campsite has "
    "extended its season into the autumn, and a farm on the edge of the village has converted an old barn into a "
    "small observatory with a roll-off roof. Visitors are asked to dim their car headlights as they arrive and to "
    "bring a red torch.",
    "For the astronomy society, the greatest reward has been watching children look up. During a recent school "
    "visit, a boy who had never seen a shooting star saw three in ten minutes, and asked whether the sky had always "
    "looked like this. The honest answer, one volunteer said, is that it had; we had simply stopped noticing.",
]
# Pasted into a forum post: one sentence rewritten, two words changed.
EN_DARKSKY_FORUM = edit(
    EN_DARKSKY,
    ("The pub runs a monthly stargazing supper,", "The pub now hosts a stargazing supper once a month,"),
    ("coach parties of amateur astronomers", "coach loads of amateur astronomers"),
)

EN_BEES = [
    "Six floors above the high street, on the flat roof of the old department store, twelve beehives sit in a neat "
    "row behind a windbreak of willow hurdles. From up here the bees can reach the park, the churchyard, the railway "
    "embankment and hundreds of small gardens, and in a good summer each hive produces more honey than its keepers "
    "can easily sell.",
    "The hives belong to a cooperative of eleven amateur beekeepers who rent the roof from the building's owners for "
    "a nominal fee. Most of them started with a short evening course at the library and a second-hand suit, and "
    "several admit that their first season was more stressful than rewarding. Bees, they say, are patient teachers "
    "but unforgiving ones.",
    "Urban honey has a reputation for being surprisingly varied. Because the bees forage on lime trees, clover, "
    "bramble and garden flowers, the spring harvest is pale and mild while the late summer honey is darker and "
    "stronger. The cooperative sells both in small jars at the Saturday market, and the label on each jar lists the "
    "month in which it was collected.",
    "Experts caution that more hives are not always better. Honeybees compete with wild bees and other pollinators "
    "for the same flowers, and a town can only support a certain number of colonies before the food runs short. The "
    "cooperative has therefore decided not to expand, and instead spends part of its income on planting wildflower "
    "strips along the ring road.",
    "The members hope that the roof will become a place of learning. Schools can book a visit during the summer "
    "term, when pupils put on veils and gloves, watch a frame being lifted from a hive and taste honey straight from "
    "the comb. Few of them, the beekeepers note, ever look at a jar of honey in quite the same way again.",
]

EN_FERRY = [
    "From the first of April, the ferry between Harbour Town and the island of Keld will run to a new timetable. The "
    "operator says the changes are meant to make the service more reliable during the busy summer months, when late "
    "departures have become common and queues for the car deck sometimes stretch back to the roundabout.",
    "The biggest change affects the early morning crossings. The first boat will now leave the harbour at ten past "
    "six rather than half past six, which gives commuters more time to reach the mainland train station. In "
    "exchange, the last evening crossing will leave the island twenty minutes earlier, a change that has "
    "disappointed some restaurant owners on Keld.",
    "Foot passengers will also notice a new booking system. Tickets can still be bought at the kiosk on the quay, "
    "but during July and August the operator recommends booking online or by telephone, especially for crossings on "
    "Friday afternoons and Sunday evenings. The booking line, 01632 960418, is open every day from seven in the "
    "morning until eight in the evening.",
    "Islanders who hold a resident's card will keep their priority boarding, and the discount for regular "
    "travellers remains unchanged. The operator has promised to review the timetable in the autumn, after a public "
    "meeting at which passengers can explain how the new times have worked for them.",
    "Some campaigners argue that the real problem is the age of the ship itself. The vessel entered service more "
    "than thirty years ago and spends several weeks each winter in dry dock, during which a smaller replacement boat "
    "cannot carry lorries. A new ship has been promised, but no date has yet been given.",
]

EN_OUTAGE = [
    "On Tuesday afternoon, for a little under two hours, many customers could not reach the websites they host with "
    "us. We are sorry. This post explains what happened, why it took us so long to recover, and the changes we have "
    "already made so that the same fault cannot take down the service again.",
    "The problem began during a routine update to the configuration of our load balancers. A new rule, meant to "
    "block a small amount of abusive traffic, contained a typing mistake that matched far more requests than "
    "intended. Within a few minutes the balancer at 93.184.216.34 started rejecting almost every connection, and the "
    "health checks that should have removed it from service reported it as healthy, because they only tested "
    "whether the machine was switched on.",
    "Our engineers noticed the rise in errors quickly, but the first attempt to roll back the change failed. The "
    "rollback tool depended on the same balancer to reach our configuration store, so it could not fetch the "
    "previous version. In the end a colleague had to connect to each machine directly and restore the old settings "
    "by hand, which is slow and careful work.",
    "We have made three changes since then. Configuration updates now go to a single balancer first and wait for "
    "fifteen minutes before reaching the rest. Health checks now send a real request and look at the answer, rather "
    "than just checking that the machine responds. And the rollback tool has its own route to the configuration "
    "store that does not depend on the systems it is trying to repair.",
    "We will publish a fuller report once our review is complete. If your business lost money because of the "
    "outage, please contact our support team, who will apply a credit to your account for the whole of this month.",
]

EN_WATCH = [
    "The shop on Mill Lane is so small that only two customers can stand inside at once. Behind the counter, under a "
    "lamp with a green shade, Thomas Okafor bends over a pocket watch with a loupe in one eye and a pair of tweezers "
    "in his hand. He has been repairing clocks and watches on this street for thirty-one years, and he is now the "
    "only person in the town who still does.",
    "He learned the trade from his uncle, who ran a repair shop in a busy market before moving abroad. In those "
    "days, he says, almost every household owned a mechanical watch and a mantel clock, and both needed cleaning and "
    "oiling every few years. Today much of his work comes from people who have inherited a watch and want it running "
    "again for sentimental reasons rather than to tell the time.",
    "A full service can take a week. Each movement is taken apart, every part is cleaned in a series of baths, worn "
    "pivots are polished and the whole thing is put back together with tiny drops of oil in exactly the right "
    "places. Some parts are no longer made anywhere, so Okafor turns replacements on a small lathe that is older "
    "than he is.",
    "He worries about what will happen when he retires. The colleges that once trained watchmakers have mostly "
    "closed their courses, and young people who are interested often find it hard to get started without expensive "
    "tools. Last year he took on an apprentice two afternoons a week, a former jewellery student who now handles "
    "most of the simpler battery changes and strap repairs.",
    "Asked whether he ever gets tired of the work, he laughs and points to a shelf of clocks waiting for attention. "
    "Every one of them, he says, belongs to someone who cares enough to bring it in, and that makes the job feel "
    "worthwhile.",
]

EN_ROCKPOOLS = [
    "Rock pooling is one of the simplest ways to meet the wildlife of the seashore. All you need is a low tide, a "
    "pair of shoes with a good grip and a little patience. The best time to go is an hour or two before low water, "
    "when the sea has pulled back far enough to uncover the lower shore but there is still plenty of time before it "
    "returns.",
    "Start by standing still and watching a pool for a minute or two before you touch anything. Animals that hid "
    "when your shadow fell across the water will soon come out again: shrimps dart between the weed, small fish rest "
    "on the bottom, and the tentacles of anemones open slowly like flowers. Many creatures are perfectly "
    "camouflaged, so look for movement rather than colour.",
    "If you lift a stone to see what lives underneath, lift it gently and always put it back the same way up. The "
    "animals living on the underside of a rock are adapted to shade and damp, and they will die if they are left "
    "exposed to the sun. Crabs should be picked up from behind, holding the back of the shell, and returned to the "
    "place where they were found.",
    "Keep an eye on the tide at all times. It comes in faster than many people expect, and it is easy to be cut off "
    "on a rocky point while you are absorbed in a pool. Check the local tide tables before you set out, tell someone "
    "where you are going and take special care on seaweed, which can be extremely slippery.",
    "Finally, leave the shore as you found it. Take photographs rather than collecting animals or shells, and carry "
    "home any litter you find. A healthy rock pool is a tiny world of its own, and with a little care it will still "
    "be there for the next visitor to discover.",
]

EN_CHESS = [
    "Three years ago, the chess club at Brookfield met in a corner of the library with six members and two "
    "incomplete sets. This term it fills the whole dining hall every Wednesday after school, and for the first time "
    "we have had to start a waiting list. We asked the pupils, parents and teachers involved what has made the "
    "difference.",
    "Much of the credit goes to Mrs Patel, who teaches mathematics and took over the club when its previous leader "
    "retired. She divided the sessions into a short lesson on a single idea, such as how to protect the king or how "
    "to use a knight, followed by games in which the children try to put that idea into practice. Pupils who have "
    "just learned the moves play on small boards with fewer pieces until they are ready for a full game.",
    "The older children have taken on a role too. Members in the top two years act as coaches for the beginners, "
    "sitting beside them and asking questions rather than telling them which move to make. Several parents said that "
    "this had done as much for their children's confidence as the chess itself.",
    "The club also entered its first regional tournament in March. The team did not win a trophy, but two of our "
    "youngest players won every game in their section, and everyone came home with stories about the long day, the "
    "silent halls and the packed lunches eaten between rounds.",
    "We are now looking for volunteers who can help on Wednesday afternoons, so that more children can join. You do "
    "not need to be a strong player, only patient and willing to learn alongside the pupils. Please speak to the "
    "school office if you are able to help.",
]

# --------------------------------------------------------------------------- German

DE_FREIBAD = [
    "Als der Gemeinderat von Ebersfeld vor drei Jahren beschloss, das alte Freibad zu schlie\u00dfen, schien das "
    "Schicksal des Bades besiegelt. Die Becken waren undicht, die Technik stammte aus den siebziger Jahren, und eine "
    "Sanierung h\u00e4tte mehr gekostet, als die kleine Gemeinde in einem Jahrzehnt einnimmt.",
    "Doch die B\u00fcrgerinnen und B\u00fcrger wollten sich damit nicht abfinden. Innerhalb weniger Wochen gr\u00fcndete "
    "sich ein F\u00f6rderverein, der heute mehr als sechshundert Mitglieder z\u00e4hlt. Der Verein sammelte Spenden, "
    "organisierte Flohm\u00e4rkte und Benefizkonzerte und bewarb sich erfolgreich um F\u00f6rdermittel des Landes f\u00fcr "
    "den l\u00e4ndlichen Raum.",
    "Den gr\u00f6\u00dften Teil der Arbeit leisteten jedoch die Freiwilligen selbst. An vielen Wochenenden r\u00fcckten "
    "Handwerker, Rentner und Jugendliche mit Schaufeln und Schubkarren an, um die alten Fliesen zu entfernen, "
    "Leitungen freizulegen und die Liegewiese neu anzulegen. Eine \u00f6rtliche Baufirma stellte kostenlos einen Bagger "
    "zur Verf\u00fcgung.",
    "Seit dem vergangenen Sommer ist das Bad wieder ge\u00f6ffnet, und zwar mit einer modernen Filteranlage und einer "
    "Solaranlage, die das Wasser erw\u00e4rmt. Der Verein betreibt den Kiosk und stellt an den Wochenenden die Aufsicht, "
    "w\u00e4hrend die Gemeinde f\u00fcr die Rettungsschwimmer unter der Woche aufkommt.",
    "F\u00fcr viele im Ort ist das Freibad mehr als ein Ort zum Schwimmen. Hier haben Generationen von Kindern "
    "schwimmen gelernt, hier treffen sich Familien nach der Arbeit, und hier kommen Menschen ins Gespr\u00e4ch, die sich "
    "sonst kaum begegnen w\u00fcrden. Der Vorsitzende des Vereins sagt, er habe selten erlebt, dass ein Dorf so eng "
    "zusammenr\u00fccke.",
]
DE_FREIBAD_PORTAL = edit(
    DE_FREIBAD,
    ("Eine \u00f6rtliche Baufirma stellte kostenlos einen Bagger zur Verf\u00fcgung.",
     "Einen Bagger lieh eine Baufirma aus dem Nachbarort ohne Kosten aus."),
)

DE_HOEHENWEG = [
    "Wer den neuen H\u00f6henweg \u00fcber dem Lautertal gehen will, sollte fr\u00fch aufbrechen. Die Strecke ist knapp "
    "achtzehn Kilometer lang, f\u00fchrt \u00fcber drei bewaldete Kuppen und bietet immer wieder weite Blicke \u00fcber das "
    "Tal bis zu den Bergen am Horizont. F\u00fcr die ganze Runde sollte man mit sechs bis sieben Stunden rechnen.",
    "Der Weg beginnt am Bahnhof von Lauterbrunn, sodass man bequem ohne Auto anreisen kann. Nach einem steilen "
    "Anstieg durch den Buchenwald erreicht man den ersten Aussichtspunkt, eine h\u00f6lzerne Plattform, die der "
    "\u00f6rtliche Wanderverein im vergangenen Herbst gebaut hat. Von hier aus sieht man an klaren Tagen sogar die "
    "T\u00fcrme der Kreisstadt.",
    "Unterwegs gibt es zwei Einkehrm\u00f6glichkeiten. Die H\u00fctte am Sattel ist an den Wochenenden bewirtschaftet "
    "und bekannt f\u00fcr ihren Apfelkuchen, w\u00e4hrend der Gasthof im Weiler Hinterau auch unter der Woche warme "
    "Mahlzeiten anbietet. Wer lieber picknickt, findet zahlreiche B\u00e4nke mit Aussicht.",
    "Die Markierung ist durchgehend gut, ein wei\u00dfes Schild mit einem gr\u00fcnen Berg weist den Weg. Trotzdem "
    "empfiehlt der Wanderverein, eine Karte mitzunehmen, weil einige Forstwege in diesem Jahr wegen Holzarbeiten "
    "umgeleitet werden. Festes Schuhwerk ist besonders nach Regen unbedingt n\u00f6tig.",
    "Am Ende f\u00fchrt der Weg \u00fcber einen alten Hohlweg zur\u00fcck ins Tal, vorbei an Streuobstwiesen und einer "
    "kleinen Kapelle. Wer dann noch Kraft hat, kann im Dorfladen am Bahnhof regionale S\u00e4fte und K\u00e4se kaufen, "
    "bevor der Zug zur\u00fcck in die Stadt f\u00e4hrt.",
]

DE_SOLAR = [
    "Auf dem Dach des Gymnasiums am See gl\u00e4nzen seit diesem Fr\u00fchjahr \u00fcber zweihundert Solarmodule. Geplant "
    "wurde die Anlage nicht von einem Ingenieurb\u00fcro, sondern von einer Arbeitsgemeinschaft aus f\u00fcnfzehn "
    "Sch\u00fclerinnen und Sch\u00fclern der Oberstufe, die sich zwei Jahre lang mit Stromverbrauch, Dachstatik und "
    "Finanzierung besch\u00e4ftigt haben.",
    "Am Anfang stand eine einfache Frage aus dem Physikunterricht: Wie viel Strom verbraucht unsere Schule "
    "eigentlich? Die Jugendlichen lasen \u00fcber Monate hinweg die Z\u00e4hler ab, sprachen mit dem Hausmeister und "
    "stellten fest, dass vor allem die Beleuchtung und die Computerr\u00e4ume gro\u00dfe Mengen Energie ben\u00f6tigen. "
    "Daraus entstand die Idee, einen Teil des Bedarfs selbst zu erzeugen.",
    "Die Finanzierung \u00fcbernahm eine B\u00fcrgerenergiegenossenschaft, in der auch viele Eltern Mitglied sind. Die "
    "Schule kauft den Strom zu einem festen Preis, der unter dem bisherigen Tarif liegt, und die Genossenschaft "
    "erh\u00e4lt \u00fcber zwanzig Jahre eine bescheidene Rendite. \u00dcbersch\u00fcssiger Strom wird ins Netz eingespeist.",
    "Auf einem Bildschirm in der Eingangshalle k\u00f6nnen alle sehen, wie viel Strom die Anlage gerade liefert. Im "
    "Unterricht werden die Daten inzwischen regelm\u00e4\u00dfig genutzt, etwa in Mathematik, wenn es um Diagramme und "
    "Durchschnittswerte geht, oder in Erdkunde beim Thema Klimawandel.",
    "Andere Schulen haben bereits Interesse angemeldet. Die Arbeitsgemeinschaft bietet an, ihre Erfahrungen "
    "weiterzugeben, und ist per E-Mail unter solar-ag@gymnasium-am-see.example oder telefonisch im Sekretariat "
    "unter 030 2345 6789 erreichbar.",
]

# --------------------------------------------------------------------------- French

FR_FROMAGERIE = [
    "Il y a encore dix ans, la laiterie de Saint-Aubin \u00e9tait ferm\u00e9e et ses fen\u00eatres mur\u00e9es. Aujourd'hui, "
    "on y fabrique chaque jour pr\u00e8s de trois cents tommes, et l'odeur du lait chaud se r\u00e9pand dans la rue "
    "principale d\u00e8s six heures du matin. Derri\u00e8re ce renouveau se trouvent deux jeunes \u00e9leveurs et une "
    "coop\u00e9rative d'une vingtaine de familles.",
    "L'id\u00e9e est n\u00e9e d'un constat simple : les fermes des environs vendaient leur lait \u00e0 un prix qui ne "
    "couvrait plus leurs co\u00fbts. En transformant elles-m\u00eames une partie de leur production, elles pouvaient en "
    "tirer un meilleur revenu et garder la valeur ajout\u00e9e au village. Il a fallu plusieurs ann\u00e9es pour r\u00e9unir "
    "les fonds, obtenir les autorisations et apprendre le m\u00e9tier de fromager.",
    "Le b\u00e2timent a \u00e9t\u00e9 r\u00e9nov\u00e9 avec l'aide de b\u00e9n\u00e9voles et d'artisans locaux. Les anciennes caves "
    "vo\u00fbt\u00e9es, o\u00f9 le fromage affine pendant au moins deux mois, ont \u00e9t\u00e9 nettoy\u00e9es \u00e0 la main. Une "
    "petite boutique ouverte le matin permet aux habitants et aux randonneurs d'acheter les fromages directement sur "
    "place.",
    "Le succ\u00e8s d\u00e9passe les attentes. La fromagerie emploie d\u00e9sormais sept personnes, dont trois jeunes qui "
    "ont pu rester dans la vall\u00e9e au lieu de partir en ville. Les \u00e9coles viennent visiter les ateliers, et un "
    "march\u00e9 de producteurs s'installe chaque premier dimanche du mois dans la cour.",
    "Les fondateurs restent prudents. Le prix de l'\u00e9nergie et la s\u00e9cheresse de l'\u00e9t\u00e9 dernier ont "
    "pes\u00e9 sur les comptes, et l'hiver sera d\u00e9cisif. Mais pour la maire, l'essentiel est d\u00e9j\u00e0 acquis : le "
    "village a retrouv\u00e9 une activit\u00e9, et surtout une fiert\u00e9.",
]

FR_VELO = [
    "Quand les jours raccourcissent et que la pluie s'installe, beaucoup de cyclistes rangent leur v\u00e9lo jusqu'au "
    "printemps. Pourtant, avec un peu de pr\u00e9paration, il est tout \u00e0 fait possible de continuer \u00e0 p\u00e9daler "
    "pendant toute la saison froide, et ceux qui le font affirment qu'ils ne reviendraient pour rien au monde aux "
    "embouteillages.",
    "La premi\u00e8re r\u00e8gle est de voir et d'\u00eatre vu. Un bon \u00e9clairage \u00e0 l'avant comme \u00e0 l'arri\u00e8re "
    "est indispensable, de m\u00eame qu'un gilet ou une veste avec des bandes r\u00e9fl\u00e9chissantes. Les pneus m\u00e9ritent "
    "aussi une attention particuli\u00e8re : des pneus un peu plus larges et l\u00e9g\u00e8rement moins gonfl\u00e9s offrent "
    "une meilleure adh\u00e9rence sur les routes mouill\u00e9es.",
    "C\u00f4t\u00e9 v\u00eatements, le secret consiste \u00e0 superposer plusieurs couches fines plut\u00f4t qu'un seul manteau "
    "\u00e9pais. On a souvent froid pendant les cinq premi\u00e8res minutes, puis le corps se r\u00e9chauffe rapidement. Des "
    "gants imperm\u00e9ables, un bonnet fin sous le casque et des garde-boue font une grande diff\u00e9rence pour le "
    "confort.",
    "Enfin, il faut adapter sa conduite. Les distances de freinage augmentent sur la chauss\u00e9e humide, les feuilles "
    "mortes et les bandes blanches deviennent glissantes, et les automobilistes voient moins bien les cyclistes \u00e0 "
    "la tomb\u00e9e de la nuit. Mieux vaut partir quelques minutes plus t\u00f4t et rouler calmement.",
    "De nombreuses villes encouragent d\u00e9sormais cette pratique en entretenant mieux les pistes cyclables pendant "
    "l'hiver et en installant des abris s\u00e9curis\u00e9s pr\u00e8s des gares. Selon une association d'usagers, le nombre "
    "de cyclistes r\u00e9guliers en d\u00e9cembre a presque doubl\u00e9 en cinq ans.",
]

FR_FESTIVAL = [
    "Chaque \u00e9t\u00e9, pendant une semaine, une grange du XVIIIe si\u00e8cle perdue au milieu des champs accueille un "
    "festival de musique de chambre pas comme les autres. Les bottes de paille servent de si\u00e8ges, les hirondelles "
    "traversent parfois la salle pendant les concerts, et le public vient aussi bien de la ville voisine que des "
    "fermes alentour.",
    "Le festival a \u00e9t\u00e9 fond\u00e9 par une violoncelliste originaire de la r\u00e9gion, qui souhaitait faire "
    "d\u00e9couvrir la musique classique \u00e0 ceux qui n'iraient jamais dans une salle de concert. Les places sont "
    "vendues \u00e0 un prix modeste, et les enfants entrent gratuitement. Apr\u00e8s chaque concert, les musiciens restent "
    "pour discuter avec les spectateurs autour d'un verre de cidre.",
    "La programmation m\u00e9lange les grands classiques et les \u0153uvres moins connues. Cette ann\u00e9e, un quatuor \u00e0 "
    "cordes a jou\u00e9 Haydn et Schubert, mais aussi des pi\u00e8ces de compositrices du XIXe si\u00e8cle que la plupart "
    "des auditeurs entendaient pour la premi\u00e8re fois. Un soir a \u00e9t\u00e9 consacr\u00e9 aux musiques traditionnelles "
    "de la r\u00e9gion, jou\u00e9es \u00e0 la vielle et \u00e0 l'accord\u00e9on.",
    "L'organisation repose presque enti\u00e8rement sur des b\u00e9n\u00e9voles. Certains installent les chaises et la "
    "sc\u00e8ne, d'autres pr\u00e9parent les repas des artistes ou h\u00e9bergent les musiciens chez eux. Cette chaleur, "
    "disent les artistes invit\u00e9s, est ce qui les pousse \u00e0 revenir d'une ann\u00e9e sur l'autre.",
]

# --------------------------------------------------------------------------- Spanish

ES_MERCADO = [
    "Durante a\u00f1os, el mercado de abastos del barrio de San Lorenzo fue un edificio medio vac\u00edo. De los cuarenta "
    "puestos que lleg\u00f3 a tener, solo quedaban abiertos once, y muchos vecinos prefer\u00edan hacer la compra en los "
    "supermercados de las afueras. Hoy, despu\u00e9s de una reforma de dos a\u00f1os, el mercado vuelve a estar lleno los "
    "s\u00e1bados por la ma\u00f1ana.",
    "La reforma no se limit\u00f3 a cambiar el tejado y las instalaciones el\u00e9ctricas. El ayuntamiento ofreci\u00f3 "
    "alquileres reducidos a j\u00f3venes comerciantes durante los primeros tres a\u00f1os, con la condici\u00f3n de que "
    "vendieran productos frescos y de la zona. As\u00ed llegaron una queser\u00eda, una panader\u00eda de masa madre y un "
    "puesto de verduras ecol\u00f3gicas que gestionan tres hermanas.",
    "Los comerciantes veteranos recibieron a los reci\u00e9n llegados con cierta desconfianza, pero la convivencia ha "
    "resultado beneficiosa para todos. El pescadero, que lleva m\u00e1s de treinta a\u00f1os en el mercado, reconoce que "
    "ahora vende m\u00e1s que antes porque la gente vuelve a pasar por los pasillos. Algunos puestos se han unido para "
    "ofrecer un servicio de reparto a domicilio para las personas mayores.",
    "El mercado tambi\u00e9n se ha convertido en un lugar de encuentro. En la planta alta hay una peque\u00f1a zona de "
    "mesas donde se puede comer lo que se compra abajo, y los jueves por la tarde se organizan talleres de cocina "
    "para ni\u00f1os. Las asociaciones del barrio usan una sala para sus reuniones.",
    "Queda, sin embargo, un reto importante: atraer a los clientes durante la semana, cuando el mercado sigue "
    "estando tranquilo. Los comerciantes estudian ampliar el horario por la tarde para que las personas que trabajan "
    "puedan hacer la compra al salir de la oficina.",
]

ES_HUERTO = [
    "En el patio del colegio p\u00fablico Miguel Hern\u00e1ndez, entre la pista de baloncesto y el gimnasio, hay una "
    "parcela de tierra dividida en bancales. All\u00ed los alumnos de quinto curso siembran lechugas, tomates y habas, "
    "pero tambi\u00e9n aprenden a calcular superficies, medir el crecimiento de las plantas y elaborar gr\u00e1ficos con "
    "los datos que recogen cada semana.",
    "La idea parti\u00f3 de una maestra que buscaba una forma m\u00e1s pr\u00e1ctica de ense\u00f1ar matem\u00e1ticas. Seg\u00fan "
    "explica, muchos ni\u00f1os que se bloquean ante un ejercicio en el libro resuelven el mismo problema sin dificultad "
    "cuando tienen que decidir cu\u00e1ntas semillas caben en un bancal. El huerto convierte los n\u00fameros en algo que "
    "se puede tocar.",
    "Las familias tambi\u00e9n participan. Algunos abuelos con experiencia en el campo acuden los viernes para ense\u00f1ar "
    "a los ni\u00f1os a preparar la tierra y a reconocer las plagas, y durante las vacaciones de verano varias familias "
    "se turnan para regar. La cosecha se reparte entre los alumnos o se utiliza en el comedor del colegio.",
    "El proyecto ha despertado el inter\u00e9s de otros centros de la ciudad, y el ayuntamiento estudia financiar "
    "huertos similares en varios colegios. La maestra insiste en que no hace falta mucho espacio ni mucho dinero: "
    "basta con un poco de tierra, agua y ganas de aprender.",
]

ES_BIBLIOBUS = [
    "Cada martes, un autob\u00fas azul recorre las carreteras de curvas de la sierra y se detiene en las plazas de "
    "pueblos donde no hay biblioteca ni librer\u00eda. Dentro lleva m\u00e1s de tres mil libros, revistas y pel\u00edculas, "
    "adem\u00e1s de una peque\u00f1a zona con cojines para que los ni\u00f1os lean mientras sus padres eligen sus "
    "pr\u00e9stamos.",
    "El servicio existe desde hace m\u00e1s de veinte a\u00f1os, pero nunca hab\u00eda tenido tantos usuarios como ahora. La "
    "bibliotecaria responsable, que conoce a casi todos los lectores por su nombre, cree que la raz\u00f3n est\u00e1 en los "
    "clubes de lectura que organiza en cada parada. Una vez al mes, los vecinos comentan el mismo libro en la sala "
    "del ayuntamiento o en el bar de la plaza.",
    "Para muchas personas mayores, el bibliob\u00fas es adem\u00e1s una de las pocas ocasiones de la semana para charlar "
    "con alguien. Por eso el equipo ha ampliado el tiempo de cada parada y ha incorporado libros con letra grande y "
    "audiolibros. Tambi\u00e9n ayuda a quien lo necesita con tr\u00e1mites sencillos en internet.",
    "La diputaci\u00f3n ha prometido renovar el veh\u00edculo el pr\u00f3ximo a\u00f1o, ya que el actual tiene m\u00e1s de quince "
    "a\u00f1os y sufre aver\u00edas frecuentes en invierno. Mientras tanto, quien quiera proponer una nueva parada o "
    "solicitar un libro concreto puede llamar al 912 345 678 o escribir a bibliobus@sierranorte-cultura.example.",
]

# --------------------------------------------------------------------------- Italian, Portuguese

IT_LIUTAIO = [
    "In una stretta via del centro storico, dietro una vetrina piena di trucioli e di strumenti appesi, lavora uno "
    "degli ultimi liutai della citt\u00e0. Da quasi quarant'anni costruisce e ripara violini, viole e violoncelli, e il "
    "suo laboratorio \u00e8 diventato un punto di riferimento per i musicisti di tutta la regione.",
    "Per costruire un violino servono circa due mesi di lavoro. Il legno di abete e di acero viene stagionato per "
    "anni prima di essere tagliato, poi le tavole vengono scavate a mano con sgorbie e pialle minuscole. La vernice, "
    "preparata secondo una ricetta che il maestro non ha mai rivelato a nessuno, viene stesa in molti strati sottili.",
    "Negli ultimi anni sono arrivati anche giovani apprendisti da diversi paesi, attratti da una tradizione che in "
    "citt\u00e0 ha radici antiche. Il maestro li accoglie volentieri, ma avverte che la pazienza \u00e8 pi\u00f9 importante "
    "del talento. Secondo lui, chi ha fretta non diventer\u00e0 mai un buon liutaio.",
    "Oltre alla costruzione, gran parte del lavoro consiste nella manutenzione degli strumenti degli studenti del "
    "conservatorio. Un ponticello spostato o un'anima caduta possono rovinare il suono di un violino, e spesso "
    "bastano pochi minuti di lavoro esperto per risolvere il problema.",
]

PT_ELETRICO = [
    "Depois de quase vinte anos parado, o velho el\u00e9trico que sobe a colina do bairro alto voltou a circular na "
    "primavera passada. Os moradores receberam-no com uma festa na pra\u00e7a, e nas primeiras semanas havia filas de "
    "turistas e de curiosos \u00e0 espera de uma viagem nas carruagens de madeira restauradas.",
    "A recupera\u00e7\u00e3o da linha foi um trabalho demorado. Os carris tiveram de ser substitu\u00eddos quase por completo, "
    "e os t\u00e9cnicos estudaram antigos desenhos guardados no arquivo municipal para reconstruir as pe\u00e7as que j\u00e1 "
    "n\u00e3o se fabricavam. Dois dos antigos condutores, j\u00e1 reformados, ajudaram a formar a nova equipa.",
    "Para os moradores mais idosos, o el\u00e9trico \u00e9 sobretudo um meio de transporte pr\u00e1tico, que lhes permite "
    "chegar ao mercado e ao centro de sa\u00fade sem enfrentar a subida a p\u00e9. A c\u00e2mara municipal decidiu, por isso, "
    "que os residentes do bairro viajam com desconto durante todo o ano.",
    "Nem todos est\u00e3o satisfeitos. Alguns comerciantes queixam-se do barulho nas curvas mais apertadas, e h\u00e1 quem "
    "tema que o aumento do turismo fa\u00e7a subir ainda mais as rendas. A autarquia promete acompanhar a situa\u00e7\u00e3o e "
    "ouvir os moradores antes de alargar o hor\u00e1rio de funcionamento.",
]

# --------------------------------------------------------------------------- Chinese

ZH_METRO = [
    "本报讯 经过四年多的建设，地铁五号线东延段于昨天上午正式开通运营。新线路全长约十六公里，共设十一座车站，"
    "连接了城市东部的三个大型居住区和新建的科技园区。开通首日，不少市民特意赶来体验，车厢里既有提着菜篮的老人，"
    "也有背着书包的学生。",
    "家住东湖新村的王女士告诉记者，过去她每天上班要先坐二十分钟公交车，再换乘地铁，遇到早高峰经常堵在路上。"
    "“现在家门口就有地铁站，到单位只要半个小时，每天能多睡一会儿。”她说，周围的邻居都在讨论这件事，"
    "大家普遍觉得生活方便了不少。",
    "据地铁运营公司介绍，东延段高峰时段的发车间隔为四分钟，平峰时段为七分钟左右。为了方便换乘，新线路与两条公交干线"
    "和一个长途客运站实现了无缝衔接，部分车站还设置了非机动车停车场，方便市民骑车到站后换乘地铁。",
    "在车站设计上，东延段也做了不少改进。每座车站都配备了无障碍电梯和盲道，站厅内增加了母婴室和自助服务设备。"
    "部分车站的装饰融入了当地的历史文化元素，例如靠近老城区的车站墙面上，展示了几十年前这一带的老照片。",
    "交通部门表示，东延段开通后，预计每天可以分担约十五万人次的客流，对缓解城市东部道路拥堵将起到积极作用。"
    "下一步，相关部门还将根据客流情况优化公交线路，并继续推进其他几条线路的规划和建设。",
]
# Reposted by a portal: the byline changed and one sentence reworded.
ZH_METRO_PORTAL = edit(
    ZH_METRO,
    ("本报讯 经过四年多的建设", "据晨光日报报道，经过四年多的建设"),
    ("部分车站还设置了非机动车停车场，方便市民骑车到站后换乘地铁。",
     "一些车站旁边还建了自行车停放点，市民可以骑车到站再坐地铁。"),
)
# Mobile edition: one sentence changed.
ZH_METRO_MOBILE = edit(
    ZH_METRO,
    ("开通首日，不少市民特意赶来体验，", "开通当天，许多市民专门前来乘坐，"),
)

ZH_LIBRARY = [
    "在离县城六十多公里的一个山村里，有一间不大的图书室。它原本是村委会旁边的一间旧仓库，墙皮斑驳，屋顶漏雨。"
    "五年前，一位从城里退休回乡的中学老师看中了这里，自己出钱修缮房屋，又从亲戚朋友那里募集了两千多本图书，"
    "办起了村里的第一间图书室。",
    "刚开始的时候，来借书的人并不多。村里的年轻人大多外出打工，留在家里的主要是老人和孩子。老师就挨家挨户地上门介绍，"
    "还专门挑选了一些讲种植技术和养殖经验的书，放在最显眼的位置。慢慢地，来图书室的人多了起来，"
    "有的村民还会在晚饭后过来看报纸、聊家常。",
    "最喜欢这里的是孩子们。每到周末和寒暑假，图书室里总是坐满了小读者。老师组织了读书小组，带着孩子们一起朗读故事、"
    "写读后感，还请县城的志愿者来上美术课和科学课。一个上四年级的女孩说，她最喜欢的是童话书，长大以后也想当一名老师。",
    "如今，这间图书室已经有了六千多册藏书，还添置了几台电脑，可以让村民在网上查资料、学习新技术。"
    "县图书馆也把这里列为流动服务点，每个季度送来一批新书。老师说，他最大的心愿，"
    "是让山里的孩子和城里的孩子一样，能够读到好书。",
]

ZH_NOODLES = [
    "在老城区一条不起眼的小巷里，有一家开了六十年的面馆。店面只有二十多平方米，摆着七八张旧木桌，"
    "墙上的菜单已经被油烟熏得发黄。每天清晨五点多，店里的灯就亮了，第一锅骨头汤已经在灶上慢慢熬着。",
    "现在的店主姓刘，是面馆的第三代传人。他从小在店里长大，十几岁就开始跟着父亲学做面。他说，做面没有什么秘诀，"
    "最重要的是用心和坚持。面条要当天手工擀制，汤底要熬足六个小时，浇头要选新鲜的食材，哪一步偷懒，客人都吃得出来。",
    "这些年，周围的老房子陆续拆迁，不少老街坊搬去了新区，但很多人还是会专程回来吃一碗面。"
    "一位七十多岁的老先生说，他从年轻时就在这里吃早饭，如今儿子和孙子也喜欢这个味道。“吃的是面，想的是过去的日子。”",
    "面对外卖平台和连锁快餐的竞争，刘师傅也在尝试一些改变。他在网上开了店铺，推出了真空包装的汤料，"
    "让外地的老顾客也能在家里吃到熟悉的味道。不过，店里的价格多年来只涨过两次，一碗招牌牛肉面至今仍然只要十五元。",
    "问起以后的打算，刘师傅笑着说，只要还能站得动，就会一直做下去。他的女儿大学毕业后回到店里帮忙，"
    "正在学习熬汤和擀面。这家老面馆的故事，或许还会继续写下去。",
]

ZH_DATACENTER = [
    "随着互联网和人工智能的快速发展，数据中心的数量越来越多，耗电量也越来越大。一座大型数据中心里往往有成千上万台服务器，"
    "它们日夜不停地运转，产生大量热量。如果不能及时把热量排出去，设备就可能出现故障，"
    "因此制冷系统的用电量常常占到总用电量的三分之一以上。",
    "为了降低能耗，许多企业开始把数据中心建在气候凉爽的地区，利用室外的冷空气为机房降温。在一年中的大部分时间里，"
    "这些数据中心几乎不需要开启压缩机制冷，只靠风扇和换热设备就能满足需要。"
    "也有一些企业把数据中心建在湖边或者海边，用深层的冷水来带走热量。",
    "另一种办法是让冷却更加精准。过去，机房通常整体降温，就像给整个房间开空调一样，浪费很大。"
    "现在，工程师们把服务器排成冷通道和热通道，让冷风只流向需要的地方。"
    "更先进的液冷技术则直接把冷却液送到芯片附近，效率比传统风冷高出许多。",
    "服务器产生的热量也不一定要白白浪费。北方一些城市已经尝试把数据中心的余热接入供暖管网，"
    "为附近的居民小区和办公楼供暖。专家认为，如果这种做法能够推广，"
    "数据中心将从单纯的用电大户，变成城市能源系统中的一部分。",
    "业内人士表示，提高能源利用效率已经成为数据中心建设的重要标准。今后，新建的数据中心在选址、设计和运营等方面"
    "都需要更多考虑节能减排，在满足算力需求的同时，尽量减少对环境的影响。",
]

ZH_EGRETS = [
    "清晨六点，家住河边的李大爷像往常一样出门散步。走到桥头时，他停下脚步，指着河滩上的几只白色水鸟对记者说："
    "“你看，那就是白鹭，前几年可见不到。”三年前，这条穿城而过的小河还是另一番景象：河水发黑发臭，岸边堆满垃圾，"
    "附近居民夏天都不敢开窗。",
    "转变始于一场大规模的综合治理。有关部门先后截断了沿岸的几十个排污口，新建了污水管网和两座小型污水处理站，"
    "又对河道进行了清淤。与此同时，工人们拆除了部分硬化的水泥护岸，种上了芦苇、菖蒲等水生植物，让河岸重新变得有生机。",
    "治理工作也离不开居民的参与。沿河的几个社区成立了护河志愿队，志愿者们每周轮流巡河，"
    "发现乱扔垃圾或者偷排污水的情况就及时上报。一些学校还把这条河作为自然课堂，"
    "老师带着学生观察水质变化，记录河边出现的鸟类和昆虫。",
    "如今，河水变清了，鱼虾多了起来，白鹭、夜鹭和翠鸟也经常出现在河边。傍晚时分，沿河步道上散步、跑步的人络绎不绝，"
    "河边的小广场成了居民休闲的好去处。",
    "环保部门表示，下一步将继续加强对河道水质的监测，并欢迎市民积极监督。市民如果发现河道污染问题，"
    "可以拨打环保热线010-6552 9988进行举报。",
]

ZH_TW_NIGHT_MARKET = [
    "每到傍晚，城南的夜市就熱鬧起來。一盞盞燈泡亮起，攤販們推著餐車陸續就位，空氣中混合著烤香腸、蚵仔煎和炸雞排的香味。"
    "在這條不到三百公尺的街道上，有一個賣杏仁茶和油條的小攤，已經擺了將近五十年。",
    "攤主是一對年過七旬的夫妻。先生負責磨杏仁、煮茶，太太負責炸油條和招呼客人。他們說，杏仁要前一天晚上泡水，"
    "第二天用石磨慢慢磨成漿，再用小火熬煮，過程中要不停攪拌，才不會燒焦。這樣做出來的杏仁茶香氣濃郁，口感細滑。",
    "許多老顧客從學生時代就開始光顧，如今帶著自己的孩子一起來。也有不少觀光客在網路上看到介紹，特地前來品嚐。"
    "夫妻倆記得很多熟客的習慣，有人喜歡少糖，有人一定要加一根剛起鍋的油條。",
    "談到未來，兩位老人坦言，年紀大了，體力一年不如一年。所幸兒子去年辭去工作，回來跟著學手藝。"
    "他說，這個攤位陪伴了很多人的成長，希望能把這份味道繼續傳下去。",
]

# --------------------------------------------------------------------------- junk the filters drop

SITEMAP_LINKS = [
    "News", "Local", "Harbour", "Island", "Sport", "Football", "Sailing", "Cricket", "Business", "Property", "Jobs",
    "Motors", "What's on", "Film", "Music", "Theatre", "Food and drink", "Opinion", "Letters", "Obituaries",
    "Weather", "Tide times", "Traffic", "Ferry updates", "Puzzles", "Crossword", "Sudoku", "Archive", "Photo galleries",
    "Video", "Podcasts", "Contact us", "Advertise", "Subscribe", "Newsletters", "Help", "Complaints", "Careers",
]
SITEMAP = raw_page(
    "Site map - The Harbour Town Courier",
    "<h1>Site map</h1>\n<ul>\n" + "\n".join(
        f'<li><a href="/{label.lower().replace(" ", "-")}">{label}</a></li>' for label in SITEMAP_LINKS) + "\n</ul>",
    "en",
)

SHOP_ITEMS = [
    ("Coastal shell jacket, navy", "89.00", 128), ("Coastal shell jacket, red", "89.00", 64),
    ("Packable rain jacket", "45.00", 311), ("Storm parka, olive", "149.00", 22),
    ("Kids' puddle suit", "32.50", 97), ("Waterproof trousers", "39.99", 143),
    ("Fleece-lined cagoule", "59.00", 51), ("Lightweight poncho", "14.99", 208),
    ("Sailing smock", "119.00", 17), ("Walking gaiters", "24.00", 88),
    ("Dry bag, 20 litres", "18.50", 402), ("Wide-brim rain hat", "21.00", 36),
]
SHOP = raw_page(
    "Rain jackets | Harbour Outdoor Store",
    "<h1>Rain jackets</h1>\n<div class=\"filters\">Sort by: Popular | Price low to high | Price high to low | Newest"
    "</div>\n<ul class=\"grid\">\n" + "\n".join(
        f'<li class="product"><a href="/p/{i}"><img src="/img/{i}.jpg" alt=""><h2>{name}</h2></a>'
        f'<span class="price">&pound;{price}</span><span class="stars">4.5 out of 5 ({n} reviews)</span>'
        f'<button>Add to basket</button></li>' for i, (name, price, n) in enumerate(SHOP_ITEMS)) +
    "\n</ul>\n<div class=\"pager\">Page 1 of 6 | Next</div>",
    "en",
)

SEO_SPAM = raw_page(
    "Cheap flights to Paris | cheap flights Paris | best cheap flights",
    "<h1>Cheap flights to Paris</h1>\n" + "\n".join(f"<p>{p}</p>" for p in [
        "Cheap flights to Paris, cheap flights Paris, best cheap flights to Paris, cheap flights to Paris deals. "
        "Book cheap flights to Paris today with the best cheap flights to Paris site for cheap flights to Paris.",
        "Looking for cheap flights to Paris? Our cheap flights to Paris are the best cheap flights to Paris online. "
        "Compare cheap flights to Paris and find cheap flights to Paris from all cheap flights to Paris airlines.",
        "Cheap flights to Paris from London, cheap flights to Paris from Manchester, cheap flights to Paris from "
        "Dublin, cheap flights to Paris from Edinburgh, last minute cheap flights to Paris and cheap flights to Paris "
        "return. Best cheap flights to Paris guaranteed, cheap flights to Paris now.",
        "Why book cheap flights to Paris with us? Because our cheap flights to Paris are cheap flights to Paris you "
        "can trust. Cheap flights to Paris, cheap Paris flights, flights to Paris cheap, cheap flights to Paris.",
    ]),
    "en",
)

ZH_SPAM = raw_page(
    "特价机票 打折机票 机票预订 最便宜机票查询",
    "<h1>特价机票</h1>\n" + "\n".join(f"<p>{p}</p>" for p in [
        "特价机票查询，特价机票预订，特价机票最便宜，特价机票打折，特价机票网，特价机票官网，特价机票查询预订，"
        "特价机票天天有，特价机票低至一折，特价机票就上特价机票网。",
        "特价机票北京，特价机票上海，特价机票广州，特价机票深圳，特价机票成都，特价机票杭州，特价机票南京，"
        "特价机票武汉，特价机票西安，特价机票重庆，特价机票查询预订，特价机票最便宜。",
        "特价机票国内，特价机票国际，特价机票往返，特价机票单程，特价机票学生，特价机票团购，特价机票秒杀，"
        "特价机票今日，特价机票明日，特价机票查询预订就上特价机票网，特价机票最便宜。",
    ]),
    "zh-CN",
    head_extra='<meta charset="utf-8">\n',
)

# A theme preview: English around the placeholder text, so the page is English and C4's
# lorem ipsum rule (not language id) drops it.
LOREM = raw_page(
    "Harbour theme preview",
    "<h1>Harbour: a clean theme for local news sites</h1>\n" + "\n".join(f"<p>{p}</p>" for p in [
        "This page shows how articles will look with the Harbour theme. The headline uses a large serif font, the "
        "body text is set in a comfortable column and pictures can stretch to the full width of the page.",
        "Replace the placeholder text below with your own story before you publish the site. You can change the "
        "colours, the logo and the menu from the settings panel, and every change is shown here at once.",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
        "magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo "
        "consequat.",
        "When you are happy with the layout, save the theme and it will be applied to every page of the site. The "
        "preview is only visible to administrators and is never shown to your readers.",
    ]),
    "en",
)

COMING_SOON = raw_page("Coming soon", "<h1>Coming soon</h1>\n<p>Our new website opens in spring. Check back soon!</p>", "en")

GUESTBOOK = raw_page(
    "Guestbook - Sunny Meadow Caravan Park",
    "<h1>Guestbook</h1>\n" + "\n".join(
        f"<p>Great site, thanks for sharing! Posted by {name}.</p>\n<p>Great site, thanks for sharing!</p>"
        for name in ["Anna", "Ben", "Carla", "Dev", "Erin", "Femi", "Gus", "Hana", "Ivo", "Jo", "Kai", "Lena"]),
    "en",
)

CODE_PAGE = raw_page(
    "How to centre a box with flexbox",
    "<h1>How to centre a box with flexbox</h1>\n"
    "<p>Centring an element used to be one of the most frustrating jobs in web design. With flexbox it takes three "
    "lines, and the same rule works for text, images and whole panels.</p>\n"
    "<p>Give the parent element a flexible display and tell it how to align its children along both axes: "
    "<code>.wrapper { display: flex; justify-content: center; align-items: center; }</code> and the box will stay in "
    "the middle however the window is resized.</p>\n"
    "<p>Remember that the parent needs a height, otherwise there is no space in which to centre anything. A common "
    "choice is the full height of the viewport, which you can set with a single extra line.</p>\n"
    "<p>That is all there is to it. Flexbox is supported by every current browser, so there is no need for the old "
    "tricks with negative margins and absolute positioning any more.</p>",
    "en",
)

# A real recipe, but most of its lines are short list items: FineWeb's short-line rule drops it.
RECIPE_INGREDIENTS = [
    "three ripe bananas", "two large eggs", "a cup of plain flour", "half a cup of sugar", "a pinch of salt",
    "one teaspoon of baking soda", "a handful of walnuts", "some melted butter", "a splash of milk", "a drop of vanilla",
    "cinnamon to taste", "a little brown sugar", "oil for the tin", "a squeeze of lemon",
]
RECIPE = raw_page(
    "Easy banana bread",
    "<article><h1>Easy banana bread</h1>\n<p>This is the loaf we bake whenever the bananas in the fruit bowl turn brown. It "
    "keeps well for three days and freezes perfectly.</p>\n<h2>Ingredients</h2>\n<ul>"
    + "".join(f"<li>{item}</li>" for item in RECIPE_INGREDIENTS) + "</ul>\n<h2>Method</h2>\n"
    "<p>Mash the bananas with a fork and beat in the eggs, butter, milk and vanilla. Stir in the dry ingredients "
    "until just combined. Fold in the walnuts, pour the batter into the tin and bake for about an hour, until a "
    "skewer comes out clean.</p></article>",
    "en",
)

ADULT = raw_page(
    "Age verification",
    "<h1>Age verification</h1>\n<p>This website contains material intended for adults only. You must be at least "
    "eighteen years old to enter. By continuing you confirm that you are of legal age in your country and that you "
    "agree to view this content.</p>\n<p>Enter | Leave</p>",
    "en",
)

ICELANDIC = raw_page(
    "Sundlaugin",
    "<h1>Sundlaugin</h1>\n<p>Sundlaugin er lokuð vegna viðhalds til mánudags.</p>\n"
    "<p>Við biðjumst velvirðingar á óþægindunum.</p>",
    "is",
    head_extra='<meta charset="utf-8">\n',
)

WELCOME = raw_page(
    "Welcome",
    "<h1>Welcome</h1>\n<ul>" + "".join(f"<li>{w}</li>" for w in [
        "Welcome", "Bienvenue", "Willkommen", "Bienvenido", "Benvenuto", "Bem-vindo", "Welkom", "Välkommen",
        "Witamy", "Tervetuloa", "欢迎", "ようこそ", "환영합니다", "Добро пожаловать",
    ]) + "</ul>",
    "en",
    head_extra='<meta charset="utf-8">\n',
)

NOT_FOUND = page("Page not found", ["Sorry, the page you were looking for does not exist or has been moved."], "en",
                 "courier")
MOVED = raw_page("301 Moved Permanently",
                 '<h1>Moved Permanently</h1>\n<p>The document has moved <a href="https://www.harbourtown-courier.example/">here</a>.</p>',
                 "en")

ROBOTS = b"User-agent: *\nDisallow: /search\nDisallow: /account/\nSitemap: https://www.harbourtown-courier.example/sitemap.xml\n"
PDF = (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
       b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
CSS = b"body { font-family: Georgia, serif; margin: 0 auto; max-width: 42rem; }\nnav ul { display: flex; gap: 1rem; }\n"
JSON = b'{"station": "Harbour Town", "tides": [{"time": "06:12", "height_m": 4.1}, {"time": "18:30", "height_m": 4.3}]}'


# --------------------------------------------------------------------------- the WARC

def build(out_path: Path) -> Path:
    stream = io.BytesIO()
    writer = WARCWriter(stream, gzip=True)
    second = iter(range(10_000))

    def next_date() -> str:
        s = next(second) * 7  # 7 s apart, all within one hour
        return f"2024-04-16T09:{s // 60:02d}:{s % 60:02d}Z"

    write = record_writer(writer, NS, next_date)

    def html(uri, text, charset="utf-8", header_charset=True, extra_headers=(), key=None, status="200 OK",
             request=False, metadata=None):
        """A text/html response; with request=True its request record first, with metadata its metadata after."""
        host = uri.split("/")[2]
        if request:
            path = "/" + (uri.split("/", 3)[3] if uri.count("/") > 2 else "")
            write(uri, "request", b"", http=(f"GET {path}", [("Host", host), ("User-Agent", "sample-crawler/1.0"),
                                                              ("Accept", "text/html")]))
        ctype = f"text/html; charset={charset}" if header_charset else "text/html"
        body = text if isinstance(text, bytes) else text.encode(charset)
        rec = write(uri, "response", body, http=(status, [("Content-Type", ctype), *extra_headers]), key=key)
        if metadata:
            write(uri, "metadata", metadata.encode("ascii"),
                  extra={"WARC-Concurrent-To": rec.rec_headers.get_header("WARC-Record-ID"),
                         "Content-Type": "application/warc-fields"})
        return rec

    info = (b"software: scripts/make_sample_crawl.py (warcio)\r\nformat: WARC File Format 1.0\r\n"
            b"isPartOf: corpus-pipeline-sample\r\n"
            b"description: hand-written demo crawl for python -m pipelines.run (articles in 8 languages, "
            b"near-duplicates, shared boilerplate, junk pages, PII, non-HTML records)\r\n")
    write("", "warcinfo", info, extra={"WARC-Filename": FILENAME, "Content-Type": "application/warc-fields"},
          key="warcinfo")

    courier = "https://www.harbourtown-courier.example"
    write(f"{courier}/robots.txt", "response", ROBOTS, http=("200 OK", [("Content-Type", "text/plain")]))

    # -- English
    first = html(f"{courier}/community/repair-cafe",
                 page("At the repair caf\u00e9, nothing is beyond saving", EN_REPAIR, "en", "courier", note=COURIER_NOTE),
                 request=True, metadata="fetchTimeMs: 184\r\ncharset-detected: UTF-8\r\nlanguages-cld2: en\r\n")
    html(f"{courier}/community/dark-sky-valley",
         page("The valley that switched off its streetlights to see the stars", EN_DARKSKY, "en", "courier",
              note=COURIER_NOTE))
    html(f"{courier}/nature/rooftop-bees",
         page("Rooftop hives bring honey back to the town centre", EN_BEES, "en", "courier", note=COURIER_NOTE),
         header_charset=False)  # no charset anywhere: detected
    html(f"{courier}/transport/ferry-timetable-april",
         page("Ferry timetable changes: what passengers need to know", EN_FERRY, "en", "courier", note=COURIER_NOTE),
         request=True, metadata="fetchTimeMs: 97\r\ncharset-detected: UTF-8\r\n")
    html(f"{courier}/people/mill-lane-watchmaker",
         page("The last watchmaker on Mill Lane", EN_WATCH, "en", "courier", note=COURIER_NOTE))
    html("https://status.lanternhost.example/blog/2024/04/tuesday-outage",
         page("What went wrong during Tuesday's outage, and what we are changing", EN_OUTAGE, "en", "lantern"))
    html("https://www.shorelife.example/guides/rock-pools",
         page("A beginner's guide to exploring rock pools", EN_ROCKPOOLS, "en", "shorelife",
              head_extra='<meta charset="utf-8">\n'), header_charset=False)
    html("http://www.brookfield-primary.example/newsletter/chess-club",
         page("Why our chess club now has a waiting list", EN_CHESS, "en", "brookfield"))

    # -- German
    html("https://www.kreisbote-talheim.example/lokales/freibad-ebersfeld",
         page("Wie ein Dorf sein Freibad gerettet hat", DE_FREIBAD, "de", "kreisbote"))
    html("https://www.wanderfreunde-lautertal.example/touren/hoehenweg",
         page("Unterwegs auf dem neuen H\u00f6henweg \u00fcber dem Lautertal", DE_HOEHENWEG, "de", "wandern"),
         charset="iso-8859-1")
    html("https://www.gymnasium-am-see.example/schulleben/solar-ag",
         page("Solarstrom vom Schuldach: Sch\u00fclerinnen und Sch\u00fcler planen ihr eigenes Kraftwerk", DE_SOLAR,
              "de", "gymnasium"), request=True)

    # -- French (the second one gzip-compressed and chunked, charset only in <meta>)
    html("https://www.journal-vallee.example/economie/fromagerie-saint-aubin",
         page("La fromagerie qui a redonn\u00e9 vie au village", FR_FROMAGERIE, "fr", "vallee"))
    velo = page("Aller au travail \u00e0 v\u00e9lo, m\u00eame en hiver", FR_VELO, "fr", "velo",
                head_extra='<meta charset="utf-8">\n')
    html("https://www.ville-a-velo.example/conseils/hiver",
         chunked(gzip.compress(velo.encode("utf-8"), mtime=0)), header_charset=False,
         extra_headers=[("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")])
    html("https://www.journal-vallee.example/culture/festival-grange",
         page("Un festival de musique de chambre dans une grange", FR_FESTIVAL, "fr", "vallee"))

    # -- Spanish (the first in windows-1252, declared only in <meta http-equiv>)
    html("https://www.diariodelbarrio.example/barrio/mercado-san-lorenzo",
         page("El mercado de abastos recupera a sus vecinos", ES_MERCADO, "es", "barrio",
              head_extra='<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">\n'),
         charset="cp1252", header_charset=False)
    html("https://www.diariodelbarrio.example/educacion/huerto-escolar",
         page("Un huerto escolar donde se aprenden matem\u00e1ticas", ES_HUERTO, "es", "barrio"))
    html("https://www.sierranorte-cultura.example/bibliotecas/bibliobus",
         page("El bibliob\u00fas que lleva libros a los pueblos de la sierra", ES_BIBLIOBUS, "es", "sierra"))

    # -- Italian, Portuguese
    html("https://www.cronacadicitta.example/cultura/liutaio",
         page("La bottega del liutaio", IT_LIUTAIO, "it", "cronaca"))
    html("https://www.jornaldobairro.example/bairro/eletrico",
         page("O el\u00e9trico que voltou a subir a colina", PT_ELETRICO, "pt", "bairro"))

    # -- Chinese: UTF-8 (header), GBK (<meta> only), Big5 (header)
    chenguang = "https://www.chenguang-daily.example"
    html(f"{chenguang}/local/2024/04/metro-line5-east.html",
         page("地铁五号线东延段正式开通 沿线居民出行更方便", ZH_METRO, "zh-CN", "chenguang", note=CHENGUANG_NOTE),
         request=True, metadata="fetchTimeMs: 311\r\ncharset-detected: UTF-8\r\nlanguages-cld2: zh\r\n")
    html("http://www.xiangcun-zhoukan.example/renwu/shancun-tushushi.html",
         page("山村里的图书室", ZH_LIBRARY, "zh-CN", "xiangcun", head_extra='<meta charset="gbk">\n'),
         charset="gbk", header_charset=False)
    html(f"{chenguang}/life/2024/04/noodle-shop.html",
         page("一碗面，煮了六十年", ZH_NOODLES, "zh-CN", "chenguang", note=CHENGUANG_NOTE))
    html(f"{chenguang}/tech/2024/04/datacenter-cooling.html",
         page("数据中心如何给自己“降温”", ZH_DATACENTER, "zh-CN", "chenguang", note=CHENGUANG_NOTE))
    html(f"{chenguang}/local/2024/04/river-egrets.html",
         page("河道治理三年后，白鹭又回来了", ZH_EGRETS, "zh-CN", "chenguang", note=CHENGUANG_NOTE))
    html("http://www.chengnan-life.example/food/night-market.html",
         page("夜市裡的老攤位", ZH_TW_NIGHT_MARKET, "zh-TW", "yeshi"), charset="big5")

    # -- near-duplicates on other URLs (MinHash keeps the smallest document id of each cluster)
    html("https://www.localnewsdigest.example/story/88412-repair-cafe-saves-toasters",
         page("Repair caf\u00e9: nothing is beyond saving", EN_REPAIR_DIGEST, "en", "digest", note=COURIER_NOTE))
    html("https://m.harbourtown-courier.example/community/repair-cafe",
         page("At the repair caf\u00e9, nothing is beyond saving", EN_REPAIR_MOBILE, "en", "courier_mobile",
              note=COURIER_NOTE))
    html("https://forum.skywatchers.example/t/upper-brindle-dark-sky/5521",
         page("The valley that switched off its streetlights", EN_DARKSKY_FORUM, "en", "skyforum",
              note=COURIER_NOTE))  # pasted whole, with the Courier's membership note
    html("https://www.nachrichten-portal.example/panorama/ebersfeld-freibad-gerettet",
         page("Ein Dorf rettet sein Freibad", DE_FREIBAD_PORTAL, "de", "portal_de"))
    html("https://news.zixun-portal.example/a/20240416/000187.html",
         page("地铁五号线东延段开通", ZH_METRO_PORTAL, "zh-CN", "portal_zh", note=CHENGUANG_NOTE))
    html("https://m.chenguang-daily.example/local/2024/04/metro-line5-east.html",
         page("地铁五号线东延段正式开通", ZH_METRO_MOBILE, "zh-CN", "chenguang_mobile", note=CHENGUANG_NOTE))

    # -- junk the clean job drops
    html(f"{courier}/sitemap", SITEMAP)
    html("https://shop.harbour-outdoor.example/rain-jackets", SHOP)
    html("https://www.cheap-flights-paris-deals.example/", SEO_SPAM)
    html("http://www.tejia-jipiao.example/", ZH_SPAM)
    html("https://preview.template-studio.example/themes/lorem", LOREM)
    html("https://www.new-bakery-site.example/", COMING_SOON)
    html("http://www.sunnymeadow-caravans.example/guestbook", GUESTBOOK)
    html("https://blog.webcraft-notes.example/css/centre-with-flexbox", CODE_PAGE)
    html("https://www.weekday-baking.example/recipes/banana-bread", RECIPE)
    html("https://www.redtube.com/landing", ADULT)
    html("https://www.sundlaug-hofn.example/", ICELANDIC)
    html("https://www.welcome-hub.example/", WELCOME)

    # -- HTML responses that never reach extraction, non-HTML responses, a revisit
    html(f"{courier}/archive/1998/old-story", NOT_FOUND, status="404 Not Found")
    html("http://harbourtown-courier.example/", MOVED, status="301 Moved Permanently",
         extra_headers=[("Location", f"{courier}/")])
    html(f"{courier}/api/empty-teaser", b"")
    write(f"{courier}/static/logo.png", "response", tiny_png(b"\x1f\x4e\x79"), http=("200 OK", [("Content-Type", "image/png")]))
    write(f"{courier}/static/site.css", "response", CSS, http=("200 OK", [("Content-Type", "text/css")]))
    write(f"{courier}/files/ferry-timetable-april.pdf", "response", PDF,
          http=("200 OK", [("Content-Type", "application/pdf")]))
    write(f"{courier}/api/tides.json", "response", JSON, http=("200 OK", [("Content-Type", "application/json")]))
    first_url = f"{courier}/community/repair-cafe"
    write(first_url, "revisit", b"", http=("200 OK", [("Content-Type", "text/html; charset=utf-8")]),
          extra={"WARC-Profile": "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest",
                 "WARC-Refers-To-Target-URI": first_url,
                 "WARC-Refers-To-Date": first.rec_headers.get_header("WARC-Date"),
                 "WARC-Payload-Digest": first.rec_headers.get_header("WARC-Payload-Digest")}, key="revisit")

    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(stream.getvalue())
    return out_path


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
