"""The shipped flows in conversations/: they load, use the instruments' item ids, and route
and flag as docs/instruments.md says.

Routing is checked by walking each flow's own ``next``/``skip_if`` conditions with
:func:`cm_bot.flows.conditions.holds` and scoring with :func:`cm_bot.scoring.score` — a small
stand-in for the engine, so these tests pin the flow files, not the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cm_bot.flows import END, Flow, holds, load_flow, load_flows
from cm_bot.flows.loader import flow_files
from cm_bot.flows.schema import (
    ChoiceStep,
    FlagRule,
    IntegerStep,
    MessageStep,
    ScaleStep,
    YesNoStep,
)
from cm_bot.scoring import item_ids, score

CONVERSATIONS = Path(__file__).resolve().parents[2] / "conversations"

SHIPPED = {
    "consent",
    "screening_phq",
    "screening_gad",
    "screening_hvs",
    "screening_ahc",
    "screening_ahc_supplemental",
    "goal_checkin",
    "exit_followup",
    "referral_offer",  # issue 17: a service from the directory, offered after intake
    "referral_checkin",  # issue 17: "did you get help from ...?"
    "rescreen_phq9",  # issue 18: the whole PHQ-9 again, on the case manager's plan
    "rescreen_gad7",  # issue 18: the whole GAD-7 again
    "exit_conversation",  # issue 18: goals met, how helpful, follow-ups yes/no/when
    "intake_basics",  # issue 18: money (AHC item 11) and work at intake, for the follow-ups
    "contact_preferences",  # issue 18: message first? hours, safe word; after consent
}

# docs/instruments.md §2.4 / §3.4: the attribution line the PHQ and GAD forms carry. It is kept
# in the flow files (as a comment) and in README.md, not sent in the chat (issue 13).
PFIZER_ATTRIBUTION = (
    "Developed by Drs. Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke and colleagues, "
    "with an educational grant from Pfizer Inc. No permission required to reproduce, "
    "translate, display or distribute."
)

MAX_MESSAGE_LENGTH = 400
# What the program file fills in (cm_bot.program.Program.context).
PROGRAM_PLACEHOLDERS = (
    "{program}",
    "{program_contact}",
    "{emergency}",
    "{crisis_line}",
    "{violence_line}",
    "{response_time}",
    "{staff_hours}",
    "{retention}",
)


@pytest.fixture(scope="module")
def flows() -> dict[str, Flow]:
    return {flow.id: flow for flow in load_flows(CONVERSATIONS)}


# --- a stand-in for the engine's walk -------------------------------------------------------


def scores_for(flow: Flow, answers: Mapping[str, object]) -> dict[str, dict[str, Any]]:
    """The flow's instrument scores, only those that are valid (as the engine exposes them)."""
    result: dict[str, dict[str, Any]] = {}
    for spec in flow.scores:
        assert spec.instrument is not None, "shipped flows only use instrument scores"
        items = {
            item: answers.get(spec.items.get(item, item)) for item in item_ids(spec.instrument)
        }
        scored = score(spec.instrument, items)
        if scored["valid"]:
            result[spec.id] = scored
    return result


@dataclass
class Walk:
    """What one walk through a flow saw."""

    visited: list[str] = field(default_factory=list)
    answers: dict[str, object] = field(default_factory=dict)
    fired: list[str] = field(default_factory=list)
    ended_by: str | None = None  # the flag rule that ended the run, if any
    reached_end: bool = False


def _next(flow: Flow, step_id: str, walk: Walk, context: Mapping[str, object]) -> str:
    step = flow.step(step_id)
    if step.next is None:
        return flow.following(step_id)
    if isinstance(step.next, str):
        return step.next
    scores = scores_for(flow, walk.answers)
    for branch in step.next:
        if branch.when is None or holds(
            branch.when, answers=walk.answers, scores=scores, context=context
        ):
            return branch.goto
    raise AssertionError(f"{flow.id}.{step_id}: no branch matched")


