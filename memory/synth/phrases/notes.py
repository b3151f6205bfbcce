# Sentence templates are long on purpose: one template per line reads best.
# ruff: noqa: E501
"""Phrase banks for CSM call notes, meeting notes, QBRs and logged e-mails.

A note is composed of a header, optional small talk, a status line with the account's real
numbers, a few topics, the situation as the CSM perceived it (often implicitly), mixed
signals, renewal talk near the renewal date, and next steps. Each CSM has a style (prose,
bullets, terse) applied on top.
"""

from __future__ import annotations

HEADERS: dict[str, tuple[str, ...]] = {
    "call": (
        "Check-in call with {attendees}.",
        "[Monthly|Regular|Bi-weekly] sync with {attendees}.",
        "Call with {attendees}[ ({minutes} min)|].",
        "Quick call with {attendees} [to catch up|re open items|after the last ticket].",
        "Catch-up with {attendees}.",
        "Spoke with {attendees}.",
    ),
    "qbr": (
        "QBR ({quarter}) with {attendees}.",
        "Quarterly business review. Attendees: {attendees}.",
        "{quarter} business review with {attendees}[, in person in {city}|, remote|].",
        "QBR: {attendees}.",
    ),
    "meeting": (
        "Working session with {attendees} on {feature}.",
        "Workshop with {attendees}[ at their {city} office|]: {feature} and reporting.",
        "Meeting with {attendees} [to plan the next rollout phase|about their roadmap for {next_quarter}].",
        "Onsite [visit|day] in {city} with {attendees}.",
    ),
    "email": (
        "Email thread with {attendees} re {feature}.",
        "Logged email exchange with {attendees}.",
        "Emailed {attendees} [a follow-up|the usage summary] and got a reply.",
    ),
}

SMALL_TALK: tuple[str, ...] = (
    "{champion} just back from [two weeks|a week|ten days] in {holiday_place}.",
    "They're moving into a new office in {city} [next month|in {next_month}], [lots of chaos|everyone is packing boxes].",
    "Spent the first few minutes on {sport}.",
    "{person} is on parental leave until {month}.",
    "Team is hiring [two|three|a few] more [agents|analysts] for {team}.",
    "{champion}'s [dog|cat|toddler] made a guest appearance on camera.",
    "{champion} was running the call from a train, connection was patchy.",
    "Small talk about [the heatwave|the snow|the rain] in {city}.",
    "{champion} mentioned [they|their team] just won an internal award for customer satisfaction.",
    "[Apparently|Turns out] {person} ran a marathon last weekend.",
    "{champion} has been [busy with|buried in] budget season [like everyone|].",
    "They had a company offsite last week, everyone a bit tired.",
)

# Status lines use the account's real numbers at the note's date.
STATUS: tuple[str, ...] = (
    "{seats_used}/{seats_total} seats in use, ~{active_avg} active users on a normal weekday.",
    "[Usage:|Numbers:] {outcome_30d} {unit} in the last 30 days, quality score around {quality_pct}%.",
    "They're at {seats_used} of {seats_total} seats across {teams_phrase}.",
    "Around {active_avg} people in the tool daily; {outcome_30d} {unit} last month.",
    "Quality on AI-handled work is sitting at {quality_pct}%.",
    "{teams_phrase} live [now|at the moment], {seats_used} seats assigned.",
)

