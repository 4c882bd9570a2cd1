"""Definition bundles: the shipped bundles load, and every kind of fault is reported precisely."""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from danbao.definitions import (
    Bundle,
    BundleInvalid,
    DefinitionError,
    NumberingPattern,
    diff_bundles,
    load_bundle,
    validate_bundle_dict,
)

TENANTS = Path(__file__).resolve().parents[1] / "tenants"
MiB = 1024 * 1024

# --- a small valid bundle, built fresh for each test ------------------------------------


def tenant() -> dict[str, Any]:
    return {
        "name": {"zh-CN": "测试融资担保有限公司", "en": "Test Guarantee Co."},
        "short_name": "测试担保",
        "locale": "zh-CN",
        "branding": {"primary_color": "#123456"},
        "numbering": {"project": "T-{yyyy}-{seq:04}"},
        "regulatory": {"net_assets_yuan": "100000000.00"},
    }


def permissions() -> dict[str, Any]:
    return {
        "roles": [
            {"id": "admin", "name": {"zh-CN": "管理员"}},
            {"id": "clerk", "name": {"zh-CN": "客户经理"}},
            {"id": "approver", "name": {"zh-CN": "审批人"}, "inherits": ["clerk"]},
        ],
        "departments": [
            {"id": "hq", "name": {"zh-CN": "本部"}},
            {"id": "branch", "name": {"zh-CN": "分公司"}, "parent": "hq"},
        ],
        "grants": {
            "clerk": {"form:loan": ["read", "create", "submit"]},
            "approver": {"workflow:review": ["read", "approve"], "report:summary": ["read"]},
        },
    }


def form() -> dict[str, Any]:
    return {
        "id": "loan",
        "title": {"zh-CN": "贷款担保申请"},
        "schema": {
            "type": "object",
            "required": ["name", "amount"],
            "properties": {
                "name": {"type": "string", "title": "申请人"},
                "id_number": {"type": "string", "title": "身份证号", "x-sensitive": True},
                "amount": {"type": "number", "title": "金额（元）"},
                "industry": {"type": "string", "enum": ["agri", "trade"]},
            },
        },
        "ui": {
            "layout": [
                {
                    "id": "main",
                    "title": {"zh-CN": "基本信息"},
                    "fields": ["name", "id_number", "amount", "industry"],
                }
            ]
        },
    }


def node(node_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "name": {"zh-CN": node_id}, **extra}


def workflow() -> dict[str, Any]:
    # Indexes used by the tests: 0 start, 1 check, 2 route, 3 vote, 4 boss, 5 end.
    return {
        "id": "review",
        "name": {"zh-CN": "审批"},
        "form": "loan",
        "nodes": [
            node("start", "start", next="check"),
            node("check", "approve", assignee={"role": "clerk"}, next="route"),
            node(
                "route",
                "condition",
                default="boss",
                branches=[{"when": 'amount > 5000000 && industry == "agri"', "to": "vote"}],
            ),
            node(
                "vote",
                "countersign",
                assignee={"role": "approver"},
                mode="vote",
                pass_ratio=0.8,
                quorum=5,
                next="boss",
            ),
            node("boss", "approve", assignee={"role": "approver"}, next="end"),
            node("end", "end"),
        ],
    }


def report() -> dict[str, Any]:
    return {
        "id": "summary",
        "title": {"zh-CN": "汇总"},
        "dataset": {
            "form": "loan",
            "filters": ["amount > 0"],
            "group_by": ["industry"],
            "measures": [
                {"agg": "count", "label": {"zh-CN": "笔数"}},
                {"field": "amount", "agg": "sum", "label": {"zh-CN": "金额"}},
            ],
        },
    }


def files() -> dict[str, Any]:
    return {
        "tenant.json": tenant(),
        "permissions.json": permissions(),
        "forms/loan.json": form(),
        "workflows/review.json": workflow(),
        "reports/summary.json": report(),
    }


def write(root: Path, content: dict[str, Any]) -> Path:
    for path, value in content.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, bytes):
            target.write_bytes(value)
        else:
            target.write_text(json.dumps(value, ensure_ascii=False, indent=2), encoding="utf-8")
    return root