def walk(
    flow: Flow, replies: Mapping[str, object], context: Mapping[str, object] | None = None
) -> Walk:
    """Walk from the start, answering each question from ``replies`` by store key.

    Stops at the end, when a flag rule with ``then: end`` fires, or at a question
    ``replies`` has no answer for.
    """
    context = context or {}
    seen = Walk()
    step_id = flow.start_step
    for _ in range(200):  # guard against a loop in a flow
        if step_id == END:
            seen.reached_end = True
            return seen
        step = flow.step(step_id)
        if step.skip_if and holds(
            step.skip_if,
            answers=seen.answers,
            scores=scores_for(flow, seen.answers),
            context=context,
        ):
            step_id = _next(flow, step_id, seen, context)
            continue
        seen.visited.append(step_id)
        if not isinstance(step, MessageStep):
            if step.key not in replies:
                return seen
            seen.answers[step.key] = replies[step.key]
            scores = scores_for(flow, seen.answers)
            for rule in flow.flags:
                if rule.id not in seen.fired and holds(
                    rule.when, answers=seen.answers, scores=scores, context=context
                ):
                    seen.fired.append(rule.id)
                    if rule.then == "end" and seen.ended_by is None:
                        seen.ended_by = rule.id
            if seen.ended_by is not None:
                return seen
        step_id = _next(flow, step_id, seen, context)
    raise AssertionError(f"{flow.id}: the walk did not finish")


def rule(flow: Flow, rule_id: str) -> FlagRule:
    matches = [r for r in flow.flags if r.id == rule_id]
    assert len(matches) == 1, f"{flow.id} has no flag rule {rule_id}"
    return matches[0]


def urgent_rule(flow: Flow) -> FlagRule:
    matches = [r for r in flow.flags if r.severity == "urgent"]
    assert len(matches) == 1, f"{flow.id}: expected exactly one urgent rule"
    return matches[0]


def rule_holds(
    flow: Flow, flag: FlagRule, answers: Mapping[str, object], **context: object
) -> bool:
    return holds(flag.when, answers=answers, scores=scores_for(flow, answers), context=context)


def question_keys(flow: Flow) -> dict[str, Any]:
    return {s.key: s for s in flow.steps if not isinstance(s, MessageStep)}


def values_of(step: Any) -> list[object]:
    """Every answer a step can store."""
    if isinstance(step, ChoiceStep):
        return [[o.value] if step.multiple else o.value for o in step.options]
    if isinstance(step, ScaleStep | IntegerStep):
        return list(range(step.min, step.max + 1))
    if isinstance(step, YesNoStep):
        return [True, False]
    raise AssertionError(f"no fixed answers for {step.id}")


# --- loading ---------------------------------------------------------------------------------


def test_every_shipped_flow_loads(flows: dict[str, Flow]) -> None:
    assert set(flows) == SHIPPED


@pytest.mark.parametrize("path", flow_files(CONVERSATIONS), ids=lambda p: p.stem)
def test_flow_id_is_the_file_stem(path: Path) -> None:
    assert load_flow(path).id == path.stem


def test_cssrs_is_not_shipped(flows: dict[str, Flow]) -> None:
    # docs/instruments.md §5.5: C-SSRS text must not be published until licensing is settled.
    for flow in flows.values():
        assert not any(key.startswith("cssrs") for key in question_keys(flow))
        assert all(spec.instrument != "cssrs" for spec in flow.scores)


def test_consent_flow_is_versioned_with_required_and_optional_purposes(
    flows: dict[str, Flow],
) -> None:
    consent = flows["consent"]
    assert consent.kind == "consent"
    assert consent.version >= 1
    decided = {p.purpose: (consent.step(p.step), p.required) for p in consent.purposes}
    assert {purpose: required for purpose, (_, required) in decided.items()} == {
        "contact": True,
        "store": True,
        "share_partners": False,
    }
    keys = {}
    for purpose, (step, _) in decided.items():
        assert isinstance(step, YesNoStep)
        keys[purpose] = step.key
    assert keys == {
        "contact": "consent.contact",
        "store": "consent.store",
        "share_partners": "consent.share_partners",
    }


# --- instrument item ids and option codes ----------------------------------------------------


@pytest.mark.parametrize("flow_id", sorted(SHIPPED))
def test_instrument_keys_are_the_scorers_item_ids(flows: dict[str, Flow], flow_id: str) -> None:
    flow = flows[flow_id]
    keys = question_keys(flow)
    for spec in flow.scores:
        assert spec.instrument is not None
        ids = item_ids(spec.instrument)
        # every mapping names a real item and a real answer key
        for item, key in spec.items.items():
            assert item in ids, f"{flow_id}: {item} is not an item of {spec.instrument}"
            assert key in keys, f"{flow_id}: {key} is not asked"
        # every key in the instrument's namespace is one of its items
        for key in keys:
            if key.split(".")[0] == spec.instrument:
                assert key in ids, f"{flow_id}: {key} is not an item of {spec.instrument}"
        provided = {item for item in ids if spec.items.get(item, item) in keys}
        if spec.instrument != "ahc":  # the AHC is split over two flows (checked below)
            assert provided == set(ids), f"{flow_id}: {spec.instrument} misses items"


