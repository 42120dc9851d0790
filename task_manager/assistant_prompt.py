"""What the planning assistant is told: its instructions, the person's profile, its tools.

Pure (no I/O). The profile goes into the instructions on every turn, rebuilt from the
user's row, so the assistant never asks for what the profile already says and a profile
edit takes effect in the next reply of an existing conversation.
"""

from __future__ import annotations

import json
from datetime import datetime

from openai.types.chat import ChatCompletionFunctionToolParam

from database.profile import Profile
from task_manager.orchestrator import CampaignPlan

INSTRUCTIONS = """\
You help {name} plan phone calls that an AI voice agent will place on their behalf.
Find out what they want done, then ask, briefly and one or two things at a time, for what
is still missing: who to call and their phone numbers, what exactly to achieve on each
call, what counts as success, when calls may be placed, and any constraints (budget,
dates, what may be said). Never ask for something the profile below already answers.
{lookup}
When you know enough, call propose_plan with the complete plan. Every task needs a phone
number and an objective the agent can act on; write success_criteria as a test someone
could check after the call. If propose_plan reports problems (for example an invalid
number), explain them to the person in plain words and ask for a correction.
The person confirms the plan themselves on the page; do not claim calls were placed.

Today is {today} in the person's time zone ({time_zone}).
Profile of the person (the agent may share the standing facts, never the private ones):
{profile}"""
WITH_LOOKUP = (
    'If they want businesses found for them ("three dentists near me"), use '
    "lookup_businesses, then put the businesses' numbers in the plan and their opening "
    "hours into each task's window."
)
WITHOUT_LOOKUP = "You cannot search for businesses: ask the person for the names and phone numbers."


def instructions(
    *,
    display_name: str,
    email: str,
    phone_number: str | None,
    time_zone: str,
    profile: Profile,
    now: datetime,
    can_look_up: bool,
) -> str:
    facts = dict(profile.facts)
    summary = {
        "name": display_name or None,
        "email": email,
        "own phone number (for transfers)": phone_number,
        "time zone": time_zone,
        "standing facts": facts or None,
        "never share": list(profile.never_share) or None,
    }
    return INSTRUCTIONS.format(
        name=display_name or "the person",
        lookup=WITH_LOOKUP if can_look_up else WITHOUT_LOOKUP,
        today=now.strftime("%A %Y-%m-%d %H:%M"),
        time_zone=time_zone,
        profile=json.dumps({k: v for k, v in summary.items() if v}, indent=1),
    )


def propose_plan_tool() -> ChatCompletionFunctionToolParam:
    schema = CampaignPlan.model_json_schema()
    defs = schema.pop("$defs", {})  # refs are "#/$defs/...": they resolve from the root
    return {
        "type": "function",
        "function": {
            "name": "propose_plan",
            "description": (
                "Show the person a campaign plan to review and confirm. The server "
                "validates it and answers with any problems."
            ),
            "parameters": {
                "type": "object",
                "properties": {"plan": schema},
                "required": ["plan"],
                "$defs": defs,
            },
        },
    }


def lookup_tool() -> ChatCompletionFunctionToolParam:
    return {
        "type": "function",
        "function": {
            "name": "lookup_businesses",
            "description": (
                "Search businesses by what they are and where: returns names, phone "
                "numbers, addresses and opening hours (as a calling window)."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "what to find, e.g. dentist"},
                    "near": {"type": "string", "description": "a place, e.g. Oakland, CA"},
                },
                "required": ["query"],
            },
        },
    }


def tools(can_look_up: bool) -> list[ChatCompletionFunctionToolParam]:
    return [propose_plan_tool(), *([lookup_tool()] if can_look_up else [])]
