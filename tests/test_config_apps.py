"""load_config: the declared apps (ALIPAY_FURTHER_APP_IDS), the folder of their secrets
(ALIPAY_APP_SECRET_PREFIX) and how long a token's merchant is remembered (TOKEN_OWNER_MAX_AGE_SECONDS)."""

from __future__ import annotations

import pytest

from alipay_cancel.config import MAX_FURTHER_APPS
from tests.test_config import error, load

FOLDER = "alipay-cancel/prod/apps/"


def test_by_default_only_the_default_app_is_declared() -> None:
    config = load()
    assert (config.further_app_ids, config.app_secret_prefix) == ((), "")
    assert load(ALIPAY_FURTHER_APP_IDS="", ALIPAY_APP_SECRET_PREFIX="").further_app_ids == ()


def test_further_apps_are_read_in_order() -> None:
    config = load(ALIPAY_FURTHER_APP_IDS="2021000000000003,2021000000000002", ALIPAY_APP_SECRET_PREFIX=FOLDER)
    assert config.further_app_ids == ("2021000000000003", "2021000000000002")
    ten = ",".join(f"20210000000000{n:02d}" for n in range(10, 10 + MAX_FURTHER_APPS))
    assert len(load(ALIPAY_FURTHER_APP_IDS=ten, ALIPAY_APP_SECRET_PREFIX=FOLDER).further_app_ids) == 10


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2021000000000002,", "ALIPAY_FURTHER_APP_IDS: app id 2 must be 1 to 32 characters"),
        ("2021000000000002, 2021000000000003", "ALIPAY_FURTHER_APP_IDS: app id 2 must be 1 to 32 characters"),
        ("apps/*", "ALIPAY_FURTHER_APP_IDS: app id 1 must be 1 to 32 characters"),
        ("2021000000000002,2021000000000002", "ALIPAY_FURTHER_APP_IDS names an app more than once"),
        (
            "2021000000000001",
            "ALIPAY_FURTHER_APP_IDS names the default app (ALIPAY_DEFAULT_APP_ID): list it once",
        ),
        (
            ",".join(f"20210000000000{n:02d}" for n in range(10, 21)),
            "ALIPAY_FURTHER_APP_IDS names 11 apps; at most 10 (one stack's IAM grant has that many slots): "
            "deploy another stack for the others",
        ),
    ],
)
def test_a_wrong_app_list_is_refused_naming_the_problem(value: str, problem: str) -> None:
    assert error(ALIPAY_FURTHER_APP_IDS=value, ALIPAY_APP_SECRET_PREFIX=FOLDER).startswith(problem)


def test_further_apps_need_the_folder_of_their_secrets() -> None:
    assert error(ALIPAY_FURTHER_APP_IDS="2021000000000002") == (
        "ALIPAY_FURTHER_APP_IDS needs ALIPAY_APP_SECRET_PREFIX (template parameter AppSecretPrefix): the "
        "folder of those apps' secrets"
    )


@pytest.mark.parametrize("prefix", [FOLDER, "a/b/", "team_1/alipay+cancel/apps@2/", "x/" * 8])
def test_a_folder_of_two_to_eight_levels_is_a_prefix(prefix: str) -> None:
    assert load(ALIPAY_APP_SECRET_PREFIX=prefix).app_secret_prefix == prefix


@pytest.mark.parametrize(
    "prefix", ["prod/", "apps", "alipay-cancel/prod/apps", "a//b/", "/a/b/", "x/" * 9, "a b/c/"]
)
def test_a_prefix_that_is_not_a_folder_of_its_own_is_refused(prefix: str) -> None:
    assert error(ALIPAY_APP_SECRET_PREFIX=prefix).startswith(
        "ALIPAY_APP_SECRET_PREFIX must be a folder of Secrets Manager secret names, two to eight levels "
        "ending in '/'"
    )


def test_token_owner_max_age_is_bounded() -> None:
    assert load().token_owner_max_age_seconds == 3600
    assert load(TOKEN_OWNER_MAX_AGE_SECONDS="0").token_owner_max_age_seconds == 0
    assert load(TOKEN_OWNER_MAX_AGE_SECONDS="86400").token_owner_max_age_seconds == 86400
    assert error(TOKEN_OWNER_MAX_AGE_SECONDS="86401") == (
        "TOKEN_OWNER_MAX_AGE_SECONDS is 86401; it must be between 0 and 86400"
    )