def test_the_two_ahc_flows_ask_every_ahc_item_once(flows: dict[str, Flow]) -> None:
    core = set(question_keys(flows["screening_ahc"]))
    supplemental = set(question_keys(flows["screening_ahc_supplemental"]))
    assert core == {f"ahc.q{n}" for n in range(1, 11)}
    assert core.isdisjoint(supplemental)
    assert core | supplemental == set(item_ids("ahc"))


@pytest.mark.parametrize("flow_id", sorted(SHIPPED))
def test_every_option_of_an_instrument_item_is_accepted_by_its_scorer(
    flows: dict[str, Flow], flow_id: str
) -> None:
    flow = flows[flow_id]
    keys = question_keys(flow)
    for spec in flow.scores:
        assert spec.instrument is not None
        steps = {
            item: keys[spec.items.get(item, item)]
            for item in item_ids(spec.instrument)
            if spec.items.get(item, item) in keys
        }
        baseline = {item: values_of(step)[0] for item, step in steps.items()}
        for item, step in steps.items():
            for value in values_of(step):
                result = score(spec.instrument, {**baseline, item: value})
                assert result["valid"], f"{flow_id}: {item}={value!r}: {result.get('reason')}"


@pytest.mark.parametrize(
    ("flow_id", "prefix", "count"),
    [("screening_phq", "phq", 10), ("screening_gad", "gad", 8)],
)
def test_phq_and_gad_options_are_the_published_0_to_3_scale(
    flows: dict[str, Flow], flow_id: str, prefix: str, count: int
) -> None:
    flow = flows[flow_id]
    choices = [s for s in flow.steps if isinstance(s, ChoiceStep)]
    assert len(choices) == count
    for step in choices[:-1]:  # the last one is the functional-difficulty item
        assert [(o.value, o.label) for o in step.options] == [
            (0, "Not at all"),
            (1, "Several days"),
            (2, "More than half the days"),
            (3, "Nearly every day"),
        ]
    functional = choices[-1]
    assert functional.skippable
    assert [o.label for o in functional.options] == [
        "Not difficult at all",
        "Somewhat difficult",
        "Very difficult",
        "Extremely difficult",
    ]