TOPICS: tuple[str, ...] = (
    "Walked through the open ticket ('{recent_ticket}'); {champion} is [fine with the workaround|waiting on the fix|less worried now|still annoyed about it].",
    "[Demoed|Showed them|Walked {champion} through] the new {feature} [improvements|settings|changes]; [good reaction|lukewarm reaction|they want to try it in {next_month}|{person} asked for a recording].",
    "{champion} asked about [the roadmap for|timelines on|what's next for] {feature}[ — promised to send the {next_quarter} plan|].",
    "Discussed connecting {integration}; [their IT team needs to approve it first|{person} owns that on their side|blocked until {next_month}].",
    "Reviewed their routing setup [for {queue}|with {person}|], suggested [merging two queues|simplifying the rules for {queue}|a fallback rule for {queue}].",
    "Talked about training for [new joiners in {team}|the {n2} new starters in {team}|{team} before {next_month}].",
    "They want better reporting on {unit} per team for [their leadership|{sponsor}|the {next_quarter} board pack].",
    "Went through the {last_quarter} numbers[ with {champion}|]; [no surprises|mostly as expected|volume up a bit|{unit} up about {pct_small}%].",
    "{person} asked [whether|if] {ai_feature} can handle [refunds|address changes|invoice disputes|{queue}] too.",
    "Agreed to [review|clean up|prune] their [macros and knowledge articles|{n10} oldest macros|knowledge articles for {queue}] together[ in {next_month}|].",
    "[Quick look|Short tour|Ten minutes] [at|of] the analytics dashboard together[ with {person}|]; they didn't know about the [export|scheduled reports|team filter].",
    "Raised the {integration} sync duplicates again; engineering fix [is scheduled|shipped last week|is in testing].",
    "{champion} shared their {next_quarter} priorities: [{team} rollout|cost per {unit_one}|faster first response|{queue} backlog].",
    "Spent [most of the call|twenty minutes|a while] on {queue}[ — backlog is about {n100} items| and SLAs|].",
)

# The account's situation as a CSM notices it. Explicit and implicit variants on purpose.
SIGNALS: dict[str, tuple[str, ...]] = {
    "decline": (
        "Usage drifting down — {champion} says the team is 'busy with other priorities'.",
        "{champion} cancelled the last two calls; this one was cut to 15 minutes.",
        "Nobody from {team} joined[, though they were invited|].",
        "They still haven't set up {feature}, which we discussed [in {last_month}|twice already].",
        "When asked what's working, {champion} struggled to name anything specific.",
        "Several of the original power users have moved teams; nobody has picked up their role.",
        "{champion} mentioned the team is 'doing a lot of it manually again'.",
        "Hard to get a straight answer on adoption goals for next quarter.",
    ),
    "champion_gone": (
        "Found out {old_champion} left {company} [a few weeks ago|last month] — nobody told us.",
        "{new_person} is the new point of contact; doesn't know the history and asked what {product} is used for.",
        "Call was with {new_person} ({new_title}), who replaced {old_champion}. Polite but noncommittal.",
        "Emails to {old_champion} bounce. Need to rebuild the relationship from scratch.",
        "{new_person} wants to 'review the whole tool stack' before committing to anything.",
    ),
    "handover": (
        "{old_champion} is moving on; introduced {new_person} as the new owner. Good handover, {new_person} has used {product} before.",
        "Handover call: {old_champion} walked {new_person} through the setup. {new_person} seems keen.",
    ),
    "budget": (
        "Finance wants every tool justified line by line.",
        "{sponsor} mentioned a company-wide freeze on new spend until {next_quarter}.",
        "Asked whether we can move them to quarterly billing.",
        "Procurement asked for a breakdown of cost per {unit_one}.",
        "{champion} said the budget review is 'brutal this year' and all renewals go through the CFO now.",
        "They paid the last invoice late; {champion} said AP is holding payments while vendors are re-approved.",
        "Hiring freeze on their side; the two open roles in {team} were cancelled.",
    ),
    "competitor": (
        "They've been piloting another vendor in {team}.",
        "{champion} asked, slightly awkwardly, how our pricing compares to {competitor}.",
        "Heard from {person} that there's a 'bake-off' planned for {next_quarter}.",
        "They asked about data export formats and API limits — worth watching.",
        "Their IT team is standardising on one platform; ours is not the default choice.",
        "{champion} mentioned a demo from {competitor} 'just to see what's out there'.",
    ),
    "reorg": (
        "Big reorg: support now reports into {new_dept}; {old_sponsor} is out.",
        "New leadership ({new_person}) is reviewing all vendor relationships.",
        "Team structure changed again; {team} merged with another group.",
        "{champion} is unsure who signs off on the renewal after the reorg.",
        "{champion} said priorities are 'being reset from the top'.",
    ),
    "quality_gap": (
        "Main topic: answer quality since the {release} change. They showed {n2} examples of wrong answers.",
        "Their QA lead says accuracy dropped from ~{pct_hi}% to {pct_lo}%.",
        "{champion} was frustrated — agents now double-check everything the AI suggests.",
        "They switched Autopilot off for {queue} until we fix the regression.",
        "Escalated the quality regression to product; promised an update by {date_future}.",
        "{sponsor} joined unexpectedly to say the quality issues are 'not acceptable'.",
    ),
    "quality_recovered": (
        "Quality back to normal after the fix; {champion} said the team noticed within a day.",
        "They turned Autopilot back on for {queue}; accuracy back around {pct_hi}%.",
        "Relationship recovering after the quality issues, still some scepticism in {team}.",
    ),
    "expansion": (
        "Asked for pricing for {n10} more seats for {team}.",
        "{team} wants in — {champion} will introduce us to their lead.",
        "They're basically at the cap: {seats_used}/{seats_total} seats.",
        "Rolled out to {teams_phrase} now; two more planned for {next_quarter}.",
        "{sponsor} wants to standardise on {product} across regions.",
        "Adoption of {feature} went faster than planned, they want a second workshop.",
        "{unit} close to the contracted volume; {champion} asked what happens if they go over.",
    ),
    "ai_gains": (
        "Logins are down but that's the point: Autopilot now closes about {pct}% of tier-1 without an agent.",
        "They moved {n2} agents from the queue to onboarding because the bot handles [password resets|order status questions].",
        "Fewer people in the tool day to day; {unit} up about {pct}% over the quarter.",
        "{champion}: 'we barely touch the simple stuff anymore'.",
        "Quality on automated answers is the best it's been ({quality_pct}%).",
        "{sponsor} presented the automation numbers to their board; very positive.",
    ),
    "churn_notice": (
        "Customer confirmed they will not renew; reason given: {reason}.",
        "{champion} said the decision is final, they'll [wind down|move off] by {renewal_date}.",
    ),
    "sponsor_silent": (
        "{sponsor} didn't join again (third time).",
        "No reply from {sponsor} to the exec check-in invite.",
        "{sponsor} declined the QBR invite without comment.",
    ),
}

