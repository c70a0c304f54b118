"""Seed abbreviations per language for the Punkt sentence splitter.

Punkt learns abbreviations from the book itself, but a short book may use "Mr." only
a few times; seeding the common ones keeps "Mr. Holmes said." in one sentence.
Entries are lower case without the final period, as Punkt stores them
("e.g" for "e.g.").
"""

from __future__ import annotations

_EN = """
mr mrs ms messrs mme dr st mt jr sr prof capt cmdr col gen lt maj sgt cpl pvt adm rev hon
esq gov pres rep sen supt insp det fr br vs etc e.g i.e viz cf al ibid op cit
vol vols ch chap p pp para fig figs ed eds trans jan feb mar apr jun jul aug sep sept oct
nov dec inc ltd corp bros dept univ approx
a.m p.m b.c a.d u.s u.k n.b p.s ft yd oz lb lbs
"""
_ES = """
sr sra srta sres srs d dña dn ud uds vd vds pág págs p pp etc ej dr dra lic ing arq prof
sto sta núm cap caps vol vols fr fray excmo excma ilmo ilma rvdo av avda col admón
aprox tel a.c d.c ee.uu
"""
_FR = """
m mm mme mmes mlle mlles dr st ste sts me mgr pr etc cf p pp ex vol chap art av bd fg n°
c.-à-d j.-c apr env min max éd
"""
_PT = """
sr sra srs sras srta d dr dra drs prof profa exmo exma ilmo ilma v.exa n.º nº pág págs
p pp etc ex vol cap art av dto sto sta fr a.c d.c
"""
_DE = """
hr hrn fr frl dr prof st nr bzw z.b usw u.a d.h vgl ca evtl ggf inkl bspw sog s.o s.u
u.ä u.s.w z.t z.zt bd bde kap abs abb anm hrsg jh jhd jan feb mär apr jun jul aug sep sept
okt nov dez
"""
_RU = """
г гг т.е т.д т.п т.к т.н и.т.д др пр ул д кв стр рис см гл им ок св тов гр г-н г-жа проф
акад доц коп руб тыс млн млрд вв н.э
"""
_AR = ""
_KO = ""

SEED_ABBREVIATIONS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": _EN,
        "es": _ES,
        "fr": _FR,
        "pt": _PT,
        "de": _DE,
        "ru": _RU,
        "ar": _AR,
        "ko": _KO,
        "all": _EN,
    }.items()
}


def seed_abbreviations(language: str) -> frozenset[str]:
    """The seed list for a vendor language key (empty for languages without one)."""
    return SEED_ABBREVIATIONS.get(language, frozenset())

# Titles that precede a name and so never end a sentence: Punkt's orthographic
# heuristic sometimes splits after them ("Now, Mr. | Holmes"); these are re-joined.
_TITLES = {
    "en": "mr mrs ms messrs dr st mt prof capt col gen lt rev hon",
    "es": "sr sra srta sres dña dr dra",
    "fr": "m mm mme mmes mlle mlles mgr",
    "pt": "sr sra srta dr dra",
    "de": "hr hrn frl",
    "ru": "г-н г-жа",
}
TITLES: dict[str, frozenset[str]] = {lang: frozenset(words.split()) for lang, words in _TITLES.items()}
TITLES["all"] = TITLES["en"]


def never_final(language: str) -> frozenset[str]:
    """Abbreviations (lower case, no period) after which a sentence never ends."""
    return TITLES.get(language, frozenset())
