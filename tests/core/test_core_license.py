"""Licenses: sign/verify, tamper detection on every byte, dates, product; the keyring."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from licwiz.core import keys
from licwiz.core import license as lic_mod
from licwiz.core.errors import FileFormatError, LicenseInvalid, LicwizError, SignatureError
from support.fixtures_core import CORE_PRODUCT, core_license

Sign = Callable[..., str]
TODAY = dt.date(2026, 11, 28)


def ring_of(key: Ed25519PrivateKey) -> keys.Keyring:
    ring = keys.Keyring()
    ring.add(key.public_key())
    return ring


def test_sign_and_verify_round_trip(core_signing_key: Ed25519PrivateKey) -> None:
    lic = core_license(core_signing_key, issued=TODAY.isoformat(), supersedes="1234567890-000",
                       extra={"seats": "site"}, not_after="2027-01-01")
    signed = lic_mod.sign(lic, core_signing_key)
    got = lic_mod.verify(signed.text, ring_of(core_signing_key), product=CORE_PRODUCT, today=TODAY)
    assert got == lic
    assert lic_mod.parse(signed.text).signature == signed.signature
    assert signed.text.startswith(lic_mod.BEGIN + "\n") and signed.text.endswith(lic_mod.END + "\n")


def test_signing_with_a_key_that_is_not_the_key_id_is_refused(core_signing_key: Ed25519PrivateKey) -> None:
    with pytest.raises(ValueError):
        lic_mod.sign(core_license(core_signing_key), Ed25519PrivateKey.generate())


def test_every_byte_flip_is_rejected(core_signing_key: Ed25519PrivateKey) -> None:
    text = lic_mod.sign(core_license(core_signing_key, issued=TODAY.isoformat()), core_signing_key).text
    ring = ring_of(core_signing_key)
    raw = text.encode("ascii")
    for i in range(len(raw)):
        for flip in (0x01, 0x20):  # a low bit, and the case bit (a "forgiving" change)
            damaged = bytearray(raw)
            damaged[i] ^= flip
            try:
                candidate = damaged.decode("ascii")
            except UnicodeDecodeError:
                continue  # not text: read_file refuses it (tested below)
            with pytest.raises(LicwizError) as exc:
                lic_mod.verify(candidate, ring, product=CORE_PRODUCT, today=TODAY)
            assert isinstance(exc.value, FileFormatError | SignatureError), (i, exc.value)


def test_non_ascii_file_refused(tmp_path: Path, core_sign: Sign) -> None:
    p = tmp_path / "x.lic"
    p.write_bytes(core_sign().encode().replace(b"licwiz-demo", b"licwiz-d\xe9mo"))
    with pytest.raises(FileFormatError, match="not ASCII"):
        lic_mod.read_file(p)


def test_value_change_with_valid_form_fails_the_signature(core_sign: Sign) -> None:
    text = core_sign()
    forged = text.replace('"users":1', '"users":5')
    assert forged != text
    with pytest.raises(SignatureError) as exc:
        lic_mod.verify(forged, keys.load_keyring())
    assert exc.value.code == "bad_signature"


def test_forged_with_another_key_of_the_same_id_claim(core_signing_key: Ed25519PrivateKey) -> None:
    mallory = Ed25519PrivateKey.generate()
    lic = core_license(mallory, key_id=core_license(core_signing_key).key_id)
    sig = mallory.sign(b"licwiz-license-v1\n" + lic.canonical_bytes())
    with pytest.raises(SignatureError):
        lic_mod.verify(lic_mod.dumps(lic, sig), ring_of(core_signing_key))


def test_unknown_key(core_signing_key: Ed25519PrivateKey) -> None:
    text = lic_mod.sign(core_license(core_signing_key), core_signing_key).text
    with pytest.raises(SignatureError) as exc:
        lic_mod.verify(text, keys.Keyring())
    assert exc.value.code == "unknown_key"


def test_wrong_product(core_sign: Sign) -> None:
    with pytest.raises(LicenseInvalid) as exc:
        lic_mod.verify(core_sign(), keys.load_keyring(), product="another-product")
    assert exc.value.code == "wrong_product"


def test_dates(core_sign: Sign) -> None:
    ring = keys.load_keyring()
    text = core_sign(issued="2026-11-01", not_after="2026-12-31")
    for day in ("2026-11-01", "2026-11-28", "2026-12-31"):
        lic_mod.verify(text, ring, today=dt.date.fromisoformat(day))
    with pytest.raises(LicenseInvalid) as exc:
        lic_mod.verify(text, ring, today=dt.date(2027, 1, 1))
    assert exc.value.code == "expired"
    with pytest.raises(LicenseInvalid) as exc:
        lic_mod.verify(text, ring, today=dt.date(2026, 10, 31))
    assert exc.value.code == "not_yet_valid"
    perpetual = core_sign(issued="2026-11-01")
    lic_mod.verify(perpetual, ring, today=dt.date(2126, 1, 1))


def test_truncated_at_every_line(core_sign: Sign) -> None:
    text = core_sign()
    ring = keys.load_keyring()
    for cut in range(len(text)):
        with pytest.raises(FileFormatError):
            lic_mod.verify(text[:cut], ring)
    with pytest.raises(FileFormatError):
        lic_mod.verify(text + "\n", ring)
    with pytest.raises(FileFormatError):
        lic_mod.verify(text.replace("\n", "\r\n"), ring)


def test_oversized_refused(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="too large"):
        lic_mod.parse("x" * (lic_mod.MAX_FILE_BYTES + 1))
    p = tmp_path / "big.lic"
    p.write_bytes(b"a" * (50 * 1024 * 1024))
    with pytest.raises(FileFormatError, match="too large"):
        lic_mod.read_file(p)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("version", 2, "unsupported license format version"),
    ("method", "fax", "unknown acquisition method"),
    ("issued", "28/11/2026", "not ISO dates"),
    ("users", True, "'users' missing or of the wrong type"),
    ("users", "1", "'users' missing or of the wrong type"),
])
def test_payload_validation(core_signing_key: Ed25519PrivateKey, field: str, value: object,
                            message: str) -> None:
    lic = core_license(core_signing_key)
    payload = lic.payload()
    payload[field] = value
    line = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    text = f"{lic_mod.BEGIN}\n{line}\nKey-Id: {lic.key_id}\nSignature: {'A' * 86}==\n{lic_mod.END}\n"
    with pytest.raises(FileFormatError, match=message):
        lic_mod.parse(text)


def test_pin_digest_and_method_family() -> None:
    d = lic_mod.pin_digest("1234567890", "123456789012345")
    assert len(d) == 64 and "123456789012345" not in d
    assert d != lic_mod.pin_digest("1234567890", "123456789012346")
    assert lic_mod.method_family("phone") == "phone"
    assert lic_mod.method_family("online") == lic_mod.method_family("file") == "online-or-file"


# --- keyring ------------------------------------------------------------------------------

def test_keyring_from_env_dirs_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    seal = X25519PrivateKey.generate()
    d = tmp_path / "site"
    d.mkdir()
    (d / "a.pem").write_text(keys.public_pem(a.public_key()))
    (d / "seal.pem").write_text(keys.public_pem(seal.public_key()))
    (d / "broken.pem").write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    (d / "private.pem").write_text(keys.private_pem(Ed25519PrivateKey.generate()))  # never trusted
    (d / "notes.txt").write_text(keys.public_pem(Ed25519PrivateKey.generate().public_key()))
    single = tmp_path / "b.pem"
    single.write_text(keys.public_pem(b.public_key()))
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", os.pathsep.join([str(d), str(single), str(tmp_path / "nope")]))
    ring = keys.load_keyring()
    assert set(ring.signing) >= {keys.key_id(a.public_key()), keys.key_id(b.public_key())}
    assert len(ring.signing) == 2  # broken, private and non-.pem files skipped
    kid, sealing = ring.sealing_key()
    assert kid == keys.key_id(seal.public_key())
    assert keys.public_b64(sealing) == keys.public_b64(seal.public_key())


def test_keyring_user_config_dir(tmp_path: Path) -> None:
    # XDG_CONFIG_HOME points into tmp_path (tests/conftest.py).
    key = Ed25519PrivateKey.generate()
    d = tmp_path / "config" / "licwiz" / "trusted-keys"
    d.mkdir(parents=True)
    (d / "center.pem").write_text(keys.public_pem(key.public_key()))
    assert keys.key_id(key.public_key()) in keys.load_keyring().signing


def test_keyring_trusts_keys_shipped_in_the_package() -> None:
    """A vendor builds licwiz with its center's public keys in core/trusted_keys/:
    trusted with no configuration at all (a private key there is ignored)."""
    from importlib import resources

    shipped = Path(str(resources.files("licwiz.core").joinpath("trusted_keys")))
    key = Ed25519PrivateKey.generate()
    public = shipped / f"test-shipped-{os.getpid()}.pem"
    private = shipped / f"test-shipped-private-{os.getpid()}.pem"
    try:
        public.write_text(keys.public_pem(key.public_key()))
        other = Ed25519PrivateKey.generate()
        private.write_text(keys.private_pem(other))
        ring = keys.load_keyring()
        assert keys.key_id(key.public_key()) in ring.signing
        assert keys.key_id(other.public_key()) not in ring.signing
    finally:
        public.unlink(missing_ok=True)
        private.unlink(missing_ok=True)


def test_empty_keyring_errors() -> None:
    ring = keys.Keyring()
    with pytest.raises(SignatureError) as exc:
        ring.sealing_key()
    assert exc.value.code == "unknown_key" and "trusted-keys" in exc.value.detail
    with pytest.raises(SignatureError):
        ring.sealing_key("0123456789abcdef")


def test_load_private_and_public_refuse_garbage() -> None:
    with pytest.raises(FileFormatError):
        keys.load_private("garbage")
    with pytest.raises(FileFormatError):
        keys.load_public(b"\x00\x01")
    k = Ed25519PrivateKey.generate()
    assert keys.key_id(keys.load_private(keys.private_pem(k)).public_key()) == keys.key_id(k.public_key())


def test_payload_is_an_independent_copy(core_signing_key: Ed25519PrivateKey) -> None:
    lic = core_license(core_signing_key, extra={"seats": {"max": 3}})
    p = lic.payload()
    p["params"]["machine_id"] = "changed"
    p["seats"]["max"] = 99
    assert lic.params["machine_id"] == "ab" * 32 and lic.extra["seats"] == {"max": 3}
    assert json.loads(lic.canonical_bytes()) == lic.payload()
