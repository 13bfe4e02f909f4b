"""
An invoice as a PDF a customer can file: the seller, the customer, the number, the dates, the
plan and period, the amount, the status and, after a change of plan, the credit given back for the
old plan, all in the customer's language.

fpdf2 lays the page out and HarfBuzz (uharfbuzz) shapes the text: Bengali needs shaping for its
conjuncts and vowel signs. The font is Noto Sans Bengali (SIL Open Font License) from the
``justmytype-intl-south-asia`` package; it has the Latin letters too, so it writes both languages
and mixed text (a Bengali invoice for the plan "Globalnet Gold", an English one for "রহিম").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from importlib.resources import files
from io import BytesIO
from pathlib import Path

import uharfbuzz as hb
from django.conf import settings
from django.utils.translation import gettext as _
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import HarfBuzzFont, TTFFont

from core.formatting import format_date, format_money
from core.i18n import language_override, language_supported

from .models import Invoice

# The font as two families (see _add_fonts): all its characters but the Bengali ones, and all.
FONT_FAMILY = "Text"
BENGALI_FAMILY = "Bengali"
BENGALI_BLOCK = range(0x0980, 0x0A00)
ZERO = Decimal("0.00")
JOINERS = {0x200C, 0x200D, 0x25CC}  # zero-width (non-)joiner, dotted circle
# The package ships the variable font; the invoice uses two of its weights.
FONT_WEIGHTS = {"": 400, "B": 700}

INK = (33, 37, 41)
MUTED = (108, 117, 125)
RULE = (206, 212, 218)
SHADE = (241, 243, 245)
STATUS_COLOURS = {
    Invoice.Status.PAID: (25, 135, 84),
    Invoice.Status.UNPAID: (176, 42, 55),
    Invoice.Status.VOID: (108, 117, 125),
}


def font_path() -> Path:
    """The variable Noto Sans Bengali that ``pip install`` brought."""
    fonts = files("justmytype_intl_south_asia") / "fonts" / "ofl" / "notosansbengali"
    return Path(str(fonts / "NotoSansBengali[wdth,wght].ttf"))


@dataclass(frozen=True)
class FontInstance:
    """One weight of the font: whole for HarfBuzz, without its layout tables for the PDF."""

    shaping: bytes
    embedding: bytes


# Only HarfBuzz reads these (substitutions and positioning); the PDF embeds the glyphs they
# chose. Leaving them out of the copy fpdf2 parses and subsets saves most of a render's time.
LAYOUT_TABLES = ("GSUB", "GPOS", "GDEF", "STAT")


@lru_cache(maxsize=1)
def font_instances() -> dict[str, FontInstance]:
    """
    The static regular and bold fonts, made once per process (instancing takes seconds) and kept
    as bytes; each document parses its own copy, since writing a PDF subsets it in place.
    """
    instances = {}
    for style, weight in FONT_WEIGHTS.items():
        font = TTFont(font_path())
        instancer.instantiateVariableFont(
            font, {"wght": weight, "wdth": 100}, inplace=True, static=True, updateFontNames=True
        )
        shaping = _font_bytes(font)
        for tag in LAYOUT_TABLES:
            if tag in font:
                del font[tag]
        instances[style] = FontInstance(shaping=shaping, embedding=_font_bytes(font))
    return instances


def _font_bytes(font: TTFont) -> bytes:
    buffer = BytesIO()
    font.save(buffer)
    return buffer.getvalue()


@lru_cache(maxsize=1)
def _latin_codepoints() -> frozenset[int]:
    """The font's characters less the Bengali ones (and the joiners Bengali words use)."""
    cmap = TTFont(BytesIO(font_instances()[""].embedding)).getBestCmap()
    return frozenset(c for c in cmap if c not in BENGALI_BLOCK and c not in JOINERS)