def errors_of(content: dict[str, Any]) -> list[DefinitionError]:
    with pytest.raises(BundleInvalid) as caught:
        validate_bundle_dict(content)
    return caught.value.errors


def load_errors(root: Path) -> list[DefinitionError]:
    with pytest.raises(BundleInvalid) as caught:
        load_bundle(root)
    return caught.value.errors


def find(errors: list[DefinitionError], file: str, pointer: str, fragment: str) -> DefinitionError:
    """The one error at file:pointer whose message mentions ``fragment``."""
    hits = [e for e in errors if e.file == file and e.pointer == pointer and fragment in e.message]
    assert hits, f"no {file}:{pointer} error mentioning {fragment!r} in:\n" + "\n".join(
        map(str, errors)
    )
    return hits[0]


# --- the shipped bundles ----------------------------------------------------------------


@pytest.mark.parametrize("slug", ["_template", "gxdb", "qsnd"])
def test_shipped_bundles_load(slug: str) -> None:
    bundle = load_bundle(TENANTS / slug)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", bundle.content_hash)
    assert "admin" in bundle.role_ids
    assert bundle.forms and bundle.workflows and bundle.reports
    NumberingPattern.parse(bundle.tenant["numbering"]["project"])


def test_demo_guarantors_differ() -> None:
    gxdb, qsnd = load_bundle(TENANTS / "gxdb"), load_bundle(TENANTS / "qsnd")
    assert "branch_manager" in gxdb.role_ids and "loan_officer" in qsnd.role_ids
    assert gxdb.forms.keys().isdisjoint(qsnd.forms.keys())
    gx_project = NumberingPattern.parse(gxdb.tenant["numbering"]["project"])
    assert gx_project.format(42, datetime.date(2026, 5, 1)) == "GX-2026-00042"
    qs_project = NumberingPattern.parse(qsnd.tenant["numbering"]["project"])
    assert qs_project.format(7, datetime.date(2026, 5, 1)) == "QSND-20260007"
    committee = next(n for n in gxdb.workflows["review"]["nodes"] if n["id"] == "committee")
    assert committee["mode"] == "vote" and committee["pass_ratio"] == 0.8


def test_demo_users_match_their_bundles() -> None:
    demo = json.loads((TENANTS / "demo.json").read_text(encoding="utf-8"))
    emails: set[str] = set()
    for entry in demo["tenants"]:
        bundle = load_bundle(TENANTS / entry["bundle"])
        departments = {d["id"] for d in bundle.permissions.get("departments", [])}
        covered: set[str] = set()
        for user in entry["users"]:
            assert set(user["roles"]) <= bundle.role_ids, user
            assert user["department"] in departments, user
            assert user["email"].endswith(f"@{entry['slug']}.demo")
            assert user["email"] not in emails
            assert user["password"] and user["name"]
            emails.add(user["email"])
            covered |= set(user["roles"])
        assert covered == bundle.role_ids, f"{entry['slug']}: a role has no demo user"
    gx_committee = [
        u
        for t in demo["tenants"]
        if t["slug"] == "gxdb"
        for u in t["users"]
        if "committee_member" in u["roles"]
    ]
    assert len(gx_committee) >= 5  # the demo's 4-of-5 vote needs five voters


# --- bundle value, hash, round trip ---------------------------------------------------------


def test_minimal_bundle_loads_from_folder_and_dict(tmp_path: Path) -> None:
    from_folder = load_bundle(write(tmp_path, files()))
    from_dict = validate_bundle_dict(files())
    assert from_folder == from_dict
    assert from_folder.content_hash == from_dict.content_hash
    assert from_folder.role_ids == frozenset({"admin", "clerk", "approver"})
    assert list(from_folder.forms) == ["loan"]
    assert set(from_folder.to_dict()) == set(files())


