"""Write tests/data/sample.warc.gz: a small, hand-written WARC that exercises ingest.

Run:  .venv/bin/python tests/data/make_sample_warc.py [output path]

The output is byte-identical on every run (fixed record ids, dates and gzip headers),
so the committed file can be checked against this script.

Contents (17 records):
- warcinfo
- 8 HTML article pages, all meant to survive the clean job:
    en  UTF-8, charset in the HTTP header (with its request and metadata records)
    en  UTF-8, no Content-Type header and no <meta> charset at all
    de  ISO-8859-1, charset in the HTTP header
    de  windows-1252, charset only in <meta http-equiv>
    zh  GBK (simplified), charset only in <meta charset>
    zh  Big5 (traditional), charset in the HTTP header
    fr  UTF-8 in <meta charset>, sent gzip-compressed and chunked (warcio decodes it)
    en  XHTML served as application/xhtml+xml, UTF-8 from the XML declaration
- request and metadata records (for the first page), a revisit of the first page
- non-pages: image/png, a PNG mislabelled text/html, application/json,
  a 404 HTML page, and a 200 text/html response with an empty body.
"""
from __future__ import annotations

import gzip
import io
import sys
import uuid
from pathlib import Path

from warcio.warcwriter import WARCWriter

# The record writer and helpers shared with scripts/make_sample_crawl.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from warc_fixtures import chunked, record_id, record_writer, tiny_png  # noqa: E402

OUT = Path(__file__).with_name("sample.warc.gz")
NS = uuid.UUID("6f1c1c52-0a7e-4f4e-9a51-3a4b8f0c2d11")


def rid(key: str) -> str:
    return record_id(NS, key)


def page(title: str, paragraphs: list[str], lang: str, head_extra: str = "", nav: str = "Home | News | About | Contact") -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n{head_extra}<title>{title}</title>\n"
        f"<link rel=\"stylesheet\" href=\"/static/site.css\">\n</head>\n<body>\n"
        f"<header><nav>{nav}</nav></header>\n<main><article>\n<h1>{title}</h1>\n{body}\n"
        f"</article></main>\n<footer>&copy; 2024 The Riverside Gazette. All rights reserved.</footer>\n"
        f"<script>window.analytics = window.analytics || [];</script>\n</body>\n</html>\n"
    )


EN_COMPOST = page(
    "How one neighbourhood turned kitchen scraps into a shared garden",
    [
        "When the residents of Alder Street first proposed a community compost bin, the idea was met with polite doubt. "
        "Several neighbours worried about smells, others about rats, and a few simply did not believe that anyone would "
        "bother to carry their vegetable peelings down the road. Two years later, the bins are full every week and the "
        "soil they produce feeds a garden that supplies tomatoes, beans and herbs to more than forty households.",
        "The project began with a small grant from the city and a great deal of volunteer labour. A retired engineer "
        "designed a three-bay system out of reclaimed pallets, so that one bay could be filled while the other two were "
        "left to mature. Volunteers take turns checking the temperature of each pile and turning it with a fork, and a "
        "simple chart on the fence shows which bay is ready.",
        "The organisers say that the hardest part was not the building but the teaching. Many people did not know that "
        "cooked food, meat and dairy attract pests, or that a healthy pile needs a balance of wet green material and dry "
        "brown material such as leaves and cardboard. A short leaflet, translated into four languages, now hangs next to "
        "the bins and explains what can and cannot go in.",
        "The benefits have reached beyond the garden. The local school uses the site for science lessons, and the amount "
        "of rubbish collected from the street has fallen by almost a third. Other neighbourhoods have started to ask for "
        "advice, and the group is now writing a guide that explains how to plan, fund and run a similar scheme.",
    ],
    "en",
)

EN_LIBRARY = page(
    "The library that stays open after dark",
    [
        "For most of its history the Westbrook public library closed its doors at six o\u2019clock, just as many working "
        "people were finally free to visit. Last spring the library tried something different: on Tuesdays and Thursdays "
        "it stays open until ten, staffed by two librarians and a rota of trained volunteers.",
        "The change was cheaper than expected. Instead of heating the whole building, the evening service uses only the "
        "ground floor, where the reading room, the children\u2019s corner and the public computers are. Lights on the upper "
        "floors are switched off, and the caf\u00e9 next door agreed to stay open as well.",
        "Visitor numbers on late evenings are now higher than on some weekday mornings. Students use the quiet tables to "
        "revise, parents bring children after dinner, and a weekly conversation club helps newcomers practise English in "
        "a relaxed setting. \u201cPeople told us they wanted somewhere warm and calm to go that did not cost money,\u201d "
        "said the head librarian, \u201cand that is exactly what a library is for.\u201d",
        "The council will review the trial at the end of the year. If the figures hold, the late opening could be extended "
        "to a third evening and copied at two smaller branches in the north of the city.",
    ],
    "en",
)

