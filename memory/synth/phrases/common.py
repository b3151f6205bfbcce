"""Vocabulary shared by every text: the product's features, integrations, places, errors.

These fill ``{slots}`` in the phrase templates; keeping them apart from the sentence banks
means the same sentence reads differently for a logistics SMB and an insurance enterprise.
"""

from __future__ import annotations

# feature key -> (display name, is an AI feature, use cases it belongs to)
FEATURES: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    "shared_inbox": ("Shared Inbox", False, ("support",)),
    "routing_rules": ("Routing Rules", False, ("support", "documents")),
    "macros": ("Macros", False, ("support",)),
    "knowledge_base": ("Knowledge Base", False, ("support",)),
    "analytics": ("Analytics dashboards", False, ("support", "documents")),
    "workflow_builder": ("Workflow Builder", False, ("support", "documents")),
    "sso_scim": ("SSO/SCIM provisioning", False, ("support", "documents")),
    "public_api": ("Public API", False, ("support", "documents")),
    "crm_sync": ("CRM sync", False, ("support", "documents")),
    "slack_app": ("Slack app", False, ("support", "documents")),
    "sandbox": ("Sandbox", False, ("support", "documents")),
    "ai_reply_drafts": ("Reply Drafts", True, ("support",)),
    "ai_triage": ("Smart Triage", True, ("support", "documents")),
    "ai_autopilot": ("Autopilot", True, ("support", "documents")),
    "ai_summaries": ("Conversation Summaries", True, ("support",)),
    "doc_extract": ("Doc Extract", True, ("documents",)),
    "ai_qa_scoring": ("QA Scoring", True, ("support", "documents")),
    "sentiment_alerts": ("Sentiment Alerts", True, ("support",)),
    "validation_rules": ("Validation Rules", False, ("documents",)),
}

INTEGRATIONS = (
    "Salesforce",
    "HubSpot",
    "Zendesk",
    "Slack",
    "Microsoft Teams",
    "Jira",
    "ServiceNow",
    "NetSuite",
    "SAP",
    "Okta",
    "Azure AD",
    "Google Workspace",
    "Intercom",
    "Snowflake",
    "Shopify",
    "Outlook",
    "Gmail",
    "Dynamics 365",
    "Workday",
    "SharePoint",
)

SUPPORT_QUEUES = (
    "Returns - DE",
    "Billing EN",
    "VIP",
    "Tier 2",
    "Warranty claims",
    "Escalations",
    "Refunds",
    "Order status",
    "Onboarding",
    "Partner desk",
    "Night shift",
    "Priority support",
    "Account changes",
    "Shipping delays",
    "B2B orders",
)
DOCUMENT_QUEUES = (
    "AP invoices",
    "Claims intake",
    "Proof of delivery",
    "KYC documents",
    "Purchase orders",
    "Supplier onboarding",
    "Medical records",
    "Credit notes",
    "Customs forms",
    "Expense receipts",
    "Contracts review",
    "Bills of lading",
)

TEAMS = (
    "the billing team",
    "our EMEA support team",
    "the claims team",
    "the AP team",
    "the night shift",
    "the tier-2 group",
    "the onboarding team",
    "our partner desk",
    "the returns team",
    "the escalations desk",
    "the Spanish-speaking team",
    "the finance ops team",
    "the logistics coordinators",
    "our new Manila team",
    "the back office in Porto",
    "the retention team",
    "the B2B desk",
    "the QA group",
    "the vendor management team",
    "the customer care team in Leeds",
    "the contact centre in Monterrey",
    "the payments team",
)

NEW_DEPARTMENTS = (
    "Revenue Operations",
    "the COO's office",
    "Shared Services",
    "Digital",
    "Customer Operations",
    "Finance",
    "IT",
    "the Global Business Services group",
    "Product",
    "Operations Excellence",
)

ERRORS = (
    "ERR-4102",
    "HTTP 502",
    "SAML_RESPONSE_INVALID",
    "429 Too Many Requests",
    "E_SYNC_CONFLICT",
    "a 'timeout after 30s' message",
    "TOKEN_EXPIRED",
    "HTTP 500",
    "ERR_UPLOAD_SIZE",
    "WEBHOOK_DELIVERY_FAILED",
    "E_SCHEMA_MISMATCH",
    "'Something went wrong (ref 7731)'",
    "INVALID_GRANT",
    "ERR-3307",
    "HTTP 403 Forbidden",
    "'Cannot read properties of undefined'",
    "OCR_LOW_CONFIDENCE",
    "E_FIELD_MISSING",
    "ERR-5520",
    "a blank white screen",
)

