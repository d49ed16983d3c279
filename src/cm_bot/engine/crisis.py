"""Words that mean someone may not be safe, wherever in the conversation they appear.

A flow asks about risk at set points; people say it when they say it, mid-form, in an
edit, in a caption, in another language. Every text from every person goes through
:meth:`CrisisWords.find`, so matching is broad (a false alarm costs a case manager a
minute; a miss can cost a life) and cheap (one precompiled regex over folded text).

Folding (:func:`fold`, applied the same way to messages and to list entries) ignores
case, accents and diacritics (so й→и, ї→і→и, ё→е, ñ→n), apostrophes of every shape
("don't" = "dont", "вб'ю" = "вбʼю" = "вбю"), invisible characters, punctuation between
words, Latin look-alike letters inside Cyrillic words (and the reverse), and stretched
letters: every run of one letter becomes one letter ("kiiill" = "kill" = "kil"). Ukrainian
typed on a Russian keyboard is common, so і/ї→и, є→е, ґ→г, and ъ (typed for an
apostrophe) is dropped.

List notation (also for a program's extra words), one entry a phrase of words:

- ``kill* myself``: a trailing ``*`` is a stem (matches "killing myself"); a word without
  it matches a whole word only ("skill myself" does not match).
- ``he|she .. hit* me``: ``a|b`` is a choice for one word; ``_`` joins words inside a
  choice (``like_this``); ``..`` is a gap of up to three words.
- ``can't go on $``: ``$`` ends the phrase at the end of the message ("I can't go on"
  but not "I can't go on Tuesday").
- ``hit* me !up|that``: a last ``!`` item lists words that must not follow.
- ``<who> .. kill me``: ``<who>`` is a named list of choices (``_GROUPS``); also inside a
  choice: ``my_<en_family>``.

Negation is deliberately not understood: "I'm not suicidal" matches, and a person reads it.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias


class CrisisKind(StrEnum):
    """What a phrase is about; the flag is urgent either way, the kind helps the reader."""

    SELF_HARM = "self_harm"  # suicide and self-harm
    VIOLENCE = "violence"  # violence against the client: he hits me, not safe at home


@dataclass(frozen=True, slots=True)
class CrisisMatch:
    """What a message matched: every kind, and the list entries in order of appearance."""

    kinds: frozenset[CrisisKind]
    phrases: tuple[str, ...]  # as written in the list

    @property
    def violence(self) -> bool:
        """Someone else may hurt the client (as opposed to, or as well as, self-harm)."""
        return CrisisKind.VIOLENCE in self.kinds


# ---------------------------------------------------------------------------------------
# The lists. Kept broad on purpose; each borderline choice is noted where it is made.

LOCALES: tuple[str, ...] = ("en", "es", "uk", "ru")

# Named word choices, written ``<name>`` in an entry (and shown that way when it matches).
# People and pronouns that are typically the one doing the harm ("my husband hits me").
_EN_WHO = (
    "he|she|they|hes|shes|theyre|he'll|she'll|they'll|husband|hubby|boyfriend|bf|partner|ex"
    "|wife|girlfriend|gf|dad|father|stepdad|stepfather|mom|mother|brother|uncle|son|roommate"
    "|landlord|pimp|someone|somebody"
)

_GROUPS: dict[str, str] = {
    "who": _EN_WHO,
    "en_family": "husband|partner|boyfriend|girlfriend|wife|ex|father|dad|mother|mom|stepdad"
    "|stepfather",
    "es_high": "puente|edificio|techo|balcon|ventana|tren|metro|vias|azotea",
    "ru_high": "крыши|моста|окна|балкона|этажа",
}

_SELF_HARM: dict[str, tuple[str, ...]] = {
    "en": (
        "suicid*",  # suicide, suicidal, suicidality
        "sucid*",  # common misspellings
        "suicd*",
        "suisid*",
        "sewer slide",  # algospeak
        "sewerslide",
        "unaliv*",
        "kms",  # "kill myself"; also kilometres ("10 kms"): accepted false alarm
        "kill* myself",
        "killmyself",
        "kill*|hurt*|harm*|cut* my_self|meself",
        "off myself",
        "hurt* myself",
        "harm* myself",
        "injur* myself",
        "cut* myself !some|a|an|off|short",  # not "cutting myself some slack"
        "hang* myself",
        "shoot* myself !a|an",
        "shot myself",
        "stab* myself",
        "drown* myself !in_work|in_paperwork|in_debt|in_coffee",
        "poison* myself",
        "starv* myself",
        "suffocat* myself",
        "self harm*",  # also self-harm, self_harm
        "selfharm*",
        "self injur*",
        "self mutilat*",
        "cutting again",
        "cut*|slit* my wrist*",
        "end* my life",
        "end* my own life",
        "end* it all",
        "end* it tonight",
        "end* things !with|between",  # "thinking about ending things"
        "take|taking|took my own life",
        "take|taking|took my life !back|in|into",  # not "take my life back"
        "want* to die",
        "wanna|want_2|want2|wan2 die",
        "ready to die",
        "rather be dead",
        "rather die",  # "I'd rather die than go back there": accepted false alarm
        "wish i was|were|wuz dead|gone",
        "wish i wasnt|werent alive|here|born",
        "wish i was|were never born",
        "wish i .. never been born",
        "wish i could|would|d die|disappear|sleep_forever",
        "better off dead",
        "better off without me",
        "better without me",
        "everyone|everybody .. better off",
        "dont|not want_to|wanna live",  # "don't want to live with him": accepted false alarm
        "dont|not want_to|wanna be_alive|exist|wake_up|be_here_anymore|live_anymore",
        "dont|not feel like living",
        "no reason to live",
        "nothing to live for",
        "not|isnt|aint worth living",
        "no point .. living|life|going_on",
        "whats the point of|in living|life|going_on",
        "tired of living|life|being_alive|it_all|everything",  # "tired of everything": borderline
        "sick of living|life|being_alive",
        "done with life|living",
        "done living",
        "give|giving|gave up on life|living",
        "cant|cannot|can_not go on $",  # not "I can't go on Tuesday"
        "cant|cannot|can_not go on anymore|any_more|any_longer|living|like_this|with_life",
        "cant|cannot|can_not take it anymore|any_more|no_more|any_longer",
        "cant|cannot|can_not do this anymore|any_more|no_more",  # borderline: distress
        "overdos*",
        "too many pills",
        "gonna|going_to|want_to|wanna od",
        "od on",
        "stockpil* .. pills|meds",
        "jump* off|from .. bridge|roof|building|balcony|cliff|overpass",
        "jump* in front of",
        "throw* myself off|under|in_front",
        "step* in front of a|the train|bus|car|truck",
        "never wake up",
        "hope i dont wake up",
        "sleep forever",
        "want_to|wanna disappear|vanish",
        "wont be around|here much_longer|for_long",
        "goodbye forever",
        "final goodbye",
    ),
    "es": (
        "suicid*",  # suicidio, suicidarme, suicida
        "matarme",  # also "amenazó con matarme" (with a violence word: both kinds)
        "me quiero|kiero|voy_a|vy_a|vo_a matar",
        "me mato !de|trabajando|estudiando|a|en|con|por|para",  # not "me mató de risa"
        "mejor me mato",
        "quit* la vida",  # quitarme la vida, me voy a quitar la vida
        "acab*|termin* con mi vida",
        "acab*|termin* con todo !el|la|los|las|lo|esto|eso|este|esta|mi|mis|tu|su|sus",
        "quiero|kiero|quisiera|deseo|prefiero morir*",
        "me quiero|kiero morir",
        "ganas de morir*|desaparecer|no_vivir",
        "ojala me muera|muriera|muriese",
        "ojala estuviera muert*",
        "mejor muert*",  # mejor muerta, estaría mejor muerto
        "mejor me muero",
        "mejor morir*",
        "mejor sin mi",  # estarían mejor sin mí
        "quiero|quisiera|deseo estar muert*",
        "no quiero|kiero vivir",  # "no quiero vivir ahí": accepted false alarm
        "no quiero|kiero seguir viviendo|aqui|en_este_mundo",
        "no quiero despertar*",
        "y no despertar*",
        "no vale la pena vivir|seguir",
        "la vida no vale la pena",
        "no tiene sentido vivir|seguir|la_vida|mi_vida",
        "razon|razones|motivo|motivos para vivir|seguir_viviendo",
        "cansad*|harta|harto de vivir|la_vida",
        "cansad* de todo",  # borderline, like "tired of everything"
        "ya no puedo mas $",
        "no puedo mas $",
        "no puedo mas con mi_vida|la_vida|esto",
        "no aguanto mas $",
        "no aguanto mas esta_vida|vivir|la_vida",
        "quiero|kiero|quisiera desaparecer|irme_de_este_mundo",
        "hacerme daño",
        "me hago daño",
        "lastimarme",  # "lastimarme la espalda": accepted false alarm
        "me estoy lastimando",
        "autolesi*",  # autolesión, autolesionarme
        "auto lesion*",
        "cort* las|los|mis venas|brazos|muñecas|piernas",
        "cortarme !el|la|un|una|las_uñas|los_pelos|el_pelo",
        "sobredosi*",
        "tom* todas las|mis pastillas|pastis",  # "tomé todas mis pastillas": accepted
        "tom* muchas|demasiadas|un_monton_de pastillas|pastis",
        "me quiero|voy_a tirar|aventar|lanzar|arrojar .. <es_high>",
        "tirarme|aventarme|lanzarme|arrojarme .. <es_high>",
        "colgarme",
        "ahorcarme",
        "me voy a colgar|ahorcar",
        "envenenarme",
        "pegarme|darme|meterme un tiro|balazo",
    ),
    "uk": (
        "самогубств*",
        "суїцид*",
        "самоушкодж*",
        "селфхарм*",
        "передоз*",  # передоз, передозування, передозуватися
        "вби*|уби*|вб'ю|уб'ю себе",  # вбити себе, вбиваю себе, вб'ю себе
        "себе вб'ю|уб'ю|вбити|убити|вбиваю",
        "покінч*",  # покінчити / покінчу (з собою, з життям)
        "накла* на себе руки",  # накласти / накладу на себе руки
        "руки на себе",
        "не хочу жити",  # "не хочу жити в гуртожитку": accepted false alarm
        "не хочу більше|так|вже|так_більше жити",
        "не хочеться жити",
        "не хочеться більше|вже|так жити",
        "жити не хочу|хочеться",
        "не бажаю жити",
        "вмерти",  # the infinitive on its own; "можна вмерти зі сміху": accepted
        "померти",
        "умерти",
        "хочу|хочеться|краще здохнути",
        "краще б я вмер*|помер*|не_народжувалась|не_народжувався",
        "краще б мене не було",
        "краще без мене",
        "без мене .. краще",
        "сенсу жити",
        "сенсу в|у житті",
        "нема|немає для чого жити",
        "заради чого жити",
        "втоми* жити|від_життя|від_усього|від_всього",
        "набридло жити",
        "не можу так|більше|так_більше|вже жити",
        "більше не можу $",
        "не можу більше $",
        "нема|немає сил жити",
        "хочу|хочеться зникнути",
        "не хочу прокидатися|прокидатись|прокинутися",
        "і не прокинутися|прокинутись",
        "завдати собі шкоди",
        "зашкод* собі",
        "собі зашкод*",
        "собі шкоди|шкоду",
        "шкод* собі",
        "ріж*|різ*|поріж*|поріз*|переріз*|переріж* собі_вени|вени|себе|руки",
        "ріжусь",
        "повіситися|повіситись|повішуся|повішусь",
        "вистриб*|стриб*|скочи* з|із|зі мосту|даху|вікна|балкона|поверху",
        "кину*|кинусь під потяг|поїзд|машину|авто|електричку",
        "наковта* таблет*|пігулок",
        "вип'ю|випити|випила|випив всі|усі таблетки|пігулки",
        "отруїтися|отруїтись",
    ),
    "ru": (
        "самоубийств*",
        "суицид*",
        "самоповрежд*",
        "селфхарм*",
        "передоз*",
        "уби*|убью|убю себя",  # убить себя, убиваю себя, убью себя
        "себя убью|убить|убиваю",
        "убиться",
        "поконч* с|со собой|жизнью|всем",
        "поконч* $",
        "налож* на себя руки",
        "руки на себя",
        "не хочу жить",
        "не хочу больше|так|уже жить",
        "не хочется жить",
        "не хочется больше|уже|так жить",
        "жить не хочу|хочется",
        "умереть",  # the infinitive on its own, as in Ukrainian
        "помереть",
        "хочу|хочется|лучше|лучше_бы сдохнуть",
        "лучше бы я умер*|сдох*|не_родилась|не_родился",
        "лучше бы меня не было",
        "лучше без меня",
        "без меня .. лучше",
        "смысла жить",
        "смысла в жизни",
        "незачем жить",
        "не для чего жить",
        "ради чего жить",
        "устал* жить|от_жизни|от_всего",
        "надоело жить",
        "нет сил жить",
        "не могу так|больше|так_больше|уже жить",
        "больше не могу $",
        "не могу больше $",
        "хочу|хочется исчезнуть",
        "не хочу просыпаться|проснуться",
        "и не проснуться",
        "причин* себе вред|боль",
        "навред* себе",
        "себе навред*",
        "вред себе",
        "рез*|реж*|порез*|пореж*|вскры*|вскро*|перерез*|перереж* себе_вены|вены|себя|руки",
        "режусь",
        "повеситься|повешусь|повешаюсь",
        "прыгн*|спрыгн*|выпрыгн*|выброс*|брош*|брос*|скину* с|со|из .. <ru_high>",
        "брош*|брос*|кинусь|кинуться под поезд|машину|электричку",
        "наглота* таблет*",
        "выпью|выпить|выпила|выпил все таблетки",
        "отравиться",
    ),
}

_VIOLENCE: dict[str, tuple[str, ...]] = {
    "en": (
        # "Not safe" is counted as violence: the likeliest reading is that someone may hurt
        # the client. "It's not safe to drink the tap water" is an accepted false alarm.
        "not safe",
        "isnt|aint safe",
        "dont|doesnt|didnt|never|not|cant|no_longer feel* safe",
        "unsafe at|in home|my_home|my_house|the_house",
        "feel* unsafe",
        "im|i_am|were|we_are unsafe",
        "im|i_am|we_are|were|life_is|lives_are|kids_are|children_are in danger !of",
        "going to kill me",  # "this job is going to kill me": accepted false alarm
        "gonna kill me",
        "will kill me",
        "<who> .. kill me",  # he'll kill me, he said he would kill me
        "threaten* to kill me",
        "tried to kill me",
        "want* to kill me",
        "hit* me !up|that|how|what|differently",  # he hits me; not "it hit me that"
        "beat* me up",
        "<who> .. beat*|hurt*|chok*|strangl* me",
        "<who> .. push*|shov* me !to|into|too",
        "<who> .. grab*|touch* me !a|an|some|base",
        "<who> .. hit*|beat*|hurt*|kick*|chok* my|the kids|kid|children|child|baby|son|daughter",
        "punch* me",
        "slap* me",
        "chok* me",
        "strangl* me",
        "kick* me !out|off",  # "kicked me out" is housing, not violence
        "shov* me",
        "stab* me",
        "attack* me",
        "abus* me",
        "threaten* me !with_evict*|with_court|with_legal|with_a_lawsuit|with_late_fees",
        "stalk* me",
        "stalker",
        "threw|throw* me against|into|down|across|onto",
        "lock* me in|up",
        "wont|doesnt|didnt|never let me leave|go_out",
        "gun|knife on|at me",
        "gun|knife to my head|throat|neck",
        "rape|raped|rapes|raping|rapist",
        "sexual* assault*",
        "sexual* abus*",
        "molest|molested|molesting|molests|molester|molestation",  # not Spanish "molesta"
        "forc* me .. sex",
        "domestic violence|abuse",
        "abusive <en_family>|relationship|home|marriage",
        "being abused",
        "afraid|scared|terrified|frightened of him|her|my_<en_family>",
        "afraid|scared|terrified|frightened to .. home",
        "restraining order",
        "protection|protective order",
    ),
    "es": (
        "no estoy|estamos a salvo",
        "no me siento|sentimos segura|seguro|seguros|seguras|a_salvo !de|del|que|si|sobre|para",
        "no estoy|estamos segura|seguro|seguros|seguras en_casa|en_mi_casa|aqui|con_el",
        "me pega|pego|pegaba|pegan|pegaron",  # "se me pega la gripe": accepted false alarm
        "me golpea|golpeo|golpeaba|golpean|golpearon",  # not "me golpeé la rodilla"
        "me maltrat*",
        "maltrato",
        "maltratador*",
        # Landlords and utilities threaten eviction and shut-offs: those are not violence.
        "me amenaz* !con_desaloj*|con_echar*|con_cortar*|con_el_corte|con_demand*|con_multa*",
        "me tiene|tienen amenazad*",
        "me viol*",  # me violó, me violaron
        "me ahorc*",  # me ahorca (chokes me)
        "me estrangul*",
        "me pate*",
        "me lastima|lastiman|lastimaba|lastimo",
        "me hace|hizo|hacia|hacen daño",
        "me va|van a matar",
        "me quiere|quieren|puede|podria matar",
        "me matara|mataran",
        "casi me mata !de",  # not "casi me mata de risa"
        "amenaz* con matar*",
        "me da|dio|dieron|daba|dan|pego|pegaba una|otra paliza|golpiza",  # not "fue una paliza"
        "golpiza*",
        "a golpes",
        "me da|dio|daba|dan golpes|patadas|cachetadas|bofetadas|palizas|puñetazos",
        "violencia domestica|familiar|de_genero|intrafamiliar",
        "me abus*",
        "abus* de mi",
        "abuso sexual",
        "me forz*",
        "obliga* a tener relaciones|sexo",
        "miedo de|a mi esposo|marido|pareja|novio|ex|padre|padrastro|papa|hermano|hijo",
        "miedo de el",
        "le tengo miedo $",
        "miedo .. volver|regresar|ir|llegar a casa",
        "estoy|estamos|estan en peligro",
        "corr* peligro",
        "vida .. peligro",
        "me encierra|encerro|encierran",
        "no me deja salir",
        "orden de proteccion|alejamiento|restriccion",
    ),
    "uk": (
        "не в|у безпеці",  # я не в безпеці
        "в|у небезпеці",  # "я в небезпеці"; "родина в небезпеці" too
        "мені|вдома|тут небезпечно",
        "небезпечно вдома|мені",
        "не почуваю*|почуваюсь|відчуваю .. безпеці|безпечно",
        "мене вб'ють|уб'ють|вб'є|уб'є|вбить|вбиватиме|вбити|убити",
        "вб'ють|уб'ють|вб'є|уб'є|вбити|убити мене",
        "мене б'є|б'ють|бив|била|били|побив|побила|побили|вдарив|вдарила|вдарить|ударив",
        "б'є|б'ють|бив|била|били|побив|побила|побили|вдарив|вдарила|вдарить|ударив|бити мене",
        "мене душив|душить|душила|задушить|ґвалтує|зґвалтував",
        "душив|душить|душила|задушить|ґвалтує|зґвалтував мене",
        "зґвалт*",
        "ґвалтув*",
        "погрож* мені|мене|вбити|убити|ножем|зброєю !виселенням|виселити|судом",
        "мені погрож* !виселенням|виселити|судом",
        "насильств*",
        "насилл*",
        "боюся|боюсь його|чоловіка|свого_чоловіка|партнера|співмешканця|батька|вітчима|колишнього",
        "його боюся|боюсь",
        "боюся|боюсь|страшно .. додому|вдома",
        "на мене руку",  # підняв на мене руку
        "обмежувальн* припис*",
    ),
    "ru": (
        "не в безопасности",
        "в опасности",
        "мне|дома|тут|нам небезопасно|опасно",
        "не чувствую .. безопасн*",
        "меня убьет|убьют|убить|прибьет|прибьют",
        "убьет|убьют|прибьет|прибьют|убить меня",
        "меня бьет|бьют|бил|била|били|избил|избила|ударил|ударила|ударит !дрожь|озноб|током",
        "бьет|бьют|бил|била|били|избил|избила|ударил|ударила|ударит меня",
        "меня душит|душил|душила|задушит|изнасиловал",
        "душит|душил|душила|задушит|изнасиловал меня",
        "изби*",
        "изнасил*",
        "насили*",
        "угрож* мне|меня|убить|ножом|расправой !выселением|выселить|судом",
        "мне угрож* !выселением|выселить|судом",
        "боюсь его|мужа|своего_мужа|партнера|сожителя|отца|отчима|бывшего",
        "его боюсь",
        "боюсь|страшно .. домой|дома",
        "на меня руку",
        "охранн* ордер*",
    ),
}


# ---------------------------------------------------------------------------------------
# Folding: the same on messages and on list entries, so both meet in one normal form.

_DROP = dict.fromkeys(
    map(
        ord,
        "'’‘‛ʼʹ`´′＇ˈ*\u00ad"  # apostrophes of every shape ("*" stands in for one in Ukrainian)
        "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
        "\u2060\u2061\u2062\u2063\u2064\u2065\u2066\u2067\u2068\u2069\ufeff",
    )
)
_CYRILLIC_FOLD = str.maketrans({"і": "и", "є": "е", "ґ": "г", "ъ": None, "ё": "е", "й": "и"})
_LATIN_TO_CYRILLIC = str.maketrans("abcehikmoptxy", "авсенікмортху")
_CYRILLIC_TO_LATIN = str.maketrans("авсенікмортху", "abcehikmoptxy")
_LOOKALIKES = frozenset("abcehikmoptxyавсенікмортху")
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_LATIN = re.compile("[a-z]")
_MIXED_WORD = re.compile(  # a word with letters from both alphabets
    r"(?<!\w)[^\W\d_]*(?:[a-z][^\W\d_]*[\u0400-\u04ff]|[\u0400-\u04ff][^\W\d_]*[a-z])[^\W\d_]*"
)
_NON_WORD = re.compile(r"[\W_]+")
_REPEATS = re.compile(r"([^\W\d_])\1+")


def _unmix(word: re.Match[str]) -> str:
    """A word typed half in Latin look-alikes (Ukrainian "i" on an English keyboard)."""
    text = word[0]
    unique = set(text) - _LOOKALIKES  # letters that say which alphabet the word is in
    if unique:
        cyrillic = any(_CYRILLIC.match(c) for c in unique)
    else:
        cyrillic = len(_CYRILLIC.findall(text)) * 2 >= len(text)
    return text.translate(_LATIN_TO_CYRILLIC if cyrillic else _CYRILLIC_TO_LATIN)


def fold(text: str) -> str:
    """The normal form messages and phrases are compared in: lowercase words, one space apart."""
    text = text.translate(_DROP).casefold()
    if not text.isascii():
        text = "".join(
            c
            for c in unicodedata.normalize("NFKD", text)
            if not unicodedata.category(c).startswith(("M", "Cf"))
        ).translate(_DROP)
        if _CYRILLIC.search(text):
            if _LATIN.search(text):
                text = _MIXED_WORD.sub(_unmix, text)
            text = text.translate(_CYRILLIC_FOLD)
    text = _NON_WORD.sub(" ", text)
    return _REPEATS.sub(r"\1", text).strip()


# ---------------------------------------------------------------------------------------
# Phrases to regex. Each entry expands to sequences of regex atoms; all sequences share
# one trie, so the combined pattern tries one branch per first letter, not one per phrase.

_GAP = r"(?: \w++){0,3}"
_MIN_STEM = 3


class PhraseError(ValueError):
    """A list entry that cannot be read (from a program file, usually)."""


def _word_atoms(alt: str, phrase: str) -> tuple[str, ...]:
    """One choice of one word slot as atoms: literal letters, spaces and a stem tail."""
    stem = alt.endswith("*")
    folded = fold(alt.rstrip("*"))
    if not folded:
        raise PhraseError(f"crisis phrase {phrase!r}: {alt!r} has no letters")
    if stem and len(folded.replace(" ", "")) < _MIN_STEM:
        raise PhraseError(f"crisis phrase {phrase!r}: stem {alt!r} is too short")
    return (*(re.escape(c) for c in folded), r"\w*+" if stem else r"(?!\w)")


_GROUP = re.compile(r"<(\w+)>")


def _choices(item: str, phrase: str) -> list[str]:
    """The choices of one word slot, with ``<group>`` names spelt out."""
    choices: list[str] = []
    for alt in item.split("|"):
        named = _GROUP.search(alt)
        if named is None:
            choices.append(alt)
            continue
        if named[1] not in _GROUPS:
            raise PhraseError(f"crisis phrase {phrase!r}: unknown group {named[0]!r}")
        for word in _GROUPS[named[1]].split("|"):
            choices.extend(_choices(alt[: named.start()] + word + alt[named.end() :], phrase))
    return choices


def _expand(phrase: str) -> list[tuple[str, ...]]:
    """Every atom sequence an entry stands for (the product of its word choices)."""
    items = phrase.split()
    tail = ""
    if items and items[-1].startswith("!"):
        nots = [
            re.escape(fold(a.rstrip("*"))) + ("" if a.endswith("*") else r"(?!\w)")
            for a in items.pop()[1:].split("|")
            if fold(a.rstrip("*"))
        ]
        if not nots:
            raise PhraseError(f"crisis phrase {phrase!r}: nothing after '!'")
        tail = "(?! (?:" + "|".join(nots) + "))"
    if items and items[-1] == "$":
        items.pop()
        tail += "$"
    slots: list[list[tuple[str, ...]]] = []
    gap = False
    for item in items:
        if item in ("..", "…"):
            if not slots or gap:
                raise PhraseError(f"crisis phrase {phrase!r}: '..' must sit between words")
            gap = True
            continue
        if item in ("$",) or item.startswith("!"):
            raise PhraseError(f"crisis phrase {phrase!r}: {item!r} only goes at the end")
        joint: tuple[str, ...] = ((_GAP, " ") if gap else (" ",)) if slots else ()
        slots.append([joint + _word_atoms(alt, phrase) for alt in _choices(item, phrase)])
        gap = False
    if not slots or gap:
        raise PhraseError(f"crisis phrase {phrase!r}: no words, or it ends in '..'")
    return [
        tuple(itertools.chain.from_iterable(choice)) + ((tail,) if tail else ())
        for choice in itertools.product(*slots)
    ]


_END = ""  # trie key for "a phrase ends here"
_Node: TypeAlias = "dict[str, _Node]"


def _trie_regex(sequences: Iterable[tuple[str, ...]]) -> re.Pattern[str]:
    """One pattern for all sequences, factored by common prefix; starts on a word start."""
    trie: _Node = {}
    for seq in sequences:
        node = trie
        for atom in seq:
            node = node.setdefault(atom, {})
        node[_END] = {}

    def emit(node: _Node) -> str:
        if _END in node:
            return ""  # a shorter phrase already matched: the longer ones add nothing
        alts = [atom + emit(node[atom]) for atom in sorted(node)]
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return re.compile(r"(?<!\w)" + emit(trie) if trie else r"(?!)")


class _Entry:
    """One list entry; its own pattern is compiled on the first hit that needs it."""

    __slots__ = ("_pattern", "kinds", "phrase", "sequences")

    def __init__(
        self, phrase: str, kinds: frozenset[CrisisKind], sequences: frozenset[tuple[str, ...]]
    ) -> None:
        self.phrase = phrase
        self.kinds = kinds
        self.sequences = sequences
        self._pattern: re.Pattern[str] | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            self._pattern = _trie_regex(self.sequences)
        return self._pattern


def _locale_key(locale: str) -> str:
    """'uk', 'uk-UA' and 'uk_UA' are one list."""
    return re.split(r"[-_]", locale.strip().lower(), maxsplit=1)[0]


class CrisisWords:
    """A compiled set of crisis phrases: the built-in lists plus a program's own words.

    Args:
        extra: per-locale extra phrases of kind SELF_HARM (from the program file).
        extra_violence: per-locale extra phrases of kind VIOLENCE.
        locales: only these languages' lists and extras; None is every list and extra.

    Raises:
        PhraseError: an entry cannot be read, or a locale has no list at all.
    """

    def __init__(
        self,
        extra: Mapping[str, Sequence[str]] | None = None,
        extra_violence: Mapping[str, Sequence[str]] | None = None,
        *,
        locales: Collection[str] | None = None,
    ) -> None:
        wanted = None if locales is None else {_locale_key(loc) for loc in locales}
        sources: list[tuple[CrisisKind, Mapping[str, Sequence[str]]]] = [
            (CrisisKind.SELF_HARM, _SELF_HARM),
            (CrisisKind.VIOLENCE, _VIOLENCE),
            (CrisisKind.SELF_HARM, extra or {}),
            (CrisisKind.VIOLENCE, extra_violence or {}),
        ]
        known = {_locale_key(loc) for _, lists in sources for loc in lists}
        if wanted is not None and (unknown := sorted(wanted - known)):
            raise PhraseError(
                f"no crisis words for locale(s) {', '.join(unknown)} "
                f"(built-in: {', '.join(LOCALES)}; or add some in the program file)"
            )
        # One entry per distinct meaning: the same words in two lists keep both kinds.
        merged: dict[frozenset[tuple[str, ...]], tuple[str, set[CrisisKind]]] = {}
        for kind, lists in sources:
            for loc, phrases in lists.items():
                if wanted is not None and _locale_key(loc) not in wanted:
                    continue
                for phrase in phrases:
                    key = frozenset(_expand(phrase))
                    merged.setdefault(key, (phrase, set()))[1].add(kind)
        self._entries = [
            _Entry(phrase, frozenset(kinds), key) for key, (phrase, kinds) in merged.items()
        ]
        self._kinds = {e.phrase: e.kinds for e in self._entries}
        self._any = _trie_regex(k for key in merged for k in key)
        # Which entries can start with a given letter: a hit is checked against those only.
        self._by_first: dict[str, list[_Entry]] = {}
        for key, entry in zip(merged, self._entries, strict=True):
            for first in sorted({re.sub(r"\\(.)", r"\1", seq[0]) for seq in key}):
                self._by_first.setdefault(first, []).append(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def kinds_of(self, phrase: str) -> frozenset[CrisisKind]:
        """The kind(s) of one entry as reported in :attr:`CrisisMatch.phrases`."""
        return self._kinds[phrase]

    def matches(self, text: str | None) -> bool:
        """Whether the text holds any phrase (the fast path: one regex search)."""
        return bool(text) and self._any.search(fold(text or "")) is not None

    def find(self, text: str | None) -> CrisisMatch | None:
        """Every phrase the text holds, or None: only a hit pays for naming the phrases."""
        if not text:
            return None
        folded = fold(text)
        hit = self._any.search(folded)
        if hit is None:
            return None
        seen: dict[str, _Entry] = {}
        while hit is not None and len(seen) < len(self._entries):
            start = hit.start()
            for entry in self._by_first.get(folded[start], ()):
                if entry.phrase not in seen and entry.pattern.match(folded, start):
                    seen[entry.phrase] = entry
            hit = self._any.search(folded, start + 1)
        kinds = frozenset(k for e in seen.values() for k in e.kinds)
        return CrisisMatch(kinds=kinds, phrases=tuple(seen))


DEFAULT = CrisisWords()


def mentions_crisis(text: str | None) -> bool:
    """Whether the message contains a crisis phrase in any supported language."""
    return DEFAULT.matches(text)


__all__ = [
    "DEFAULT",
    "LOCALES",
    "CrisisKind",
    "CrisisMatch",
    "CrisisWords",
    "PhraseError",
    "fold",
    "mentions_crisis",
]
