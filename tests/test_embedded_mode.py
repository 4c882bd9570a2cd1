"""The embedded default end to end: a fresh ``var/``, ``danbao demo``, both demo guarantors."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from danbao.config import REPO_ROOT

pytestmark = pytest.mark.embedded
DANBAO = str(Path(sys.executable).with_name("danbao"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("embedded-var")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANBAO_")}
    env |= {"DANBAO_VAR_DIR": str(var), "DANBAO_PORT": str(port)}
    log = (var / "server.log").open("w")
    proc = subprocess.Popen(
        [DANBAO, "demo"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path_factory.mktemp("cwd"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail("demo exited:\n" + (var / "server.log").read_text())
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("demo did not come up:\n" + (var / "server.log").read_text())
        assert (var / "danbao.sqlite3").exists()
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _demo_users() -> dict[str, list[dict[str, str]]]:
    data = json.loads((REPO_ROOT / "tenants" / "demo.json").read_text(encoding="utf-8"))
    return {t["slug"]: t["users"] for t in data["tenants"]}


def test_health_in_embedded_mode(demo_server: str) -> None:
    body = httpx.get(f"{demo_server}/healthz").json()
    assert body["mode"] == "embedded" and body["checks"]["database"]["ok"]
    assert "redis" not in body["checks"]


def test_front_page_lists_the_demo_guarantors(demo_server: str) -> None:
    page = httpx.get(demo_server).text
    for slug in _demo_users():
        assert f"/t/{slug}/login" in page


def test_every_demo_user_signs_in_on_their_own_tenant_only(demo_server: str) -> None:
    users = _demo_users()
    assert len(users) >= 2
    for slug, people in users.items():
        other = next(s for s in users if s != slug)
        for person in people:
            with httpx.Client(base_url=demo_server) as client:
                response = client.post(
                    f"/t/{slug}/api/session",
                    json={"email": person["email"], "password": person["password"]},
                )
                assert response.status_code == 200, (slug, person["email"], response.text)
                me = client.get(f"/t/{slug}/api/me").json()
                assert me["email"] == person["email"]
                assert sorted(r["id"] for r in me["roles"]) == sorted(person["roles"])
                token = client.cookies.get("danbao_session")
            with httpx.Client(base_url=demo_server) as stranger:
                stranger.cookies.set("danbao_session", token)
                refused = stranger.get(f"/t/{other}/api/me")
            assert refused.status_code == 401


def test_demo_users_have_their_wecom_ids(demo_server: str) -> None:
    for slug, people in _demo_users().items():
        admin = next(p for p in people if "admin" in p["roles"])
        with httpx.Client(base_url=demo_server) as client:
            client.post(
                f"/t/{slug}/api/session",
                json={"email": admin["email"], "password": admin["password"]},
            )
            listed = client.get(f"/t/{slug}/api/users", params={"per_page": 200}).json()
        ids = {u["email"]: u["wecom_userid"] for u in listed["items"]}
        assert ids == {p["email"]: p["wecom_userid"] for p in people}


def test_browser_style_sign_in_with_csrf(demo_server: str) -> None:
    slug, people = next(iter(_demo_users().items()))
    with httpx.Client(base_url=demo_server, follow_redirects=False) as client:
        page = client.get(f"/t/{slug}/login")
        assert page.status_code == 200 and "登录" in page.text
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        forged = client.post(
            f"/t/{slug}/login",
            data={
                "email": people[0]["email"],
                "password": people[0]["password"],
                "csrf_token": "x",
            },
        )
        assert forged.status_code == 403
        done = client.post(
            f"/t/{slug}/login",
            data={
                "email": people[0]["email"],
                "password": people[0]["password"],
                "csrf_token": csrf,
            },
        )
        assert done.status_code == 303
        home = client.get(f"/t/{slug}/")
        assert home.status_code == 200 and people[0]["name"] in home.text


def test_operator_console_shows_both_guarantors(demo_server: str) -> None:
    data = json.loads((REPO_ROOT / "tenants" / "demo.json").read_text(encoding="utf-8"))
    operator = data["operators"][0]
    with httpx.Client(base_url=demo_server, follow_redirects=False) as client:
        page = client.get("/ops/login")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        done = client.post(
            "/ops/login",
            data={"email": operator["email"], "password": operator["password"], "csrf_token": csrf},
        )
        assert done.status_code == 303
        dashboard = client.get("/ops/")
    assert dashboard.status_code == 200
    for slug in _demo_users():
        assert slug in dashboard.text


def _resident_id() -> str:
    from stdnum.cn import ric

    body = "51010219850612301"  # 成都 address code, born 1985-06-12, odd sequence: male
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder digit


def test_a_record_is_validated_and_numbered_on_sqlite(demo_server: str) -> None:
    """The embedded mode runs the same records code: validation, scope, numbering."""
    officer = next(u for u in _demo_users()["qsnd"] if "loan_officer" in u["roles"])
    data = {
        "subject_type": "farmer",
        "applicant_name": "王大山",
        "id_number": _resident_id(),
        "mobile": "13912345678",
        "township": "qingshan",
        "village": "红星村",
        "category": "crop",
        "main_product": "柑橘",
        "land_area_mu": 30,  # required_when the category is crop (form logic, on SQLite too)
        "amount": 200000,
        "term_months": 12,
        "lending_bank": "qs_rcb",
        "purpose": "购买种苗和肥料",
    }
    with httpx.Client(base_url=demo_server) as client:
        csrf = client.post(
            "/t/qsnd/api/session",
            json={"email": officer["email"], "password": officer["password"]},
        ).json()["csrf_token"]
        headers = {"X-CSRF-Token": csrf}
        bad = client.post(
            "/t/qsnd/api/forms/agri_loan/records",
            json={"data": {**data, "id_number": data["id_number"][:-1] + "0"}},
            headers=headers,
        )
        assert bad.status_code == 422
        assert data["id_number"][:-1] not in bad.text  # the ID is never echoed back
        created = client.post(
            "/t/qsnd/api/forms/agri_loan/records", json={"data": data}, headers=headers
        )
        assert created.status_code == 201, created.text
        record_id = created.json()["id"]
        submitted = client.post(
            f"/t/qsnd/api/forms/agri_loan/records/{record_id}/submit", headers=headers
        )
        assert submitted.status_code == 200, submitted.text
        assert submitted.json()["number"].startswith("QSND-")
        listed = client.get("/t/qsnd/api/forms/agri_loan/records").json()
        assert listed["total"] >= 1


def _signed_in(client: httpx.Client, slug: str, email: str) -> dict[str, str]:
    response = client.post(
        f"/t/{slug}/api/session", json={"email": email, "password": "Danbao-demo-2026"}
    )
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def test_scope_conditions_filter_in_sqlite(demo_server: str) -> None:
    """gxdb's committee members see applications over ¥5,000,000 and its branch managers
    those of their branch: conditions compiled to json1 SQL, list, get and explainer alike."""
    url = "/t/gxdb/api/forms/application/records"
    tag = f"条件{time.monotonic_ns() % 10**8}"
    made = {}
    with httpx.Client(base_url=demo_server) as client:
        headers = _signed_in(client, "gxdb", "account_manager@gxdb.demo")
        for label, amount, branch in (("small", 3e6, "chengdu"), ("big", 8e6, "mianyang")):
            data = {"applicant_name": f"{tag}-{label}", "amount": amount, "branch": branch}
            created = client.post(url, json={"data": data}, headers=headers)
            assert created.status_code == 201, created.text
            made[label] = created.json()["id"]

    def seen_by(email: str) -> tuple[set[str], dict[str, int]]:
        with httpx.Client(base_url=demo_server) as client:
            _signed_in(client, "gxdb", email)
            items = client.get(url, params={"per_page": 100}).json()["items"]
            shown = {label: client.get(f"{url}/{rid}").status_code for label, rid in made.items()}
        names = [i["data"].get("applicant_name", "") for i in items]
        return {n.removeprefix(f"{tag}-") for n in names if n.startswith(tag)}, shown

    assert seen_by("committee_member@gxdb.demo") == ({"big"}, {"small": 404, "big": 200})
    assert seen_by("branch_manager@gxdb.demo") == ({"small"}, {"small": 200, "big": 404})
    assert seen_by("risk_officer@gxdb.demo")[0] == {"small", "big"}
    with httpx.Client(base_url=demo_server) as client:
        _signed_in(client, "gxdb", "admin@gxdb.demo")
        explained = client.get(
            "/t/gxdb/api/authz/explain",
            params={
                "user": "committee_member@gxdb.demo",
                "resource": "form:application",
                "action": "read",
                "record": made["small"],
            },
        ).json()["record"]
    assert explained["in_scope"] is False and explained["condition"] == "amount > 5000000"
    assert explained["condition_pointer"] == (
        "permissions.json#/data_scopes/committee_member/form:application/condition"
    )


def test_an_attachment_round_trip_on_sqlite_and_local_files(demo_server: str) -> None:
    """The demo's land documents: a photo uploaded, held by a record, downloaded back."""
    officer = next(u for u in _demo_users()["qsnd"] if "loan_officer" in u["roles"])
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(200)
    with httpx.Client(base_url=demo_server) as client:
        csrf = client.post(
            "/t/qsnd/api/session",
            json={"email": officer["email"], "password": officer["password"]},
        ).json()["csrf_token"]
        headers = {"X-CSRF-Token": csrf}
        uploaded = client.post(
            "/t/qsnd/api/forms/agri_loan/attachments/land_documents",
            files={"file": ("流转合同.jpg", photo, "image/jpeg")},
            headers=headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        refs = uploaded.json()["items"]
        created = client.post(
            "/t/qsnd/api/forms/agri_loan/records",
            json={"data": {"applicant_name": "李四", "land_documents": refs}},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        assert created.json()["data"]["land_documents"] == refs
        got = client.get(f"/t/qsnd/api/attachments/{refs[0]['id']}")
        assert got.status_code == 200 and got.content == photo
        assert got.headers["content-type"] == "image/jpeg"


def test_a_letter_is_issued_and_verified_on_sqlite(demo_server: str) -> None:
    """The demo's step 6 in embedded mode: qsnd's own letter, sealed, and its public page."""
    data = {
        "subject_type": "farmer",
        "applicant_name": "李青山",
        "id_number": _resident_id(),
        "township": "qingshan",
        "village": "红星村",
        "category": "crop",
        "main_product": "茶叶",
        "land_area_mu": 20,
        "amount": 300000,
        "term_months": 12,
        "lending_bank": "qs_rcb",
        "purpose": "购买茶苗和肥料",
    }
    # Making and sealing a PDF takes a second or more: more than httpx's default timeout.
    with httpx.Client(base_url=demo_server, timeout=120) as client:
        headers = _signed_in(client, "qsnd", "loan_officer@qsnd.demo")
        created = client.post(
            "/t/qsnd/api/forms/agri_loan/records", json={"data": data}, headers=headers
        )
        assert created.status_code == 201, created.text
        base = f"/t/qsnd/api/forms/agri_loan/records/{created.json()['id']}/documents"
        issued = client.post(base, json={"document": "letter"}, headers=headers)
        assert issued.status_code == 201, issued.text
        letter = issued.json()
        pdf = client.get(f"{base}/{letter['id']}/pdf")
    assert letter["number"].startswith("QSBH-")
    assert hashlib.sha256(pdf.content).hexdigest() == letter["signed_sha256"]
    page = httpx.get(f"{demo_server}/t/qsnd/verify/{letter['verify_token']}")
    assert page.status_code == 200 and "人民币叁拾万元整" in page.text
    assert "李青山" not in page.text and data["id_number"] not in page.text


def test_the_portal_shows_the_sandbox_code_and_takes_an_application_on_sqlite(
    demo_server: str,
) -> None:
    """The demo's step 15 in embedded mode: the sandbox channel's code is printed on the page
    (embedded only), an applicant signs in, applies to 青山农担 and sees the project."""
    form = {
        "subject_type": "farmer",
        "applicant_name": "王家坪",
        "id_number": _resident_id(),
        "mobile": "13912345678",
        "township": "qingshan",
        "village": "红星村",
        "category": "crop",
        "main_product": "茶叶",
        "land_area_mu": "20",
        "amount": "300000",
        "term_months": "12",
        "lending_bank": "qs_rcb",
        "purpose": "购买茶苗和肥料",
    }
    assert 'href="/t/qsnd/portal/"' in httpx.get(f"{demo_server}/").text  # the front page
    with httpx.Client(base_url=demo_server, follow_redirects=False, timeout=60) as client:
        page = client.get("/t/qsnd/portal/login")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        sent = client.post(
            "/t/qsnd/portal/login", data={"csrf_token": csrf, "destination": "13912345678"}
        )
        assert sent.status_code == 200, sent.text
        code = sent.text.split('data-demo-code="')[1].split('"')[0]
        challenge = sent.text.split('name="challenge" value="')[1].split('"')[0]
        done = client.post(
            "/t/qsnd/portal/login/verify",
            data={"csrf_token": csrf, "challenge": challenge, "code": code},
        )
        assert done.status_code == 303, done.text
        home = client.get("/t/qsnd/portal/")
        session_csrf = home.text.split('name="csrf_token" value="')[1].split('"')[0]
        applied = client.post(
            "/t/qsnd/portal/apply", data={"csrf_token": session_csrf, "action": "submit", **form}
        )
        assert applied.status_code == 303, applied.text
        project = client.get(applied.headers["location"])
        blank = client.get("/t/qsnd/portal/apply")
    assert project.status_code == 200 and "已提交，等待受理" in project.text
    assert blank.status_code == 200 and 'name="loan_officer"' not in blank.text
    with httpx.Client(base_url=demo_server, follow_redirects=False, timeout=60) as client:
        page = client.get("/t/gxdb/portal/login")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        sent = client.post(
            "/t/gxdb/portal/login", data={"csrf_token": csrf, "destination": "a@b.cn"}
        )
        code = sent.text.split('data-demo-code="')[1].split('"')[0]
        challenge = sent.text.split('name="challenge" value="')[1].split('"')[0]
        client.post(
            "/t/gxdb/portal/login/verify",
            data={"csrf_token": csrf, "challenge": challenge, "code": code},
        )
        gx_form = client.get("/t/gxdb/portal/apply")
    # 广信's form, without its internal fields; the demo project played at load is not theirs.
    assert gx_form.status_code == 200 and 'name="applicant_name"' in gx_form.text
    assert 'name="account_manager"' not in gx_form.text


def test_the_demo_opens_on_a_guarantee_in_force(demo_server: str) -> None:
    """demo.json's gxdb project, played at load: 在保 with its schedule, the instalments
    already due repaid, counter-guarantees covering it, tasks, and a letter that verifies."""
    with httpx.Client(base_url=demo_server) as client:
        signed_in = client.post(
            "/t/gxdb/api/session",
            json={"email": "account_manager@gxdb.demo", "password": "Danbao-demo-2026"},
        )
        assert signed_in.status_code == 200
        listed = client.get("/t/gxdb/api/projects", params={"state": "ACTIVE"}).json()
        assert listed["total"] == 1
        pid = listed["items"][0]["id"]
        loan = client.get(f"/t/gxdb/api/projects/{pid}/loan").json()["loan"]
        cover = client.get(f"/t/gxdb/api/projects/{pid}/counter-guarantees").json()
        tasks = client.get(f"/t/gxdb/api/projects/{pid}/tasks").json()["items"]
        record = listed["items"][0]["record_id"]
        documents = client.get(f"/t/gxdb/api/forms/application/records/{record}/documents")
    assert loan["method"] == "equal_principal" and len(loan["schedule"]) == 12
    paid = [line for line in loan["schedule"] if line["settled_on"]]
    assert len(paid) == 4 and loan["outstanding"] == "1600000.00"
    assert loan["overdue_days"] == 0 and loan["guarantor_liability"] == "1280000.00"
    assert cover["coverage"]["effective_value"] == "1800000.00"  # 2,000,000×0.7 + 800,000×0.5
    assert any(t["status"] == "done" for t in tasks)
    letter = next(d for d in documents.json()["items"] if d["kind"] == "letter")
    page = httpx.get(f"{demo_server}/t/gxdb/verify/{letter['verify_token']}")
    assert 'data-status="valid"' in page.text


def test_the_demo_has_a_default_in_recovery(demo_server: str) -> None:
    """demo.json's second gxdb project, played at load past its default: compensated on
    the chain's approval, partly recovered, the totals reconciled."""
    with httpx.Client(base_url=demo_server) as client:
        signed_in = client.post(
            "/t/gxdb/api/session",
            json={"email": "legal@gxdb.demo", "password": "Danbao-demo-2026"},
        )
        assert signed_in.status_code == 200
        listed = client.get("/t/gxdb/api/projects", params={"state": "RECOVERING"}).json()
        assert listed["total"] == 1
        pid = listed["items"][0]["id"]
        totals = client.get(f"/t/gxdb/api/projects/{pid}/default").json()["totals"]
    assert (totals["compensated"], totals["recovered"], totals["outstanding"]) == (
        "918250.00",
        "350000.00",
        "568250.00",
    )
    assert totals["reconciled"]
