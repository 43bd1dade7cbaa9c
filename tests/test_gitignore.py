"""Key material written by the documented commands is git-ignored: one `git add .` must not commit it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from local.keygen import generate_key_material, write_key_files

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {
    "app_public_key.pem",
    "alipay_public_key.pem",
    "app_cert.pem",
    "alipay_cert.pem",
    "alipay_root_cert.pem",
}


def _ignored(path: str) -> bool:
    completed = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, check=False, capture_output=True
    )
    assert completed.returncode in (0, 1), completed.stderr
    return completed.returncode == 0


@pytest.fixture(scope="module")
def key_file_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    material = generate_key_material(aes_bits=256, cert_mode=True)
    return set(write_key_files(material, tmp_path_factory.mktemp("keys")))


def test_the_readme_keygen_folder_is_ignored_whatever_it_holds(key_file_names: set[str]) -> None:
    assert ".local-keys" in (ROOT / "README.md").read_text()  # the path the README tells users to use
    for name in key_file_names | {"anything.txt"}:
        assert _ignored(f".local-keys/{name}"), name


def test_secret_files_are_ignored_wherever_keygen_writes_them(key_file_names: set[str]) -> None:
    secret_names = key_file_names - PUBLIC
    assert {"app_private_key.pem", "alipay_private_key.pem", "secret.json", "encrypt_key.txt"} <= secret_names
    for folder in ("", "keys/", "local/tmp-keys/"):
        for name in secret_names:
            assert _ignored(f"{folder}{name}"), f"{folder}{name}"
    assert _ignored("signing-material.json")  # the create-secret example file of earlier READMEs


def test_source_and_test_data_are_not_ignored() -> None:
    for path in (
        "src/alipay_cancel/config.py",
        "tests/test_gitignore.py",
        "template.yaml",
        "local/sam-local-env.json",
    ):
        assert not _ignored(path), path