def _comments(path: Path) -> str:
    """The file's YAML comments as one line of text (wrapping undone)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    comments = [line.strip().lstrip("#") for line in lines if line.strip().startswith("#")]
    return " ".join(" ".join(comments).split())


@pytest.mark.parametrize("flow_id", ["screening_phq", "screening_gad"])
def test_pfizer_attribution_line_is_kept_in_the_flow_file_not_the_chat(
    flows: dict[str, Flow], flow_id: str
) -> None:
    assert PFIZER_ATTRIBUTION in _comments(CONVERSATIONS / f"{flow_id}.yaml")
    assert all("Pfizer" not in step.text for step in flows[flow_id].steps)
    assert "attribution" not in {step.id for step in flows[flow_id].steps}


def test_readme_carries_the_instruments_attribution() -> None:
    readme = " ".join((CONVERSATIONS.parent / "README.md").read_text(encoding="utf-8").split())
    assert "## Instruments and attribution" in readme
    for must in (PFIZER_ATTRIBUTION, "Hunger Vital Sign", "Hager", "Children's HealthWatch"):
        assert must in readme, must
    assert "Centers for Medicare & Medicaid Services (CMS)" in readme


@pytest.mark.parametrize(
    ("flow_id", "version"),
    [
        ("screening_phq", 2),
        ("screening_gad", 2),
        ("screening_hvs", 2),
        ("screening_ahc", 2),
        ("screening_ahc_supplemental", 2),
        ("goal_checkin", 2),
        ("exit_followup", 3),  # issue 18: the same housing and money questions as intake
        ("screening_ahc_supplemental", 3),  # issue 18: item 11 taken from intake_basics
    ],
)
def test_flows_whose_client_text_changed_have_a_new_version(
    flows: dict[str, Flow], flow_id: str, version: int
) -> None:
    # Issue 13: titles without instrument codes, no licence line in the chat, "Don't know /
    # prefer not to say", and the Spanish and Ukrainian fixes. Answers keep the version shown.
    assert flows[flow_id].version >= version


def test_ahc_safety_items_are_1_to_5(flows: dict[str, Flow]) -> None:
    keys = question_keys(flows["screening_ahc"])
    for n in (7, 8, 9, 10):
        step = keys[f"ahc.q{n}"]
        assert [(o.value, o.label) for o in step.options] == [
            (1, "Never"),
            (2, "Rarely"),
            (3, "Sometimes"),
            (4, "Fairly often"),
            (5, "Frequently"),
        ]


def test_ahc_q2_is_multiple_with_none_exclusive(flows: dict[str, Flow]) -> None:
    step = question_keys(flows["screening_ahc"])["ahc.q2"]
    assert step.multiple
    assert [o.value for o in step.options if o.exclusive] == ["none"]


# --- text: short, translatable, safe ---------------------------------------------------------


@pytest.mark.parametrize("flow_id", sorted(SHIPPED))
def test_messages_are_short_enough_for_a_phone(flows: dict[str, Flow], flow_id: str) -> None:
    flow = flows[flow_id]
    for step in flow.steps:
        assert len(step.text) <= MAX_MESSAGE_LENGTH, f"{flow_id}.{step.id}"
    for flag in flow.flags:
        assert flag.message is None or len(flag.message) <= MAX_MESSAGE_LENGTH, flag.id


@pytest.mark.parametrize("flow_id", sorted(SHIPPED))
def test_placeholders_are_only_those_context_provides(flows: dict[str, Flow], flow_id: str) -> None:
    provided = {
        "goal_checkin": ["{goal}"],
        # issue 17: the engine's service card and name; the scheduler's name and days
        "referral_offer": ["{card}", "{service}"],
        "referral_checkin": ["{service}", "{days}"],
        "exit_conversation": ["{goals_met}"],  # issue 18: the goals met, from the exit
    }
    allowed = [*PROGRAM_PLACEHOLDERS, *provided.get(flow_id, [])]
    flow = flows[flow_id]
    texts = [s.text for s in flow.steps]
    texts += [o.label for s in flow.steps if isinstance(s, ChoiceStep) for o in s.options]
    texts += [f.message for f in flow.flags if f.message] + [f.reason for f in flow.flags]
    for text in texts:
        rest = text
        for placeholder in allowed:
            rest = rest.replace(placeholder, "")
        assert "{" not in rest and "}" not in rest, f"{flow_id}: {text!r}"


@pytest.mark.parametrize("flow_id", sorted(SHIPPED))
def test_urgent_rules_speak_kindly_stop_and_leave_the_resources_to_the_program(
    flows: dict[str, Flow], flow_id: str
) -> None:
    """The engine adds the program's resources and who was told to every urgent message."""
    for flag in flows[flow_id].flags:
        if flag.severity == "urgent":
            assert flag.message, flag.id
            assert "emergency number" not in flag.message, flag.id  # the program names it
            assert "stop the questions" in flag.message, flag.id
            assert flag.then == "end", flag.id
            assert flag.resources, flag.id


# --- consent routing -------------------------------------------------------------------------

YES_TO_ALL = {"consent.contact": True, "consent.store": True, "consent.share_partners": True}


def test_consent_all_yes_ends_with_thanks(flows: dict[str, Flow]) -> None:
    seen = walk(flows["consent"], YES_TO_ALL)
    assert seen.reached_end
    assert seen.visited[-1] == "done"
    assert "declined" not in seen.visited


@pytest.mark.parametrize("declined_key", ["consent.contact", "consent.store"])
def test_declining_a_required_purpose_ends_politely(
    flows: dict[str, Flow], declined_key: str
) -> None:
    seen = walk(flows["consent"], {**YES_TO_ALL, declined_key: False})
    assert seen.reached_end
    assert seen.visited[-1] == "declined"
    assert "ask_share" not in seen.visited


def test_declining_sharing_still_completes(flows: dict[str, Flow]) -> None:
    seen = walk(flows["consent"], {**YES_TO_ALL, "consent.share_partners": False})
    assert seen.visited[-1] == "done"