BROWSERS = ("Chrome", "Edge", "Firefox", "Safari", "Chrome on a Mac", "the desktop app")

COMPETITORS = (
    "another vendor",
    "a competitor",
    "one of the big CRM suites' built-in AI",
    "a homegrown GPT setup",
    "Brightdesk",
    "Cortexa",
    "Supportly",
    "Zephyr AI",
    "Flowmatic",
    "a cheaper point tool",
    "the bundled tool that came with their CRM",
)

CITIES = {
    "NA": ("Austin", "Denver", "Toronto", "Chicago", "Atlanta", "Seattle", "Boston", "Phoenix"),
    "EMEA": ("Lisbon", "Dublin", "Berlin", "Amsterdam", "Warsaw", "Madrid", "Manchester", "Lyon"),
    "APAC": ("Singapore", "Sydney", "Bangalore", "Tokyo", "Auckland", "Manila", "Melbourne"),
    "LATAM": ("São Paulo", "Mexico City", "Bogotá", "Santiago", "Buenos Aires", "Lima"),
}

HOLIDAY_PLACES = (
    "Portugal",
    "Japan",
    "the Dolomites",
    "Mexico",
    "Iceland",
    "Crete",
    "Vietnam",
    "Scotland",
    "Cape Town",
    "Sardinia",
    "Montreal",
    "Bali",
    "Norway",
    "Peru",
    "the Algarve",
    "Kyoto",
)

SPORTS = (
    "the Champions League final",
    "the Super Bowl",
    "the Tour de France",
    "the cricket",
    "Wimbledon",
    "the NBA playoffs",
    "the Six Nations",
    "the F1 race at the weekend",
    "their company 10k run",
    "the World Cup qualifiers",
)

# The vendor's support desk (they answer every account's tickets). Kept apart from the customer
# name pool, so a greeting to an agent never reads as a name from another account.
SUPPORT_AGENTS = ("Joost", "Marit", "Ken", "Aoife", "Luis", "Pilar", "Sanjay", "Hollie", "Femi")

TITLES = {
    "champion": (
        "Support Operations Manager",
        "Head of Customer Experience",
        "Director of Support",
        "CX Operations Lead",
        "Service Desk Manager",
        "Head of Operations",
        "AP Operations Manager",
        "Claims Operations Lead",
        "Customer Care Manager",
        "Automation Lead",
    ),
    "executive_sponsor": (
        "VP Customer Experience",
        "Chief Operating Officer",
        "VP Operations",
        "Chief Customer Officer",
        "SVP Shared Services",
        "VP Support",
        "Director of Operations",
        "CFO",
        "Head of Digital",
    ),
    "admin": (
        "Systems Administrator",
        "Support Tools Admin",
        "IT Manager",
        "Business Systems Analyst",
        "Salesforce Admin",
        "Workforce Management Lead",
        "Platform Engineer",
    ),
    "user": (
        "Team Lead",
        "Senior Agent",
        "Operations Analyst",
        "Quality Analyst",
        "Support Agent",
        "Document Processing Lead",
        "Claims Handler",
        "Knowledge Manager",
        "Trainer",
        "Escalations Specialist",
        "Workforce Planner",
        "AP Specialist",
    ),
    "newcomer": (
        "Director of Operations",
        "Interim Head of Support",
        "Operations Manager",
        "Head of Business Systems",
        "Procurement Manager",
        "VP Shared Services",
        "Transformation Lead",
    ),
}

CHURN_REASONS = (
    "consolidating onto their CRM's bundled tooling",
    "budget cut, the whole tooling line was removed",
    "moving to a competitor that was cheaper for their volume",
    "the new leadership prefers a tool they used before",
    "not enough adoption to justify the cost",
    "the answer quality problems earlier this year",
    "acquired by a group that has a global contract with another vendor",
    "bringing the process back in-house",
)

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
