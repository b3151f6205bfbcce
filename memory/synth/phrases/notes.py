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
        "[Check-in|Catch-up|Touch-base] call with {attendees}[ re {feature}| about {queue}| ahead of {next_quarter} planning| after the {month} numbers| to go over open tickets| on the {integration} setup|].",
        "[Monthly|Regular|Bi-weekly|Fortnightly] [sync|check-in|call] with {attendees}[ — {feature} and {queue} on the agenda| ({minutes} min)| on {weekday}| from {city}|].",
        "Call with {attendees}[ ({minutes} min)| ({minutes} minutes, ran over)|][ about {feature}| re the {queue} backlog| on their {next_quarter} plans| following up on '{recent_ticket}'|].",
        "Quick call with {attendees} [to catch up|re open items|after the last ticket|about '{recent_ticket}'|before their {month} close|on {feature} adoption].",
        "[Spoke with|Talked to|Caught up with|Phoned] {attendees}[ about {feature}| about the {integration} connection| about {team}| re {queue}| — mostly {feature}| — short one|].",
    ),
    "qbr": (
        "QBR ({quarter}) with {attendees}[, in person in {city}|, remote|, at their {city} office|][ — focus on {feature}| — focus on {team}| — {next_quarter} goals|].",
        "[Quarterly business review|Quarterly review|{quarter} review] [for|with] {company}[ in {city}|, remote| over video][ — {feature} and {queue} on the agenda| — renewal and {next_quarter} goals| — {team} and {feature}|] (attendees: {attendees}).",
        "{quarter} business review with {attendees}[, in person in {city}|, remote|, at our {city} office][ — {unit} and adoption| — cost per {unit_one}| — {team} rollout|].",
        "QBR: {attendees}[ ({minutes} min)| (ran long)| (half day, {city})|][ — {last_quarter} recap and {next_quarter} plan| — {feature} deep dive| — {queue} numbers|].",
    ),
    "meeting": (
        "Working session with {attendees} on {feature}[ for {team}| in {city}| for the {queue} queue|].",
        "Workshop with {attendees}[ at their {city} office| over video| in {city}|]: {feature} and [reporting|routing for {queue}|{integration}|training for {team}].",
        "Meeting with {attendees} [to plan the next rollout phase|about their roadmap for {next_quarter}|on {team} onboarding|about {integration} and {feature}|to review {queue} SLAs].",
        "Onsite [visit|day|half-day] in {city} with {attendees}[ — {feature}| — {team} rollout| — {queue}|].",
    ),
    "email": (
        "Email thread with {attendees} re [{feature}|{queue}|the {integration} sync|'{recent_ticket}'|the {month} usage report].",
        "Logged [email exchange|emails] with {attendees}[ about {feature}| on {queue}| re {team}| about the {next_quarter} plan|].",
        "Emailed {attendees} [a follow-up|the usage summary|the {month} numbers|notes from the last call|the {feature} guide] and got a reply[ the same day| on {weekday}| a few days later|].",
    ),
}

SMALL_TALK: tuple[str, ...] = (
    "{champion} just back from [two weeks|a week|ten days|a long weekend] in {holiday_place}[, still jet-lagged|, very relaxed|].",
    "They're moving into a new office in {city} [next month|in {next_month}|this quarter], [lots of chaos|everyone is packing boxes|half the team is remote until then].",
    "Spent the first [few|five|ten] minutes on {sport}[ — {champion} is a big fan|, {person} too|].",
    "{person} is on [parental|sick|long] leave until {month}[, {champion} is covering|].",
    "Team is hiring [two|three|a few|{n2}] more [agents|analysts|team leads] for {team}[ this quarter| before {next_month}|].",
    "{champion}'s [dog|cat|toddler|parrot] made a guest appearance on camera[ again|].",
    "{champion} was running the call from [a train|an airport lounge|the car|a hotel in {city}], connection was [patchy|fine|bad].",
    "Small talk about [the heatwave|the snow|the rain|the traffic] in {city}[ and {sport}|].",
    "{champion} mentioned [they|their team|{team}] just won an internal award for [customer satisfaction|response times|the {queue} backlog clean-up].",
    "[Apparently|Turns out] {person} ran a [marathon|half marathon|10k] [last weekend|in {city}|in {last_month}].",
    "{champion} has been [busy with|buried in|swamped by] [budget season|hiring|the {city} move|year-end] [like everyone|this month|].",
    "They had a [company|team|department] offsite [last week|in {city}|in {last_month}], everyone [a bit tired|still recovering|full of new ideas].",
)

