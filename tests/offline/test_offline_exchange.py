"""core/exchange.py: installing a file or phone answer keeps its promises
(nothing unverified or not as requested installed, the pending request kept
until an install succeeded), with the center's part played in-process by the
test (its real keys, see fixtures_offline.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from licwiz.core import exchange, phonemsg
from licwiz.core.errors import FileFormatError, LicenseInvalid, SignatureError, StorageError
from licwiz.core.fingerprint import collect
from licwiz.core.request import ActivationRequest
from licwiz.core.storage import license_dir
from support.fixtures_offline import OFF_OWNER, OFF_PRODUCT, OffKeys, off_pin, off_regnum

KIT = off_regnum(424242)


def _req(pin: int = 1, **changes: object) -> ActivationRequest:
    req = ActivationRequest(product=OFF_PRODUCT, regnum=KIT, pin=off_pin(pin), operation="first",
                            owner=OFF_OWNER, params=collect(OFF_PRODUCT), method="file")
    return dataclasses.replace(req, **changes)  # type: ignore[arg-type]


def _installed() -> list[str]:
    found: list[str] = []
    for scope in ("all-users", "user"):
        d = license_dir(scope)  # type: ignore[arg-type]
        found += sorted(p.name for p in d.glob("*.lic")) if d.exists() else []
    return found


def _pending_ids() -> list[str]:
    return sorted(p.id for p in exchange.load_pending())


async def test_a_file_answer_installs_and_forgets_its_pending_request(
    off_keys: OffKeys, tmp_path: Path
) -> None:
    pending = exchange.write_request_file(_req(), tmp_path)
    answer = tmp_path / "answer.lic"
    answer.write_text(off_keys.sign_for(pending.request).text)
    outcome, answered = await exchange.install_answer_file(answer, target="user")
    assert answered is not None and answered.id == pending.id
    assert outcome.scope == "user" and outcome.license.license_id == f"{KIT}-001"
    assert (license_dir("user") / f"{KIT}-001.lic").read_text() == answer.read_text()
    assert _pending_ids() == []


@pytest.mark.parametrize("case", ["tampered", "another computer", "another owner", "another product",
                                  "not a license"])
async def test_a_bad_file_answer_is_refused_with_nothing_installed(
    off_keys: OffKeys, tmp_path: Path, case: str
) -> None:
    pending = exchange.write_request_file(_req(), tmp_path)
    req = pending.request
    other_params = {k: "0" * 64 for k in req.params}
    text = {
        "tampered": off_keys.sign_for(req).text.replace('"users":5', '"users":50'),
        "another computer": off_keys.sign_for(dataclasses.replace(req, params=other_params)).text,
        "another owner": off_keys.sign_for(req, owner_digest="cd" * 32).text,
        "another product": off_keys.sign_for(dataclasses.replace(req, product="other-product")).text,
        "not a license": "hello\n",
    }[case]
    expected: dict[str, tuple[type[Exception], str]] = {
        "tampered": (SignatureError, "bad_signature"),
        "another computer": (LicenseInvalid, "parameters_changed"),
        "another owner": (LicenseInvalid, "license_mismatch"),
        "another product": (LicenseInvalid, "wrong_product"),
        "not a license": (FileFormatError, "bad_file"),
    }
    kind, code = expected[case]
    with pytest.raises(kind) as info:
        await exchange.install_answer_text(text, target="all-users")
    assert getattr(info.value, "code", None) == code
    assert _installed() == []
    assert _pending_ids() == [pending.id]  # still waiting for the right answer


async def test_an_answer_to_no_request_made_here_is_refused_unless_asked_for(
    off_keys: OffKeys, tmp_path: Path
) -> None:
    text = off_keys.sign_for(_req()).text
    with pytest.raises(exchange.NoPendingRequest) as info:
        await exchange.install_answer_text(text, target="all-users")
    assert "no license request for kit" in info.value.brief
    assert _installed() == []
    # Without a request it is still checked against this computer.
    foreign = off_keys.sign_for(_req(params={k: "1" * 64 for k in collect(OFF_PRODUCT)})).text
    with pytest.raises(LicenseInvalid) as other:
        await exchange.install_answer_text(foreign, target="all-users", require_pending=False)
    assert other.value.code == "parameters_changed" and _installed() == []
    outcome, answered = await exchange.install_answer_text(text, target="all-users", require_pending=False)
    assert answered is None and outcome.scope == "all-users" and _installed() == [f"{KIT}-001.lic"]


async def test_the_pending_request_stays_when_the_install_fails(off_keys: OffKeys, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pending = exchange.write_request_file(_req(), tmp_path)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the license folder should be\n")
    monkeypatch.setenv("LICWIZ_ALL_USERS_DIR", str(blocked))
    with pytest.raises(StorageError):
        await exchange.install_answer_text(off_keys.sign_for(pending.request).text, target="all-users")
    assert _pending_ids() == [pending.id]
    outcome, _ = await exchange.install_answer_text(off_keys.sign_for(pending.request).text, target="user")
    assert outcome.scope == "user" and _pending_ids() == []


async def test_the_answer_goes_to_the_pending_request_it_answers(off_keys: OffKeys, tmp_path: Path) -> None:
    """Two requests of the same kit (another PIN): the license names which by its PIN and owner."""
    first = exchange.write_request_file(_req(pin=1), tmp_path / "a.req")
    second = exchange.write_request_file(_req(pin=2), tmp_path / "b.req")
    _, answered = await exchange.install_answer_text(off_keys.sign_for(first.request).text, target="user")
    assert answered is not None and answered.id == first.id
    assert _pending_ids() == [second.id]


async def test_a_phone_answer_is_rebuilt_for_its_request_and_installed(off_keys: OffKeys) -> None:
    mine, _ = exchange.start_phone(_req(pin=1))
    other, _ = exchange.start_phone(_req(pin=2))
    signed = off_keys.sign_for(other.request)
    rows = phonemsg.response_rows(signed.license, signed.signature)
    outcome, answered = await exchange.install_phone_answer(rows, target="user")
    assert answered.id == other.id and outcome.text == signed.text
    assert outcome.license.method == "phone" and _pending_ids() == [mine.id]
    assert _installed() == [f"{KIT}-001.lic"]


async def test_a_phone_answer_for_no_pending_request_installs_nothing(off_keys: OffKeys) -> None:
    mine, _ = exchange.start_phone(_req(pin=1))
    stranger = dataclasses.replace(mine.request, pin=off_pin(9))
    signed = off_keys.sign_for(stranger)
    rows = phonemsg.response_rows(signed.license, signed.signature)
    with pytest.raises(SignatureError) as info:
        await exchange.install_phone_answer(rows, target="user")
    assert info.value.code == "response_mismatch"
    assert _installed() == [] and _pending_ids() == [mine.id]
    # A misheard row is named before anything else.
    wrong = list(rows)
    wrong[1] = wrong[1][:-1] + str((int(wrong[1][-1]) + 1) % 10)
    with pytest.raises(Exception) as typo:
        await exchange.install_phone_answer(wrong, target="user")
    assert "row 2" in str(typo.value).lower() or 2 in getattr(typo.value, "rows", [])
    assert _installed() == []
