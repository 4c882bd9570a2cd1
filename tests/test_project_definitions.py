"""The ``project`` section of tenant.json: meta-schema and cross-checks, with pointers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from danbao.config import REPO_ROOT
from danbao.definitions import BundleInvalid, DefinitionError, load_bundle, validate_bundle_dict
from danbao.definitions.project import APPROVAL_EVENTS, ATTRIBUTES, BUSINESS_TYPES, CLIENT_TYPES
from danbao.guarantee.approval_check import outcome_for
from danbao.guarantee.transitions import EVENTS

from .conftest import TEMPLATE

SOURCE = "/project/sources/application"


def files() -> dict[str, Any]:
    return load_bundle(TEMPLATE).to_dict()


def errors_of(content: dict[str, Any]) -> list[DefinitionError]:
    with pytest.raises(BundleInvalid) as caught:
        validate_bundle_dict(content)
    return caught.value.errors


def only(errors: list[DefinitionError], where: str, words: str) -> None:
    assert [(e.file, e.pointer) for e in errors] == [("tenant.json", where)], errors
    assert words in errors[0].message, errors[0].message


def mapping(content: dict[str, Any]) -> dict[str, Any]:
    source: dict[str, Any] = content["tenant.json"]["project"]["sources"]["application"]
    return source


@pytest.mark.parametrize("slug", ["gxdb", "qsnd", "_template"])
def test_demo_tenants_map_their_application_forms(slug: str) -> None:
    bundle = load_bundle(REPO_ROOT / "tenants" / slug)
    sources = bundle.tenant["project"]["sources"]
    assert sources and set(sources) <= set(bundle.forms)
    for source in sources.values():
        assert {a.name for a in ATTRIBUTES.values() if a.required} <= set(source)


def test_the_meta_schema_spells_the_same_codes() -> None:
    schema = json.loads((REPO_ROOT / "schemas/tenant.schema.json").read_text("utf-8"))
    source = schema["$defs"]["project_source"]
    assert source["properties"]["business_type"]["properties"]["value"]["enum"] == list(
        BUSINESS_TYPES
    )
    assert source["properties"]["client_type"]["properties"]["value"]["enum"] == list(CLIENT_TYPES)
    assert set(source["properties"]) - {"$comment"} == set(ATTRIBUTES)
    assert set(source["required"]) == {a.name for a in ATTRIBUTES.values() if a.required}


def test_a_mapped_field_that_does_not_exist() -> None:
    content = files()
    mapping(content)["amount"] = {"field": "loan_amount"}
    only(errors_of(content), f"{SOURCE}/amount/field", "'loan_amount' is not a top-level field")


def test_a_mapped_field_of_the_wrong_type() -> None:
    content = files()
    mapping(content)["amount"] = {"field": "applicant_name"}
    only(errors_of(content), f"{SOURCE}/amount/field", "holds string; amount needs integer or")
    content = files()
    mapping(content)["term_months"] = {"field": "amount"}
    only(errors_of(content), f"{SOURCE}/term_months/field", "term_months needs integer")


def test_a_source_form_that_does_not_exist() -> None:
    content = files()
    sources = content["tenant.json"]["project"]["sources"]
    sources["loan"] = sources.pop("application")
    only(errors_of(content), "/project/sources/loan", "no form 'loan' in forms/")


def test_every_choice_must_map_to_a_code() -> None:
    content = files()
    del mapping(content)["client_type"]["values"]["medium"]
    only(errors_of(content), f"{SOURCE}/client_type/values", "choice 'medium' of 'enterprise_size'")
    content = files()
    mapping(content)["client_type"]["values"]["huge"] = "other"
    only(errors_of(content), f"{SOURCE}/client_type/values/huge", "not a choice")


def test_a_code_from_free_text_needs_values() -> None:
    content = files()
    mapping(content)["business_type"] = {"field": "purpose"}
    only(errors_of(content), f"{SOURCE}/business_type", "'purpose' is free text")


def test_a_sensitive_field_feeds_only_the_borrower_id() -> None:
    content = files()
    mapping(content)["region"] = {"field": "contact_mobile"}
    only(errors_of(content), f"{SOURCE}/region/field", "only borrower_id may read one")


def test_the_meta_schema_refuses_bad_shapes() -> None:
    content = files()
    del mapping(content)["borrower_id"]
    only(errors_of(content), SOURCE, "missing required key 'borrower_id'")
    content = files()
    mapping(content)["colour"] = {"value": "red"}
    only(errors_of(content), f"{SOURCE}/colour", "unknown key 'colour'")
    content = files()
    mapping(content)["business_type"] = {"value": "lottery"}
    errors = errors_of(content)
    assert errors and all(e.pointer.startswith(f"{SOURCE}/business_type") for e in errors)
    content = files()
    mapping(content)["bank_risk_share"] = {"value": "1.5"}
    errors = errors_of(content)
    assert errors and all(e.pointer.startswith(f"{SOURCE}/bank_risk_share") for e in errors)


def test_permissions_name_exactly_the_table_events() -> None:
    schema = json.loads((REPO_ROOT / "schemas/permissions.schema.json").read_text("utf-8"))
    pattern = schema["$defs"]["resource"]["pattern"]
    named = re.search(r"project:\(\\\*\|([a-z_|]+)\)", pattern)
    assert named is not None
    assert named.group(1).split("|") == list(EVENTS)
    content = files()
    content["permissions.json"]["grants"]["finance"]["project:fly"] = ["update"]
    errors = errors_of(content)
    assert [(e.file, e.pointer) for e in errors] == [
        ("permissions.json", "/grants/finance/project:fly")
    ]
    assert "project:<event>" in errors[0].message


def test_projects_take_no_data_scope_of_their_own() -> None:
    content = files()
    content["permissions.json"]["data_scopes"]["finance"]["project:*"] = "all"
    errors = errors_of(content)
    assert [(e.file, e.pointer) for e in errors] == [
        ("permissions.json", "/data_scopes/finance/project:*")
    ]
    assert "declare the scope on form:<id>" in errors[0].message


def test_approval_events_are_the_tables_needs_approval() -> None:
    assert set(APPROVAL_EVENTS) == {code for code, e in EVENTS.items() if e.needs_approval}
    assert all(outcome_for(code) == outcome for code, outcome in APPROVAL_EVENTS.items())


@pytest.mark.parametrize("slug", ["gxdb", "qsnd", "_template"])
def test_demo_tenants_let_their_review_chain_decide_the_project(slug: str) -> None:
    bundle = load_bundle(REPO_ROOT / "tenants" / slug)
    approvals = bundle.tenant["project"]["approvals"]
    assert approvals == {"review": {"approved": "approve", "rejected": "reject"}}
    assert bundle.workflows["review"]["form"] in bundle.tenant["project"]["sources"]


def approvals(content: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = content["tenant.json"]["project"]["approvals"]
    return found


def test_an_approval_mapping_names_an_existing_chain() -> None:
    content = files()
    approvals(content)["loan_review"] = {"approved": "approve"}
    only(errors_of(content), "/project/approvals/loan_review", "no approval chain 'loan_review'")


def test_an_approval_mapping_fires_only_events_needing_that_outcome() -> None:
    content = files()
    approvals(content)["review"]["approved"] = "start_contracting"
    only(
        errors_of(content),
        "/project/approvals/review/approved",
        "'start_contracting' is not a project event that needs approval",
    )
    content = files()
    approvals(content)["review"] = {"approved": "reject", "rejected": "approve"}
    errors = errors_of(content)
    assert [e.pointer for e in errors] == [
        "/project/approvals/review/approved",
        "/project/approvals/review/rejected",
    ]
    assert "'reject' needs the chain's outcome 'rejected', not 'approved'" in errors[0].message
    content = files()
    approvals(content)["review"] = {"cancelled": "reject"}
    errors = errors_of(content)
    assert errors and all(e.pointer.startswith("/project/approvals/review") for e in errors)


def test_an_approval_mapping_needs_a_chain_on_a_project_form() -> None:
    content = files()
    content["workflows/review.json"]["form"] = "loan"
    errors = [e for e in errors_of(content) if e.file == "tenant.json"]
    assert [e.pointer for e in errors] == ["/project/approvals/review"]
    assert "not a project source" in errors[0].message