def test_content_hash_is_canonical_and_changes_with_content() -> None:
    bundle = validate_bundle_dict(files())
    canonical = json.dumps(
        bundle.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert bundle.content_hash == "sha256:" + hashlib.sha256(canonical).hexdigest()

    reordered = {path: dict(reversed(list(c.items()))) for path, c in reversed(files().items())}
    assert validate_bundle_dict(reordered).content_hash == bundle.content_hash

    changed = files()
    changed["forms/loan.json"]["title"]["zh-CN"] = "贷款担保申请（第二版）"
    assert validate_bundle_dict(changed).content_hash != bundle.content_hash


def test_round_trip_and_isolation() -> None:
    original = files()
    bundle = validate_bundle_dict(original)
    again = Bundle.from_dict(bundle.to_dict())
    assert again == bundle and hash(again) == hash(bundle)
    # Neither the caller's dicts nor to_dict() copies can change a validated bundle.
    before = bundle.content_hash
    original["tenant.json"]["short_name"] = "改"
    bundle.to_dict()["tenant.json"]["short_name"] = "改"
    assert bundle.tenant["short_name"] == "测试担保"
    assert Bundle.from_dict(bundle.to_dict()).content_hash == before


def test_from_dict_validates() -> None:
    content = files()
    content["tenant.json"]["locale"] = "fr"
    with pytest.raises(BundleInvalid) as caught:
        Bundle.from_dict(content)
    find(caught.value.errors, "tenant.json", "/locale", '"fr"')


def test_error_formatting() -> None:
    error = DefinitionError("forms/loan.json", "/schema/properties/amount", "boom")
    assert str(error) == "forms/loan.json:/schema/properties/amount: boom"
    raised = BundleInvalid([error, DefinitionError("tenant.json", "", "missing")])
    assert str(raised).splitlines() == [str(error), "tenant.json:: missing"]


# --- reading files ----------------------------------------------------------------------------


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    content: dict[str, Any] = files()
    content["forms/loan.json"] = b'{"id": "loan",\n  "title": }\n'
    error = find(load_errors(write(tmp_path, content)), "forms/loan.json", "", "not valid JSON")
    assert "line 2" in error.message and "column 12" in error.message


def test_non_utf8_bytes(tmp_path: Path) -> None:
    content: dict[str, Any] = files()
    content["tenant.json"] = '{"short_name": "测试"}'.encode("gbk")
    errors = load_errors(write(tmp_path, content))
    find(errors, "tenant.json", "", "not UTF-8")
    assert not any("missing" in e.message for e in errors)  # present, just unreadable


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    content: dict[str, Any] = files()
    content["tenant.json"] = b"\xef\xbb\xbf" + json.dumps(tenant()).encode()
    load_bundle(write(tmp_path, content))


def test_duplicate_keys_point_at_the_key(tmp_path: Path) -> None:
    content: dict[str, Any] = files()
    text = json.dumps(form(), ensure_ascii=False).replace(
        '"amount": {', '"amount": {"type": "string", ', 1
    )
    content["forms/loan.json"] = text.encode()
    content["tenant.json"] = b'{"short_name": "a", "short_name": "b"}'
    errors = load_errors(write(tmp_path, content))
    find(errors, "forms/loan.json", "/schema/properties/amount/type", "duplicate key 'type'")
    find(errors, "tenant.json", "/short_name", "duplicate key")


def test_non_finite_numbers_are_not_json(tmp_path: Path) -> None:
    content: dict[str, Any] = files()
    content["reports/summary.json"] = b'{"id": "summary", "x-weight": NaN}'
    content["reports/other.json"] = b'{"id": "other", "x-weight": 1e400}'
    errors = load_errors(write(tmp_path, content))
    find(errors, "reports/summary.json", "", "NaN")
    find(errors, "reports/other.json", "", "too large")
    uploaded = files()
    uploaded["tenant.json"]["x-weight"] = float("inf")
    find(errors_of(uploaded), "tenant.json", "", "not JSON content")


def test_nesting_depth_is_bounded(tmp_path: Path) -> None:
    deep: Any = "bottom"
    for _ in range(100):
        deep = {"x-a": deep}
    content = files()
    content["tenant.json"]["x-deep"] = deep
    find(errors_of(content), "tenant.json", "", "nested deeper")
    find(load_errors(write(tmp_path, content)), "tenant.json", "", "nested deeper")


# --- meta-schema faults -----------------------------------------------------------------


def test_unknown_keys_are_errors_but_extensions_are_not() -> None:
    content = files()
    content["tenant.json"]["colour"] = "red"
    content["workflows/review.json"]["nodes"][1]["assignee_role"] = "clerk"
    content["reports/summary.json"]["dataset"]["measures"][0]["colour"] = "red"
    errors = errors_of(content)
    find(errors, "tenant.json", "/colour", "unknown key 'colour'")
    find(errors, "workflows/review.json", "/nodes/1/assignee_role", "unknown key")
    find(errors, "reports/summary.json", "/dataset/measures/0/colour", "unknown key")
    assert len(errors) == 3

    fine = files()
    fine["tenant.json"]["$comment"] = "注释"
    fine["tenant.json"]["x-crm-id"] = 12
    fine["workflows/review.json"]["nodes"][1]["x-sla"] = "P2D"
    fine["forms/loan.json"]["schema"]["properties"]["name"]["x-widget-hint"] = "big"
    validate_bundle_dict(fine)


def test_wrong_types_and_values() -> None:
    content = files()
    content["tenant.json"]["short_name"] = 5
    content["tenant.json"]["branding"]["primary_color"] = "red"
    content["tenant.json"]["regulatory"]["net_assets_yuan"] = 100000000
    content["permissions.json"]["roles"][1]["id"] = "Clerk"
    content["workflows/review.json"]["nodes"][3]["mode"] = "majority"
    errors = errors_of(content)
    find(errors, "tenant.json", "/short_name", "expected a string, got an integer")
    find(errors, "tenant.json", "/branding/primary_color", "#rrggbb")
    find(errors, "tenant.json", "/regulatory/net_assets_yuan", "expected a string")
    find(errors, "permissions.json", "/roles/1/id", "an id")
    find(errors, "workflows/review.json", "/nodes/3/mode", '"majority"')


def test_missing_required_points_at_the_object() -> None:
    content = files()
    del content["tenant.json"]["locale"]
    del content["workflows/review.json"]["nodes"][4]["assignee"]
    del content["forms/loan.json"]["title"]["zh-CN"]
    errors = errors_of(content)
    find(errors, "tenant.json", "", "missing required key 'locale'")
    find(errors, "workflows/review.json", "/nodes/4", "missing required key 'assignee'")
    find(errors, "forms/loan.json", "/title", "'zh-CN'")


def test_node_keys_depend_on_node_type() -> None:
    content = files()
    nodes = content["workflows/review.json"]["nodes"]
    nodes[0]["assignee"] = {"role": "clerk"}
    del nodes[3]["pass_ratio"]
    nodes[4]["quorum"] = 3
    nodes[4]["branches"] = [{"when": "true", "to": "end"}]
    nodes[2]["next"] = "boss"
    nodes[1]["assignee"] = {"role": "clerk", "user": "a@b.demo"}
    errors = errors_of(content)
    find(errors, "workflows/review.json", "/nodes/0/assignee", "does not apply")
    find(errors, "workflows/review.json", "/nodes/3", "missing required key 'pass_ratio'")
    find(errors, "workflows/review.json", "/nodes/4/quorum", "only when mode is")
    find(errors, "workflows/review.json", "/nodes/4/branches", "does not apply")
    find(errors, "workflows/review.json", "/nodes/2/next", "does not apply")
    find(errors, "workflows/review.json", "/nodes/1/assignee", "exactly one of")


def test_bad_key_names_point_at_the_key() -> None:
    content = files()
    content["permissions.json"]["grants"]["clerk"]["forms:loan"] = ["read"]
    content["forms/loan.json"]["schema"]["properties"]["Bad-Name"] = {"type": "string"}
    errors = errors_of(content)
    find(errors, "permissions.json", "/grants/clerk/forms:loan", "not allowed")
    find(errors, "forms/loan.json", "/schema/properties/Bad-Name", "field key")


# --- bundle layout ------------------------------------------------------------------------


def test_unknown_files_and_folders(tmp_path: Path) -> None:
    content: dict[str, Any] = files()
    content["notes.txt"] = b"hello"
    content["scripts/run.json"] = {}
    content["forms/readme.md"] = b"# forms"
    errors = load_errors(write(tmp_path, content))
    find(errors, "notes.txt", "", "unknown file")
    find(errors, "scripts/", "", "unknown folder")
    find(errors, "forms/readme.md", "", "unknown file")

    uploaded = files()
    uploaded["forms/nested/x.json"] = form()
    find(errors_of(uploaded), "forms/nested/x.json", "", "unknown file")


def test_missing_tenant_and_permissions(tmp_path: Path) -> None:
    content = files()
    del content["tenant.json"], content["permissions.json"]
    for errors in (load_errors(write(tmp_path, content)), errors_of(content)):
        find(errors, "tenant.json", "", "missing")
        find(errors, "permissions.json", "", "missing")


def test_file_name_must_match_id() -> None:
    content = files()
    content["forms/loan.json"]["id"] = "loans"
    error = find(errors_of(content), "forms/loan.json", "/id", "'loans'")
    assert "forms/loans.json" in error.message


def test_duplicate_ids() -> None:
    content = files()
    content["workflows/review.json"]["nodes"][4]["id"] = "check"
    content["permissions.json"]["roles"][2]["id"] = "clerk"
    content["permissions.json"]["departments"][1]["id"] = "hq"
    content["forms/loan.json"]["ui"]["layout"].append(
        {"id": "main", "title": {"zh-CN": "重复"}, "fields": ["name"]}
    )
    errors = errors_of(content)
    find(errors, "workflows/review.json", "/nodes/4/id", "duplicate node id 'check'")
    find(errors, "permissions.json", "/roles/2/id", "duplicate role id")
    find(errors, "permissions.json", "/departments/1/id", "duplicate department id")
    find(errors, "forms/loan.json", "/ui/layout/1/id", "duplicate section id")
    find(errors, "forms/loan.json", "/ui/layout/1/fields/0", "already placed")


# --- limits ---------------------------------------------------------------------------------


def padded_report(report_id: str, size: int) -> dict[str, Any]:
    value = report()
    value["id"] = report_id
    value["$comment"] = "x" * size
    return value


def test_file_over_one_mib(tmp_path: Path) -> None:
    content = files()
    content["reports/big.json"] = padded_report("big", MiB + 10)
    find(load_errors(write(tmp_path, content)), "reports/big.json", "", "1 MiB")
    find(errors_of(content), "reports/big.json", "", "1 MiB")


def test_bundle_over_eight_mib_stops(tmp_path: Path) -> None:
    content = files()
    for index in range(9):
        content[f"reports/r{index}.json"] = padded_report(f"r{index}", MiB - 1000)
    errors = load_errors(write(tmp_path, content))
    assert [(e.file, e.pointer) for e in errors] == [("", "")]
    assert "8 MiB" in errors[0].message
    find(errors_of(content), "", "", "8 MiB")


def test_bundle_over_500_files_stops(tmp_path: Path) -> None:
    content: dict[str, Any] = {f"reports/r{i}.json": b"{" for i in range(501)}
    errors = load_errors(write(tmp_path, content))
    assert len(errors) == 1 and "500 files" in errors[0].message
    errors = errors_of({f"reports/r{i}.json": {} for i in range(501)})
    assert len(errors) == 1 and "500 files" in errors[0].message


# --- symlinks -------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks_outside_the_bundle_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, {"forms/loan.json": form(), "secret.json": {"id": "secret"}})
    root = write(tmp_path / "bundle", {k: v for k, v in files().items() if k != "forms/loan.json"})
    (root / "forms").mkdir()
    (root / "forms" / "loan.json").symlink_to(outside / "forms" / "loan.json")
    (root / "reports" / "secret.json").symlink_to(outside / "secret.json")
    errors = load_errors(root)
    find(errors, "forms/loan.json", "", "outside the bundle")
    find(errors, "reports/secret.json", "", "outside the bundle")

    folder_link = write(
        tmp_path / "bundle2", {k: v for k, v in files().items() if k != "forms/loan.json"}
    )
    (folder_link / "forms").symlink_to(outside / "forms")
    find(load_errors(folder_link), "forms/", "", "outside the bundle")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks_inside_the_bundle_are_followed(tmp_path: Path) -> None:
    root = write(tmp_path, files())
    (root / "shared").mkdir()
    (root / "forms" / "loan.json").rename(root / "shared" / "loan.json")
    (root / "forms" / "loan.json").symlink_to(root / "shared" / "loan.json")
    errors = load_errors(root)  # the link works; only the extra folder is a fault
    assert [(e.file, e.pointer) for e in errors] == [("shared/", "")]


# --- forms ------------------------------------------------------------------------------------


def test_form_schema_must_be_a_valid_json_schema() -> None:
    content = files()
    properties = content["forms/loan.json"]["schema"]["properties"]
    properties["name"]["type"] = "strin"
    properties["amount"]["minimum"] = "zero"
    errors = errors_of(content)
    find(errors, "forms/loan.json", "/schema/properties/name/type", "strin")
    find(errors, "forms/loan.json", "/schema/properties/amount/minimum", "number")


def test_form_schema_keywords_and_references() -> None:
    content = files()
    schema = content["forms/loan.json"]["schema"]
    schema["properties"]["name"]["maxLenght"] = 10
    schema["properties"]["industry"]["$ref"] = "https://example.com/industry.json"
    errors = errors_of(content)
    find(errors, "forms/loan.json", "/schema/properties/name/maxLenght", "unknown JSON Schema")
    find(errors, "forms/loan.json", "/schema/properties/industry/$ref", "inside the form")


def test_x_sensitive_only_on_strings() -> None:
    content = files()
    properties = content["forms/loan.json"]["schema"]["properties"]
    properties["amount"]["x-sensitive"] = True
    properties["name"]["x-sensitive"] = "yes"
    properties["holders"] = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "id_number": {"type": "string", "x-sensitive": True},  # nested strings are fine
                "share": {"type": "number", "x-sensitive": True},
            },
        },
    }
    errors = errors_of(content)
    find(errors, "forms/loan.json", "/schema/properties/amount/x-sensitive", "string")
    find(errors, "forms/loan.json", "/schema/properties/name/x-sensitive", "true or false")
    find(
        errors,
        "forms/loan.json",
        "/schema/properties/holders/items/properties/share/x-sensitive",
        "string",
    )
    assert len(errors) == 3