DE_BAHN = page(
    "Warum die kleine Bahnstrecke im Tal wieder f\u00e4hrt",
    [
        "Zwanzig Jahre lang wuchs Gras zwischen den Schienen der alten Talbahn. Nun rollen wieder Z\u00fcge zwischen den "
        "D\u00f6rfern, und zwar nicht nur am Wochenende f\u00fcr Ausfl\u00fcgler, sondern jeden Morgen f\u00fcr Sch\u00fcler und "
        "Pendler, die bisher auf das Auto angewiesen waren.",
        "Die Wiederer\u00f6ffnung ist das Ergebnis einer langen Zusammenarbeit zwischen den Gemeinden, dem Land und einem "
        "Verein von Eisenbahnfreunden. Die Ehrenamtlichen haben Br\u00fccken vermessen, B\u00e4ume zur\u00fcckgeschnitten und "
        "alte Pl\u00e4ne aus dem Archiv geholt. Ohne diese Vorarbeit, sagt der B\u00fcrgermeister, h\u00e4tte sich kein Planer "
        "an das Projekt gewagt.",
        "Gefahren wird mit modernen Triebwagen, die leise und sparsam sind. In der Hauptverkehrszeit gibt es einen "
        "Stundentakt, der genau auf die Anschl\u00fcsse in der Kreisstadt abgestimmt ist. Wer sein Fahrrad mitnehmen will, "
        "findet in jedem Wagen ausreichend Platz.",
        "Noch ist offen, ob sich die Strecke langfristig tr\u00e4gt. Die ersten Zahlen sind jedoch ermutigend: In den "
        "ersten drei Monaten wurden mehr Fahrg\u00e4ste gez\u00e4hlt, als die Gutachter f\u00fcr das ganze erste Jahr erwartet "
        "hatten.",
    ],
    "de",
)

DE_BROT = page(
    "Ein B\u00e4cker erkl\u00e4rt, warum gutes Brot Zeit braucht",
    [
        "Morgens um drei Uhr ist es in der Backstube von Martin Keller schon warm. Der B\u00e4ckermeister f\u00fchrt den "
        "Betrieb in dritter Generation und hat sich einem einfachen Grundsatz verschrieben: \u201eGutes Brot l\u00e4sst "
        "sich nicht beschleunigen.\u201c",
        "Statt Fertigmischungen verwendet er Sauerteig, den er seit \u00fcber zwanzig Jahren f\u00fcttert und pflegt. Der Teig "
        "ruht viele Stunden, manchmal eine ganze Nacht, bevor er geformt und gebacken wird. Dadurch entwickelt das Brot "
        "mehr Geschmack, h\u00e4lt l\u00e4nger frisch und ist f\u00fcr viele Menschen besser vertr\u00e4glich.",
        "Das Handwerk steht allerdings unter Druck. Energie und Mehl sind teurer geworden, und es ist schwer, junge "
        "Menschen f\u00fcr eine Ausbildung zu gewinnen, die so fr\u00fch am Morgen beginnt. Keller bietet deshalb "
        "Schnupperkurse f\u00fcr Sch\u00fcler an und zeigt ihnen, wie viel Wissen in einem einfachen Laib steckt.",
        "Seine Kundschaft dankt es ihm. Vor der Ladent\u00fcr bildet sich am Samstag regelm\u00e4\u00dfig eine Schlange, und "
        "viele Stammkunden kommen seit Jahrzehnten \u2013 manche schon mit ihren Enkelkindern.",
    ],
    "de",
    head_extra='<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">\n',
    nav="Startseite | Lokales | Kultur | Kontakt",
)

