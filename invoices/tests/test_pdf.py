# ruff: noqa: RUF001  (Bengali digits in the expected texts are meant)
"""Invoice PDFs: what a customer (and their accountant) reads on the page, in their language."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from pypdf import PdfReader

from accounts.models import User
from accounts.tests.factories import UserFactory
from conftest import ApiClient
from invoices import billing
from invoices.models import Invoice
from invoices.pdf import invoice_pdf_render
from plans.models import Plan
from subscriptions.models import PlanChange

from .conftest import START, top_up

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)

SELLER = {
    "INVOICE_SELLER_NAME": "Globalnet Communications Ltd.",
    "INVOICE_SELLER_ADDRESS": "House 12, Road 5, Dhanmondi\nDhaka 1205, Bangladesh",
    "INVOICE_SELLER_TAX_ID": "BIN 000123456-0101",
}
# Where test runs leave the PDFs they render, to look at (pdftoppm -png -r 80 …), when set.
KEEP_DIR = os.environ.get("INVOICE_PDF_KEEP_DIR")


@pytest.fixture(autouse=True)
def seller(settings):
    for name, value in SELLER.items():
        setattr(settings, name, value)


@pytest.fixture
def gold(db) -> Plan:
    return Plan.objects.create(name="Globalnet Gold", amount=Decimal("1200.00"))


@pytest.fixture
def bronze(db) -> Plan:
    return Plan.objects.create(name="Globalnet Bronze", amount=Decimal("500.00"))


def customer(language: str, name: str = "Rahim Uddin"):
    return UserFactory(language=language, name=name, phone="+8801711000001")


def paid_invoice(user, plan: Plan) -> Invoice:
    """The first invoice of a purchase at ``START``, paid from credit."""
    top_up(user, "5000", now=START)
    subscription = billing.subscription_purchase(user_id=user.pk, plan_id=plan.pk, now=START)
    return _fetch(subscription.invoices.get())


def with_plan_change(invoice: Invoice, from_plan: Plan, credit_back: str) -> Invoice:
    """``invoice`` as the first of a change made now from ``from_plan`` (the credit given back)."""
    change = PlanChange.objects.create(
        subscription=invoice.subscription,
        timing=PlanChange.Timing.NOW,
        status=PlanChange.Status.APPLIED,
        from_plan=from_plan,
        from_plan_name=from_plan.name,
        from_plan_amount=from_plan.amount,
        plan=invoice.plan,
        plan_name=invoice.plan_name,
        plan_amount=invoice.amount,
        plan_payment_cycle=30,
        plan_months_validity=12,
        plan_cancellable=False,
        period_seconds=30 * 86400,
        credit_back=Decimal(credit_back),
        first_period_index=invoice.period_index,
        requested_at=invoice.issued_at,
        effective_at=invoice.issued_at,
    )
    Invoice.objects.filter(pk=invoice.pk).update(plan_change=change)
    return _fetch(invoice)


def _fetch(invoice: Invoice) -> Invoice:
    return Invoice.objects.select_related("user", "plan_change").get(pk=invoice.pk)


def render(invoice: Invoice, name: str | None = None) -> tuple[bytes, PdfReader]:
    pdf = invoice_pdf_render(invoice=invoice)
    if KEEP_DIR and name:
        with open(os.path.join(KEEP_DIR, f"{name}.pdf"), "wb") as kept:
            kept.write(pdf)
    return pdf, PdfReader(io.BytesIO(pdf))


def text_of(reader: PdfReader) -> str:
    """The page's text with runs of whitespace as one space (lines wrap where the layout says)."""
    return re.sub(r"\s+", " ", "".join(page.extract_text() for page in reader.pages))


def fonts_of(reader: PdfReader) -> set[str]:
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            assert "/FontFile2" in descriptor.get_object(), "the font is embedded"
            fonts.add(str(font["/BaseFont"]))
    return fonts


def texts_shown_without_a_font(reader: PdfReader) -> int:
    """Text drawn while no font is set: viewers show nothing there (poppler: "No font in show")."""
    shown = 0
    for page in reader.pages:
        font, saved = None, []
        for operands, operator in page.get_contents().operations:
            if operator == b"q":
                saved.append(font)
            elif operator == b"Q":
                font = saved.pop()
            elif operator == b"Tf":
                font = operands[0]
            elif operator in (b"Tj", b"TJ", b"'", b'"') and font is None:
                shown += 1
    return shown


# --- English -----------------------------------------------------------------------------------