def test_layout_names_schema_fields() -> None:
    content = files()
    ui = content["forms/loan.json"]["ui"]
    ui["layout"][0]["fields"][1] = "id_no"
    ui["fields"] = {"turnover": {"widget": "money"}, "amount": {"visible_when": "name != 5"}}
    errors = errors_of(content)
    find(errors, "forms/loan.json", "/ui/layout/0/fields/1", "'id_no' is not a property")
    find(errors, "forms/loan.json", "/ui/fields/turnover", "not a property")
    find(errors, "forms/loan.json", "/ui/fields/amount/visible_when", "compares 'name'")


# --- cross-checks ---------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def set_in(path: str, *keys: Any, value: Any) -> Mutation:
    def mutate(content: dict[str, Any]) -> None:
        target = content[path]
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


WF, PERMS, REPORT = "workflows/review.json", "permissions.json", "reports/summary.json"
BRANCH = ("nodes", 2, "branches", 0)

CROSS_CHECKS = [
    (set_in(WF, "form", value="loan_v2"), WF, "/form", "no form 'loan_v2'"),
    (
        set_in(WF, "nodes", 1, "assignee", value={"role": "cfo"}),
        WF,
        "/nodes/1/assignee/role",
        "no role 'cfo' in permissions.json",
    ),
    (set_in(WF, "nodes", 1, "next", value="nowhere"), WF, "/nodes/1/next", "no node 'nowhere'"),
    (set_in(WF, *BRANCH, "to", value="nowhere"), WF, "/nodes/2/branches/0/to", "no node"),
    (set_in(WF, "nodes", 2, "default", value="nowhere"), WF, "/nodes/2/default", "no node"),
    (
        set_in(WF, *BRANCH, "when", value="amount >"),
        WF,
        "/nodes/2/branches/0/when",
        "not a valid CEL expression",
    ),
    (
        set_in(WF, *BRANCH, "when", value="turnover > 5000000 && industry == 'agri'"),
        WF,
        "/nodes/2/branches/0/when",
        "'turnover' is not a field of form 'loan'",
    ),
    (
        set_in(WF, *BRANCH, "when", value='amount > "500万"'),
        WF,
        "/nodes/2/branches/0/when",
        "compares 'amount' (number) with a string",
    ),
    (set_in(WF, "nodes", 4, "next", value="check"), WF, "/nodes/1", "circular"),
    (set_in(WF, "nodes", 1, "next", value="boss"), WF, "/nodes/2", "cannot be reached"),
    (
        set_in(WF, "nodes", 1, value=node("check", "start", next="route")),
        WF,
        "/nodes/1/type",
        "second start",
    ),
    (set_in(REPORT, "dataset", "form", value="ghost"), REPORT, "/dataset/form", "no form 'ghost'"),
    (
        set_in(REPORT, "dataset", "group_by", value=["region"]),
        REPORT,
        "/dataset/group_by/0",
        "'region' is not a field",
    ),
    (
        set_in(REPORT, "dataset", "measures", 1, "field", value="fee"),
        REPORT,
        "/dataset/measures/1/field",
        "'fee' is not a field",
    ),
    (
        set_in(REPORT, "dataset", "measures", 1, "field", value="name"),
        REPORT,
        "/dataset/measures/1/field",
        "cannot sum 'name'",
    ),
    (
        set_in(REPORT, "dataset", "filters", value=["size > 3"]),
        REPORT,
        "/dataset/filters/0",
        "'size' is not a field",
    ),
    (
        set_in(PERMS, "grants", "ghost", value={"form:loan": ["read"]}),
        PERMS,
        "/grants/ghost",
        "no role 'ghost'",
    ),
    (
        set_in(PERMS, "grants", "clerk", "report:ghost", value=["read"]),
        PERMS,
        "/grants/clerk/report:ghost",
        "no report 'ghost'",
    ),
    (
        set_in(PERMS, "roles", 2, "inherits", value=["boss"]),
        PERMS,
        "/roles/2/inherits/0",
        "no role 'boss'",
    ),
    (
        set_in(PERMS, "roles", 1, "inherits", value=["approver"]),
        PERMS,
        "/roles/1/inherits",
        "clerk → approver → clerk",
    ),
    (
        set_in(PERMS, "departments", 1, "parent", value="east"),
        PERMS,
        "/departments/1/parent",
        "no department 'east'",
    ),
    (
        set_in(PERMS, "departments", 0, "parent", value="branch"),
        PERMS,
        "/departments/0/parent",
        "circular",
    ),
    (
        set_in(PERMS, "field_rules", value={"clerk": {"loan": {"salary": "hidden"}}}),
        PERMS,
        "/field_rules/clerk/loan/salary",
        "not a field of form 'loan'",
    ),
    (
        set_in("tenant.json", "numbering", "project", value="T-{yyyy}"),
        "tenant.json",
        "/numbering/project",
        "exactly one {seq}",
    ),
    (
        set_in("tenant.json", "numbering", "letter", value="L-{id}-{seq}"),
        "tenant.json",
        "/numbering/letter",
        "unknown token '{id}'",
    ),
]


