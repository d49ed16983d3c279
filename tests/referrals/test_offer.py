"""The offer: when the intake screenings find a need, the client is offered matching services.

A positive food screen at the end of intake brings up to three food services, one at a
time, each with what it offers, how to reach it, when it is open and the languages it
speaks, in the client's language; the client asks to be referred, will call themselves, or
says not now, by tapping or typing.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from cm_bot.domain import ReferralStatus
from cm_bot.engine import ConversationEngine
from cm_bot.storage import SqlStore
from cm_bot.storage.db import transaction
from cm_bot.storage.models import ScoreResult
from tests.referrals.support import (
    events,
    flags_of,
    food_services,
    offers,
    referral_contacts,
    referrals,
    screened_positive,
)
from tests.scheduling.support import BASE, consented_client
from tests.support.people import texts
from tests.support.records import open_run

Tables = dict[str, list[dict[str, Any]]]


def test_a_positive_food_screen_ends_with_the_first_matching_food_service_and_three_choices(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = screened_positive(bot, db)

    last = who.person.seen[-1]
    first = food_services(directory, "en")[0]
    assert "Here is a service that may be able to help with getting food." in last.text
    assert first in last.text
    assert "Phone: 555-" in last.text and "Address: " in last.text and "Main Street" in last.text
    assert "Open: " in last.text and "Languages: English" in last.text
    assert [b.label for row in last.buttons for b in row] == [
        "Please refer me",
        "I'll contact them myself",
        "Not now",
    ]
    assert [(o.need, o.choice) for o in offers(db)] == [("hunger", None)]


def test_please_refer_me_makes_a_requested_referral_a_routine_flag_and_a_check_in(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = screened_positive(bot, db)
    service = food_services(directory, "en")[0]

    said = texts(who.person.tap("Please refer me"))

    (referral,) = referrals(db)
    assert (referral.need, referral.service_name, referral.status) == (
        "hunger",
        service,
        ReferralStatus.REQUESTED,
    )
    assert referral.made_by == "client"
    assert events(db, referral.id or 0) == [("requested", None, "client")]
    (flag,) = flags_of(db, "referral_requested")
    assert flag.severity == "routine" and flag.reason == f"Referral requested: food — {service}"
    assert "I have asked your case manager to refer you to" in said
    assert "In 14 days I will ask you how it went." in said
    assert "Your case manager will be in touch." in said  # the usual closing: one need, done
    (contact,) = referral_contacts(db)
    assert contact.referral_id == referral.id and contact.flow_id == "referral_checkin"
    assert abs((contact.due_at.replace(tzinfo=BASE.tzinfo) - BASE).days - 14) <= 0
    assert [o.choice for o in offers(db)] == ["refer"]


def test_i_will_contact_them_myself_is_a_self_referral_followed_up_the_same_way(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = screened_positive(bot, db)

    said = texts(who.person.tap("I'll contact them myself"))

    (referral,) = referrals(db)
    assert referral.status == ReferralStatus.SELF_REFERRED
    assert flags_of(db, "referral_requested") == []
    assert "You can use the phone number and address above." in said
    assert len(referral_contacts(db)) == 1


def test_not_now_keeps_the_offer_only_and_shows_the_next_service_up_to_three(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = screened_positive(bot, db)
    names = food_services(directory, "en")[:3]

    second = texts(who.person.tap("Not now"))
    third = texts(who.person.tap("Not now"))
    after = texts(who.person.tap("Not now"))

    assert "Here is another service" in second and names[1] in second
    assert names[2] in third
    assert "Your case manager will be in touch." in after
    assert referrals(db) == [] and referral_contacts(db) == []
    assert [o.choice for o in offers(db)] == ["not_now"] * 3


def test_a_typed_answer_works_at_the_offer_as_at_any_question(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = screened_positive(bot, db)

    who.person.say("please refer me")

    assert [r.status for r in referrals(db)] == [ReferralStatus.REQUESTED]


def test_with_no_matching_service_the_case_manager_is_flagged_and_the_client_told(
    bot: ConversationEngine[SqlStore], db: Engine
) -> None:
    who = screened_positive(bot, db)  # the directory is empty

    said = texts(who.person.seen)
    assert "I could not find a service for getting food in our list right now." in said
    assert "Your case manager will help you find one." in said
    assert "Your case manager will be in touch." in said  # then the usual closing
    (flag,) = flags_of(db, "referral_no_service")
    assert flag.reason == "No service in the directory matched a need: food"
    assert [(o.need, o.service_id) for o in offers(db)] == [("hunger", None)]
    who.person.say("hello again")
    assert len(flags_of(db, "referral_no_service")) == 1  # offered once, not at every message


def test_a_negative_screen_offers_nothing(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = consented_client(bot, db)
    who.person.say("hello")
    who.person.say("3")
    said = texts(who.person.say("3"))

    assert "Your case manager will be in touch." in said
    assert offers(db) == []


@pytest.mark.parametrize(
    ("language", "intro", "refer", "food_word"),
    [
        ("es", "Este es un servicio que puede ayudarle con", "Quiero que me deriven", "alimentos"),
        ("uk", "Ось служба, яка може допомогти Вам із", "Прошу направити мене", "отриманням їжі"),
    ],
)
def test_the_offer_is_in_the_clients_language_with_services_speaking_it_first(
    bot: ConversationEngine[SqlStore],
    db: Engine,
    directory: Tables,
    language: str,
    intro: str,
    refer: str,
    food_word: str,
) -> None:
    who = screened_positive(bot, db, language)

    last = who.person.seen[-1]
    assert intro in last.text and food_word in last.text
    assert food_services(directory, language)[0] in last.text
    assert refer in [b.label for row in last.buttons for b in row]
    who.person.tap(refer)
    assert [r.status for r in referrals(db)] == [ReferralStatus.REQUESTED]


def test_needs_in_a_stable_order_and_food_found_twice_is_offered_once(
    bot: ConversationEngine[SqlStore], db: Engine, directory: Tables
) -> None:
    who = consented_client(bot, db)
    who.person.say("hello")
    run = open_run(db, who.person.user_id)
    assert run is not None and run.id is not None
    with transaction(db) as session:  # the AHC screen found housing and food earlier
        session.add(
            ScoreResult(
                case_id=who.case_id,
                client_id=who.client_id,
                run_id=run.id,
                flow_id="screening_ahc",
                score_id="ahc",
                instrument="ahc",
                result={"valid": True, "positive_domains": ["food", "living_situation"]},
            )
        )
    who.person.say("1")
    said = texts(who.person.say("1"))  # the HVS is positive too: hunger

    assert "Here is a service that may be able to help with housing." in said
    for _ in range(3):
        said = texts(who.person.tap("Not now"))
    assert "Here is a service that may be able to help with getting food." in said
    for _ in range(3):
        said = texts(who.person.tap("Not now"))
    assert "Your case manager will be in touch." in said  # hunger: the same services, once
    assert [o.need for o in offers(db)] == ["living_situation"] * 3 + ["food"] * 3