def test_english_invoice_has_every_part_an_accountant_needs(gold):
    invoice = paid_invoice(customer("en"), gold)

    pdf, reader = render(invoice, "invoice-en")

    assert pdf.startswith(b"%PDF-")
    assert len(reader.pages) == 1
    text = text_of(reader)
    for part in (
        "Globalnet Communications Ltd.",
        "House 12, Road 5, Dhanmondi",
        "Dhaka 1205, Bangladesh",
        "Tax ID: BIN 000123456-0101",
        "Invoice",
        invoice.number,
        "Billed to",
        "Rahim Uddin",
        "Phone: +8801711000001",
        "Issue date 14 Oct 2021",
        "Paid on 14 Oct 2021",
        "Status Paid",
        "Plan: Globalnet Gold",
        "14 Oct 2021 \N{EN DASH} 13 Nov 2021",
        "Total 1,200.00",
        "Amount paid 1,200.00",
        "Amount due 0.00",
        "Paid on 14 Oct 2021 from your prepaid credit.",
    ):
        assert part in text, part
    assert "Credit for the unused part" not in text
    assert reader.metadata.title == f"Invoice {invoice.number}"


def test_english_invoice_after_a_plan_change_shows_the_credit_for_the_old_plan(gold, bronze):
    invoice = with_plan_change(paid_invoice(customer("en"), gold), bronze, "250.50")

    _, reader = render(invoice, "invoice-en-plan-change")

    text = text_of(reader)
    assert "Credit for the unused part of Globalnet Bronze: 250.50" in text
    # The invoice still bills the new plan's full price.
    assert "Total 1,200.00" in text


def test_a_plan_change_with_nothing_to_credit_back_shows_no_credit_line(gold, bronze):
    invoice = with_plan_change(paid_invoice(customer("en"), gold), bronze, "0")

    _, reader = render(invoice)

    assert "Credit for the unused part" not in text_of(reader)


def test_void_invoice_says_when_it_was_voided_and_that_nothing_is_owed(gold):
    invoice = paid_invoice(customer("en"), gold)
    Invoice.objects.filter(pk=invoice.pk).update(
        status=Invoice.Status.VOID, paid_at=None, payment=None, voided_at=START + 3 * DAY
    )

    _, reader = render(_fetch(invoice))

    text = text_of(reader)
    assert "Status Void" in text
    assert "Voided on 17 Oct 2021" in text
    assert "nothing is owed for this invoice" in text
    assert "Amount due 0.00" in text
    assert "Paid on" not in text


def test_unpaid_invoice_says_so(gold):
    invoice = paid_invoice(customer("en"), gold)
    Invoice.objects.filter(pk=invoice.pk).update(
        status=Invoice.Status.UNPAID, paid_at=None, payment=None
    )

    _, reader = render(_fetch(invoice))

    text = text_of(reader)
    assert "Status Unpaid" in text
    assert "Amount paid 0.00" in text
    assert "Amount due 1,200.00" in text
    assert "Paid on" not in text


def test_a_customer_without_a_name_is_billed_by_phone(gold):
    invoice = paid_invoice(customer("en", name=""), gold)

    _, reader = render(invoice)

    assert "Billed to Phone: +8801711000001" in text_of(reader)


# --- Bengali -----------------------------------------------------------------------------------


def test_bengali_invoice_is_in_bengali_with_bengali_digits_and_the_bengali_font(gold, bronze):
    owner = customer("bn", name="রহিম উদ্দিন")
    invoice = with_plan_change(paid_invoice(owner, gold), bronze, "250.50")

    _, reader = render(invoice, "invoice-bn")

    # Shaped Bengali (conjuncts, vowel signs drawn before their consonant) extracts in glyph
    # order, so only words and numbers without those come back whole; the rest is asserted on
    # the picture (pdftoppm) and through the title, which the PDF keeps as plain text.
    text = text_of(reader)
    for part in (
        "Globalnet Communications Ltd.",
        "BIN 000123456-0101",
        invoice.number,
        "Globalnet Gold",
        "+8801711000001",
        "১,২০০.০০",  # the amount and the total
        "১৪ অক্ট",  # 14 Oct (2021): issued and paid
        "১৩ নভে",  # 13 Nov: the period's end
        "২০২১",
        "Globalnet Bronze-এর",  # the credit for the unused part of the old plan …
        "২৫০.৫০",  # … and how much
        "আপনার",  # "your" (prepaid credit)
    ):
        assert part in text, part
    for english in ("Invoice", "Billed to", "Status", "Paid", "Total", "Credit for", "1,200.00"):
        assert english not in text, english
    assert reader.metadata.title == f"ইনভয়েস {invoice.number}"
    assert texts_shown_without_a_font(reader) == 0
    assert {name.split("+")[-1] for name in fonts_of(reader)} == {
        "NotoSansBengali",
        "NotoSansBengaliBold",
    }


# --- The API -----------------------------------------------------------------------------------


def pdf_url(invoice: Invoice) -> str:
    return f"/api/v1/invoices/{invoice.pk}/pdf/"