@pytest.mark.parametrize(("mutate", "file", "pointer", "fragment"), CROSS_CHECKS)
def test_cross_checks(mutate: Mutation, file: str, pointer: str, fragment: str) -> None:
    content = files()
    mutate(content)
    find(errors_of(content), file, pointer, fragment)


def test_macro_variables_are_not_fields() -> None:
    content = files()
    content["forms/loan.json"]["schema"]["properties"]["holders"] = {
        "type": "array",
        "items": {"type": "object"},
    }
    content[WF]["nodes"][2]["branches"][0]["when"] = (
        "holders.exists(h, h.share > 50) && type(amount) == double"
    )
    validate_bundle_dict(content)


def test_invalid_file_is_not_reported_again_downstream() -> None:
    content = files()
    content["forms/loan.json"]["title"] = "贷款"  # label must be an object
    errors = errors_of(content)
    assert [(e.file, e.pointer) for e in errors] == [("forms/loan.json", "/title")]


def test_all_faults_are_reported_together(tmp_path: Path) -> None:
    content = files()
    content["tenant.json"]["locale"] = "de"
    content["forms/loan.json"]["ui"]["layout"][0]["fields"].append("turnover")
    content[WF]["nodes"][4]["assignee"]["role"] = "cfo"
    errors = load_errors(write(tmp_path, content))
    assert sorted((e.file, e.pointer) for e in errors) == [
        ("forms/loan.json", "/ui/layout/0/fields/4"),
        ("tenant.json", "/locale"),
        ("workflows/review.json", "/nodes/4/assignee/role"),
    ]