# Status lines use the account's real numbers at the note's date.
STATUS: tuple[str, ...] = (
    "{seats_used}/{seats_total} seats [in use|assigned|taken][, ~{active_avg} active users on a normal weekday|, ~{active_avg} active on a weekday| across {teams_phrase}|, {team} the busiest][ — {feature} most used| — {queue} the busiest queue| per {champion}|].",
    "[Usage:|Numbers:|Metrics:|Quick numbers:] {outcome_30d} {unit} in the last 30 days[, quality score around {quality_pct}%|, {seats_used} seats used| — {team} the biggest user| — mostly {queue}|].",
    "They're at {seats_used} of {seats_total} seats [across {teams_phrase}|with {team} the heaviest user|after adding {team}|in {city} and elsewhere|][ — {feature} the most used|, flat since {last_month}|, {queue} growing|].",
    "Around {active_avg} people in the tool [daily|on a weekday|most days]; {outcome_30d} {unit} [last month|in {last_month}|over the last 30 days][, mostly through {feature}|, {queue} the biggest queue|].",
    "Quality on [AI-handled work|automated answers|{ai_feature} output] is [sitting at|around|holding at|running at] {quality_pct}%[ per their QA|, {team} checks a sample weekly| on {queue}|].",
    "{teams_phrase} live [now|at the moment|as of {month}], {seats_used} seats assigned[; {feature} next|; {team} still to onboard|; {integration} connected|; {queue} the busiest].",
    "[Per the dashboard|From our side|Per their numbers], {outcome_30d} {unit} in 30 days and ~{active_avg} people active on a weekday[ — {feature} doing most of it| — {queue} busiest|].",
)

TOPICS: tuple[str, ...] = (
    "Walked through the open ticket ('{recent_ticket}'); {champion} is [fine with the workaround|waiting on the fix|less worried now|still annoyed about it|happy with the response][ — {person} owns it on their side|].",
    "[Demoed|Showed them|Walked {champion} through|Screen-shared] the new {feature} [improvements|settings|changes|release][ for {team}| for {queue}|]; [good reaction|lukewarm reaction|they want to try it in {next_month}|{person} asked for a recording|mixed feelings from {team}].",
    "{champion} asked about [the roadmap for|timelines on|what's next for|pricing of] {feature}[ — promised to send the {next_quarter} plan| — will check with product| for {team}|].",
    "Discussed connecting {integration}[ for {team}| to {feature}|]; [their IT team needs to approve it first|{person} owns that on their side|blocked until {next_month}|security review pending|should be live by {date_future}].",
    "Reviewed their routing setup [for {queue}|with {person}|for {team}|], suggested [merging two queues|simplifying the rules for {queue}|a fallback rule for {queue}|moving {queue} to {feature}].",
    "Talked about training for [new joiners in {team}|the {n2} new starters in {team}|{team} before {next_month}|{team} on {feature}][ — {person} will organise|, maybe onsite in {city}|].",
    "They want better reporting on {unit} per team for [their leadership|{sponsor}|the {next_quarter} board pack|{team}][; showed them the {feature} filters|; will send an example|].",
    "Went through the {last_quarter} [numbers|usage|results][ with {champion}| with {person}| for {team}|]; [no surprises|mostly as expected|volume up a bit|{unit} up about {pct_small}%|{queue} is the outlier|{team} grew the most|{feature} use up, {queue} flat].",
    "{person} asked [whether|if] {ai_feature} can handle [refunds|address changes|invoice disputes|{queue}|the {team} backlog] too[ — said we'd check|; it can, sent the docs|].",
    "Agreed to [review|clean up|prune] their [macros and knowledge articles|{n10} oldest macros|knowledge articles for {queue}|{feature} setup] together[ in {next_month}| with {person}| before {date_future}|].",
    "[Quick look|Short tour|Ten minutes] [at|of] the analytics dashboard together[ with {person}| for {team}|]; they didn't know about the [export|scheduled reports|team filter|{queue} view].",
    "Raised the {integration} sync [duplicates|delays|errors] again; engineering fix [is scheduled|shipped last week|is in testing|is due {date_future}].",
    "{champion} shared their {next_quarter} priorities: [{team} rollout|cost per {unit_one}|faster first response|{queue} backlog|more {ai_feature}|{integration} integration][ and {feature}| and {queue}| and hiring for {team}|].",
    "Spent [most of the call|twenty minutes|a while|the second half] on {queue}[ — backlog is about {n100} items| and SLAs| with {person}| and {feature}|].",
    "{person} from {team} [joined for|dropped in for|sat in on] the [first|last] [ten minutes|half] to ask about [{feature}|{queue}|{integration}].",
)