def client_of(user) -> ApiClient:
    client = ApiClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("accept", [None, "application/pdf", "*/*", "application/pdf, */*;q=0.5"])
def test_customer_downloads_their_invoice_as_a_pdf(gold, accept):
    owner = customer("en")
    invoice = paid_invoice(owner, gold)
    headers = {"HTTP_ACCEPT": accept} if accept else {}

    response = client_of(owner).get(pdf_url(invoice), **headers)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="{invoice.number}.pdf"'
    assert invoice.number in text_of(PdfReader(io.BytesIO(response.content)))


def test_renders_from_one_query(gold, bronze, django_assert_max_num_queries):
    owner = customer("bn")
    invoice = with_plan_change(paid_invoice(owner, gold), bronze, "250.50")
    client = client_of(owner)

    with django_assert_max_num_queries(1):  # the invoice, with its customer and plan change
        response = client.get(pdf_url(invoice))

    assert response.status_code == 200


def test_answers_without_the_trailing_slash_too(gold):
    owner = customer("en")
    invoice = paid_invoice(owner, gold)

    response = client_of(owner).get(pdf_url(invoice).rstrip("/"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"


def test_someone_elses_invoice_is_not_found_in_json(gold):
    invoice = paid_invoice(customer("en"), gold)
    stranger = UserFactory(language="en")

    response = client_of(stranger).get(pdf_url(invoice), HTTP_ACCEPT="application/pdf")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"message": "Not found.", "code": "not_found"}


def test_an_unknown_invoice_is_not_found(gold):
    response = client_of(customer("en")).get("/api/v1/invoices/999999/pdf/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_anonymous_client_must_log_in_and_is_told_in_json(gold):
    invoice = paid_invoice(customer("en"), gold)

    response = ApiClient().get(pdf_url(invoice), HTTP_ACCEPT="application/pdf")

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_authenticated"


def test_a_client_accepting_only_json_is_refused_in_json(gold):
    owner = customer("en")
    invoice = paid_invoice(owner, gold)

    response = client_of(owner).get(pdf_url(invoice), HTTP_ACCEPT="application/json")

    assert response.status_code == 406
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_acceptable"


# --- The admin ---------------------------------------------------------------------------------


@pytest.fixture
def admin_browser(db) -> Client:
    browser = Client()
    browser.force_login(User.objects.create_superuser("+8801700000099", "admin-pw-99", name="A"))
    return browser


def test_admin_links_each_invoice_to_its_pdf_in_the_list_and_on_its_page(admin_browser, gold):
    invoice = paid_invoice(customer("bn"), gold)
    pdf_url = f"/admin/invoices/invoice/{invoice.pk}/pdf/"

    listing = admin_browser.get("/admin/invoices/invoice/")
    page = admin_browser.get(f"/admin/invoices/invoice/{invoice.pk}/change/")

    assert f'href="{pdf_url}"' in listing.content.decode()
    assert f'href="{pdf_url}"' in page.content.decode()
    response = admin_browser.get(pdf_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="{invoice.number}.pdf"'
    # The customer's document, in the customer's language.
    reader = PdfReader(io.BytesIO(response.content))
    assert reader.metadata.title == f"ইনভয়েস {invoice.number}"


def test_admin_pdf_of_an_unknown_invoice_is_not_found(admin_browser, gold):
    assert admin_browser.get("/admin/invoices/invoice/999999/pdf/").status_code == 404


def test_admin_pdf_is_for_staff_only(gold):
    invoice = paid_invoice(customer("en"), gold)
    pdf_url = f"/admin/invoices/invoice/{invoice.pk}/pdf/"
    browser = Client()

    assert browser.get(pdf_url).status_code == 302  # to the admin's login page

    browser.force_login(UserFactory(is_staff=True))  # staff, without the view permission
    assert browser.get(pdf_url).status_code == 403


def test_long_mixed_bengali_and_english_texts_wrap_without_losing_a_line(settings, gold):
    settings.INVOICE_SELLER_NAME = (
        "গ্লোবালনেট কমিউনিকেশনস লিমিটেড — Globalnet Communications and Broadband Services Limited"
    )
    plan = Plan.objects.create(
        name="Globalnet Ultra Fibre 1 Gbps Unlimited with Static IP and Priority Support (প্রিমিয়াম)",
        amount=Decimal("900.00"),
    )
    invoice = paid_invoice(customer("en", name="মোহাম্মদ আব্দুল্লাহ আল মামুন চৌধুরী শ্রীমঙ্গল"), plan)

    _, reader = render(invoice, "invoice-en-long")

    assert texts_shown_without_a_font(reader) == 0
    text = text_of(reader)
    assert "Broadband Services Limited" in text
    assert "Static IP and Priority Support" in text
    assert "Phone: +8801711000001" in text