# --- numbering ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("DB-{yyyy}-{seq:05}", "DB-2026-00042"),
        ("QSND-{yyyy}{seq:04}", "QSND-20260042"),
        ("{yy}{mm}{dd}-{seq}", "260307-42"),
        ("广信保合字〔{yyyy}〕第{seq:03}号", "广信保合字〔2026〕第042号"),
        ("N{seq:012}", "N000000000042"),
    ],
)
def test_numbering_formats(pattern: str, expected: str) -> None:
    parsed = NumberingPattern.parse(pattern)
    assert parsed.format(42, datetime.date(2026, 3, 7)) == expected
    assert str(parsed) == pattern


def test_numbering_widens_instead_of_truncating() -> None:
    assert NumberingPattern.parse("A{seq:02}").format(12345, datetime.date(2026, 1, 1)) == "A12345"


def test_numbering_year_scope() -> None:
    assert NumberingPattern.parse("X-{yy}-{seq}").per_year
    assert not NumberingPattern.parse("X-{mm}-{seq}").per_year


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("", "empty"),
        ("DB-{yyyy}", "found none"),
        ("DB-{seq}-{seq:03}", "found 2"),
        ("DB-{yyyyy}-{seq}", "unknown token '{yyyyy}'"),
        ("DB-{seq:013}", "N from 1 to 12"),
        ("DB-{seq:00}", "N from 1 to 12"),
        ("DB-{seq:5}", "{seq:0N}"),
        ("DB-{yyyy-{seq}", "unmatched '{'"),
        ("DB-}{seq}", "unmatched '}'"),
        ("DB-\n{seq}", "control character"),
        ("D" * 70 + "{seq}", "longer than"),
    ],
)
def test_numbering_errors(pattern: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        NumberingPattern.parse(pattern)


def test_numbering_rejects_negative_sequence() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        NumberingPattern.parse("A{seq}").format(-1, datetime.date(2026, 1, 1))


# --- diffs ------------------------------------------------------------------------------------


def test_diff_between_versions() -> None:
    old = validate_bundle_dict(files()).to_dict()
    new_files = files()
    new_files["forms/loan.json"]["title"]["zh-CN"] = "贷款担保申请（第二版）"
    new_files["forms/loan.json"]["schema"]["properties"]["term"] = {"type": "integer"}
    new_files["forms/loan.json"]["ui"]["layout"][0]["fields"].append("term")
    del new_files["reports/summary.json"]
    del new_files[PERMS]["grants"]["approver"]["report:summary"]
    nodes = new_files[WF]["nodes"]
    nodes.insert(4, node("legal", "approve", assignee={"role": "approver"}, next="boss"))
    nodes[3]["next"] = "legal"
    extra = report()
    extra["id"] = "by_industry"
    new_files["reports/by_industry.json"] = extra
    new = validate_bundle_dict(new_files).to_dict()

    changes = diff_bundles(old, new)
    by_file: dict[str, list[Any]] = {}
    for change in changes:
        by_file.setdefault(change.file, []).append(change)

    [removed] = by_file["reports/summary.json"]
    assert (removed.op, removed.pointer, removed.old["id"], removed.new) == (
        "remove",
        "",
        "summary",
        None,
    )
    [added] = by_file["reports/by_industry.json"]
    assert (added.op, added.pointer, added.new["id"]) == ("add", "", "by_industry")
    title = next(c for c in by_file["forms/loan.json"] if c.pointer == "/title/zh-CN")
    assert (title.op, title.old, title.new) == ("replace", "贷款担保申请", "贷款担保申请（第二版）")
    assert "tenant.json" not in by_file

    # Applied in order, the changes turn every old file into the new one.
    for file, file_changes in by_file.items():
        if file_changes[0].pointer == "":
            continue
        patch = [c.as_patch_operation() for c in file_changes]
        assert jsonpatch.apply_patch(copy.deepcopy(old[file]), patch) == new[file]
    assert diff_bundles(old, old) == []