def _add_fonts(pdf: FPDF) -> None:
    """
    The same font twice: text in ``FONT_FAMILY``, which lacks the Bengali characters, so that
    Bengali runs go to its fallback ``BENGALI_FAMILY``. fpdf2 merges neighbouring runs of one
    font before HarfBuzz shapes them, and HarfBuzz shapes a run in the script it starts with:
    "Gold-এর" would come out as Latin, its vowel signs out of place. Two fonts keep every run in
    one script.
    """
    for family, codepoints in ((FONT_FAMILY, _latin_codepoints()), (BENGALI_FAMILY, None)):
        for style, instance in font_instances().items():
            # What FPDF.add_font() does, from the cached bytes rather than a file.
            key = f"{family.lower()}{style}"
            font = TTFFont(pdf, BytesIO(instance.embedding), key, style, unicode_range=codepoints)
            font._hbfont = HarfBuzzFont(hb.Face(hb.Blob(instance.shaping)))
            pdf.fonts[key] = font
    pdf.set_fallback_fonts([BENGALI_FAMILY])


@dataclass(frozen=True)
class _Labels:
    """Every text of the document, in one language."""

    title: str
    facts: list[tuple[str, str]]  # number and dates: (label, value)
    status: str
    status_value: str
    billed_to: str
    phone: str
    tax_id: str
    description: str
    period: str
    amount: str
    total: str
    amount_paid: str
    paid_value: str
    due: str
    due_value: str
    plan_line: str
    subscription_line: str
    period_value: str
    amount_value: str
    credit_line: str | None
    credit_note: str | None
    settlement: str


def _labels(invoice: Invoice, language: str) -> _Labels:
    """The texts of ``invoice``; call it with ``language`` active."""

    def date(value: datetime) -> str:
        return format_date(value, language)

    facts = [(_("Invoice number"), invoice.number), (_("Issue date"), date(invoice.issued_at))]
    if invoice.paid_at:
        facts.append((_("Paid on"), date(invoice.paid_at)))
    if invoice.voided_at:
        facts.append((_("Voided on"), date(invoice.voided_at)))

    status_value = {
        Invoice.Status.PAID: _("Paid"),
        Invoice.Status.UNPAID: _("Unpaid"),
        Invoice.Status.VOID: _("Void"),
    }[invoice.status]
    if invoice.status == Invoice.Status.PAID:
        settlement = _("Paid on {date} from your prepaid credit.").format(
            date=date(invoice.paid_at)
        )
    elif invoice.status == Invoice.Status.VOID:
        settlement = _("Voided on {date}: nothing is owed for this invoice.").format(
            date=date(invoice.voided_at)
        )
    else:
        settlement = _("Unpaid: top up your credit and it will be paid from it.")

    paid = invoice.amount if invoice.status == Invoice.Status.PAID else ZERO
    owed = invoice.status == Invoice.Status.UNPAID

    change = invoice.plan_change
    credit_line = credit_note = None
    if change is not None and change.credit_back > 0:
        credit_line = _("Credit for the unused part of {plan}: {amount}").format(
            plan=change.from_plan_name, amount=format_money(change.credit_back, language)
        )
        credit_note = _(
            "Added to your credit balance when the plan changed; the amount above is the new"
            " plan's full price."
        )

    return _Labels(
        title=_("Invoice"),
        facts=facts,
        status=_("Status"),
        status_value=status_value,
        billed_to=_("Billed to"),
        phone=_("Phone"),
        tax_id=_("Tax ID"),
        description=_("Description"),
        period=_("Period"),
        amount=_("Amount"),
        total=_("Total"),
        amount_paid=_("Amount paid"),
        paid_value=format_money(paid, language),
        due=_("Amount due"),
        due_value=format_money(invoice.amount - paid if owed else ZERO, language),
        plan_line=_("Plan: {plan}").format(plan=invoice.plan_name),
        subscription_line=_("Subscription #{id}").format(id=invoice.subscription_id),
        period_value=f"{date(invoice.period_start)} \N{EN DASH} {date(invoice.period_end)}",
        amount_value=format_money(invoice.amount, language),
        credit_line=credit_line,
        credit_note=credit_note,
        settlement=settlement,
    )