# The account's situation as a CSM notices it. Explicit and implicit variants on purpose.
SIGNALS: dict[str, tuple[str, ...]] = {
    "decline": (
        "Usage drifting down[ in {team}| on {feature}| since {last_month}|] — {champion} says the team is ['busy with other priorities'|'stretched'|'in firefighting mode'].",
        "{champion} cancelled the last [two|three] calls; this one was cut to [15|20] minutes.",
        "Nobody from {team} joined[, though they were invited| again| this time|].",
        "They still haven't set up {feature}, which we discussed [in {last_month}|twice already|at the last QBR].",
        "When asked what's working[ in {team}| on {queue}|], {champion} struggled to name anything specific.",
        "Several of the original power users [in {team}|on {queue}|] have moved teams; nobody has picked up their role.",
        "{champion} mentioned [the team|{team}|the {queue} folks] are 'doing a lot of it manually again'.",
        "Hard to get a straight answer on adoption goals for [next quarter|{next_quarter}|{team}].",
    ),
    "champion_gone": (
        "Found out {old_champion} left {company} [a few weeks ago|last month|in {last_month}] — nobody told us.",
        "{new_person} is the new point of contact; doesn't know the history and asked what {product} is used for[ in {team}|].",
        "Call was with {new_person} ({new_title}), who replaced {old_champion}. [Polite but noncommittal|Friendly, hard to read|Asked a lot about cost].",
        "Emails to {old_champion} bounce[ since {last_month}|]; need to rebuild the relationship [from scratch|with {new_person}|across {team}].",
        "{new_person} wants to 'review the whole tool stack' before committing to anything[ in {next_quarter}|].",
    ),
    "handover": (
        "{old_champion} is moving on; introduced {new_person} as the new owner. [Good handover|Smooth handover|Handover went fine], {new_person} has used {product} before.",
        "Handover call: {old_champion} walked {new_person} through the [setup|{feature} setup|{queue} rules]. {new_person} seems [keen|sharp|a bit overwhelmed].",
    ),
    "budget": (
        "Finance wants every tool justified line by line[ before {next_quarter}| this year|].",
        "{sponsor} mentioned a company-wide freeze on new spend until {next_quarter}.",
        "Asked whether we can move them to [quarterly|monthly] billing[ from {next_month}|].",
        "Procurement asked for a breakdown of cost per {unit_one}[ by team| for {team}|].",
        "{champion} said the budget review is ['brutal this year'|'painful'|'the worst in years'] and all renewals go through the CFO now.",
        "They paid the last invoice late; {champion} said AP is holding payments while vendors are re-approved.",
        "Hiring freeze on their side; the [two|{n2}] open roles in {team} were cancelled.",
    ),
    "competitor": (
        "They've been piloting another vendor in {team}[ since {last_month}| for {queue}|].",
        "{champion} asked, slightly awkwardly, how our pricing compares to {competitor}.",
        "Heard from {person} that there's a 'bake-off' planned for {next_quarter}[ covering {queue}|].",
        "They asked about data export formats and API limits[ for {queue}|] — worth watching.",
        "Their IT team is standardising on one platform; ours is not the default choice[ for {team}|].",
        "{champion} mentioned a demo from {competitor} 'just to see what's out there'.",
    ),
    "reorg": (
        "Big reorg: support now reports into {new_dept}; {old_sponsor} is out.",
        "New leadership ({new_person}) is reviewing all vendor relationships[ before {next_quarter}|].",
        "Team structure changed again; {team} merged with another group[ in {city}|].",
        "{champion} is unsure who signs off on the renewal after the reorg.",
        "{champion} said priorities are 'being reset from the top'[ since {last_month}|].",
    ),
    "quality_gap": (
        "Main topic: answer quality since the {release} change. They showed {n2} examples of wrong answers[ from {queue}|].",
        "Their QA lead says accuracy dropped from ~{pct_hi}% to {pct_lo}%[ on {queue}|].",
        "{champion} was frustrated — agents [in {team}|] now double-check everything the AI suggests.",
        "They switched Autopilot off for {queue} until we fix the regression.",
        "Escalated the quality regression to product; promised an update by {date_future}.",
        "{sponsor} joined unexpectedly to say the quality issues are 'not acceptable'.",
    ),
    "quality_recovered": (
        "Quality back to normal after the fix; {champion} said [the team|{team}] noticed within a day.",
        "They turned Autopilot back on for {queue}; accuracy back around {pct_hi}%.",
        "Relationship recovering after the quality issues, still some scepticism in {team}.",
    ),
    "expansion": (
        "Asked for pricing for {n10} more seats for {team}[ from {next_month}|].",
        "{team} wants in — {champion} will introduce us to their lead[ in {city}|].",
        "They're basically at the cap: {seats_used}/{seats_total} seats[, {team} waiting|].",
        "Rolled out to {teams_phrase} now; [two|{n2}] more planned for {next_quarter}.",
        "{sponsor} wants to standardise on {product} across [regions|{city} and the other offices|the group].",
        "Adoption of {feature} went faster than planned[ in {team}|], they want a second workshop.",
        "{unit} close to the contracted volume; {champion} asked what happens if they go over.",
    ),
    "ai_gains": (
        "Logins are down but that's the point: Autopilot now closes about {pct}% of tier-1[ in {queue}|] without an agent.",
        "They moved {n2} agents from the queue to [onboarding|{team}] because the bot handles [password resets|order status questions|{queue}].",
        "Fewer people in the tool day to day; {unit} up about {pct}% over the quarter.",
        "{champion}: 'we barely touch the simple stuff anymore'[ — {team} agrees|].",
        "Quality on automated answers is the best it's been ({quality_pct}%)[ on {queue}| for {team}| per their QA|].",
        "{sponsor} presented the automation numbers to their board; [very positive|well received|lots of questions about {ai_feature}].",
    ),
    "churn_notice": (
        "Customer confirmed they will not renew; reason given: {reason}.",
        "{champion} said the decision is final, they'll [wind down|move off] by {renewal_date}.",
    ),
    "sponsor_silent": (
        "{sponsor} didn't join again ([third|fourth] time).",
        "No reply from {sponsor} to the exec check-in invite[ from {last_month}|].",
        "{sponsor} declined the QBR invite without comment.",
    ),
}

