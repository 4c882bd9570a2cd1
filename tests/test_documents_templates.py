"""Document templates: checked at publish time with file and line, rendered in the sandbox,
made into A4 PDFs with Chinese text a reader can extract."""

from __future__ import annotations

import copy
import datetime as dt
import io
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pypdf
import pytest
from jinja2.exceptions import SecurityError

from danbao.config import REPO_ROOT
from danbao.definitions import Bundle, BundleInvalid, DefinitionError, load_bundle
from danbao.definitions.editing import check_file_text
from danbao.definitions.templates import FILTERS
from danbao.documents import filters
from danbao.documents.compose import Facts, RenderFailed, compose_html
from danbao.documents.pdf import html_to_pdf
from danbao.documents.render import Context, environment, render_html

from .documents_helpers import starter_with_documents

GXDB = REPO_ROOT / "tenants" / "gxdb"
GX_DATA: dict[str, Any] = {
    "applicant_name": "成都蜀锦科技有限公司",
    "uscc": "91510100MA6CGUGA1W",
    "business_type": "working_capital",
    "amount": 3000000,
    "term_months": 12,
    "lending_bank": "icbc",
    "purpose": "采购原材料",
    "bank_risk_share_pct": 20,
    "fee_rate_pct": 1.5,
    "legal_rep_name": "王五",
    "counter_guarantees": [
        {
            "kind": "mortgage",
            "description": "成都市高新区厂房",
            "owner": "王五",
            "certificate_no": "川(2024)成都市不动产权第0000001号",
            "appraised_value_yuan": 5000000,
        }
    ],
}
FACTS = Facts(
    number="GXBH-2026-00001",
    issued_on=dt.date(2026, 11, 28),
    verify_url="https://gxdb.danbao.example/t/gxdb/verify/abc",
    project={"number": "GX-2026-00042", "state": "APPROVED", "state_name": "已批准"},
)


def gx_files() -> dict[str, Any]:
    return load_bundle(GXDB).to_dict()


def errors_with(files: dict[str, Any]) -> list[DefinitionError]:
    with pytest.raises(BundleInvalid) as caught:
        Bundle.from_dict(files)
    return caught.value.errors


def one(errors: list[DefinitionError], file: str, fragment: str) -> DefinitionError:
    found = [e for e in errors if e.file == file and fragment in e.message]
    assert found, f"no error in {file} containing {fragment!r}; got {errors}"
    return found[0]


# --- publish-time checks ---------------------------------------------------------------


@pytest.mark.parametrize("slug", ["gxdb", "qsnd", "starter"])
def test_shipped_bundles_declare_contract_and_letter(slug: str, tmp_path: Path) -> None:
    if slug == "starter":
        bundle = load_bundle(starter_with_documents(tmp_path / "b"))
    else:
        bundle = load_bundle(REPO_ROOT / "tenants" / slug)
    assert {d["kind"] for d in bundle.documents.values()} == {"contract", "letter"}
    for doc in bundle.documents.values():
        assert doc["template"] in bundle.templates


def test_demo_guarantors_word_their_documents_differently() -> None:
    gx = load_bundle(GXDB).templates
    qs = load_bundle(REPO_ROOT / "tenants" / "qsnd").templates
    assert gx["letter.html"] != qs["letter.html"]
    assert gx["contract.html"] != qs["contract.html"]


def test_missing_field_filter_and_name_are_errors_with_their_line() -> None:
    files = gx_files()
    text = files["templates/letter.html"].split("\n")
    text[3] = "{{ data.amout | capitals }} {{ data.amount | roman }} {{ borrower }}"
    text[5] = "{% for s in data.shareholders %}{{ s.id_no }}{{ s.name }}{% endfor %}"
    files["templates/letter.html"] = "\n".join(text)
    errors = errors_with(files)
    field = one(errors, "templates/letter.html", "'amout' is not a field of form 'application'")
    assert field.message.startswith("line 4: ")
    assert one(errors, "templates/letter.html", "unknown filter 'roman'").message.startswith(
        "line 4: "
    )
    one(errors, "templates/letter.html", "unknown name 'borrower'")
    row = one(errors, "templates/letter.html", "'id_no' is not a field of the rows")
    assert row.message.startswith("line 6: ")
    assert not [e for e in errors if "'name'" in e.message]


def test_names_the_template_binds_itself() -> None:
    files = gx_files()
    files["templates/letter.html"] = (
        "{% set total = data.amount %}{% with bank = display.lending_bank %}{{ bank }}"
        "{% endwith %}{% macro row(k, v) %}{{ k }}{{ v }}{% endmacro %}{{ row('a', total) }}"
        "{% for k, v in [('a', 1)] %}{{ k }}{{ v }}{{ loop.index }}{% endfor %}"
    )
    Bundle.from_dict(files)
    files["templates/letter.html"] = "{% with bank = display.lending_bank %}{% endwith %}{{ bank }}"
    one(errors_with(files), "templates/letter.html", "unknown name 'bank'")


def test_attributes_includes_and_syntax() -> None:
    files = gx_files()
    files["templates/letter.html"] = "{{ project.owner_phone }}\n{% include 'x.html' %}"
    errors = errors_with(files)
    one(errors, "templates/letter.html", "project has no 'owner_phone'")
    assert one(errors, "templates/letter.html", "cannot extend, include").message.startswith(
        "line 2: "
    )
    files["templates/letter.html"] = "<p>\n{% if data.amount %}\n{{ data.amount }"
    one(errors_with(files), "templates/letter.html", "template syntax")