def test_consent_explains_before_asking(flows: dict[str, Flow]) -> None:
    consent = flows["consent"]
    first_question = next(i for i, s in enumerate(consent.steps) if not isinstance(s, MessageStep))
    assert first_question <= 2  # the first question is the third message at most
    told = " ".join(s.text for s in consent.steps[: first_question + 1])
    for must in (
        "bot",
        "mood",
        "safety at home",
        "alcohol and drugs",
        "not an emergency service",
        "{emergency}",
        "/withdraw",
        "/human",
        "/mydata",
        "/erase",
        "end-to-end encrypted",
        "case manager",
        "30, 90 and 180 days",
        "stop",
    ):
        assert must in told, must
    everything = " ".join(s.text for s in consent.steps)
    assert "{retention}" in everything
    assert "{program_contact}" in consent.step("declined").text


# --- PHQ: PHQ-2 step-up and item 9 ------------------------------------------------------------


def phq_replies(phq2: tuple[int, int], item9: int = 0, rest: int = 0) -> dict[str, object]:
    replies: dict[str, object] = {"phq2.q1": phq2[0], "phq2.q2": phq2[1]}
    replies |= {f"phq9.q{n}": rest for n in range(3, 9)}
    replies |= {"phq9.q9": item9, "phq9.q10": 0}
    return replies


@pytest.mark.parametrize("phq2", [(3, 0), (2, 1), (1, 2), (0, 3), (3, 3)])
def test_phq2_score_of_3_or_more_reaches_item_9(
    flows: dict[str, Flow], phq2: tuple[int, int]
) -> None:
    seen = walk(flows["screening_phq"], phq_replies(phq2))
    assert "phq9_q9" in seen.visited
    assert "phq9_q10" in seen.visited
    assert seen.reached_end


@pytest.mark.parametrize("phq2", [(2, 0), (1, 1), (0, 2), (0, 0)])
def test_phq2_score_of_2_or_less_does_not_reach_item_9(
    flows: dict[str, Flow], phq2: tuple[int, int]
) -> None:
    seen = walk(flows["screening_phq"], phq_replies(phq2))
    assert not any(step.startswith("phq9_") for step in seen.visited)
    assert seen.visited[-1] == "done"
    assert seen.reached_end
    assert seen.fired == []


def test_item_9_of_1_makes_the_urgent_rule_true(flows: dict[str, Flow]) -> None:
    flow = flows["screening_phq"]
    flag = urgent_rule(flow)
    assert flag.id == "phq9_item9"
    assert rule_holds(flow, flag, phq_replies((2, 1), item9=1))
    assert not rule_holds(flow, flag, phq_replies((2, 1), item9=0))
    assert not rule_holds(flow, flag, {"phq2.q1": 3, "phq2.q2": 3})  # item 9 not yet asked


def test_item_9_above_0_ends_the_screening_with_the_crisis_message(flows: dict[str, Flow]) -> None:
    seen = walk(flows["screening_phq"], phq_replies((2, 1), item9=1))
    assert seen.ended_by == "phq9_item9"
    assert seen.visited[-1] == "phq9_q9"
    assert "phq9_q10" not in seen.visited


def test_phq9_of_10_with_item_9_zero_is_high_not_urgent(flows: dict[str, Flow]) -> None:
    # 3 + 3 + 4 x 1 + 2 x 0 + item 9 = 0 -> 10: positive (docs/instruments.md §2.3), not urgent.
    replies = phq_replies((3, 3)) | {"phq9.q3": 1, "phq9.q4": 1, "phq9.q5": 1, "phq9.q6": 1}
    seen = walk(flows["screening_phq"], replies)
    assert seen.fired == ["phq9_positive"]
    assert rule(flows["screening_phq"], "phq9_positive").severity == "high"
    assert seen.reached_end


def test_phq9_of_9_raises_no_flag(flows: dict[str, Flow]) -> None:
    replies = phq_replies((3, 3)) | {"phq9.q3": 1, "phq9.q4": 1, "phq9.q5": 1}
    assert walk(flows["screening_phq"], replies).fired == []


# --- GAD: GAD-2 step-up ------------------------------------------------------------------------


def gad_replies(gad2: tuple[int, int], rest: int = 0) -> dict[str, object]:
    replies: dict[str, object] = {"gad2.q1": gad2[0], "gad2.q2": gad2[1]}
    return replies | {f"gad7.q{n}": rest for n in range(3, 8)} | {"gad7.q8": 0}