MIXED: dict[str, tuple[str, ...]] = {
    "healthy": (
        "{champion} grumbled about the price increase but said the team 'can't imagine going back'.",
        "Some frustration with the [{integration} sync|search|{feature}] bug[ {person} raised|], otherwise very happy.",
        "[A couple of|A few|{n2}] agents [in {team}|] still prefer writing replies from scratch, but overall adoption is good.",
        "Usage dipped [over the holidays|during their peak month|in {last_month}], expected; back to normal now[ per {champion}|].",
        "They complained about response times on one ticket[ ({ticket_ref})|], resolved since.",
        "{champion} joked that {product} is 'the one tool nobody complains about'.",
    ),
    "risk": (
        "{champion} was positive about {feature} itself; the problem is elsewhere.",
        "To be fair, the agents who do use it like it.",
        "{person} said support from our side has been great.",
        "Still some goodwill left — they appreciated the quick fix on the {integration} issue.",
    ),
}

RENEWAL: dict[str, tuple[str, ...]] = {
    "good": (
        "Renewal on {renewal_date}: {champion} expects a straightforward renewal, procurement will ask for a multi-year discount.",
        "Renewal conversation started[ with {champion}|]; they want to lock pricing for [two|three] years[ and add {team}|].",
        "{champion} confirmed budget for the renewal is approved.",
    ),
    "expand": (
        "Renewal on {renewal_date}: they want to add {n10} seats and {team}.",
        "Sent an expansion proposal ahead of the renewal; {sponsor} is supportive.",
    ),
    "risk": (
        "Renewal on {renewal_date}: {champion} was vague about timing, 'needs to check internally'.",
        "Asked about the renewal; they want to 'see the numbers first'.",
        "Procurement wants a {pct_small}% discount or a smaller package.",
        "{champion} hinted they may reduce the seat count at renewal.",
    ),
}