class _Document(FPDF):
    MARGIN = 18.0

    def __init__(self, *, footer: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer_text = footer
        self.set_margins(self.MARGIN, self.MARGIN, self.MARGIN)
        self.set_auto_page_break(auto=True, margin=self.MARGIN + 8)
        _add_fonts(self)
        self.set_text_shaping(True)
        self.set_text_color(*INK)

    def set_font(self, family: str | None = None, style: str = "", size: float = 0) -> None:
        super().set_font(family, style, size)
        # fpdf2 2.8.9 sets the page's font for a line that starts in the fallback font inside
        # that line's q…Q, then takes it as set: the next line would show text in no font.
        # Setting it on the page first (an empty text does) leaves only local changes to lines.
        self.text(self.x, self.y, "")

    def footer(self) -> None:
        self.set_y(-self.MARGIN - 2)
        self.set_draw_color(*RULE)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)
        self.type(self._footer_text, size=8, colour=MUTED, align=Align.C)

    def type(
        self,
        text: str,
        *,
        size: float = 10,
        style: str = "",
        colour: tuple[int, int, int] = INK,
        width: float = 0,
        align: Align = Align.L,
        line_height: float | None = None,
    ) -> None:
        """A paragraph at the cursor, wrapped to ``width`` (the rest of the line when 0)."""
        self.set_font(FONT_FAMILY, style, size)
        self.set_text_color(*colour)
        height = line_height or size * 0.55
        width = width or self.w - self.r_margin - self.x
        # multi_cell() shapes the text again at every character while it looks for line
        # breaks; a line that fits goes out in one piece.
        if "\n" not in text and self.get_string_width(text) + 2 * self.c_margin <= width:
            self.cell(width, height, text, align=align, new_x=XPos.LEFT, new_y=YPos.NEXT)
        else:
            self.multi_cell(
                width, height, text, align=align, new_x=XPos.LEFT, new_y=YPos.NEXT
            )  # fmt: skip
        self.set_text_color(*INK)

    def rule(self, gap: float = 4) -> None:
        self.ln(gap)
        self.set_draw_color(*RULE)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(gap)


def invoice_pdf_render(*, invoice: Invoice) -> bytes:
    """
    ``invoice`` as a one-page A4 PDF in its customer's language. Reads ``invoice.user`` and
    ``invoice.plan_change``: select them with the invoice.
    """
    language = language_supported(invoice.user.language)
    with language_override(language):
        labels = _labels(invoice, language)
        seller_name = settings.INVOICE_SELLER_NAME
        tax_id = settings.INVOICE_SELLER_TAX_ID
        tax_line = f"{labels.tax_id}: {tax_id}" if tax_id else ""
        pdf = _Document(footer=" · ".join(part for part in (seller_name, tax_line) if part))
        pdf.set_title(f"{labels.title} {invoice.number}")
        pdf.set_author(seller_name)
        pdf.set_creation_date(invoice.issued_at)
        pdf.set_lang(language)
        pdf.add_page()
        _write(pdf, invoice, labels, seller_name, settings.INVOICE_SELLER_ADDRESS, tax_line)
        return bytes(pdf.output())