ZH_GBK = page(
    "城市里的社区菜园",
    [
        "在城市东边的一个老小区里，居民们把一块长期闲置的空地变成了社区菜园。三年前，这里堆满了建筑垃圾和杂草，"
        "许多人路过时都会皱起眉头。后来，几位退休的老人提出建议，希望大家一起动手，把这块地重新利用起来。",
        "街道办事处很快同意了这个想法，并提供了一些工具和种子。周末的时候，年轻人和孩子们也加入进来，"
        "有人负责清理石块，有人负责翻土，还有人从附近的公园运来落叶做肥料。经过两个多月的努力，菜园终于建成了。",
        "现在，菜园被分成了三十多个小块，每户家庭可以申请一块来种植蔬菜。春天种青菜和豆角，夏天种番茄和黄瓜，"
        "秋天则收获萝卜和白菜。每到收获的季节，邻居们会把多余的蔬菜放在门口的架子上，供其他人免费拿取。",
        "菜园带来的变化不仅仅是新鲜的蔬菜。过去互不认识的邻居，如今会在浇水的时候聊天，交流种植的经验。"
        "小学的老师也经常带学生来参观，让孩子们了解植物是怎样生长的。居民们说，这块小小的土地让整个小区变得更加温暖。",
    ],
    "zh-CN",
    head_extra='<meta charset="gbk">\n',
    nav="首页 | 新闻 | 社区 | 联系我们",
)

ZH_BIG5 = page(
    "老街上的傳統書店",
    [
        "在舊城區的一條老街上，有一家開了四十多年的小書店。書店的面積不大，書架從地面一直排到天花板，"
        "空氣中總是帶著紙張和木頭的味道。店主是一位七十歲的老先生，他每天早上九點準時開門，晚上八點才關門。",
        "近年來，網路書店和電子書越來越普及，許多實體書店都關門了。老先生卻沒有放棄，他認為書店不只是賣書的地方，"
        "更是一個讓人安靜下來、慢慢思考的空間。他會為每一位客人推薦適合的書，也會耐心地聽他們分享閱讀的心得。",
        "為了吸引年輕的讀者，書店每個月都會舉辦讀書會和講座，邀請作家和學者來和大家交流。週末的時候，"
        "店裡還有專門為孩子們準備的故事時間，許多家長會帶著孩子一起來，度過一個愉快的下午。",
        "附近的居民說，這家書店已經成為老街的一部分。就算生意不如從前，只要書店的燈還亮著，"
        "大家就覺得這條街依然有它的溫度。老先生笑著說，只要還有人願意走進來看書，他就會一直做下去。",
    ],
    "zh-TW",
    nav="首頁 | 新聞 | 文化 | 聯絡我們",
)

FR_MARCHE = page(
    "Le marché du samedi, cœur battant du village",
    [
        "Chaque samedi matin, la place de l\u2019église se transforme. Dès sept heures, les producteurs installent leurs "
        "étals : fromages de chèvre, légumes de saison, miel de la vallée et pain cuit au feu de bois. Vers neuf heures, "
        "la place est déjà pleine de monde.",
        "Pour beaucoup d\u2019habitants, le marché est bien plus qu\u2019un lieu d\u2019achat. On y prend des nouvelles des "
        "voisins, on échange des recettes et on discute de la météo, qui inquiète toujours les agriculteurs. Les enfants "
        "courent entre les stands pendant que les parents font la queue chez le boulanger.",
        "La mairie a récemment décidé de soutenir davantage les jeunes producteurs. Les emplacements sont désormais "
        "gratuits pendant la première année, ce qui permet à de nouveaux maraîchers de tester leurs produits sans prendre "
        "trop de risques. Trois jeunes exploitations se sont déjà installées grâce à cette mesure.",
        "Les commerçants du centre se réjouissent aussi : le samedi, les cafés et la librairie voient passer beaucoup plus "
        "de clients. Le marché, disent-ils, donne au village une raison de se retrouver chaque semaine.",
    ],
    "fr",
    head_extra='<meta charset="utf-8">\n',
    nav="Accueil | Actualités | Agenda | Contact",
)

EN_XHTML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
    + page(
        "A beginner\u2019s guide to reading river levels",
        [
            "Anyone who walks, fishes or paddles near a river will sooner or later need to understand water levels. The "
            "numbers published by gauging stations can look confusing at first, but a few simple ideas make them much "
            "easier to read.",
            "A gauge measures the height of the water surface above a fixed point, not the depth of the river. That is why "
            "two stations on the same river can show very different figures on the same day. What matters is how the "
            "current reading compares with the normal range for that particular station.",
            "Most services also show a trend arrow or a short graph. A level that is high but falling is usually less "
            "worrying than one that is moderate but rising quickly, especially after heavy rain in the hills upstream. "
            "Checking the trend before you set out is one of the easiest ways to stay safe.",
            "Finally, remember that the published figures are updated only every fifteen minutes or so. If the water in "
            "front of you looks fast, brown and full of debris, trust your eyes rather than the website and keep well "
            "back from the bank.",
        ],
        "en",
    ).replace("<!DOCTYPE html>\n<html lang=\"en\">", '<html xmlns="http://www.w3.org/1999/xhtml" lang="en" xml:lang="en">')
)