def test_gad2_score_of_3_reaches_gad7_and_2_does_not(flows: dict[str, Flow]) -> None:
    assert "gad7_q7" in walk(flows["screening_gad"], gad_replies((2, 1))).visited
    assert "gad7_q7" not in walk(flows["screening_gad"], gad_replies((1, 1))).visited


def test_gad7_of_10_raises_the_positive_flag(flows: dict[str, Flow]) -> None:
    # 3 + 2 + 5 x 1 = 10 (docs/instruments.md §3.3: positive >= 10); 3 + 1 + 5 x 1 = 9 is not.
    assert walk(flows["screening_gad"], gad_replies((3, 2), rest=1)).fired == ["gad7_positive"]
    assert walk(flows["screening_gad"], gad_replies((3, 1), rest=1)).fired == []


# --- HVS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q1", "q2", "flagged"),
    [
        ("sometimes", "never", True),
        ("never", "often", True),
        ("never", "never", False),
        ("dont_know", "dont_know", False),
    ],
)
def test_hvs_flags_either_item_affirmative(
    flows: dict[str, Flow], q1: str, q2: str, flagged: bool
) -> None:
    seen = walk(flows["screening_hvs"], {"hvs.q1": q1, "hvs.q2": q2})
    assert (seen.fired == ["hvs_at_risk"]) is flagged
    assert seen.reached_end


def test_hvs_both_dont_know_is_unknown_and_raises_no_flag(flows: dict[str, Flow]) -> None:
    # The flag reads `positive`, so the `unknown` band (nothing told) neither flags a need
    # nor shows as no risk: the band goes to staff with the screening results.
    answers = {"hvs.q1": "dont_know", "hvs.q2": "dont_know"}
    assert scores_for(flows["screening_hvs"], answers)["hvs"]["band"] == "unknown"
    assert walk(flows["screening_hvs"], answers).fired == []


def test_hvs_dont_know_is_offered_in_plain_words(flows: dict[str, Flow]) -> None:
    for key in ("hvs.q1", "hvs.q2"):
        step = question_keys(flows["screening_hvs"])[key]
        assert [(o.value, o.label) for o in step.options][-1] == (
            "dont_know",
            "Don't know / prefer not to say",
        )


# --- AHC -------------------------------------------------------------------------------------


def safety(q7: int, q8: int, q9: int, q10: int) -> dict[str, object]:
    return {"ahc.q7": q7, "ahc.q8": q8, "ahc.q9": q9, "ahc.q10": q10}


@pytest.mark.parametrize("answers", [safety(5, 3, 2, 1), safety(2, 3, 3, 3), safety(5, 5, 5, 5)])
def test_ahc_safety_total_of_11_or_more_makes_the_urgent_rule_true(
    flows: dict[str, Flow], answers: dict[str, object]
) -> None:
    flow = flows["screening_ahc"]
    assert rule_holds(flow, urgent_rule(flow), answers)


@pytest.mark.parametrize("answers", [safety(4, 3, 2, 1), safety(1, 3, 3, 3), safety(1, 1, 1, 1)])
def test_ahc_safety_total_of_10_or_less_does_not(
    flows: dict[str, Flow], answers: dict[str, object]
) -> None:
    flow = flows["screening_ahc"]
    assert not rule_holds(flow, urgent_rule(flow), answers)


CORE_NO_NEEDS: dict[str, object] = {
    "ahc.q1": "steady",
    "ahc.q2": ["none"],
    "ahc.q3": "never",
    "ahc.q4": "never",
    "ahc.q5": "no",
    "ahc.q6": "no",
} | safety(1, 1, 1, 1)


def test_ahc_core_with_no_needs_raises_no_flag(flows: dict[str, Flow]) -> None:
    seen = walk(flows["screening_ahc"], CORE_NO_NEEDS)
    assert seen.reached_end
    assert seen.fired == []


def test_ahc_core_safety_positive_ends_with_the_safety_message(flows: dict[str, Flow]) -> None:
    seen = walk(flows["screening_ahc"], CORE_NO_NEEDS | safety(3, 3, 3, 2))
    assert seen.ended_by == "ahc_safety"
    assert "done" not in seen.visited


