"""No offer in the middle of a questionnaire, and none while paused after an urgent flag.

Services are offered only when no intake question is left. Words of crisis pause the bot:
nothing is offered (or asked) until staff resolve the flag; the client then finishes the
screening and hears the offer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from cm_bot.engine import ConversationEngine
from cm_bot.storage import SqlStore
from tests.referrals.support import offers
from tests.scheduling.support import MANAGER_CHAT, consented_client
from tests.support.people import Person, texts

Tables = dict[str, list[dict[str, Any]]]
OFFER = "Here is a service that may be able to help with getting food."


def test_a_positive_first_answer_offers_nothing_until_the_screening_is_over(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = consented_client(bot, db)
    who.person.say("hello")

    said = texts(who.person.say("1"))  # "often true": positive already, one question left

    assert OFFER not in said and offers(db) == []
    assert who.person.step() == "screening_hvs.hvs_q2"
    assert OFFER in texts(who.person.say("3"))


def test_while_paused_by_an_urgent_flag_nothing_is_offered_and_after_it_the_offer_comes(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = consented_client(bot, db)
    manager = Person(bot, db, MANAGER_CHAT, channel="telegram")
    who.person.say("hello")
    who.person.say("1")

    who.person.say("I want to kill myself")  # an urgent flag: the bot pauses
    paused = texts(who.person.say("1")) + texts(who.person.say("hello?"))

    assert OFFER not in paused and offers(db) == []
    manager.read()
    manager.tap("Resolve")
    who.person.read()
    who.person.say("ok")  # the question the pause stopped at
    assert OFFER in texts(who.person.say("1"))
    assert [o.need for o in offers(db)] == ["hunger"]