NOT_FOUND = page("Page not found", ["Sorry, the page you were looking for does not exist or has been moved."], "en")


def build(out_path: Path) -> Path:
    stream = io.BytesIO()
    writer = WARCWriter(stream, gzip=True)
    minute = iter(range(60))
    write = record_writer(writer, NS, lambda: f"2024-03-05T10:{next(minute):02d}:00Z")

    info = (b"software: tests/data/make_sample_warc.py (warcio)\r\nformat: WARC File Format 1.0\r\n"
            b"description: hand-written sample pages for the corpus pipeline tests\r\n")
    write("", "warcinfo", info, extra={"WARC-Filename": "sample.warc.gz", "Content-Type": "application/warc-fields"},
          key="warcinfo")

    first_url = "https://www.riverside-gazette.example/community/compost-garden"
    write(first_url, "request", b"",
          http=("GET /community/compost-garden", [("Host", "www.riverside-gazette.example"), ("User-Agent", "sample-crawler/1.0")]))
    first = write(first_url, "response", EN_COMPOST.encode("utf-8"),
                  http=("200 OK", [("Content-Type", "text/html; charset=UTF-8")]))
    write(first_url, "metadata", b"fetchTimeMs: 212\r\ncharset-detected: UTF-8\r\n",
          extra={"WARC-Concurrent-To": first.rec_headers.get_header("WARC-Record-ID"),
                 "Content-Type": "application/warc-fields"})

    write("https://riverside-gazette.example/culture/late-library", "response", EN_LIBRARY.encode("utf-8"),
          http=("200 OK", [("Server", "nginx")]))  # no Content-Type, no charset anywhere
    write("https://www.taltal-bote.example/region/talbahn", "response", DE_BAHN.encode("iso-8859-1"),
          http=("200 OK", [("Content-Type", "text/html; charset=ISO-8859-1")]))
    write("https://www.taltal-bote.example/genuss/baecker", "response", DE_BROT.encode("cp1252"),
          http=("200 OK", [("Content-Type", "text/html")]))
    write("http://news.dongcheng-shequ.example/2024/03/caiyuan.html", "response", ZH_GBK.encode("gbk"),
          http=("200 OK", [("Content-Type", "text/html")]))
    write("http://www.laojie-wenhua.example/bookstore.html", "response", ZH_BIG5.encode("big5"),
          http=("200 OK", [("Content-Type", "text/html; charset=big5")]))
    write("https://www.village-vallee.example/vie-locale/marche-du-samedi", "response",
          chunked(gzip.compress(FR_MARCHE.encode("utf-8"), mtime=0)),
          http=("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")]))
    write("https://rivers.example.org/guides/reading-river-levels", "response", EN_XHTML.encode("utf-8"),
          http=("200 OK", [("Content-Type", "application/xhtml+xml")]))

    digest = first.rec_headers.get_header("WARC-Payload-Digest")
    write(first_url, "revisit", b"", http=("200 OK", [("Content-Type", "text/html; charset=UTF-8")]),
          extra={"WARC-Profile": "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest",
                 "WARC-Refers-To-Target-URI": first_url, "WARC-Refers-To-Date": first.rec_headers.get_header("WARC-Date"),
                 "WARC-Payload-Digest": digest}, key="revisit")
    png = tiny_png()
    write("https://www.riverside-gazette.example/static/logo.png", "response", png,
          http=("200 OK", [("Content-Type", "image/png")]))
    write("https://www.riverside-gazette.example/static/banner", "response", png,
          http=("200 OK", [("Content-Type", "text/html")]))  # mislabelled image
    write("https://api.riverside-gazette.example/v1/weather.json", "response",
          b'{"city": "Riverside", "forecast": [{"day": "Tue", "high": 14, "low": 6}]}',
          http=("200 OK", [("Content-Type", "application/json")]))
    write("https://www.riverside-gazette.example/old/article-1999", "response", NOT_FOUND.encode("utf-8"),
          http=("404 Not Found", [("Content-Type", "text/html; charset=utf-8")]))
    write("https://www.riverside-gazette.example/empty", "response", b"",
          http=("200 OK", [("Content-Type", "text/html; charset=utf-8")]))

    out_path.write_bytes(stream.getvalue())
    return out_path


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