# Mixed signals: goodwill in a difficult account, grumbles in a happy one.
MIXED: dict[str, tuple[str, ...]] = {
    "good": (
        "{champion} grumbled about the price increase but said [the team|{team}|the {queue} folks] ['can't imagine going back'|'would riot' without it|'wouldn't go back'][ to {competitor}|].",
        "Some frustration with the [{integration} sync|search|{feature}] bug[ {person} raised|], otherwise very happy.",
        "[A couple of|A few|{n2}] agents [in {team}|] still prefer writing replies from scratch, but overall adoption is good.",
        "Usage dipped [over the holidays|during their peak month|in {last_month}], expected; back to normal now[ per {champion}|].",
        "They complained about [response times|a slow answer|the back-and-forth] on one ticket[ ({ticket_ref})| about {feature}| from {team}|], [resolved since|sorted now|{person} is fine with it now].",
        "{champion} joked that {product} is 'the one tool nobody [complains about|moans about|asks to replace]'[ in {team}| at {company}| on {queue}|].",
    ),
    "risk": (
        "{champion} was positive about {feature} itself; the problem is elsewhere.",
        "To be fair, the agents who do use it[ in {team}|] like it.",
        "{person} said support from our side has been great.",
        "Still some goodwill left — they appreciated the quick fix on the {integration} issue.",
    ),
}

