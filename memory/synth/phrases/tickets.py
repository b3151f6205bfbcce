# Sentence templates are long on purpose: one template per line reads best.
# ruff: noqa: E501
"""Phrase banks for support tickets: issues (what goes wrong) and the parts around them.

An issue is a problem a customer can have, with several subjects, problem statements,
details and asks. A ticket is composed from one issue plus greeting, small talk, context,
mixed praise, the signals of the account's situation, impact, what was tried, a closing
and a sign-off, each drawn from its own bank, so two tickets about the same issue rarely
share a sentence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

BOTH = ("support", "documents")
SUPPORT = ("support",)
DOCUMENTS = ("documents",)


@dataclass(frozen=True)
class IssueSpec:
    key: str
    category: str
    subjects: tuple[str, ...]
    problems: tuple[str, ...]
    details: tuple[str, ...]
    asks: tuple[str, ...]
    use_cases: tuple[str, ...] = BOTH
    weight: float = 1.0
    # situation tag -> weight multiplier (e.g. budget pressure makes seat reductions likely)
    boosts: Mapping[str, float] = field(default_factory=dict)
    # (low, normal, high, urgent) weights
    priority: tuple[float, float, float, float] = (0.25, 0.55, 0.17, 0.03)
    frustration: float = 0.0


ISSUES: tuple[IssueSpec, ...] = (
    # ---------------------------------------------------------------- how-to
    IssueSpec(
        key="routing_rule",
        category="how_to",
        subjects=(
            "Routing rule for '{queue}' not [applying|picking up new items|firing]",
            "How do I route {queue} items to {team}?",
            "Question on routing [priorities|order of rules|conditions]",
            "[Help with|Question about|Stuck on] a routing rule for {queue}",
            "Rule conditions for the {queue} queue",
            "{queue} items [landing in the wrong queue|not reaching {team}]",
        ),
        problems=(
            "We set up a rule so that anything tagged '{queue}' goes to {team}, but [new items|new conversations|incoming {unit_short}] still land in the [general|default|catch-all] queue.",
            "I'm trying to send {queue} [items|tickets|requests] to a specific group only during business hours in {city}, and I can't [see|find|work out] where to set the schedule.",
            "Since we added a [second|new] rule for {queue} {day_ref}, the [first|original|older] one [seems to be ignored|never fires|stopped working], even though it's higher in the list.",
            "[Could you|Can you|Can someone] explain how rule order works when [two|several|{n2}] rules match? We have {n2} rules touching {queue} and it's getting [confusing|messy|hard to follow].",
            "About {n10} [items|requests] a day that should go to {team} end up [unassigned|with the wrong group|in {queue}] instead.",
        ),
        details=(
            "The rule has {n2} conditions, the last one is '[language is not English|channel is email|customer tier is Gold]'.",
            "It [worked fine|was working] until {since}, [as far as I can tell|and I'm fairly sure] nobody changed it.",
            "I checked the audit log and the last edit was by {person} on {last_month_day}.",
            "[Roughly|About|Something like] {n10} items a day should be going [there|to that queue|to {team}].",
            "We [copied|cloned] the rule from the one we use for {queue}[, which works fine|, and that one is fine|].",
        ),
        asks=(
            "Is there a way to test a rule against [an existing|yesterday's|a real] [item|ticket|request] [from {queue} |]before saving it?",
            "Could someone [look at|check|go through] our [config|setup|rules][ for {queue}|] and tell me what I'm missing[ — {person} and I are stuck|]?",
            "A [short|quick] pointer to the right [doc|help article|page] would be enough[, thanks|, {agent}|, no need for a call].",
            "[Can|Could] you [confirm|explain] [which rule wins|how the order is evaluated] when [two|several] rules match?",
        ),
        weight=1.3,
        boosts={"expansion": 1.8, "onboarding": 2.0},
        priority=(0.35, 0.55, 0.1, 0.0),
    ),
    IssueSpec(
        key="report_export",
        category="how_to",
        subjects=(
            "Exporting {month} report to CSV",
            "Report by team [for management|for our monthly review|for {sponsor}]",
            "How to build a [dashboard|report] for {unit} per agent",
            "Scheduled report [question|not arriving|stopped]",
            "Numbers for our {quarter} review",
        ),
        problems=(
            "I need a breakdown of {unit} by team for {month} and the dashboard only lets me filter one team at a time.",
            "[We're preparing|I'm putting together|I'm pulling together] our {quarter} review and need the [median|average] handling time per queue, ideally as a [CSV|spreadsheet|CSV export].",
            "The scheduled [weekly|monthly|Monday] report [stopped arriving|hasn't shown up|no longer arrives] in my inbox since {since}.",
            "Is it possible to [add|show|plot] the automation rate next to [the volume|{unit}] in the same [chart|widget|view]? [Management|{sponsor}|Our leadership] keeps asking for both on one [page|slide][ every {weekday}|].",
            "[How do I|Is there a way to] get {unit} per agent for the last {n2} months without exporting each month separately?",
        ),
        details=(
            "We have about {n10} agents across {n2} teams, so the manual version takes me [half a day|most of a day|a couple of hours].",
            "The export I do get has {big} rows but the totals don't match the dashboard by about {pct_small}%.",
            "It used to go to {person} as well, [not sure if that matters|in case that's relevant|if that helps].",
            "[Last quarter|Last time] {person} did this by hand [in Excel|in Google Sheets] and it took [forever|{n2} days].",
        ),
        asks=(
            "Is there a [template|ready-made report|saved view] we can start from[ for the {month} numbers| for {team}|]?",
            "Can you tell me whether this is possible without the API[ — our developer is out until {next_month}| — {person} doesn't have API access|]?",
            "If this needs an add-on please let me know what it costs[ — budget is tight| before {date_future}| so I can ask {sponsor}|].",
            "Could you [point me to|send me] [the right report|an example] [before {date_future}|this week|]?",
        ),
        weight=1.1,
        boosts={"budget": 2.5, "reorg": 2.5, "decline": 1.3},
        priority=(0.45, 0.5, 0.05, 0.0),
    ),
    IssueSpec(
        key="add_users",
        category="how_to",
        subjects=(
            "Adding {n10} new users for {team}",
            "Bulk invite [question|not working|only partly worked]",
            "New starters [next week|on {weekday}] - how to set up accounts",
            "SCIM provisioning for the new [team|group|hires]",
        ),
        problems=(
            "We have {n10} new starters joining {team} [next week|on {weekday}|on {date_future}] and I'd like to add them in one go rather than one by one.",
            "[Is there a CSV import for users|Can I bulk-import users from a CSV|Is there a bulk upload for users][ for the {city} office| for {team}|]? I have {n10} people to add[ before {date_future}|].",
            "The bulk invite [accepted my file|said 'success'|went through] but only {n2} of the {n10} users actually got the [email|invite].",
            "We're moving {team} onto {product} and I want their accounts to come from {integration} groups, not [manual invites|one-by-one invites].",
        ),
        details=(
            "Their [managers|team leads|manager {person}] want them to have the same [macros and views|queues and permissions|setup] as [the existing team|{team}|the people in {city}].",
            "We're currently at {seats_used} of {seats_total} seats, so I also need to know what happens when we go over.",
            "I attached the CSV ({n10} rows[, one per person|]).",
            "{person} will be their team lead, so [she|he|they] needs admin rights on that group.",
        ),
        asks=(
            "What's the fastest way to get this done before {date_future}?",
            "Could you also send me the pricing for [extra seats|another {n10} seats|additional licences]?",
            "Let me know if you need anything else from our side[ to get this going| before {date_future}| — {person} can send the list too|].",
        ),
        boosts={"expansion": 5.0, "onboarding": 2.5},
        priority=(0.3, 0.6, 0.1, 0.0),
    ),
    IssueSpec(
        key="workflow_setup",
        category="how_to",
        subjects=(
            "Workflow Builder: [approval|escalation|wait] step",
            "How to trigger a workflow from {integration}",
            "Setting up a new [automation|workflow] for {queue}",
            "Workflow question ([conditions|filters] on custom fields)",
        ),
        problems=(
            "I want a workflow that [escalates|flags|reassigns] anything in {queue} older than {hours} hours to a team lead, but I can't find a time-based trigger.",
            "Can a workflow [wait for|pause until] an approval from a [manager|team lead|supervisor] before it sends the [reply|refund|credit note][ on {queue}|]?",
            "We'd like to create a [case|record|task] in {integration} automatically when an item is tagged '{queue}'.",
            "The condition on our custom field '[region|contract type|customer tier|{queue} reason]' doesn't show up in the Workflow Builder dropdown[ since {since}|].",
        ),
        details=(
            "This would save us [maybe|roughly|about] {n10} manual touches a day.",
            "We tried with a webhook step but got {error}.",
            "{person} built something similar [last year|in {last_year}] but it's not in the list anymore.",
            "We've got {n2} workflows live already[, all fairly simple|, this would be the most complex one|].",
        ),
        asks=(
            "Do you have an example workflow [we could copy|to start from|from another customer][ for {queue}|]?",
            "Happy to get on a short call with someone from your team[ {weekday} or {weekday}|].",
            "Is this on the roadmap if it's not possible today[ — we'd need it by {next_quarter}| for {team}|]?",
        ),
        boosts={"expansion": 1.8, "ai_gains": 1.5},
    ),
    IssueSpec(
        key="kb_sync",
        category="how_to",
        subjects=(
            "Knowledge base sync frequency",
            "New articles not used in [suggestions|answers|drafts]",
            "How does {product} pick which article to use?",
            "Excluding internal articles from AI answers",
        ),
        problems=(
            "We published {n2} new articles about [our returns policy|the new pricing|shipping to the UK|the loyalty programme] {day_ref} and they don't show up in suggestions yet.",
            "How often does the knowledge base sync from {integration}? It seems to lag by [a day or more|{n2} days|at least a day].",
            "We have [{n10}|about {n100}|a few] internal-only articles that should never be quoted to customers. [How do we exclude them|Is there a flag for that|What's the best way to hide them][ from {ai_feature}| from the {queue} answers|]?",
            "I'd like to understand how {ai_feature} decides which article to cite, because it [sometimes|occasionally|regularly] picks an outdated one.",
        ),
        details=(
            "The articles are in the '{queue}' collection.",
            "We have around {n100} articles in total, maybe {pct}% are [outdated|due for review].",
            "Our content team updates things every {weekday}[, usually in the afternoon|].",
        ),
        asks=(
            "Can we trigger a manual re-sync[ from {integration}| ourselves| after each {weekday} update| for the {queue} collection]?",
            "Is there documentation on this [somewhere|I can share with our content team|I can send to {person}]?",
            "Any best practice on how to structure articles for [this|{ai_feature}|the {queue} topics] would help.",
        ),
        use_cases=SUPPORT,
        boosts={"quality_gap": 2.0},
    ),
    IssueSpec(
        key="permissions",
        category="how_to",
        subjects=(
            "Role permissions for team leads",
            "Restrict access to {queue}",
            "Who can edit [macros|routing rules|workflows]?",
            "Permissions question [for {team}|]",
        ),
        problems=(
            "Team leads [in {team}|] should be able to edit [macros|views] but not [routing rules|workflows]. I can't find a role that does [exactly that|that][ among our {n2} roles|].",
            "Only {team} should see the {queue} items, but right now everyone with the agent role can open them.",
            "[After|Since] we changed {person}'s role to admin, [they can't|she can't|he can't] see the analytics tab anymore.",
        ),
        details=(
            "We have an audit coming up in {next_month}, so this matters.",
            "We currently have {n2} custom roles[, which is probably too many|].",
        ),
        asks=(
            "Can you tell me whether custom roles can be this granular[, or whether we need {n2} separate roles| for {team}|]?",
            "What do other customers [do here|usually do|of your size do][ with {n10}+ agents|]?",
        ),
        weight=0.8,
        boosts={"new_admin": 3.0, "reorg": 2.0},
        priority=(0.4, 0.5, 0.1, 0.0),
    ),
    IssueSpec(
        key="api_limits",
        category="how_to",
        subjects=(
            "API rate limits",
            "Pagination on the /items endpoint",
            "Bulk export via API",
            "API question from our [developer|data team]",
        ),
        problems=(
            "Our developer is getting {error} when pulling [items|conversations|records] through the API, after about {n100} requests.",
            "What's the rate limit on the [export|/items|/conversations] [endpoints|API][ for a workspace our size|]? We need to pull [all history|everything since {last_year}|about {big} records] in one go[ by {date_future}|].",
            "The cursor pagination stops after {big} records, is that a hard limit?",
        ),
        details=(
            "We're calling it from a nightly job in {integration}.",
            "The job runs at [2am|3am|midnight] {city} time.",
        ),
        asks=(
            "Can you raise the limit [temporarily|for a week|until {date_future}]?",
            "Is there a bulk export we should use instead[ of {n100} API calls| for {big} records|]?",
            "Any guidance on batching [would help|is welcome][, {person} is writing the job now|].",
        ),
        weight=0.7,
        boosts={"competitor": 5.0, "churn_notice": 4.0},
        priority=(0.3, 0.55, 0.15, 0.0),
    ),
    IssueSpec(
        key="roi_report",
        category="how_to",
        subjects=(
            "Data for [an internal business case|our ROI review|a budget review]",
            "Cost per {unit_one} - how to calculate?",
            "Usage summary for [finance|leadership|our CFO]",
            "Need a value summary before {date_future}",
        ),
        problems=(
            "I've been asked to show what {product} actually saves us, per team, for the last [two quarters|six months|year].",
            "Finance wants the cost per {unit_one} broken down by month[ for {last_year}| since {month}|]. Can we get that out of the [dashboards|analytics tab|scheduled reports][ or do I need the API|]?",
            "Our new [VP|director|COO][ ({new_person})|] wants a one-page summary of what the tool does for us and how much it's used[ by {date_future}|].",
            "We're reviewing all our tools [this quarter|in {month}|before {next_quarter}] and I need to justify this one line by line.",
        ),
        details=(
            "We pay for {seats_total} seats and I'm not sure how many are really active.",
            "They want it by {date_future}.",
            "Anything showing {unit} over time would help.",
        ),
        asks=(
            "Do you have a template other customers use for [this|a {quarter} review|a budget review]?",
            "Could {csm} help us pull this together?",
            "Is there a quick way to get active users per month[ for the last {n2} months| by team|]?",
        ),
        weight=0.4,
        boosts={"budget": 8.0, "reorg": 7.0, "decline": 2.5, "competitor": 2.0},
        priority=(0.3, 0.6, 0.1, 0.0),
    ),
    # ---------------------------------------------------------------- bugs
    IssueSpec(
        key="crm_duplicates",
        category="bug",
        subjects=(
            "{integration} sync creating duplicate [contacts|records]",
            "Duplicates again ({error})",
            "Sync conflict with {integration}",
            "[Double|Duplicate] records after the sync",
        ),
        problems=(
            "The {integration} sync has created {n10} duplicate [contacts|records|accounts] since {since}, all with the same email.",
            "We're getting {error} on roughly one in {n10} syncs, and when it retries it creates a second record.",
            "Records updated in {integration} are overwritten by older data from {product} [a few minutes later|within the hour|on the next sync].",
        ),
        details=(
            "I've attached [three|{n2}|a few] examples.",
            "Our {integration} admin {person} says nothing changed on their side.",
            "The field mapping hasn't been touched since {last_month}.",
            "It seems to only happen for [contacts|records] with a [plus sign|dot|capital letter] in the email address[, {n2} of the {n10} examples at least|].",
        ),
        asks=(
            "Can you check the sync logs on your side[ for {day_ref}|]?",
            "Is there a way to merge the [{n10}|{n100}] duplicates in bulk?",
            "Please let me know if we should pause the sync [for now|until {date_future}|over the weekend].",
        ),
        priority=(0.1, 0.5, 0.35, 0.05),
        frustration=0.1,
    ),
    IssueSpec(
        key="notifications",
        category="bug",
        subjects=(
            "{integration} notifications not firing",
            "No alerts for [new|escalated|VIP] items",
            "Email notifications delayed by [hours|ages]",
            "Alerts stopped [working|coming through]",
        ),
        problems=(
            "We stopped getting {integration} notifications for [escalated|new|VIP] items {day_ref}.",
            "Notifications arrive, but {hours} hours late, which [defeats the purpose|makes them useless|isn't much help].",
            "Nobody on {team} is getting the 'assigned to you' emails anymore[ since {since}|].",
        ),
        details=(
            "The channel is #[cx|support|ops]-[escalations|alerts|{city}] and the app is still installed[, {person} checked|].",
            "I reconnected the integration {day_ref}, [no change|nothing].",
            "We missed an SLA on a [VIP|key|large] customer [because of this|{day_ref} because of this].",
        ),
        asks=(
            "Can you check whether something changed on your side [around {since}|in the last {n2} days|]?",
            "Is there a status page entry for [this|the {error} errors|what we saw {day_ref}|the {integration} problem]?[ I couldn't see one.|]",
        ),
        priority=(0.1, 0.5, 0.35, 0.05),
        frustration=0.1,
    ),
    IssueSpec(
        key="dashboard_mismatch",
        category="bug",
        subjects=(
            "Dashboard numbers don't match the export",
            "{unit} count looks wrong for {month}",
            "Discrepancy in [analytics|reporting]",
            "Automation rate changed overnight?",
        ),
        problems=(
            "The dashboard says {big} {unit} for {month} but the CSV export adds up to [a lot less|about {pct_small}% less|noticeably less].",
            "Our automation rate on the dashboard jumped by {pct_small} points overnight, which nobody [believes|here believes].",
            "The per-agent numbers in analytics don't add up to the team total[ for {team}| for {month}| by about {pct_small}%].",
        ),
        details=(
            "We use these numbers in our monthly report to [the board|leadership|{sponsor}], so I need to know which is right.",
            "The timezone in our settings is {city}, in case that matters.",
            "[The difference|The gap] is about {pct_small}%.",
        ),
        asks=(
            "Which number should we [trust|report to {sponsor}|use for {month}|put in the {quarter} deck]?",
            "Can someone explain how [the metric|the automation rate|{unit}] is [calculated|counted][ for {month}| per team|]?",
        ),
        boosts={"budget": 1.8, "reorg": 1.5},
        frustration=0.05,
    ),
    IssueSpec(
        key="upload_error",
        category="bug",
        subjects=(
            "Attachments fail to upload ({error})",
            "Can't upload [PDFs|files] larger than a few MB",
            "Upload error on {queue}",
            "File upload broken in {browser}",
        ),
        problems=(
            "Uploading attachments fails with {error} for anything over {n2} MB.",
            "Since {since}, agents in {browser} can't attach files to replies.",
            "Customers can't send us [photos|documents|scans] through the web form [since {since}|{day_ref}|], it just [spins|hangs].",
        ),
        details=(
            "[Smaller files|Files under {n2} MB|Anything under {n2} MB] [work fine|go through fine|are fine].",
            "We tried {browser} and [another browser|the desktop app], same result.",
            "It's affecting about {n10} items a day.",
        ),
        asks=(
            "Is this a known issue[ with {browser}| since {since}| on your side| for other customers|]?",
            "Can you tell us if there's a workaround in the meantime?[ {team} needs to send {n10} files today.|]",
        ),
        priority=(0.1, 0.5, 0.35, 0.05),
        frustration=0.1,
    ),
    IssueSpec(
        key="sso_login",
        category="bug",
        subjects=(
            "SSO login loop",
            "{error} when signing in with {integration}",
            "Users can't log in [this morning|since the cert change]",
            "Login issue for [new|some] users",
        ),
        problems=(
            "Since {since}, about {n10} users get stuck in a redirect loop when they sign in through {integration}.",
            "New users provisioned through SCIM get {error} on their first login.",
            "We rotated our SAML certificate {day_ref} and now nobody can log in except the admins with a password.",
        ),
        details=(
            "Our IdP is {integration}.",
            "[Admins|The {n2} admins|{person} and the other admins] can still get in with a password.",
            "I've attached a HAR file from {browser}.",
        ),
        asks=(
            "Please treat this as urgent, [the team|{team}|{n10} agents] can't work.",
            "Can you check what your side receives from [our IdP|{integration}][ since {since}|]?",
            "Is there a way to temporarily allow password login for [everyone|{team}|the {n10} affected users]?",
        ),
        priority=(0.0, 0.25, 0.5, 0.25),
        frustration=0.2,
    ),
    IssueSpec(
        key="webhook_failures",
        category="bug",
        subjects=(
            "Webhooks failing ({error})",
            "Webhook retries [piling up|not retrying]",
            "Missing webhook events since {since}",
        ),
        problems=(
            "Our webhook endpoint is receiving only some of the events; the rest fail with {error}.",
            "The webhook log shows {n100} failed deliveries since {since} and they don't seem to retry.",
            "We're getting the same webhook event [three or four times|twice], which creates duplicates in {integration}.",
        ),
        details=(
            "Our endpoint responds in under [a second|{n100}ms][ according to {person}|].",
            "Nothing changed on our firewall[ since {since}|] as far as [our IT team|{person}] knows.",
        ),
        asks=(
            "Can you replay the failed events[ from {since}| since {since}| for {integration}|]?",
            "What's your retry policy [exactly|for failed deliveries|after errors like {error}][, {agent}|]?",
        ),
        weight=0.7,
        priority=(0.1, 0.5, 0.35, 0.05),
        frustration=0.1,
    ),
    IssueSpec(
        key="macro_variables",
        category="bug",
        subjects=(
            "Macro variables not rendering",
            "Macros showing the first-name placeholder literally",
            "Placeholder text in sent replies",
        ),
        problems=(
            "[A few|{n2}] replies went out {day_ref} with the placeholder text instead of the customer's name, which looked [pretty bad|unprofessional].",
            "The macro '{queue} - standard reply' shows the raw variables when used from the mobile app.",
            "Since {since}, macros with the order number variable come out empty.",
        ),
        details=(
            "It happened to at least {n2} customers we know of.",
            "Only macros created before {last_month} seem affected.",
        ),
        asks=(
            "Can you look into it and let us know the cause[ by {date_future}|]?",
            "Is it safe to keep using [macros|the {queue} macros] [for now|on {queue}|until it's fixed]?",
        ),
        use_cases=SUPPORT,
        weight=0.7,
        frustration=0.1,
    ),
    IssueSpec(
        key="search_stale",
        category="bug",
        subjects=(
            "Search not finding recent [items|documents]",
            "Search results out of date",
            "Can't find items by [order|reference] number",
        ),
        problems=(
            "Searching for items created {day_ref} returns nothing, older ones show up fine.",
            "Search by [order|reference] number stopped working for anything created after {last_month_day}.",
            "The search index seems to be [a day or two|{n2} days|about {hours} hours] behind[ for {queue}|].",
        ),
        details=(
            "It's slowing [everyone|{team}] down, we're scrolling [manually|through the queue by hand][ on {queue}|].",
            "I tried with exact quotes too[, and with the {queue} filter|, and {person} tried the order ID|].",
        ),
        asks=(
            "Can you reindex our workspace[ tonight| over the weekend| before {weekday}| after {clock} our time]?",
            "Any idea when this will be fixed[? We have {n10} agents searching all day.|, {agent}?| for {queue}?|?]",
        ),
        weight=0.7,
        frustration=0.05,
    ),
    # ---------------------------------------------------------------- outages
    IssueSpec(
        key="outage",
        category="outage",
        subjects=(
            "[URGENT|Urgent]: {product} not loading",
            "502 errors across the app",
            "Workspace down for the whole team",
            "Is there an outage?",
            "App extremely slow [right now|this morning]",
        ),
        problems=(
            "The whole team is getting {error} when opening the workspace, starting about {minutes} minutes ago.",
            "Everything is extremely slow since {since}, pages take [20-30 seconds|forever|a minute] to load.",
            "Nobody can open items in {queue}, the page just hangs.",
            "{ai_feature} suggestions aren't loading at all and the panel shows {error}.",
        ),
        details=(
            "Your status page says all systems operational[ as of {minutes} minutes ago|].",
            "We have {n10} agents on shift right now.",
            "It's our peak hour[ in {city}|].",
        ),
        asks=(
            "Please call me back as soon as possible[ on my mobile| — I'm at my desk until {clock}|].",
            "Can you give us an ETA[? We have {n10} agents idle.|? It's {clock} here and the queue is growing.|?]",
            "Please keep us posted here, we're updating our own status page [every {minutes} minutes|for {company} customers].",
        ),
        weight=0.6,
        priority=(0.0, 0.1, 0.4, 0.5),
        frustration=0.3,
    ),
    # ---------------------------------------------------------------- quality (AI)
    IssueSpec(
        key="wrong_answers",
        category="quality",
        subjects=(
            "{ai_feature} giving wrong answers about [refunds|our returns policy|delivery times]",
            "AI replies quoting outdated policy",
            "Quality of suggested replies [dropped|went down]",
            "[Incorrect|Made-up] information in [AI|auto] replies",
            "Accuracy issue since the [update|release]",
        ),
        problems=(
            "{ai_feature} told a customer they could return items after [60|90|45] days; our policy is [30|14] days.",
            "Agents are rewriting most of the suggested replies since {since}, they say the drafts don't answer the question anymore.",
            "We reviewed {n10} Autopilot answers from last week and {n2} of them had wrong information in them.",
            "The replies now invent [order details|tracking numbers|discount codes] that don't exist[, e.g. a tracking number we never issued|, {n2} cases {day_ref} alone|].",
            "Answer quality [on the {queue} queue|for German customers|on refund questions] has clearly dropped over the last [couple of weeks|few weeks|month].",
        ),
        details=(
            "Our QA score for AI-handled items went from around {pct_hi}% to {pct_lo}%.",
            "The knowledge base articles are correct, [we double-checked|{person} double-checked them {day_ref}].",
            "I attached screenshots of {n2} examples.",
            "We've had to turn Autopilot off for {queue} for now.",
        ),
        asks=(
            "Can someone from your AI team look at this[ before {date_future}|, ideally this week|]?",
            "Is there a way to roll back to the previous model for [our workspace|{queue}|at least {queue}]?",
            "We need to understand what changed[ on {release_date}| before {sponsor} asks|].",
        ),
        weight=0.35,
        boosts={"quality_gap": 14.0, "mild_dip": 5.0},
        priority=(0.0, 0.35, 0.5, 0.15),
        frustration=0.2,
    ),
    IssueSpec(
        key="misclassification",
        category="quality",
        subjects=(
            "Smart Triage mislabelling [refunds|complaints|invoices]",
            "Wrong category on [auto-triaged|incoming] items",
            "Triage sending {queue} items to the wrong team",
            "Classification accuracy",
        ),
        problems=(
            "Smart Triage keeps labelling [refund requests as returns|complaints as general enquiries|invoices as credit notes], so they end up with {team}.",
            "About {pct}% of items are going to the wrong queue since {since}.",
            "Items that are clearly complaints are tagged as '[general enquiry|feedback|other]', which hides them from the escalations view[ — {n10} of them {day_ref}|].",
        ),
        details=(
            "Before, we'd see maybe one wrong label a [day|week]; now it's [{n10}|more like {n2} an hour].",
            "We've had to put {n2} people on manual re-routing.",
            "It's worst for messages in [Spanish and Portuguese|German|French][, which is {team}|].",
        ),
        asks=(
            "Can you check the model on your side[ for our workspace| for {queue}|]?",
            "Can we retrain it on [our corrections|the {n100} labels we fixed by hand|the {queue} examples]?",
        ),
        weight=0.35,
        boosts={"quality_gap": 12.0, "mild_dip": 4.0},
        priority=(0.0, 0.4, 0.45, 0.15),
        frustration=0.15,
    ),
    IssueSpec(
        key="extraction_misses",
        category="quality",
        subjects=(
            "Doc Extract missing fields on [invoices|claims forms]",
            "Extraction confidence very low since [Monday|the update]",
            "VAT number not extracted",
            "[Wrong|Swapped] totals in extracted documents",
        ),
        problems=(
            "Doc Extract is missing the [VAT number|PO number|due date] on most supplier invoices since {since}.",
            "We're getting {error} on a large share of scanned claims forms that used to go through fine.",
            "Line item totals are swapped with the unit price on about {pct}% of documents.",
            "The share of documents going to manual review has gone up from about {pct_small}% to {pct}%.",
        ),
        details=(
            "Most of these come from the same {n2} suppliers.",
            "We processed {big} documents last month, so even a few percent is a lot of manual work.",
            "Our team in {city} is now checking every document by hand.",
        ),
        asks=(
            "Can you look at the [{n2}|{n10}] samples I've attached?",
            "Is there a way to set a per-field confidence threshold[ for the [totals|VAT number|dates]|]?",
        ),
        use_cases=DOCUMENTS,
        weight=0.5,
        boosts={"quality_gap": 14.0, "mild_dip": 5.0},
        priority=(0.0, 0.35, 0.5, 0.15),
        frustration=0.2,
    ),
    IssueSpec(
        key="escalation_threshold",
        category="quality",
        subjects=(
            "Too many items escalated to humans",
            "Autopilot handing off [almost everything|more than before]",
            "Confidence threshold [question|settings]",
        ),
        problems=(
            "Autopilot is handing over {pct}% of conversations to agents, it used to be well under half that.",
            "Even simple '[where is my order|reset my password|change my address]' questions are escalated now[, {n10} of them {day_ref}|].",
            "We'd like to lower the confidence threshold for {queue} but keep it strict for billing.",
        ),
        details=(
            "Our queue has [doubled|grown by {pct}%] since {since}.",
            "We haven't changed any settings[ since {last_month}| — {person} can confirm|].",
        ),
        asks=(
            "Can you tell us what changed[ around {since}|]?",
            "Is the threshold configurable per [queue|team|channel][, e.g. for {queue}|]?",
        ),
        weight=0.4,
        boosts={"quality_gap": 8.0, "ai_gains": 1.5},
        priority=(0.1, 0.5, 0.35, 0.05),
        frustration=0.1,
    ),
    IssueSpec(
        key="tone_language",
        category="quality",
        subjects=(
            "Drafts [replying in the wrong language|mixing languages]",
            "Tone of AI drafts [too formal|too casual]",
            "Reply Drafts ignoring our tone guidelines",
        ),
        problems=(
            "Reply Drafts answered a [French|Dutch|Polish] customer in English, [twice|three times] {day_ref}.",
            "The drafts have become very [formal|stiff|wordy] [since {since}|lately], agents say they spend more time editing than writing from scratch.",
            "Drafts started adding a sign-off with a name that isn't ours[ ('{person} from Support')|] {day_ref}.",
        ),
        details=(
            "We set the tone to '[friendly, concise|warm|professional]' in the settings [back in {last_month}|months ago|].",
            "About {n10} agents use the drafts daily.",
        ),
        asks=(
            "Is there anything we can tweak[ on our side| in the {queue} settings|]?",
            "Can you check whether the settings are [applied|actually used][ for {queue}|]?",
        ),
        use_cases=SUPPORT,
        weight=0.4,
        boosts={"quality_gap": 5.0, "mild_dip": 3.0},
        frustration=0.05,
    ),
    # ---------------------------------------------------------------- billing
    IssueSpec(
        key="invoice_po",
        category="billing",
        subjects=(
            "Invoice needs our PO number",
            "Invoice [question|query] - {month}",
            "Change of billing address",
            "Updated billing contact",
        ),
        problems=(
            "Our AP team rejected the {month} invoice because the PO number is missing.",
            "We moved offices, please update the billing address to our {city} office.",
            "Please send future invoices to our AP mailbox instead of {person}.",
            "The {month} invoice shows a different entity name than our contract.",
        ),
        details=(
            "The new PO is PO-{n100}{n10}.",
            "Our finance system needs the [VAT ID|company registration number] on the invoice[ from {month} on|].",
        ),
        asks=(
            "Could you reissue it[ by {date_future}| with PO-{n100}{n10}|]?",
            "Let me know once it's updated[, {person} in AP is waiting on it| so I can close it out with finance|].",
        ),
        weight=0.8,
        boosts={"budget": 2.0, "reorg": 1.8},
        priority=(0.5, 0.45, 0.05, 0.0),
    ),
    IssueSpec(
        key="overage",
        category="billing",
        subjects=(
            "Overage charge on our invoice",
            "Why were we charged for extra [seats|{unit_short}]?",
            "True-up [question|invoice]",
        ),
        problems=(
            "We received a true-up invoice for {n10} extra seats, which I didn't expect.",
            "The invoice includes an overage for {unit} above our contracted volume. I'd like to understand how that's measured.",
            "We went over our {unit} allowance in {last_month}, can we move to a bigger tier instead of paying overage?",
        ),
        details=(
            "We're at {seats_used} of {seats_total} seats right now.",
            "Nobody told us we were close to the limit[ in {last_month}| until the invoice came|].",
        ),
        asks=(
            "Could {csm} give us a call about options?",
            "Can you send the usage behind the charge[ for {last_month}|]?",
        ),
        weight=0.5,
        boosts={"expansion": 6.0},
        priority=(0.3, 0.6, 0.1, 0.0),
    ),
    IssueSpec(
        key="reduce_seats",
        category="billing",
        subjects=(
            "Reducing our seat count",
            "Downgrade options",
            "[Question|Questions] about our contract terms",
            "Can we remove licences mid-term?",
        ),
        problems=(
            "We'd like to understand our options to reduce the number of seats[ from {seats_total}|], ideally before the next invoice.",
            "Is it possible to move to a smaller plan mid-term? [Some of the licences|About {n10} licences] aren't being used.",
            "Finance asked me to check what the notice period is on our contract[ before {date_future}|].",
            "We have {n10} licences nobody is using[ since {last_month}|]. Can we stop paying for them[ from {next_month}| before the next invoice|]?",
        ),
        details=(
            "We're currently paying for {seats_total} seats.",
            "It's part of a wider cost review[ across {company}|], nothing personal.",
            "Our renewal is on {renewal_date}.",
        ),
        asks=(
            "Please send me the options in writing[ so I can share them with {sponsor}| before {date_future}|].",
            "Could someone from the account team reach out[, {csm} ideally| this week| before {date_future}]?",
        ),
        weight=0.12,
        boosts={
            "budget": 30.0,
            "decline": 8.0,
            "churn_notice": 12.0,
            "competitor": 4.0,
            "reorg": 5.0,
        },
        priority=(0.3, 0.6, 0.1, 0.0),
    ),
    IssueSpec(
        key="payment_failed",
        category="billing",
        subjects=(
            "Payment failed",
            "Card declined - [how to update|new card]",
            "Payment reminder [received|question]",
        ),
        problems=(
            "We got an email {day_ref} that our card payment [failed|didn't go through]. Where do I update the card[ details| — I'm not the account owner| for the {month} invoice]?",
            "We received a payment reminder for the {last_month} invoice, which I thought was paid.",
            "Our company card was replaced [last week|in {month}], please tell me how to update it.",
        ),
        details=(
            "Our AP cycle runs on the [1st|5th|15th|20th|last working day] of the month.",
            "Payments are on hold while finance reviews vendors[ until {next_month}|].",
        ),
        asks=(
            "Please don't suspend the account in the meantime[, {n10} people rely on it|].",
            "Let me know the amount outstanding[ as of {month}|].",
        ),
        weight=0.25,
        boosts={"budget": 14.0},
        priority=(0.2, 0.6, 0.2, 0.0),
    ),
    # ---------------------------------------------------------------- account
    IssueSpec(
        key="admin_transfer",
        category="account",
        subjects=(
            "Transfer admin [rights|ownership]",
            "[Admin|Owner] has left the company",
            "Change account owner from {old_champion}",
            "Need access to admin settings",
        ),
        problems=(
            "{old_champion} has left {company} and was the only admin. Can you transfer the admin rights to me[ or to {sponsor}| before {date_future}|]?",
            "I've taken over from {old_champion}, but I can't change any settings because I'm not an admin.",
            "Our previous admin is no longer with us[ since {last_month}|], so we need to move ownership of the workspace.",
        ),
        details=(
            "{sponsor} can confirm by email if needed.",
            "I'm now responsible for our [support|ops] tooling[ in {city}|, {product} included|].",
            "We also need to reassign the {n2} workflows {old_champion} created.",
        ),
        asks=(
            "What do you need from us to verify this[ — an email from {sponsor}|, {agent}|]?",
            "Please let me know the process[ and how long it takes|].",
        ),
        weight=0.05,
        boosts={"champion_gone": 60.0, "new_admin": 20.0},
        priority=(0.1, 0.6, 0.3, 0.0),
    ),
    IssueSpec(
        key="offboard_user",
        category="account",
        subjects=(
            "Remove user {person}",
            "Offboarding [leavers|{n2} users]",
            "Deactivate accounts for leavers",
        ),
        problems=(
            "Please deactivate {person}, [she|he|they] left us [last week|on {last_month_day}].",
            "We have {n2} leavers this month, can you remove their access and free the seats?",
            "How do I reassign [open|the {n10} open|{person}'s] items [from a user who has left|now that {person} has left|to {team}]?",
        ),
        details=(
            "We don't have SCIM set up yet[, {person} is on it for {next_quarter}| for the {city} office|].",
            "Their items should go to {team}.",
        ),
        asks=(
            "Thanks for sorting this[, {agent}|].",
            "Please confirm once done[ so I can tell {person}|].",
        ),
        weight=0.6,
        boosts={"decline": 2.0, "reorg": 2.5, "champion_gone": 2.0, "budget": 2.0},
        priority=(0.5, 0.45, 0.05, 0.0),
    ),
    IssueSpec(
        key="data_export",
        category="account",
        subjects=(
            "Full data export",
            "Export of [all|historical] conversations",
            "Data export incl. attachments",
            "Data retention and export [question|options]",
        ),
        problems=(
            "We need a full export of our conversation history, including attachments, by {date_future}.",
            "What export formats do you support for [all data|everything|conversations and attachments]? Our data team wants everything since {last_year}.",
            "Can you tell us how long you keep our data after a contract ends?[ Legal wants it in writing.|]",
            "We'd like an export of our [workflow and routing configuration|{n2} workflows and all routing rules], ideally as JSON.",
        ),
        details=(
            "It's for an internal project[ {person} is running|].",
            "We have roughly {big} conversations.",
            "Legal also asked about deletion[ after {renewal_date}|].",
        ),
        asks=(
            "Please tell us the process and how long it takes[ for {big} conversations|].",
            "Is this something {csm} can help with?",
        ),
        weight=0.1,
        boosts={"competitor": 20.0, "churn_notice": 40.0, "reorg": 3.0},
        priority=(0.2, 0.6, 0.2, 0.0),
    ),
    IssueSpec(
        key="security_review",
        category="account",
        subjects=(
            "Security questionnaire",
            "DPA and sub-processor list",
            "[SOC 2|ISO 27001] report request",
            "Vendor review paperwork",
        ),
        problems=(
            "Our new security team is re-reviewing all vendors and sent the attached questionnaire ({n10} pages, sorry).",
            "Could you send us your current [SOC 2 report|ISO certificate] and sub-processor list[ by {date_future}|]?",
            "Procurement needs a signed DPA on file before {date_future}.",
        ),
        details=(
            "This is part of a [group-wide|company-wide] vendor review[ led by {new_dept}| that runs until {next_month}|].",
            "Our previous contact for this was {old_champion}.",
        ),
        asks=(
            "Who on your side handles these[ — {person} needs a contact| usually|]?",
            "Let me know if you need an NDA first[, {person} in legal can turn it around| — we have a standard one| before sending the {n10}-page pack|].",
        ),
        weight=0.35,
        boosts={"reorg": 6.0, "new_admin": 2.0, "budget": 2.0, "renewal_soon": 2.0},
        priority=(0.4, 0.55, 0.05, 0.0),
    ),
    IssueSpec(
        key="new_workspace",
        category="account",
        subjects=(
            "New workspace for {team}",
            "Second workspace or [same workspace|one workspace]?",
            "Setting up {product} for our {city} office",
            "Sandbox for testing",
        ),
        problems=(
            "We're rolling {product} out to {team} next month and I'm not sure whether they should get their own workspace.",
            "Could we get a sandbox to test new [workflows|routing rules|{ai_feature} settings] before they go live[ in {next_month}|]? We're adding {n2} new teams.",
            "Our {city} office wants to start using {product} in {next_month}. What's the best way to set that up[ for {n10} people| without a second workspace|]?",
        ),
        details=(
            "They'll be about {n10} people.",
            "They'll need SSO [from day one|via {integration}].",
        ),
        asks=(
            "Could {csm} get in touch about pricing?",
            "What do you recommend[ for a team of {n10}|]?",
        ),
        weight=0.2,
        boosts={"expansion": 20.0, "onboarding": 2.0},
        priority=(0.4, 0.55, 0.05, 0.0),
    ),
    # ---------------------------------------------------------------- feature requests
    IssueSpec(
        key="fr_bulk_edit",
        category="feature_request",
        subjects=(
            "Feature request: bulk edit",
            "[Suggestion|Idea]: bulk actions on items",
            "Bulk close items",
        ),
        problems=(
            "It would save us a lot of time if we could bulk-edit tags on more than {n10} items at once.",
            "Is bulk [closing|tagging|reassigning] on the roadmap[ for {next_quarter}|]? After [a campaign|a {month} promotion|an outage] we end up with {n100} items to [close|fix] by hand.",
        ),
        details=(
            "Other tools we've used [had this|did this][, {competitor} for one|].",
            "It comes up in every [team meeting|stand-up|retro][ in {team}|].",
        ),
        asks=(
            "Any idea if or when this is coming[ — even a rough quarter helps| to {product}| for {team}|]?",
            "Happy to be a beta tester[, {person} too|].",
        ),
        weight=0.7,
        priority=(0.7, 0.3, 0.0, 0.0),
    ),
    IssueSpec(
        key="fr_reporting",
        category="feature_request",
        subjects=(
            "Request: custom date ranges in analytics",
            "Reporting [idea|wish list]",
            "Can we get {unit} per team in the dashboard?",
        ),
        problems=(
            "We'd love to compare {month} with the same month last year in the dashboard.",
            "It would help if the dashboard showed {unit} per team next to cost, our leadership asks for that every month.",
            "Could you add the automation rate to the scheduled [email|{weekday}] report[ and the {month} export|]?",
        ),
        details=("Right now {person} builds this in a spreadsheet.",),
        asks=(
            "Is this planned[ for {next_quarter}|]?",
            "Please pass this on to the product team[, {agent}| with our name on it| — {n10} agents would use it daily|].",
        ),
        weight=0.7,
        boosts={"reorg": 2.0, "budget": 2.0},
        priority=(0.7, 0.3, 0.0, 0.0),
    ),
    IssueSpec(
        key="fr_ai_controls",
        category="feature_request",
        subjects=(
            "More control over {ai_feature}",
            "Idea: {ai_feature} per-queue settings",
            "Feature request for Autopilot",
        ),
        problems=(
            "We'd like to let Autopilot handle {queue} fully but keep human review for [billing|refunds|anything over {n100} EUR]. Per-queue settings would make that possible[ for us|].",
            "Could {ai_feature} show which knowledge article it used? [Agents|{team}|Our agents] trust it more when they can [check|see the source|click through].",
            "Autopilot has been great for password resets[ ({pct}% handled)|]; we'd like to extend it to [address changes|order cancellations|delivery questions] too.",
        ),
        details=(
            "Autopilot already handles about {pct}% of our volume.",
            "Since we turned it on[ in {last_month}|], the team has been able to focus on the harder cases.",
        ),
        asks=(
            "Is anything like this on the roadmap[ for {next_quarter}| for {ai_feature}| this year| for the {queue} use case]?",
            "Happy to talk to your product team[ {weekday}|].",
        ),
        weight=0.5,
        boosts={"ai_gains": 6.0, "expansion": 2.0},
        priority=(0.6, 0.4, 0.0, 0.0),
    ),
    IssueSpec(
        key="fr_integration",
        category="feature_request",
        subjects=(
            "Native {integration} integration?",
            "Request: {integration} connector",
            "Integration with {integration}",
        ),
        problems=(
            "Are you planning a native {integration} integration? We currently use a [Zapier|Make|custom script] workaround[ that {person} maintains| that breaks every few weeks|].",
            "We'd like {product} to write back to {integration} when an item is resolved.",
        ),
        details=(
            "It's the one thing {team} keeps asking about.",
            "We're {n2} weeks into a workaround.",
        ),
        asks=(
            "Any timeline you can share[ for {integration}| — even a quarter| for {team}|]?",
            "Please add our vote[ — {company}, {n10} agents|].",
        ),
        weight=0.6,
        boosts={"competitor": 2.0, "expansion": 1.5},
        priority=(0.7, 0.3, 0.0, 0.0),
    ),
)

# ---------------------------------------------------------------- the parts around an issue

GREETINGS: tuple[str, ...] = (
    "Hi team,",
    "Hello,",
    "Hi there,",
    "Hey folks,",
    "Hi {agent},",
    "Hello {product} support,",
    "Good morning,",
    "Hi all,",
    "Dear support,",
    "Hi support team,",
    "Hey {agent},",
    "Afternoon all,",
    "Hi again,",
    "Morning,",
    "Hi {product} team,",
)
GREETINGS_ANGRY: tuple[str, ...] = ("Hello,", "Hi,", "Support,", "Team,", "Hi {agent},")

SMALL_TALK: tuple[str, ...] = (
    "Hope [your week is going well|you're all doing well|things are calm on your side|the week's treating you well][ — it's been a busy one in {city}|, {agent}|].",
    "Hope you had a good weekend[, we finally had some sun in {city}| — ours was far too short| — half of {team} was at a wedding in {city}].",
    "[First of all|Before anything else], thanks for the quick fix [last week|on {last_month_day}] on the {feature} issue.",
    "We're in the middle of [peak season|our busiest month|month-end|the {month} rush] here, so [apologies for the brevity|this will be short].",
    "Sorry for the long [message|email][ on a {weekday}|], [wanted to give you the full picture|there's a bit of background|{person} asked me to include everything].",
    "Quick one [today|for you|before the weekend|before I go on leave on {weekday}|while {person} is out].",
    "[Thanks again to {agent} for the help last time.|{agent} helped us a lot last time, so hoping for the same luck.|{agent} sorted our last issue in a day, which was great.]",
    "Writing this from [the airport|the train|my phone|a hotel in {city}|{city}], so excuse [typos|the formatting|the brevity].",
    "[It's|We're] [a bit|pretty|very] hectic here [with the {city} office move|with year-end|with new hires starting|with the audit], [so|and] bear with me.",
    "[I'm covering for {person} this week|{person} is out this week, so I'm handling this], so [apologies if I'm missing context|bear with me].",
)

# A ticket's lines come from its issue and from banks kept per kind of ticket: a technical
# fault, a commercial/admin request or an idea. A declined card is never "fixed by clearing
# the cache", and a billing question never "slows the team down".
FAMILY: dict[str, str] = {
    "how_to": "tech",
    "bug": "tech",
    "outage": "tech",
    "quality": "tech",
    "billing": "commercial",
    "account": "commercial",
    "feature_request": "idea",
}

CONTEXT: dict[str, tuple[str, ...]] = {
    "tech": (
        "I'm the {me_title} [on|in] {team}[ at {company}|].",
        "[For context,|Background:|Some context:] I look after {product} for {team}[ in {city}|].",
        "I'm writing on behalf of {team}[ at {company}|][, {n10} people in total|].",
        "We've been using {feature} [for a while now|since {last_year}|since the rollout|for about {n2} months] [in {team}|across {n2} teams].",
        "We use {feature} [daily|every day|all the time|for most of our {unit_short}] [in {team}|across {n2} teams].",
    ),
    "commercial": (
        "I'm the {me_title} [at {company}|on our side] and [look after|handle] our [vendor contracts|software subscriptions|{product} account].",
        "[For context,|Some context:] I [deal with|handle] [the paperwork|the admin side|contracts and invoices] for {product}[ at {company}|].",
        "I'm writing on behalf of {team}[ at {company}|], who [own|pay for] the {product} [subscription|contract].",
        "[Finance|Procurement|Our finance team] asked me to [pick this up|sort this out|follow up on this][ while {person} is out|].",
    ),
    "idea": (
        "I'm the {me_title} [on|in] {team}[ at {company}|].",
        "We use {feature} [daily|every day|all the time] [in {team}|across {n2} teams], [which is why|so] this came up.",
        "This came up [in our last retro|in a {team} meeting|when {person} was training new starters].",
    ),
}

PRAISE: dict[str, tuple[str, ...]] = {
    "tech": (
        "[Overall|Generally|On the whole] {ai_feature} has been [great|a real help|a big win] for us, [but|however] [this one is|this is] getting in the way.",
        "The team [loves|really likes|is a big fan of] the new {feature}, so [it's a shame|it's frustrating|it's annoying] when [this happens|things like this happen].",
        "[To be fair|In fairness], support has been [quick|helpful|great] every time we've asked[ — {agent} especially|], [so hoping|hoping] this one is simple.",
        "We're [mostly|generally|on the whole] [very happy|happy|pleased] with {product}, [this is just one thing|just one annoyance|only this bit is bugging us].",
        "{ai_feature} is [handling|taking care of] [a lot|most|a good chunk] of our {unit_short} now, which is great, [but|though] this bit still needs a human.",
    ),
    "commercial": (
        "[To be fair|In fairness], your team has been [quick|helpful|easy to work with] on [admin|paperwork|account] questions before[ — {agent} especially|].",
        "[Happy|Glad] to [sort|settle] this [quickly|on our side] once I know [what you need|the process].",
    ),
    "idea": (
        "[Overall|Generally|On the whole] {product} works [well|really well] for us, [this would just make it better|this is a nice-to-have].",
        "The team [loves|really likes|is a big fan of] {feature}, [which is why|so] [they keep asking for more|this keeps coming up].",
        "The rollout to {team} went [smoothly|really well|better than expected], [thanks for that|kudos to your onboarding folks|{csm} was a great help].",
    ),
}

IMPACT_CALM: dict[str, tuple[str, ...]] = {
    "tech": (
        "Not urgent, but it would be nice to have this sorted before [{date_future}|{person} is back|the {month} close|our {weekday} review].",
        "No [rush|big rush|real hurry] on this one[, whenever you get a chance|, {agent}|, it can wait until {weekday}|, we have a workaround with {person}].",
        "It's more of an annoyance than a blocker [for {team}|on {queue}|for {person} and a couple of others|for the {n10} or so people who use it].",
        "[It only affects|This affects|It's only hitting] [a handful of|about {n2}|maybe {n10}] [items|people|{unit_short}] [in {queue}|a day|a week], so low priority.",
        "[Nothing is broken as such|We can live with it for now], [just|but] [curious|want to understand] what's going on [with {queue}|since {since}|before {person} asks].",
    ),
    "commercial": (
        "Not urgent, but [finance|our AP team|procurement] would like it [sorted|closed out] before [{date_future}|the {month} close|the end of {month}].",
        "No [rush|big rush|real hurry] on this one[, whenever you get a chance|, {agent}|, it can wait until {weekday}].",
    ),
    "idea": (
        "No [rush|big rush|real hurry] on this, [just a wish from {team}|it's a nice-to-have|we're managing without it].",
        "Not urgent at all, [just|but] [wanted to put it on your radar|wanted to register the interest|{person} asked me to pass it on].",
    ),
}
IMPACT_CONCERNED: dict[str, tuple[str, ...]] = {
    "tech": (
        "This is slowing {team} down[ — about {n10} people are affected|, especially in the mornings|].",
        "It's [creating|causing] [extra|a lot of] manual work for [the team|{team}] [every day|each shift|on every shift].",
        "We have [a review|a busy period|an audit] coming up {date_future_ref}, so I'd like to get ahead of it.",
        "[Our|The] SLA on {queue} is [at risk|slipping|already slipping] because of this.",
        "{person} has been [working around|patching] this by hand [for a week now|since {since}|for {n2} days].",
        "[At the moment|Right now] we're [losing|spending] about {n2} hours a day on [this|workarounds].",
    ),
    "commercial": (
        "[Finance|Our AP team|Procurement] [needs|wants] this [settled|closed out] before [the {month} close|{date_future}|our next payment run].",
        "We have [an audit|a vendor review|the year-end close] coming up {date_future_ref}, so I'd like to get ahead of it.",
        "I've been asked about this [twice|a few times|again] [this week|by {sponsor}|by finance] and don't have an answer yet.",
    ),
    "idea": (
        "[Right now|At the moment] {person} [rebuilds this by hand|keeps a spreadsheet for it] [every week|each month], which takes [a few hours|most of a morning].",
        "It comes up [in every|in most] [team meeting|review with {sponsor}|planning session], so [it matters to us|it's worth asking].",
    ),
}
IMPACT_FRUSTRATED: dict[str, tuple[str, ...]] = {
    "tech": (
        "This is the [second|third|fourth] time [this month|in a few weeks|since {last_month}] and it's [becoming hard|getting hard] to defend the tool internally.",
        "[Honestly,|To be honest,|Frankly,] the team is [losing patience|running out of patience|fed up] with this.",
        "We pay for {product} so we don't have to do this by hand, and right now we're doing it by hand[ again|].",
        "I [need|really need] a proper answer on this, not another workaround[ like last time|].",
        "[Our|My] [director|manager|VP|{sponsor}] is asking me [every day|daily|twice a day] when this will be fixed.",
        "If this can't be resolved [soon|this week|by {date_future}] I'll have to escalate [internally|this with {csm}].",
        "[We raised|I raised] [something similar|the same thing] [in {last_month}|a few weeks ago] and [it came back|nothing changed].",
    ),
    "commercial": (
        "[Honestly,|To be honest,|Frankly,] this [should not|shouldn't] take [this long|several emails] to [sort out|resolve].",
        "[We raised|I raised] [the same thing|this] [in {last_month}|a few weeks ago] and [still have no answer|nothing happened].",
        "[Our|My] [CFO|finance director|{sponsor}] is asking me [every day|daily] [when this will be settled|why this is still open].",
        "If this can't be [resolved|settled] [this week|by {date_future}] I'll have to escalate [internally|this with {csm}].",
    ),
    "idea": (
        "[Honestly,|To be honest,] we [expected|assumed] this would [already be there|be standard] at [this price|our plan level].",
        "We [asked for|requested] this [in {last_month}|a while ago] and [never heard back|nothing happened].",
    ),
}

# What the customer already tried, for the kind of problem it is (none for an idea).
TRIED: dict[str, tuple[str, ...]] = {
    "bug": (
        "We've already [cleared the cache|logged out and back in|restarted everything] and tried in {browser}.",
        "I re-authorised the {integration} connection[ {day_ref}|], [no change|same thing|didn't help].",
        "{person} reproduced it on [their|a different|a colleague's] machine[ in {city}|].",
        "We checked our own settings [twice|again|with {person}|{day_ref}] [and nothing has changed|and can't see anything wrong|and they look right].",
    ),
    "outage": (
        "We've already [cleared the cache|logged out and back in|restarted everything] and tried in {browser}.",
        "{person} [sees the same|reproduced it] from [home|the {city} office|a different network].",
        "[Your status page says|The status page shows] all systems operational, [which doesn't match|but we're clearly down].",
    ),
    "how_to": (
        "[Tried|I tried|We tried] the steps in your help article[ on {feature}|], [same result|didn't help|no luck].",
        "We checked our own settings [twice|again|with {person}|{day_ref}] [and can't see anything wrong|and they look right].",
        "[I searched|We searched] the docs for [{feature}|this|'{queue}'] but [couldn't find an answer|only found the basics].",
    ),
    "quality": (
        "We [checked|reviewed] the knowledge articles for {queue}[ with {person}|] and they [look right|are up to date].",
        "[Tried|We tried] [lowering|raising] the confidence threshold[ for {queue}|], [same result|no real difference|it only helped a bit].",
        "{person} [went through|reviewed] [{n10}|about {n10}|a sample of] of the [answers|cases] by hand[ {day_ref}|].",
    ),
    "billing": (
        "I [checked|went through] [our contract|the order form|the last invoices][ with {person}|] and [can't find|don't see] [an explanation|where this comes from].",
        "[Our AP team|Finance|{person} in finance] [confirmed|double-checked] [the details on our side|our records][ {day_ref}|].",
        "I looked [in the billing settings|under account settings] but [couldn't find|didn't see] [where to change it|an option for this].",
    ),
    "account": (
        "I looked [in the admin settings|under account settings] but [couldn't find|didn't see] [where to do it|an option for this].",
        "[I checked|We checked] [your help centre|the docs][ {day_ref}|] [but couldn't find the process|and found nothing on this].",
    ),
    "feature_request": (),
}

CONTEXT_NEW_ADMIN: tuple[str, ...] = (
    "I've recently taken over {product} from {old_champion}, so [bear with me|apologies if this is obvious|forgive the basic question].",
    "I'm new to {company} and inherited the {product} setup from {old_champion}[ a few weeks ago|].",
    "{old_champion} used to handle these things but [has left|is no longer with us|moved on], so I'm picking it up.",
    "I'm the new {me_title} here and still finding my way around {product}.",
    "I joined {company} [recently|in {last_month}|a few weeks ago] and {product} landed on my desk[ along with everything else|].",
)

# Most people close with a few words; some say more.
CLOSINGS_SHORT: tuple[str, ...] = (
    "Thanks in advance.",
    "Appreciate the help.",
    "Any help appreciated.",
    "Thanks!",
    "Cheers for your help.",
    "Thanks so much.",
    "Much appreciated.",
    "Thank you!",
    "Thanks, {agent}.",
)
CLOSINGS: dict[str, tuple[str, ...]] = {
    "tech": (
        "Let me know if you need [logs|screenshots|a HAR file|a screen recording|example IDs|more examples][ or anything else| from our side| from {person}|].",
        "Happy to jump on a call if that's easier[ — I'm free {weekday} afternoon| — {weekday} morning works|, {person} can join too| any time after {clock}].",
        "Looking forward to [hearing from you|your reply|an update|hearing back][ soon| this week| before {weekday}| on this one| — {person} is waiting too| before our {weekday} stand-up].",
        "[Thanks|Thank you|Many thanks] for [looking into this|checking|your help|digging into it][, {agent}|, as always| on behalf of {team}| — {person} says thanks too].",
        "I'm [around|at my desk|online] until [{clock}|five|late] [today|on {weekday}] if you want to [call|chat|have a look together].",
    ),
    "commercial": (
        "Let me know if you need [a copy of the contract|our PO|our VAT details|anything else][ from our side| from {person}| from finance|].",
        "Happy to jump on a call if that's easier[ — I'm free {weekday} afternoon| — {weekday} morning works|, {person} from finance can join too].",
        "Looking forward to [hearing from you|your reply|an update][ soon| this week| before {weekday}| — finance is waiting too].",
        "[Thanks|Thank you|Many thanks] for [looking into this|your help|sorting this out][, {agent}|, as always| on behalf of {team}].",
    ),
    "idea": (
        "Happy to [walk your product team through it|share how we'd use it|join a feedback call][ — {weekday} works| — {person} can join too|].",
        "[Thanks|Thank you|Many thanks] for [passing it on|considering it|listening][, {agent}|, as always| on behalf of {team}].",
        "Looking forward to [hearing what you think|any news on this][ — {person} is keen too|].",
    ),
}
CLOSINGS_ANGRY: tuple[str, ...] = (
    "Please prioritise this.",
    "Update today, please.",
    "Please escalate internally.",
    "Waiting for your answer.",
    "I expect an update [today|by {clock}|before {weekday}].",
    "[Please|Can you] [call|phone] me [today|as soon as possible|this afternoon].",
)

SIGNOFFS: tuple[str, ...] = (
    "Thanks,\n{me}",
    "Best,\n{me_full}",
    "Cheers,\n{me}",
    "— {me}",
    "Regards,\n{me_full}\n{me_title}",
    "Kind regards,\n{me_full}",
    "Thanks!\n{me}",
    "Best regards,\n{me_full}, {me_title}",
    "{me}",
    "Thank you,\n{me_full}\n{me_title}, {company}",
    "Many thanks,\n{me}",
)

# Said before a detail or an ask, now and then, as people do.
LEAD_INS: tuple[str, ...] = (
    "Also, ",
    "FYI, ",
    "Just so you know, ",
    "For what it's worth, ",
    "On top of that, ",
    "One more thing: ",
    "Not sure if it's related, but ",
    "{person} also pointed out that ",
    "As far as I can tell, ",
    "For context, ",
    "Separately, ",
    "Quick note: ",
    "I should add that ",
    "Worth mentioning: ",
    "Oh, and ",
    "In case it helps, ",
    "To add to that, ",
)
ASK_LEAD_INS: tuple[str, ...] = (
    "So, ",
    "{agent}, ",
    "Main question: ",
    "In short: ",
    "Bottom line: ",
    "Also, ",
    "Quick question: ",
    "Second question: ",
    "If possible, ",
    "Ideally, ",
)

TERSE_BODIES: tuple[str, ...] = (
    "Subject says it all. {problem}",
    "{problem} Can someone look?",
    "{problem} {ask}",
    "As discussed with {agent}: {problem}",
    "{problem} [Thx|Thanks|ty].",
    "Hi,\n{problem} {ask}",
)

SUBJECT_PREFIXES: tuple[str, ...] = (
    "",
    "",
    "",
    "",
    "",
    "Re: ",
    "Question: ",
    "{company_tag} ",
    "Fwd: ",
)

# Situation lines that only fit some kinds of ticket ("since the release, this has been much
# worse" is about a fault, not an invoice). Tags not listed fit every ticket.
SIGNAL_FAMILIES: dict[str, tuple[str, ...]] = {
    "quality_gap": ("tech",),
    "mild_dip": ("tech",),
    "ai_gains": ("tech", "idea"),
}

# Situation lines: the account's hidden state leaking into a ticket, mostly implicitly.
SIGNALS: dict[str, tuple[str, ...]] = {
    "budget": (
        "Finance has asked me to pull our usage by team for the last [two quarters|six months|year], so [any help there is welcome|a quick export would help].",
        "We're going through a cost review[ this quarter|], so I need to understand exactly what we're paying for.",
        "[Budgets are tight|Things are tight budget-wise|Money is tight] this year and every line item is being questioned.",
        "Our CFO has frozen new spend until {next_quarter}, so we can't add anything right now.",
        "Payments to vendors are [delayed|on hold] while finance re-approves every contract.",
    ),
    "champion_gone": (
        "{old_champion} has left {company}, so I'm picking this up.",
        "I'm not sure how {old_champion} had this configured[ and there's no documentation|, nothing was written down].",
        "Since {old_champion} left we don't really have an owner for {product} on our side.",
    ),
    "competitor": (
        "We're also [looking at|evaluating] how our data would move [between systems|to another platform], [just in case|for a project].",
        "Part of the team is testing {competitor} for {queue}, so we need to compare like for like.",
        "Can you confirm we own all the data and can take it with us in a standard format?",
    ),
    "quality_gap": (
        "[Ever since|Since] the {release} [rollout|update] on {release_date}, [this has been much worse|quality has gone down noticeably].",
        "This wasn't a problem before [{release_month}|the {release} release|{release_date}][, as far as {person} remembers|].",
        "Accuracy used to be [fine|much better] [until|before] the [last release|{release}].",
        "Agents have started [ignoring|double-checking] the AI suggestions because of this.",
    ),
    "mild_dip": (
        "Might be related to the {release} change, but I'm not sure.",
        "It's only a few cases so far[, {n2} that we know of|].",
    ),
    "expansion": (
        "We're rolling {product} out to {team} [next month|in {next_month}], so getting this right matters.",
        "We're at {seats_used} of {seats_total} seats and [need room for|have more people joining from] {team}.",
        "{n2} more teams want to start using {product} this quarter.",
    ),
    "ai_gains": (
        "Autopilot now [handles|resolves] most of the [password resets|order status questions] on its own, so fewer people are in the tool day to day, [which is expected|that's on purpose].",
        "Since {ai_feature} took over the simple stuff, the team [mostly works|only works] on escalations.",
    ),
    "decline": (
        "[Honestly|To be honest], not many people on the team use {feature} anymore.",
        "We haven't really used {feature} since {person} moved teams.",
        "Most of the team went back to doing this [in spreadsheets|in email|the old way].",
    ),
    "churn_notice": (
        "We'll need everything exported before our contract ends on {renewal_date}.",
        "Please make sure nothing auto-renews[ on {renewal_date}| — add-ons included|].",
        "We're winding down our use of {product} over the next few weeks.",
    ),
    "reorg": (
        "We've had a restructure and {team} now reports into {new_dept}.",
        "Our new [VP|director] wants a summary of what each tool does for us.",
        "Things are a bit in flux after the reorganisation, so the owners of some settings have changed.",
    ),
    "renewal_soon": (
        "Our renewal is coming up on {renewal_date}, so I'd like to have this resolved before then.",
    ),
}
