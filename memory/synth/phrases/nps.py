# Sentence templates are long on purpose: one template per line reads best.
# ruff: noqa: E501
"""Phrase banks for NPS comments: by score bucket, and by the account's situation."""

from __future__ import annotations

GENERIC: dict[str, tuple[str, ...]] = {
    "promoter": (
        "{ai_feature} saves [my team|us|{team}] [hours|a day|{n2} hours] every week.",
        "Support is [quick|fast|responsive] and actually knows the product[ — shout-out to {agent}|].",
        "Easy to set up and the {integration} integration just works.",
        "Best tool we've added in [years|a long time][, honestly|]. [Keep it up.|]",
        "{unit} [went up|are up] and [our team is calmer|the queue is under control]. What more do you want?",
        "Great product, great people. [Keep it up|Keep going|Thanks {csm}].",
        "[The|Honestly the] {feature} alone is worth it.",
        "Our CSM {csm} is [fantastic|brilliant|always on top of things].",
        "[Reliable|Solid|Dependable], [fast|quick], and the team in {city} [loves it|relies on it daily].",
        "We [rolled it out|went live] in [weeks|a month] and never looked back.",
    ),
    "passive": (
        "Does the job. [Reporting|The analytics|Exporting data] could be better.",
        "Good tool, but the price went up [a lot|noticeably|more than we expected] this year.",
        "Mostly happy; {feature} is [clunky|slow|confusing for new people].",
        "Fine overall. [Would like|Wish there was] more control over {ai_feature}.",
        "Solid, but onboarding new people takes longer than it should[ — {n2} weeks for {team}|].",
        "It works. Not much else to say.",
        "Good when it works, but the {integration} sync has been [flaky|unreliable][ since {last_month}|].",
        "[Decent|OK] product; support [could be faster|takes a while on complex issues].",
    ),
    "detractor": (
        "Too expensive for what we [use|actually use|get out of it].",
        "Support takes too long to get to the real problem[ — {n2} weeks on our last ticket|].",
        "Setup was painful and we still don't use half of it.",
        "Not convinced it's worth it for a team [our size|of {n10}].",
        "Reporting is weak and the {integration} sync keeps breaking.",
        "[Too many|Constant] small bugs in {feature}.",
    ),
}

THEMED: dict[str, tuple[str, ...]] = {
    "quality_gap": (
        "Answers have been wrong too often since the last update[ — {queue} especially|].",
        "The AI used to be good. Since {release_month} we check everything twice.",
        "Quality dropped and nobody told us why.",
        "We had to switch Autopilot off for [part of the volume|{queue}]. Disappointing.",
        "[Accuracy|Answer quality] went from great to unreliable[ after the {release}|].",
    ),
    "decline": (
        "Not sure we're getting value anymore.",
        "Hardly anyone on [the team|{team}] uses it now.",
        "We never really got past the basics.",
        "It's fine, we just don't use it much[ these days|].",
        "[Adoption never took off|It never really stuck] here.",
    ),
    "budget": (
        "Price is hard to justify this year.",
        "Good product, but we need to cut costs everywhere.",
        "Would be a [9|10] if it were cheaper.",
        "[Finance|Our CFO] keeps asking why we pay this much.",
    ),
    "competitor": (
        "Looking at alternatives that integrate better with {integration}.",
        "Other tools are catching up fast.",
        "Good, but our CRM now does some of this out of the box.",
        "{competitor} showed us something similar for less.",
    ),
    "champion_gone": (
        "I'm new here, still figuring out how we use it.",
        "Inherited this tool, no strong opinion yet.",
        "Don't know it well enough yet[ — {old_champion} set it up|].",
    ),
    "reorg": (
        "Lots of change on our side, too early to say.",
        "Our priorities have changed; not sure where this fits now.",
    ),
    "expansion": (
        "Rolling it out to more teams — keep the SSO improvements coming.",
        "Adoption has been fast. We'll need more seats soon.",
        "{team} is next to join. Everyone who uses it likes it.",
        "We've outgrown our plan[ — {seats_used} of {seats_total} seats used|]. Good problem to have.",
    ),
    "ai_gains": (
        "We barely log in now, and that's a compliment.",
        "Autopilot handles the repetitive work; the team focuses on hard cases.",
        "{unit} way up with fewer people in the queue. Impressive.",
        "Quality of automated answers keeps getting better.",
        "[{pct}%|Most] of our tier-1 is automated now.",
    ),
}