# Renewal talk near the renewal date, by the note's stance on the renewal.
RENEWAL: dict[str, tuple[str, ...]] = {
    "good": (
        "Renewal on {renewal_date}: {champion} expects a straightforward renewal[ for {team} and the rest|], [procurement|their finance team|{sponsor}] will ask for a [multi-year|loyalty|small|{pct_small}%] discount[ again|].",
        "Renewal conversation started[ with {champion}| with {sponsor}| over email|]; they want to lock pricing for [two|three] years[ and add {team}| and move {queue} onto {feature}| — paperwork in {next_month}|].",
        "{champion} confirmed budget for the renewal is approved[ by {sponsor}| for {next_quarter}| in their {next_quarter} plan|][, no change in scope|, same seat count|, maybe a few seats for {team}|].",
        "[Renewal|The {renewal_date} renewal] [looks routine|should be simple|is not a worry]: {champion} [already has the budget|wants the order form early|asked for the quote by {date_future}][ — {team} keeps growing|].",
    ),
    "expand": (
        "Renewal on {renewal_date}: they want to add {n10} seats and {team}.",
        "Sent an expansion proposal ahead of the renewal; {sponsor} is supportive[ of adding {team}|].",
    ),
    "risk": (
        "Renewal on {renewal_date}: {champion} was vague about timing, 'needs to check internally'.",
        "Asked about the renewal; they want to 'see the numbers first'[ for {team}|].",
        "Procurement wants a {pct_small}% discount or a smaller package.",
        "{champion} hinted they may reduce the seat count at renewal[ — {team} in question|].",
    ),
    "exit": (
        "Contract ends {renewal_date}; walked {champion} through the offboarding timeline.",
        "Agreed the data export for {queue} and the rest before {renewal_date}[ — {person} owns it on their side|].",
        "Asked for honest feedback before they leave; {champion} [was open about it|kept it short|promised a written summary].",
    ),
}