def _write(
    pdf: _Document,
    invoice: Invoice,
    labels: _Labels,
    seller_name: str,
    seller_address: str,
    tax_line: str,
) -> None:
    full = pdf.epw
    half = full / 2
    top = pdf.get_y()

    # The seller, left; the title and number, right.
    pdf.type(seller_name, size=15, style="B", width=half + 10)
    pdf.ln(1)
    pdf.type(seller_address, size=9, colour=MUTED, width=half + 10, line_height=4.6)
    if tax_line:
        pdf.type(tax_line, size=9, colour=MUTED, width=half + 10, line_height=4.6)
    left_bottom = pdf.get_y()

    pdf.set_xy(pdf.l_margin + half, top)
    pdf.type(labels.title, size=22, style="B", width=half, align=Align.R, line_height=10)
    pdf.set_x(pdf.l_margin + half)
    pdf.type(invoice.number, size=11, style="B", width=half, align=Align.R, colour=MUTED)
    pdf.set_y(max(left_bottom, pdf.get_y()))
    pdf.rule(5)

    # The customer, left; the invoice's facts, right.
    facts_top = pdf.get_y()
    pdf.type(labels.billed_to, size=8.5, style="B", colour=MUTED, width=half - 6)
    pdf.ln(1)
    customer = invoice.user
    if customer.name:
        pdf.type(customer.name, size=11, style="B", width=half - 6)
    pdf.type(f"{labels.phone}: {customer.phone}", size=10, width=half - 6)
    left_bottom = pdf.get_y()

    pdf.set_y(facts_top)
    label_width, value_width = half * 0.52, half * 0.48
    for label, value in labels.facts:
        pdf.set_x(pdf.l_margin + half)
        pdf.set_font(FONT_FAMILY, "", 9.5)
        pdf.set_text_color(*MUTED)
        pdf.cell(label_width, 6, label)
        pdf.set_text_color(*INK)
        pdf.set_font(FONT_FAMILY, "B", 9.5)
        pdf.cell(value_width, 6, value, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_x(pdf.l_margin + half)
    pdf.set_font(FONT_FAMILY, "", 9.5)
    pdf.set_text_color(*MUTED)
    pdf.cell(label_width, 6, labels.status)
    pdf.set_text_color(*STATUS_COLOURS[invoice.status])
    pdf.set_font(FONT_FAMILY, "B", 9.5)
    pdf.cell(
        value_width, 6, labels.status_value, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.set_text_color(*INK)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 8)

    # The line: what was billed, for which period, how much.
    widths = (full * 0.46, full * 0.32, full * 0.22)
    pdf.set_fill_color(*SHADE)
    pdf.set_draw_color(*RULE)
    pdf.set_font(FONT_FAMILY, "B", 9)
    pdf.set_text_color(*MUTED)
    for heading, width, align in zip(
        (labels.description, labels.period, labels.amount),
        widths,
        (Align.L, Align.L, Align.R),
        strict=True,
    ):
        pdf.cell(width, 8, heading, align=align, fill=True)
    pdf.ln(8)
    pdf.set_text_color(*INK)

    row_top = pdf.get_y() + 2
    pdf.set_xy(pdf.l_margin, row_top)
    pdf.type(labels.plan_line, size=10.5, style="B", width=widths[0], line_height=5.6)
    pdf.type(labels.subscription_line, size=9, colour=MUTED, width=widths[0], line_height=5)
    row_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + widths[0], row_top)
    pdf.type(labels.period_value, size=10, width=widths[1], line_height=5.6)
    row_bottom = max(row_bottom, pdf.get_y())
    pdf.set_xy(pdf.l_margin + widths[0] + widths[1], row_top)
    pdf.type(labels.amount_value, size=10.5, width=widths[2], align=Align.R, line_height=5.6)
    pdf.set_y(max(row_bottom, pdf.get_y()) + 2)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + full, pdf.get_y())

    # The total, then what was paid and what is still due, under the amount column.
    pdf.ln(2)
    pdf.set_x(pdf.l_margin + widths[0])
    pdf.set_font(FONT_FAMILY, "B", 11)
    pdf.cell(widths[1], 8, labels.total)
    pdf.cell(widths[2], 8, labels.amount_value, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for label, value in ((labels.amount_paid, labels.paid_value), (labels.due, labels.due_value)):
        pdf.set_x(pdf.l_margin + widths[0])
        pdf.set_font(FONT_FAMILY, "", 9.5)
        pdf.set_text_color(*MUTED)
        pdf.cell(widths[1], 6, label)
        pdf.set_text_color(*INK)
        pdf.cell(widths[2], 6, value, align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    pdf.set_draw_color(*INK)
    pdf.line(pdf.l_margin + widths[0], pdf.get_y(), pdf.l_margin + full, pdf.get_y())
    pdf.ln(8)

    if labels.credit_line:
        pdf.set_fill_color(*SHADE)
        pdf.set_font(FONT_FAMILY, "B", 10)
        pdf.multi_cell(
            full, 6.5, labels.credit_line, fill=True, padding=(2, 3, 0, 3), align=Align.L,
            new_x=XPos.LMARGIN, new_y=YPos.NEXT,
        )  # fmt: skip
        pdf.set_font(FONT_FAMILY, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(
            full, 5, labels.credit_note, fill=True, padding=(0, 3, 2, 3), align=Align.L,
            new_x=XPos.LMARGIN, new_y=YPos.NEXT,
        )  # fmt: skip
        pdf.set_text_color(*INK)
        pdf.ln(6)

    pdf.type(labels.settlement, size=10, colour=STATUS_COLOURS[invoice.status], style="B")