def test_ahc_physical_harm_below_11_is_high_not_urgent(flows: dict[str, Flow]) -> None:
    # docs/instruments.md §1.5: "Physically hurt: Frequently" with the rest "Never" sums to 8.
    seen = walk(flows["screening_ahc"], CORE_NO_NEEDS | safety(5, 1, 1, 1))
    assert seen.fired == ["ahc_physical_harm"]
    assert rule(flows["screening_ahc"], "ahc_physical_harm").severity == "high"
    assert seen.reached_end


@pytest.mark.parametrize(
    ("changed", "rule_id"),
    [
        ({"ahc.q1": "worried"}, "ahc_living_situation"),
        ({"ahc.q2": ["mold"]}, "ahc_living_situation"),
        ({"ahc.q4": "sometimes"}, "ahc_food"),
        ({"ahc.q5": "yes"}, "ahc_transportation"),
        ({"ahc.q6": "already_shut_off"}, "ahc_utilities"),
    ],
)
def test_ahc_core_positive_domain_raises_its_routine_flag(
    flows: dict[str, Flow], changed: dict[str, object], rule_id: str
) -> None:
    seen = walk(flows["screening_ahc"], CORE_NO_NEEDS | changed)
    assert seen.fired == [rule_id]
    assert rule(flows["screening_ahc"], rule_id).severity == "routine"


def test_skipped_ahc_items_still_let_the_screening_finish(flows: dict[str, Flow]) -> None:
    skipped = dict.fromkeys(question_keys(flows["screening_ahc"]))
    seen = walk(flows["screening_ahc"], skipped)
    assert seen.reached_end
    assert seen.fired == []


SUPPLEMENTAL_NO_NEEDS: dict[str, object] = {
    "ahc.q11": "not_hard",
    "ahc.q12": "no_help",
    "ahc.q13": "dont_need",
    "ahc.q14": "never",
    "ahc.q15": "no",
    "ahc.q16": "no",
    "ahc.q17": 5,
    "ahc.q18": 30,
    "ahc.q19": "never",
    "ahc.q20": "never",
    "ahc.q21": "never",
    "ahc.q22": "never",
    "ahc.q23a": 1,
    "ahc.q23b": 1,
    "ahc.q24": "not_at_all",
    "ahc.q25": "no",
    "ahc.q26": "no",
}


EARLIER: dict[str, object] = {"earlier": {}}


def test_financial_strain_taken_from_intake_is_not_flagged_again(flows: dict[str, Flow]) -> None:
    # intake_basics flagged this answer already; the supplemental reuses it (issue 18).
    answers = SUPPLEMENTAL_NO_NEEDS | {"ahc.q11": "very_hard"}
    context = {"earlier": {"ahc.q11": "very_hard"}}
    seen = walk(flows["screening_ahc_supplemental"], answers, context)
    assert seen.fired == []
    assert walk(flows["intake_basics"], answers).fired == ["ahc_financial_strain"]


def test_ahc_supplemental_with_no_needs_raises_no_flag(flows: dict[str, Flow]) -> None:
    seen = walk(flows["screening_ahc_supplemental"], SUPPLEMENTAL_NO_NEEDS)
    assert seen.reached_end
    assert seen.fired == []


@pytest.mark.parametrize(
    ("changed", "rule_id"),
    [
        ({"ahc.q11": "somewhat_hard"}, "ahc_financial_strain"),
        ({"ahc.q12": "yes_keeping"}, "ahc_employment"),
        ({"ahc.q14": "often"}, "ahc_family_community_support"),
        ({"ahc.q16": "yes"}, "ahc_education"),
        ({"ahc.q17": 2, "ahc.q18": 30}, "ahc_physical_activity"),
        ({"ahc.q20": "daily"}, "ahc_substance_use"),
        ({"ahc.q23a": 2}, "ahc_mental_health"),
        ({"ahc.q24": "a_little"}, "ahc_mental_health"),
        ({"ahc.q26": "yes"}, "ahc_disabilities"),
    ],
)
def test_ahc_supplemental_positive_domain_raises_its_routine_flag(
    flows: dict[str, Flow], changed: dict[str, object], rule_id: str
) -> None:
    # The engine always gives this flow context['earlier'] (it reuses item 11).
    seen = walk(flows["screening_ahc_supplemental"], SUPPLEMENTAL_NO_NEEDS | changed, EARLIER)
    assert seen.fired == [rule_id]
    assert rule(flows["screening_ahc_supplemental"], rule_id).severity == "routine"