NEXT_STEPS: tuple[str, ...] = (
    "send the [usage report|{month} usage summary|{queue} numbers|adoption report for {team}] by {date_future}",
    "book {feature} training for {team}[ in {next_month}| onsite in {city}| with {person}|]",
    "follow up on ticket {ticket_ref}[ with {person}| re {feature}| re {queue}| before {weekday}|]",
    "share the roadmap for {feature}[ with {person}| with {team}| before {date_future}|]",
    "loop in a solutions engineer re {integration}[ for {team}| by {date_future}|]",
    "check in with {champion} [in two weeks|in a week|in a month|after {next_month} starts|on {weekday}][ re {feature}| re {queue}|]",
    "draft a success plan for [{next_quarter}|the rollout for {team}|{queue}|{feature} adoption]",
    "send {person} the {feature} [guide|docs|recording|cheat sheet]",
    "review {queue} SLAs with {champion} on {weekday}",
    "[ask support about|chase support on|escalate internally] '{recent_ticket}'[ for {champion}| by {weekday}|]",
)
# Next steps that only make sense in a situation (tag -> steps).
NEXT_STEPS_BY_TAG: dict[str, tuple[str, ...]] = {
    "quality_gap": (
        "ask product for an update on the [quality issue|{release} regression] by {date_future}",
        "share {n2} corrected examples[ from {queue}|] with our AI team",
    ),
    "expansion": ("send the expansion quote[ for {n10} seats| by {date_future}| for {team}|]",),
    "competitor": ("send them the data export docs[ ({person} asked)|]",),
    "budget": (
        "prepare an ROI summary for [their leadership|{sponsor}|the {next_quarter} review]",
    ),
    "reorg": (
        "prepare an ROI summary for [their leadership|{new_person}|the {next_quarter} review]",
    ),
    "champion_gone": (
        "intro {new_person} to our support team",
        "book an onboarding refresher for {new_person}[ and {team}|]",
    ),
    "renewal_soon": (
        "confirm the renewal paperwork with [procurement|{person}][ before {renewal_date}|]",
    ),
    "decline": ("propose a re-launch workshop for {team}[ in {next_month}|]",),
}
# Steps that only one stance on the renewal allows (a leaving customer gets no renewal
# paperwork and no expansion quote; a renewing one no exit call).
STEPS_ONLY_FOR: dict[str, str] = {
    "expansion": "renewing",
    "renewal_soon": "renewing",
}
NEXT_STEPS_BY_STANCE: dict[str, tuple[str, ...]] = {
    "renewing": (
        "schedule the next QBR for [{next_quarter}|{next_month}][ in {city}| with {sponsor}|]",
        "set up an exec check-in with {sponsor}[ before {next_quarter}| in {next_month}| about {team}| about {feature}|]",
    ),
    "at_risk": (
        "prepare renewal options for {champion}[ before {renewal_date}| with a smaller package|]",
        "set up an exec check-in with {sponsor}[ before {next_quarter}| about value| about {team}| before {renewal_date}|]",
        "[build|send] a value summary for [{sponsor}|{champion}|their leadership][ by {date_future}|]",
    ),
    "not_renewing": (
        "agree the offboarding timeline with {champion}[ before {renewal_date}|]",
        "send the data export docs to {person}",
        "book an exit call with [{sponsor}|{champion}][ before {renewal_date}|]",
    ),
}

KICKOFF: tuple[str, ...] = (
    "Kickoff with {attendees}. Goals: get {team} live in the first month, then connect {integration}[ and {feature}|].",
    "Onboarding kickoff[ in {city}| over video|]. {champion} owns the rollout; target go-live {date_future}[ for {team}|].",
    "Kickoff meeting with {attendees}; they came from {competitor} and want a clean setup this time[ for {queue}|].",
)

RENEWAL_OUTCOME: dict[str, tuple[str, ...]] = {
    "renewed": (
        "Renewal signed[ — same scope|, small price uplift accepted|, two-year term|, {seats_after} seats as before|][; thanked {champion} and {sponsor}|; kickoff for {next_quarter} next|].",
        "Order form for the renewal came back signed[ by {sponsor}| on {weekday}| after a short procurement round|][, {seats_after} seats|, same terms|].",
    ),
    "expanded": (
        "Renewal signed with expansion: seats up to {seats_after}[, {team} added|].",
        "Expansion closed at renewal; {team} added to the contract.",
    ),
    "contracted": (
        "Renewal signed, but smaller: down to {seats_after} seats.",
        "They renewed at a reduced scope after the budget discussion[ — {seats_after} seats|].",
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
