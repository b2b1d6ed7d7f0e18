"""The stage skeleton: a plan is made once per context, and `current` hands on only a verified output."""

import pytest

from webtext.components.config import WebtextConfig
from webtext.components.errors import InputError
from webtext.components.home import Home
from webtext.flows.stage import Context, Plan, Stage


class Counted(Stage):
    """A stage whose plan counts how often it is made."""

    name = "counted"

    def __init__(self, reason: str | None) -> None:
        self.reason, self.made = reason, 0

    def plan(self, ctx: Context) -> Plan:
        self.made += 1
        return Plan(self.reason, "all there", output={"id": "abc"})

    def run(self, ctx: Context, plan: Plan) -> str:
        return "ran"


def context(tmp_path) -> Context:
    return Context(con=None, config=WebtextConfig(), home=Home(tmp_path))


def test_a_plan_is_made_once_per_context_and_anew_in_the_next(tmp_path):
    stage, ctx = Counted(None), context(tmp_path)
    assert stage.current(ctx) == {"id": "abc"} and stage.planned(ctx).current == "all there"
    assert stage.current(ctx) == {"id": "abc"} and stage.made == 1
    stage.current(context(tmp_path))
    assert stage.made == 2


def test_current_refuses_a_stage_that_would_run_saying_what_to_run(tmp_path):
    with pytest.raises(InputError, match=r"checkpoint x is not trained: run `webtext stage counted` first"):
        Counted("checkpoint x is not trained").current(context(tmp_path))


def test_output_ids_hash_the_inputs_with_the_stage_version():
    stage = Counted(None)
    first = stage.output_id("token-set", {"lr": 1e-3})
    assert first == stage.output_id("token-set", {"lr": 1e-3}) and len(first) == 16
    assert first != stage.output_id("token-set", {"lr": 2e-3})
    stage.version = 2
    assert first != stage.output_id("token-set", {"lr": 1e-3})