NEXT_STEPS: tuple[str, ...] = (
    "send the usage report by {date_future}",
    "book {feature} training for {team}[ in {next_month}|]",
    "follow up on ticket {ticket_ref}",
    "set up an exec check-in with {sponsor}[ before {next_quarter}|]",
    "share the roadmap for {feature}[ with {person}|]",
    "loop in a solutions engineer re {integration}",
    "schedule the next QBR for [{next_quarter}|{next_month}]",
    "check in with {champion} in [two weeks|a week|a month]",
    "draft a success plan for [{next_quarter}|the rollout for {team}]",
    "send {person} the {feature} guide",
    "review {queue} SLAs with {champion} on {weekday}",
)
# Next steps that only make sense in a situation (tag -> steps).
NEXT_STEPS_BY_TAG: dict[str, tuple[str, ...]] = {
    "quality_gap": (
        "ask product for an update on the [quality issue|{release} regression] by {date_future}",
        "share {n2} corrected examples with our AI team",
    ),
    "expansion": ("send the expansion quote[ for {n10} seats| by {date_future}|]",),
    "competitor": ("send them the data export docs[ ({person} asked)|]",),
    "budget": (
        "prepare an ROI summary for [their leadership|{sponsor}|the {next_quarter} review]",
    ),
    "reorg": (
        "prepare an ROI summary for [their leadership|{new_person}|the {next_quarter} review]",
    ),
    "champion_gone": (
        "intro {new_person} to our support team",
        "book an onboarding refresher for {new_person}",
    ),
    "renewal_soon": (
        "confirm the renewal paperwork with [procurement|{person}][ before {renewal_date}|]",
    ),
    "decline": ("propose a re-launch workshop for {team}",),
}

KICKOFF: tuple[str, ...] = (
    "Kickoff with {attendees}. Goals: get {team} live in the first month, then connect {integration}.",
    "Onboarding kickoff. {champion} owns the rollout; target go-live {date_future}.",
    "Kickoff meeting with {attendees}; they came from {competitor} and want a clean setup this time.",
)

RENEWAL_OUTCOME: dict[str, tuple[str, ...]] = {
    "renewed": (
        "Renewal signed[ — same scope|, small price uplift accepted|].",
        "Order form for the renewal came back signed[ by {sponsor}| on {weekday}|].",
    ),
    "expanded": (
        "Renewal signed with expansion: seats up to {seats_after}.",
        "Expansion closed at renewal; {team} added to the contract.",
    ),
    "contracted": (
        "Renewal signed, but smaller: down to {seats_after} seats.",
        "They renewed at a reduced scope after the budget discussion.",
    ),
    "churned": (
        "Received notice of non-renewal. Reason: {reason}.",
        "{champion} confirmed by email they will not renew; contract ends {renewal_date}.",
    ),
}

DISCOVER: tuple[str, ...] = (
    "Found out {old_champion} left {company} [a few weeks ago|last month] — nobody told us.",
    "Emails to {old_champion} bounce. Need to rebuild the relationship from scratch.",
    "Tried to reach {old_champion} about the next QBR; turns out [they have|{old_champion} has] left {company}.",
    "{old_champion}'s out-of-office says [they've|they have] left the company. No handover to us.",
)

# A CSM who writes tersely shortens words like this.
TERSE_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    (" with ", " w/ "),
    (" people ", " ppl "),
    (" because ", " b/c "),
    (" about ", " re "),
    (" and ", " & "),
    (" confirmed ", " conf'd "),
    (" meeting ", " mtg "),
    (" customer ", " cust "),
    (" next steps", " NS"),
)
