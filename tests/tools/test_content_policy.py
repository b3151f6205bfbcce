"""The outbound content policy's detectors (issue 17): tricky strings, each with its verdict.

Every attack form that got through the old regexes is here, next to the legitimate text
that must keep passing (version numbers, "e.g.", amounts, the allow-listed help links,
"credit card"). Property tests check what must hold for any text: offsets slice the
original, neutralise leaves no link and is idempotent, every problem's span is text that
a caller can find and replace.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.tools.outbound.content import (
    ContentProblem,
    FoundOffer,
    check_content,
    find_markup,
    find_offers,
    find_urls,
    neutralise,
    offer_allowed,
    url_allowed,
)
from keel.tools.outbound.urls import find_addresses

ALLOWLIST = ["https://help.keel.example", "https://help.keel.example/articles/sso-setup"]
NARROW = ["https://help.keel.example/articles/sso-setup"]

# --- links: what find_urls finds (the hosts, in order) -------------------------------------

FIND_URLS: list[tuple[str, list[str]]] = [
    # attacks that got through
    ("see //host/x for details", ["host"]),
    ("go to evil.de/x now", ["evil.de"]),
    ("log in at attacker-claims.tk/login.", ["attacker-claims.tk"]),
    ("the portal is evil.co.uk/x", ["evil.co.uk"]),
    ("open http://1.2.3.4/a", ["1.2.3.4"]),
    ("server 10.0.0.1:8080 is up", ["10.0.0.1"]),
    ("bare 1.2.3.4 address", ["1.2.3.4"]),
    ("decimal http://2130706433/ form", ["127.0.0.1"]),
    ("hex http://0x7f.1/ form", ["127.0.0.1"]),
    ("octal http://0177.0.0.1/ form", ["127.0.0.1"]),
    ("v6 http://[::1]:8080/x here", ["::1"]),
    ("click javascript:alert(document.cookie)", [""]),
    ("JaVaScRiPt:alert(1)", [""]),
    ("vbscript:msgbox(1)", [""]),
    ("data:text/html;base64,PHNjcmlwdD4=", [""]),
    ("file:///etc/passwd", [""]),
    ("ｈｔｔｐｓ：／／evil。com/x", ["evil.com"]),
    ("https://evil．com/x", ["evil.com"]),
    ("evil｡com/login", ["evil.com"]),
    ("https:\\\\evil.com\\x", ["evil.com"]),
    ("/\\evil.com/x", ["evil.com"]),
    ("https:evil.com", ["evil.com"]),
    ("https:///evil.com/x", ["evil.com"]),
    ("![](//host/p.png?d=secret)", ["host"]),
    ("bücher.de/x", ["xn--bcher-kva.de"]),
    ("xn--bcher-kva.de is punycode", ["xn--bcher-kva.de"]),
    ("пример.рф", ["xn--e1afmkfd.xn--p1ai"]),
    ("ev\u200bil.com", ["evil.com"]),
    ("evil&#46;de/x", ["evil.de"]),
    ("www.evil", ["www.evil"]),
    ("HTTPS://EVIL.DE/X", ["evil.de"]),
    ("https://help.keel.example@evil.com/", ["evil.com"]),
    ("slack://evil.com/open", ["evil.com"]),
    ("name.zip/payload", ["name.zip"]),
    ("www.name.zip", ["www.name.zip"]),
    ("http://name.zip", ["name.zip"]),
    ("localhost:8080/admin", ["localhost"]),
    ("help.keel.example/articles", ["help.keel.example"]),
    ("(see https://x.com/a_(b)).", ["x.com"]),
    ("two: a.io and b.dev, then c.app!", ["a.io", "b.dev", "c.app"]),
    ("詳細はevil.deへ", ["evil.de"]),  # glued to another script's letters
    ("Thanks.Today we ship", ["thanks.today"]),  # a missing space makes a real host
    # not links
    ("upgrade to v2.3.1 or 1.2.10", []),
    ("version 1.2.3.4 is out", []),
    ("your invoice of $1,200.50 and 3.5% growth", []),
    ("e.g. the SSO setup, i.e. SAML, etc. at 9 a.m.", []),
    ("attached report.pdf and config.yaml", []),
    ("the archive name.zip and setup.py and README.md", []),
    ("mail jane@acme.com today", []),
    ("mailto:jane@acme.com", []),
    ("C:\\Users\\jane\\notes.txt", []),
    ("Note: this and Re: that", []),
    ("Your data: 5 GB", []),
    ("hxxps://evil[.]de/x", []),
    ("a//b and // comment", []),
]


@pytest.mark.parametrize(("text", "hosts"), FIND_URLS, ids=[t for t, _ in FIND_URLS])
def test_find_urls(text: str, hosts: list[str]) -> None:
    found = find_urls(text)
    assert [u.host for u in found] == hosts
    for url in found:
        assert text[url.start : url.end] == url.raw


def test_found_url_parts() -> None:
    [url] = find_urls("Read ｈｔｔｐｓ：／／Evil。com:443/a\\b?x=1, then stop.")
    assert url.raw == "ｈｔｔｐｓ：／／Evil。com:443/a\\b?x=1"
    assert url.normalised == "https://evil.com/a/b?x=1"
    [bare] = find_urls("try evil.de/x.")
    assert (bare.raw, bare.normalised) == ("evil.de/x", "https://evil.de/x")
    [script] = find_urls("javascript:alert(1)")
    assert script.normalised == "javascript:alert(1)"


# --- the allow-list --------------------------------------------------------------------------

URL_ALLOWED: list[tuple[str, list[str], bool]] = [
    ("https://help.keel.example", ALLOWLIST, True),
    ("https://help.keel.example/", ALLOWLIST, True),
    ("https://help.keel.example/articles/sso-setup", NARROW, True),
    ("https://help.keel.example/articles/sso-setup?lang=en", NARROW, True),
    ("https://help.keel.example/articles/sso-setup/step-2#saml", NARROW, True),
    ("https://HELP.keel.example:443/articles/sso-setup", NARROW, True),
    ("ｈｔｔｐｓ://help.keel.example/articles/sso-setup", NARROW, True),
    ("help.keel.example/articles/sso-setup", NARROW, True),  # bare counts as https
    ("//help.keel.example/articles/sso-setup", NARROW, True),
    ("https://help.keel.example/articles/sso-setup-evil", NARROW, False),
    ("https://help.keel.example/articles", NARROW, False),
    ("http://help.keel.example/articles/sso-setup", NARROW, False),
    ("https://help.keel.example:8443/", ALLOWLIST, False),
    ("https://help.keel.example.evil.com/", ALLOWLIST, False),
    ("https://evil.com/help.keel.example", ALLOWLIST, False),
    ("https://help.keel.example@evil.com/", ALLOWLIST, False),
    ("https://user@help.keel.example/", ALLOWLIST, False),
    ("https://help.keel.example/redirect?to=https://attacker.example/x", ALLOWLIST, False),
    # A host in the path forwards the reader elsewhere; file names and versions do not.
    ("https://help.keel.example/go/attacker.example/w", ALLOWLIST, False),
    ("https://help.keel.example/out/10.0.0.1/x", ALLOWLIST, False),
    ("https://help.keel.example/docs/readme.md", ALLOWLIST, True),
    ("https://help.keel.example/v2.3/guide", ALLOWLIST, True),
    ("https://help.keel.example/files/report.pdf", ALLOWLIST, True),
    ("https://help.keel.example/x?returnTo=/account", ALLOWLIST, False),
    ("https://help.keel.example/x?redirect_uri=a", ALLOWLIST, False),
    ("https://help.keel.example/x?r=1", ALLOWLIST, False),
    ("https://help.keel.example/x?q=%2F%2Fevil.com", ALLOWLIST, False),
    ("https://help.keel.example/x?ref=evil.de", ALLOWLIST, False),
    ("https://help.keel.example/x#https://evil.com", ALLOWLIST, False),
    ("https://help.keel.example/articles/sso-setup/../../admin", NARROW, False),
    ("https://help.keel.example/articles/sso-setup/%2e%2e/admin", NARROW, False),
    ("https://help.keel.example/articles/sso-setup%2f..%2fadmin", NARROW, False),
    ("https://help.keel.example/articles\\sso-setup", NARROW, False),
    ("https://help.keel.example//evil.com", ALLOWLIST, False),
    ("javascript:alert(1)", ALLOWLIST, False),
    ("https://help.keel.example/x and more", ALLOWLIST, False),
    ("https://help.keel.example", [], False),
]


@pytest.mark.parametrize(
    ("url", "allowlist", "allowed"), URL_ALLOWED, ids=[u for u, _, _ in URL_ALLOWED]
)
def test_url_allowed(url: str, allowlist: list[str], allowed: bool) -> None:
    assert url_allowed(url, allowlist) is allowed


# --- markup --------------------------------------------------------------------------------

MARKUP: list[tuple[str, bool]] = [
    ("<img src=x onerror=alert(1)>", True),
    ("<img src=x onerror=alert(1)", True),  # unclosed
    ("<script>alert(1)</script>", True),
    ("< ScRiPt >alert(1)", True),
    ("</ script>", True),
    ('<a href="https://evil.de">click</a>', True),
    ("<iframe src=//evil.de>", True),
    ("<svg onload=alert(1)>", True),
    ("<b>bold</b>", True),
    ('<img alt=">" src=x>', True),
    ("<!-- hidden -->", True),
    ("<!DOCTYPE html>", True),
    ("&lt;script&gt;alert(1)&lt;/script&gt;", True),
    ("&#60;img src=x onerror=alert(1)&#62;", True),
    ("&amp;lt;b&amp;gt;", True),  # double-encoded
    ("![](//host/p.png?d=secret)", True),
    ("![logo](https://evil.de/p.png)", True),
    ("![logo][ref]", True),
    ("[click here](https://evil.de)", True),
    ("[text][1]\n\n[1]: https://evil.de", True),
    ("javascript:alert(1)", True),
    ("data:text/html;base64,PHNjcmlwdD4=", True),
    ("evil\u200b.com", True),
    ("text\u202eexe.pdf", True),
    ("\u2066hidden\u2069", True),
    ("\ufeffBOM", True),
    ("word\u2060joiner", True),
    ("tag\U000e0041chars", True),
    # plain text
    ("if a < b then", False),
    ("x<y", False),
    ("2 <3", False),
    ("I <3 Keel", False),
    ("a -> b => c", False),
    ("> quoted line\n> another", False),
    ("see [1] and [2]", False),
    ("(see above)", False),
    ("[1](see above)", False),
    ("Jane Doe <jane@acme.com>", False),
    ("<https://help.keel.example>", False),  # an autolink: the link check judges it
    ("if a < b and c > d", False),
    ("[1]: see appendix", False),
    ("family 👨\u200d👩\u200d👧", False),
    ("Our JavaScript: it is fast", False),
]


@pytest.mark.parametrize(("text", "flagged"), MARKUP, ids=[t for t, _ in MARKUP])
def test_find_markup(text: str, flagged: bool) -> None:
    problems = find_markup(text)
    assert bool(problems) is flagged, problems
    for problem in problems:
        assert problem.kind == "markup"
        assert problem.span and problem.span in text


# --- offers --------------------------------------------------------------------------------

OFFERS: list[tuple[str, str | None]] = [
    ("we can offer discounts", "discount"),
    ("a discounted renewal", "discount"),
    ("discounting is possible", "discount"),
    ("20% off your renewal", "discount"),
    ("20 percent off", "discount"),
    ("20 per cent off", "discount"),
    ("fifty percent off", "discount"),
    ("100% off", "discount"),
    ("a 15% discount", "discount"),
    ("half price", "discount"),
    ("half-price seats", "discount"),
    ("$500 off", "discount"),
    ("a rebate", "discount"),
    ("use coupon SAVE", "discount"),
    ("promo code KEEL", "discount"),
    ("promotional code", "discount"),
    ("a voucher", "discount"),
    ("dіscount", "discount"),  # Cyrillic і
    ("dis\u200bcount", "discount"),
    ("free of charge", "free"),
    ("at no extra cost", "free"),
    ("at no additional charge", "free"),
    ("there is no charge", "free"),
    ("complimentary onboarding", "free"),
    ("a free month", "free"),
    ("2 free months", "free"),
    ("two months free", "free"),
    ("free seats", "free"),
    ("free licences", "free"),
    ("a free upgrade", "free"),
    ("a free trial extension", "free"),
    ("on the house", "free"),
    ("we'll do it for free", "free"),
    ("a refund", "refund"),
    ("refunds", "refund"),
    ("we refunded it", "refund"),
    ("we will reimburse you", "refund"),
    ("we waive the fee", "waiver"),
    ("waives", "waiver"),
    ("waived", "waiver"),
    ("a waiver", "waiver"),
    ("we will write off the overage", "waiver"),
    ("a write-off", "waiver"),
    ("we'll credit your account", "credit"),
    ("a credit", "credit"),
    ("service credits", "credit"),
    ("a credit note", "credit"),
    ("account credit", "credit"),
    ("we guarantee it", "sla"),
    ("guaranteed uptime", "sla"),
    ("a 99.99% uptime SLA", "sla"),
    ("SLA credits", "sla"),
    ("we indemnify you", "legal"),
    ("we accept liability", "legal"),
    ("terminate without penalty", "legal"),
    ("a contract amendment", "legal"),
    ("we will not enforce the clause", "legal"),
    ("a price lock", "price"),
    ("a price freeze", "price"),
    ("lock in the price", "price"),
    ("lock in your rate", "price"),
    ("we'll match their price", "price"),
    ("match the competitor's price", "price"),
    # not offers
    ("your invoice of $1,200.50", None),
    ("the credit card on file", None),
    ("credit-card details", None),
    ("credit to the team for this", None),
    ("credit to the support team", None),
    ("give credit where it is due", None),
    ("the free plan's limits", None),
    ("a free trial", None),
    ("feel free to reply", None),
    ("we offer a working session", None),
    ("they were complimentary about the rollout", None),
    ("100% of your users", None),
    ("discussed pricing last week", None),
    ("e.g. the SSO setup", None),
    ("adoption is 20% lower", None),
    ("see https://help.keel.example/articles/refund-policy", None),
    ("write to refunds@acme.com", None),
]


@pytest.mark.parametrize(("text", "category"), OFFERS, ids=[t for t, _ in OFFERS])
def test_find_offers(text: str, category: str | None) -> None:
    offers = find_offers(text)
    assert [o.category for o in offers] == ([category] if category else [])
    for offer in offers:
        assert text[offer.start : offer.end] == offer.text


def test_subject_offers() -> None:
    problems = check_content(subject="100% discount for you", body="Hi", allowlist=ALLOWLIST)
    assert [(p.kind, p.span) for p in problems] == [("offer", "100% discount")]
    assert "(in the subject)" in problems[0].reason


OFFER_ALLOWED: list[tuple[str, list[str], bool]] = [
    ("10% discount", ["10% discount on annual prepay"], True),
    ("10% off", ["10% discount on annual prepay"], True),
    ("ten percent off", ["10% discount on annual prepay"], True),
    ("a discount", ["10% discount on annual prepay"], True),
    ("20% off", ["10% discount on annual prepay"], False),
    ("100% off", ["10% discount on annual prepay"], False),
    ("2 free months", ["10% discount on annual prepay"], False),
    ("2 free months", ["2 months free on a two-year renewal"], True),
    ("3 free months", ["2 months free on a two-year renewal"], False),
    ("half price", ["50% discount for the pilot"], True),
    ("10% discount", [], False),
    ("10% discount", ["annual prepay incentive"], False),  # no offer vocabulary: no category
]


@pytest.mark.parametrize(("text", "approved", "allowed"), OFFER_ALLOWED)
def test_offer_allowed(text: str, approved: list[str], allowed: bool) -> None:
    [offer] = find_offers(text)
    assert offer_allowed(offer, approved) is allowed


def test_offer_allowed_needs_same_category() -> None:
    offer = FoundOffer("refund", "refund", 0, 6)
    assert not offer_allowed(offer, ["10% discount"])
    assert offer_allowed(offer, ["a refund of the March invoice"])


# --- check_content: whole messages ----------------------------------------------------------

CHECK: list[tuple[str, str, set[str]]] = [
    ("Your SSO setup", "Steps: https://help.keel.example/articles/sso-setup?lang=en", set()),
    ("Checking in", "Upgrade to v2.3.1; e.g. the SSO setup. Invoice $1,200.50 is paid.", set()),
    ("Billing", "The credit card on file expires soon.", set()),
    ("Help", "Our help centre: https://help.keel.example.", set()),
    ("Hi", "See //host/x", {"link"}),
    ("Hi", "Go to evil.de/x or attacker-claims.tk/login", {"link"}),
    ("Hi", "Log in at http://10.0.0.1/login", {"link"}),
    ("Hi", "ｈｔｔｐｓ://evil.com/x", {"link"}),
    ("Hi", "<img src=x onerror=alert(1)>", {"markup"}),
    ("Hi", "<script>fetch('//evil.de')</script>", {"markup", "link"}),
    ("Hi", "![](//host/p.png?d=secret)", {"markup", "link"}),
    ("Hi", "[docs](javascript:alert(1))", {"markup", "link"}),
    ("Hi", "https://help.keel.example/redirect?to=https://attacker.example/x", {"link"}),
    ("Hi", "We can offer discounts and waive the fee, free of charge.", {"offer"}),
    ("20 percent off", "Hi", {"offer"}),
    ("Hi", "Write to bob@evil.com", {"address"}),
    ("Hi", "Write to bob [at] evil [dot] com", {"address"}),
    ("Hi", "Write to jane@acme.com", set()),
    ("Hi", "Write to JANE@ACME.COM", set()),
]


@pytest.mark.parametrize(("subject", "body", "kinds"), CHECK, ids=[b for _, b, _ in CHECK])
def test_check_content(subject: str, body: str, kinds: set[str]) -> None:
    problems = check_content(
        subject=subject, body=body, allowlist=ALLOWLIST, allowed_addresses={"jane@acme.com"}
    )
    assert {p.kind for p in problems} == kinds, problems
    for problem in problems:
        assert problem.span in subject or problem.span in body
        assert problem.reason


def test_check_content_reasons_name_the_span() -> None:
    problems = check_content(subject="Hi", body="Go to evil.de/x now.", allowlist=ALLOWLIST)
    assert problems == [
        ContentProblem("link", "evil.de/x", 'link to evil.de is not on the allow-list: "evil.de/x"')
    ]
    [redirect] = check_content(
        subject="Hi",
        body="https://help.keel.example/redirect?to=https://attacker.example/x",
        allowlist=ALLOWLIST,
    )
    assert "redirect" in redirect.reason and "help.keel.example" in redirect.reason


def test_check_content_addresses_only_when_asked() -> None:
    assert check_content(subject="Hi", body="bob@evil.com", allowlist=[]) == []
    [problem] = check_content(
        subject="Hi", body="bob@evil.com", allowlist=[], allowed_addresses=set()
    )
    assert (problem.kind, problem.span) == ("address", "bob@evil.com")


def test_check_content_approved_offer_passes() -> None:
    body = "We can offer a 10% discount on annual prepay."
    assert (
        check_content(
            subject="Renewal",
            body=body,
            allowlist=ALLOWLIST,
            approved_offers=["10% discount on annual prepay"],
        )
        == []
    )
    assert {p.kind for p in check_content(subject="Renewal", body=body, allowlist=ALLOWLIST)} == {
        "offer"
    }


def test_old_drafter_bug_replaces_whole_host() -> None:
    [url] = find_urls("Visit evil.co.uk/x today")
    assert url.raw == "evil.co.uk/x"


def test_addresses() -> None:
    found = find_addresses("Mail Jane@Acme.com, mailto:bob@evil.com or https://u@host.com/")
    assert [a.address for a in found] == ["jane@acme.com", "bob@evil.com"]


# --- neutralise ----------------------------------------------------------------------------

NEUTRALISE: list[tuple[str, str]] = [
    ("see https://evil.de/x.", "see hxxps://evil[.]de/x."),
    ("go to evil.de/x", "go to evil[.]de/x"),
    ("//host/x", "[//]host/x"),
    ("javascript:alert(1)", "javascript[:]alert(1)"),
    ("mail bob@evil.com", "mail bob[at]evil[.]com"),
    ("<img src=x onerror=alert(1)>hi", "[html removed]hi"),
    ("&lt;script&gt;", "[html removed]"),
    ("![](//host/p.png?d=1)", "[image removed]"),
    ("[click](https://evil.de)", "click (hxxps://evil[.]de)"),
    ("ev\u200bil", "evil"),
    ("ｈｔｔｐｓ：／／evil。com/x", "hxxps://evil[.]com/x"),
    (
        "https://help.keel.example/r?to=https://attacker.example/x",
        "hxxps://help[.]keel[.]example/r?to=hxxps://attacker[.]example/x",
    ),
    ("localhost:8080/admin", "localhost[:]8080/admin"),
    ("plain text v2.3.1, e.g. $1,200.50", "plain text v2.3.1, e.g. $1,200.50"),
]


@pytest.mark.parametrize(("text", "expected"), NEUTRALISE, ids=[t for t, _ in NEUTRALISE])
def test_neutralise(text: str, expected: str) -> None:
    assert neutralise(text) == expected
    assert neutralise(expected) == expected


# --- properties ----------------------------------------------------------------------------

FRAGMENTS = [
    "https://", "http:", "//", "\\\\", "ｈｔｔｐｓ：／／", "javascript:", "data:text/html,",
    "evil.de", "evil", ".co.uk", ".com", "。", "．", "www.", "xn--bcher-kva", "bücher",
    "1.2.3.4", "[::1]", ":8080", "/x", "?to=", "#", "@", "mailto:", "<img src=x>", "<",
    ">", "</", "![", "](", "[", "]", "(", ")", "&lt;", "&#46;", "&amp;", "\u200b", "\u202e",
    "\ufeff", "%2f", "..", " ", "\n", "v2.3.1", "e.g.", "$1,200.50", "name.zip", "localhost",
    "discount", "free", "credit", "[.]", "[at]", "hxxps", "`", '"', "'",
]  # fmt: skip
ALPHABET = "abcdehtpsw.:/\\@<>[]()!&#;%?=-_ 0123456789ｈｔ。．／：\u200bé"
TEXTS = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=ALPHABET, max_size=6)), max_size=12
).map("".join)
PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(TEXTS)
def test_found_offsets_slice_the_original(text: str) -> None:
    for url in find_urls(text):
        assert text[url.start : url.end] == url.raw
        assert url.raw
    for offer in find_offers(text):
        assert text[offer.start : offer.end] == offer.text


@PROPERTY
@given(TEXTS)
def test_neutralise_leaves_no_link_and_is_idempotent(text: str) -> None:
    once = neutralise(text)
    assert find_urls(once) == []
    assert find_markup(once) == []
    assert find_addresses(once) == []
    assert neutralise(once) == once


@PROPERTY
@given(TEXTS, TEXTS)
def test_problem_spans_are_in_the_text(subject: str, body: str) -> None:
    problems = check_content(
        subject=subject, body=body, allowlist=ALLOWLIST, allowed_addresses=set()
    )
    for problem in problems:
        assert problem.span and (problem.span in subject or problem.span in body)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_handled(text: str) -> None:
    for url in find_urls(text):
        assert text[url.start : url.end] == url.raw
    once = neutralise(text)
    assert neutralise(once) == once
    assert find_urls(once) == []


@pytest.mark.parametrize(
    "text",
    [
        "javascript:" * 300,
        "https://a.de/?u=" * 200,
        "[" * 300 + "a" + "](b)" * 300,
        "<a href=" * 500,
        "https://x.de" + ")" * 2000,
    ],
    ids=["schemes", "redirect-chain", "nested-links", "open-tags", "closers"],
)
def test_neutralise_converges_on_deep_nesting(text: str) -> None:
    once = neutralise(text)
    assert neutralise(once) == once
    assert find_urls(once) == []
    assert find_markup(once) == []


def test_detectors_are_fast_on_a_long_message() -> None:
    body = (
        "Hi Jane, following up on v2.3.1 (e.g. the SSO setup): see "
        "https://help.keel.example/articles/sso-setup?lang=en. Your invoice of $1,200.50 "
        "is paid; the credit card on file is fine. <b>Thanks</b> evil.de/x\n"
    ) * 200
    start = time.perf_counter()
    check_content(subject="Hi", body=body, allowlist=ALLOWLIST, allowed_addresses=set())
    neutralise(body)
    assert time.perf_counter() - start < 5
