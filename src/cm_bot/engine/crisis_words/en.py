"""English words of crisis: one list of self-harm phrases, one of violence.

Notation and folding: :mod:`cm_bot.engine.crisis_words`. Kept broad on purpose; each
borderline choice is noted where it is made.
"""

# Named word choices, written ``<name>`` in an entry (and shown that way when it matches).
# People and pronouns that are typically the one doing the harm ("my husband hits me").
WHO = (
    "he|she|they|hes|shes|theyre|he'll|she'll|they'll|husband|hubby|boyfriend|bf|partner|ex"
    "|wife|girlfriend|gf|dad|father|stepdad|stepfather|mom|mother|brother|uncle|son|roommate"
    "|landlord|pimp|someone|somebody"
)

GROUPS: dict[str, str] = {
    "who": WHO,
    "en_family": "husband|partner|boyfriend|girlfriend|wife|ex|father|dad|mother|mom|stepdad"
    "|stepfather",
}

# Suicide and self-harm.
SELF_HARM: tuple[str, ...] = (
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
)

# Violence against the client: someone hits them, they are not safe at home.
VIOLENCE: tuple[str, ...] = (
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
)
