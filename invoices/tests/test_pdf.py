"""Invoice PDFs: what a customer (and their accountant) reads on the page, in their language."""

from __future__ import annotations

import io
import os
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader

from accounts.tests.factories import UserFactory
from conftest import ApiClient
from invoices import billing
from invoices.models import Invoice
from invoices.pdf import invoice_pdf_render
from plans.models import Plan
from subscriptions.models import PlanChange

from .conftest import START, top_up

pytestmark = pytest.mark.django_db

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
            fonts.add(str(font.get_object()["/BaseFont"]))
    return fonts


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
        "Paid on 14 Oct 2021 from your prepaid credit.",
    ):
        assert part in text, part
    assert "Credit for the unused part" not in text
    assert reader.metadata.title == f"Invoice {invoice.number}"


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
