"""docs/identity.md's promises are the code's: the reasons it quotes, its numbers, its settings."""

from __future__ import annotations

import re
from pathlib import Path

from alipay_cancel.config import MAX_FURTHER_APPS, Config
from alipay_cancel.decisions.identity_check import CHECKING, DeclaredApps, MerchantMismatch, undeclared_app
from alipay_cancel.pipeline.token_owners import DEFAULT_MAX_ENTRIES
from tests.template_support import param_default, sam_template

ROOT = Path(__file__).resolve().parent.parent
PAGE = " ".join((ROOT / "docs" / "identity.md").read_text().split())


def test_the_undeclared_app_example_is_the_functions_reason() -> None:
    apps = DeclaredApps("2021000000000001", ("2021000000000002",), "alipay-cancel/prod/apps/")
    reason = undeclared_app("2021000000000099", apps)
    assert reason is not None and f"`{reason}`" in PAGE


def test_the_mismatch_and_checking_wordings_are_the_functions() -> None:
    reason = MerchantMismatch(claimed="B", actual="A").reason
    example = re.search(r"`(merchant_id B is not the merchant [^`]*?)\. \.\.\.`", PAGE)
    assert example is not None and reason.startswith(example.group(1))
    assert f'"{CHECKING}: ...' in PAGE


def test_the_numbers_and_the_setting_are_the_deployed_ones() -> None:
    assert (
        f"up to {MAX_FURTHER_APPS} further apps" in PAGE
        and f"at most {MAX_FURTHER_APPS} further apps" in PAGE
    )
    assert f"at most {DEFAULT_MAX_ENTRIES} tokens per instance" in PAGE
    default = param_default(sam_template(), "TokenOwnerMaxAgeSeconds")
    assert default == Config.token_owner_max_age_seconds == 3600
    assert f"`TokenOwnerMaxAgeSeconds` (default {default}; 0: ask for every message)" in PAGE


def test_the_readme_points_at_the_page() -> None:
    assert "[docs/identity.md](docs/identity.md)" in (ROOT / "README.md").read_text()