def test_no_exercise_days_skips_the_minutes_question(flows: dict[str, Flow]) -> None:
    seen = walk(flows["screening_ahc_supplemental"], SUPPLEMENTAL_NO_NEEDS | {"ahc.q17": 0})
    assert "ahc_q18" not in seen.visited
    assert "ahc_physical_activity" in seen.fired  # 0 minutes a week (docs/instruments.md §1.6)


# --- goal check-in -----------------------------------------------------------------------------


def checkin(progress: int, contact: bool = False) -> dict[str, object]:
    return {
        "checkin.progress": progress,
        "checkin.helped": None,
        "checkin.barriers": None,
        "checkin.next_step": None,
        "checkin.contact": contact,
    }


@pytest.mark.parametrize(
    ("last", "now", "flagged"),
    [(7, 4, True), (10, 0, True), (7, 5, False), (3, 8, False), (None, 0, False)],
)
def test_progress_drop_of_3_or_more_is_flagged(
    flows: dict[str, Flow], last: int | None, now: int, flagged: bool
) -> None:
    seen = walk(flows["goal_checkin"], checkin(now), {"goal": "Find a job", "last_progress": last})
    assert ("progress_dropped" in seen.fired) is flagged


@pytest.mark.parametrize(
    ("previous_zero", "now", "flagged"), [(True, 0, True), (True, 1, False), (False, 0, False)]
)
def test_zero_progress_twice_is_flagged(
    flows: dict[str, Flow], previous_zero: bool, now: int, flagged: bool
) -> None:
    context = {"goal": "Find a job", "last_progress": 0 if previous_zero else 2}
    context["previous_progress_zero"] = previous_zero
    seen = walk(flows["goal_checkin"], checkin(now), context)
    assert ("progress_zero_twice" in seen.fired) is flagged


def test_checkin_contact_request_is_routine(flows: dict[str, Flow]) -> None:
    seen = walk(flows["goal_checkin"], checkin(5, contact=True), {"goal": "Find a job"})
    assert seen.fired == ["contact_requested"]
    assert seen.visited[-1] == "thanks_contact"
    assert rule(flows["goal_checkin"], "contact_requested").severity == "routine"


def test_first_checkin_without_history_raises_no_flag(flows: dict[str, Flow]) -> None:
    seen = walk(flows["goal_checkin"], checkin(0), {"goal": "Find a job"})
    assert seen.fired == []
    assert seen.visited[-1] == "thanks"


# --- exit follow-up ---------------------------------------------------------------------------


def followup(new_needs: list[str], want_help: bool = False) -> dict[str, object]:
    return {
        "followup.start": "yes",
        "followup.overall": "okay",
        "ahc.q1": "steady",
        "ahc.q11": "not_hard",
        "employment.status": "part_time",
        "followup.new_needs": new_needs,
        "followup.want_help": want_help,
    }


def test_followup_is_scheduled_at_30_90_180_days(flows: dict[str, Flow]) -> None:
    assert flows["exit_followup"].kind == "followup"
    assert flows["exit_followup"].followup_days == [30, 90, 180]


@pytest.mark.parametrize("needs", [["safety"], ["food", "safety"]])
def test_a_new_safety_need_is_urgent_and_ends_the_followup(
    flows: dict[str, Flow], needs: list[str]
) -> None:
    seen = walk(flows["exit_followup"], followup(needs))
    assert seen.ended_by == "safety_need"
    assert "want_help" not in seen.visited


@pytest.mark.parametrize("needs", [["none"], ["food", "living_situation"]])
def test_other_needs_are_not_urgent(flows: dict[str, Flow], needs: list[str]) -> None:
    seen = walk(flows["exit_followup"], followup(needs))
    assert seen.fired == []
    assert seen.reached_end


def test_asking_for_help_after_exit_is_routine(flows: dict[str, Flow]) -> None:
    seen = walk(flows["exit_followup"], followup(["none"], want_help=True))
    assert seen.fired == ["help_requested"]
    assert seen.visited[-1] == "thanks_help"


def test_followup_needs_offer_safety_and_an_exclusive_none(flows: dict[str, Flow]) -> None:
    step = question_keys(flows["exit_followup"])["followup.new_needs"]
    assert step.multiple
    values = [o.value for o in step.options]
    assert "safety" in values
    assert [o.value for o in step.options if o.exclusive] == ["none"]