def test_declaration_must_name_a_template_form_and_numbering_that_exist() -> None:
    files = gx_files()
    files["documents/letter.json"] = {
        **files["documents/letter.json"],
        "template": "gone.html",
        "form": "nope",
        "numbering": "receipt",
    }
    errors = errors_with(files)
    one(errors, "documents/letter.json", "no template 'templates/gone.html'")
    one(errors, "documents/letter.json", "no form 'nope'")
    one(errors, "documents/letter.json", "no numbering 'receipt'")
    files = gx_files()
    files["documents/letter.json"] = {**files["documents/letter.json"], "kind": "receipt"}
    one(errors_with(files), "documents/letter.json", "expected one of")


def test_a_removed_form_field_breaks_the_template_using_it() -> None:
    files = gx_files()
    form = files["forms/application.json"]
    del form["schema"]["properties"]["purpose"]
    form["schema"]["required"].remove("purpose")
    form["ui"]["layout"][0]["fields"].remove("purpose")
    form["ui"].get("fields", {}).pop("purpose", None)
    one(errors_with(files), "templates/letter.html", "'purpose' is not a field")


def test_template_files_in_a_folder(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(GXDB, bundle)
    (bundle / "templates" / "Letter.HTML").write_text("x", encoding="utf-8")
    (bundle / "templates" / "bad.html").write_bytes(b"\xff\xfe")
    with pytest.raises(BundleInvalid) as caught:
        load_bundle(bundle)
    one(caught.value.errors, "templates/Letter.HTML", "lowercase-named *.html")
    one(caught.value.errors, "templates/bad.html", "not UTF-8")


def test_editor_check_gives_the_line_of_a_template_error() -> None:
    files = gx_files()
    text = files["templates/contract.html"] + "\n{{ data.nothing }}\n"
    bundle, errors = check_file_text(files, "templates/contract.html", text)
    assert bundle is None
    assert [(e.file, e.line) for e in errors] == [("templates/contract.html", text.count("\n"))]
    bundle, errors = check_file_text(
        files, "templates/contract.html", files["templates/contract.html"]
    )
    assert errors == [] and bundle is not None


def test_bundle_round_trip_keeps_templates() -> None:
    bundle = load_bundle(GXDB)
    again = Bundle.from_published(copy.deepcopy(bundle.to_dict()))
    assert again.templates == bundle.templates and again.documents == bundle.documents
    assert again.content_hash == bundle.content_hash


# --- rendering ---------------------------------------------------------------------------


def test_renderer_provides_exactly_the_declared_filters() -> None:
    env = environment()
    assert set(filters.FILTERS) == FILTERS
    assert set(env.filters) >= FILTERS


def test_filters() -> None:
    assert filters.capitals(1010000) == "人民币壹佰零壹万元整"
    assert filters.capitals("16409.02") == "人民币壹万陆仟肆佰零玖元零贰分"
    assert filters.yuan(3000000) == "3,000,000.00"
    assert filters.wan(1234567.5) == "123.46万元"
    assert filters.cn_date("2026-01-05") == "2026年1月5日"
    assert filters.cn_date_upper(dt.date(2026, 11, 28)) == "二〇二六年十一月二十八日"
    assert filters.cn_date_upper("2030-10-20") == "二〇三〇年十月二十日"
    assert filters.mask("510101199001011234", 4, 4) == "5101**********1234"
    assert filters.mask("张三") == "张*"
    assert filters.capitals(None) == filters.EMPTY


def context(data: dict[str, Any]) -> Context:
    return Context(data, data, {}, {}, {})


def test_sandbox_refuses_internals_and_escapes_values() -> None:
    assert render_html("{{ data.items.__globals__ }}", context({})) == ""
    with pytest.raises(SecurityError):
        render_html("{{ data.__class__.__mro__ }}", context({}))
    with pytest.raises(SecurityError):
        render_html("{{ data.update({'a': 1}) }}", context({}))
    html = render_html("<p>{{ data.name }}</p>", context({"name": "<script>x</script>"}))
    assert html == "<p>&lt;script&gt;x&lt;/script&gt;</p>"


def text_of(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_letter_pdf_carries_chinese_capitals_and_page_numbers() -> None:
    html = compose_html(load_bundle(GXDB), "letter", GX_DATA, FACTS)
    assert '<img class="qr" src="data:image/svg+xml' in html
    pdf = html_to_pdf(html)
    assert pdf.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    box = reader.pages[0].mediabox
    assert (round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72)) == (
        210,
        297,
    )
    text = text_of(pdf).replace(" ", "").replace("\n", "")
    assert "人民币叁佰万元整（¥3,000,000.00）" in text
    assert "中国工商银行四川省分行" in text  # the bank's title, not its code
    assert "四川广信融资担保集团有限公司" in text
    assert "二〇二六年十一月二十八日" in text
    assert "第1页/共1页" in text


def test_contract_pdf_lists_the_counter_guarantees() -> None:
    text = text_of(html_to_pdf(compose_html(load_bundle(GXDB), "contract", GX_DATA, FACTS)))
    flat = text.replace(" ", "").replace("\n", "")
    assert "合同编号：GXBH-2026-00001" in flat
    assert "川(2024)成都市不动产权第0000001号" in flat and "5,000,000.00" in flat
    assert "共2页" in flat


def test_pdf_fetches_nothing_from_the_network() -> None:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        html = (
            f'<link rel="stylesheet" href="{base}/a.css"><img src="{base}/b.png">'
            f'<img src="file:///etc/hostname"><p>正文</p>'
        )
        assert "正文" in text_of(html_to_pdf(html))
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []


def test_a_value_the_template_cannot_print_is_a_clear_refusal() -> None:
    with pytest.raises(RenderFailed) as caught:
        compose_html(load_bundle(GXDB), "letter", {**GX_DATA, "amount": "三百万"}, FACTS)
    assert str(caught.value).startswith("templates/letter.html: ")
