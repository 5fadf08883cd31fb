"""Sealer: round trip, JWE interop, tamper resistance, key separation, rotation, bounded inflation."""

from __future__ import annotations

import json
import os
import re
import string
import zlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwe
from joserfc.jwk import OctKey

from auth0_wsgi.sealing import Sealer, b64decode, b64encode, derive_key

SECRET = "a" * 40
OLD = "o" * 40
OTHER = "z" * 40
PURPOSE = "session"
B64URL = string.ascii_letters + string.digits + "-_"


@pytest.fixture
def sealer() -> Sealer:
    return Sealer([SECRET], PURPOSE)


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def seal_raw(secret: str, purpose: str, payload: bytes) -> str:
    """A token sealed with the right key whose encrypted payload is ``payload`` as given (no compression)."""
    header = Sealer([secret], purpose).seal(b"").split(".")[0]
    nonce = os.urandom(12)
    sealed = AESGCM(derive_key(secret, purpose)).encrypt(nonce, payload, header.encode("ascii"))
    return f"{header}..{b64encode(nonce)}.{b64encode(sealed[:-16])}.{b64encode(sealed[-16:])}"


PLAINTEXTS = [
    pytest.param(b"", id="empty"),
    pytest.param(b"x", id="one-byte"),
    pytest.param(bytes(range(256)), id="all-byte-values"),
    pytest.param(json.dumps({"sub": "auth0|123", "n": [1, 2, 3]}).encode(), id="json"),
    pytest.param(os.urandom(10_000), id="random-10k"),
    pytest.param(b"abc" * 20_000, id="compressible-60k"),
]


@pytest.mark.parametrize("plaintext", PLAINTEXTS)
def test_round_trip(sealer, plaintext):
    assert sealer.unseal(sealer.seal(plaintext)) == plaintext


@pytest.mark.parametrize("plaintext", PLAINTEXTS)
def test_joserfc_decrypts_our_output(sealer, plaintext):
    token = sealer.seal(plaintext)
    result = jwe.decrypt_compact(token, OctKey.import_key(derive_key(SECRET, PURPOSE)))
    assert result.plaintext == plaintext
    assert result.protected["alg"] == "dir"
    assert result.protected["enc"] == "A256GCM"
    assert result.protected["zip"] == "DEF"
    assert isinstance(result.protected["kid"], str) and result.protected["kid"]


def test_token_shape(sealer):
    token = sealer.seal(b"hello")
    header, encrypted_key, nonce, _ciphertext, tag = token.split(".")
    assert encrypted_key == ""
    assert len(b64decode(nonce)) == 12
    assert len(b64decode(tag)) == 16
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token), "must be cookie-safe without quoting"
    assert "=" not in token
    assert SECRET not in json.loads(b64decode(header))["kid"]


def test_each_seal_differs(sealer):
    tokens = [sealer.seal(b"same") for _ in range(200)]
    assert len(set(tokens)) == len(tokens)
    nonces = {t.split(".")[2] for t in tokens}
    assert len(nonces) == len(tokens)
    assert all(sealer.unseal(t) == b"same" for t in tokens)


def test_no_secrets_refused():
    with pytest.raises(ValueError):
        Sealer([], PURPOSE)


# -- tampering ------------------------------------------------------------------------------------

def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1:]


@pytest.mark.parametrize("part", [
    pytest.param(0, id="header"),
    pytest.param(2, id="nonce"),
    pytest.param(3, id="ciphertext"),
    pytest.param(4, id="tag"),
])
@pytest.mark.parametrize("where", [
    pytest.param("first", id="first-char"),
    pytest.param("middle", id="middle-char"),
])
def test_tampered_part_gives_none(sealer, part, where):
    parts = sealer.seal(b"some session data").split(".")
    index = 0 if where == "first" else len(parts[part]) // 2
    parts[part] = _flip(parts[part], index)
    assert sealer.unseal(".".join(parts)) is None


@pytest.mark.parametrize("part", [
    pytest.param(0, id="header"),
    pytest.param(2, id="nonce"),
    pytest.param(3, id="ciphertext"),
    pytest.param(4, id="tag"),
])
def test_part_from_another_token_gives_none(sealer, part):
    first = sealer.seal(b"data one").split(".")
    second = sealer.seal(b"data two").split(".")
    mixed = list(first)
    mixed[part] = second[part]
    if part == 0:  # same header: use another purpose's header instead
        mixed[0] = Sealer([SECRET], "login").seal(b"").split(".")[0]
    assert sealer.unseal(".".join(mixed)) is None


def _same_bytes(a: str, b: str) -> bool:
    """Two tokens whose encoded parts decode identically (only unused base64 padding bits differ)."""
    pa, pb = a.split("."), b.split(".")
    if len(pa) != len(pb) or pa[0] != pb[0] or pa[1] != pb[1]:
        return False
    try:
        return all(b64decode(x) == b64decode(y) for x, y in zip(pa[2:], pb[2:], strict=True))
    except ValueError:
        return False


def test_every_single_character_change_gives_none(sealer):
    token = sealer.seal(b"a session payload worth protecting")
    tampered_count = 0
    for index, original in enumerate(token):
        for replacement in ("A", "_", "."):
            if replacement == original:
                continue
            tampered = token[:index] + replacement + token[index + 1:]
            result = sealer.unseal(tampered)
            if _same_bytes(token, tampered):
                continue  # the last base64 character carries unused bits: same bytes, same token
            tampered_count += 1
            assert result is None, f"change at {index} ({original!r} -> {replacement!r}) was accepted"
    assert tampered_count > 2 * len(token)


def test_every_truncation_gives_none(sealer):
    token = sealer.seal(b"truncate me")
    for length in range(len(token)):
        assert sealer.unseal(token[:length]) is None, length


@pytest.mark.parametrize("mangle", [
    pytest.param(lambda t: t + ".", id="trailing-dot"),
    pytest.param(lambda t: "." + t, id="leading-dot"),
    pytest.param(lambda t: t.replace("..", "...", 1), id="extra-dot-in-middle"),
    pytest.param(lambda t: t + ".AAAA", id="sixth-part"),
    pytest.param(lambda t: t.replace("..", ".x.", 1), id="non-empty-encrypted-key"),
    pytest.param(lambda t: t.replace("..", ".", 1), id="four-parts"),
    pytest.param(lambda t: t + t, id="doubled"),
    pytest.param(lambda t: t.split(".")[0] + "....", id="header-only"),
    pytest.param(lambda t: "", id="empty"),
    pytest.param(lambda t: "....", id="dots-only"),
])
def test_malformed_token_gives_none(sealer, mangle):
    assert sealer.unseal(mangle(sealer.seal(b"data"))) is None


def test_nonce_of_wrong_length_gives_none(sealer):
    parts = sealer.seal(b"data").split(".")
    parts[2] = b64encode(b64decode(parts[2])[:11])
    assert sealer.unseal(".".join(parts)) is None


def test_tag_of_wrong_length_gives_none(sealer):
    parts = sealer.seal(b"data").split(".")
    parts[4] = b64encode(b64decode(parts[4])[:15])
    assert sealer.unseal(".".join(parts)) is None


def test_non_ascii_in_parts_gives_none(sealer):
    parts = sealer.seal(b"data").split(".")
    parts[3] = parts[3][:-1] + "\u00e9"
    assert sealer.unseal(".".join(parts)) is None


# -- key separation and rotation ------------------------------------------------------------------

@pytest.mark.parametrize(("reader", "why"), [
    pytest.param(Sealer([OTHER], PURPOSE), "another secret", id="another-secret"),
    pytest.param(Sealer([SECRET], "login"), "another purpose", id="another-purpose"),
    pytest.param(Sealer([OTHER, OLD], PURPOSE), "rotation list without the secret", id="other-secrets"),
    pytest.param(Sealer([SECRET], PURPOSE + " "), "purpose differing by a space", id="purpose-with-space"),
])
def test_foreign_key_gives_none(sealer, reader, why):
    assert reader.unseal(sealer.seal(b"data")) is None, why


def test_foreign_key_with_our_header_gives_none(sealer):
    """Even with the header copied, a token sealed under another key fails authentication."""
    token = sealer.seal(b"x").split(".")
    foreign = Sealer([OTHER], PURPOSE).seal(b"x").split(".")
    foreign[0] = token[0]
    assert sealer.unseal(".".join(foreign)) is None


def test_rotation_reads_old_and_seals_with_new():
    old_only = Sealer([OLD], PURPOSE)
    rotated = Sealer([SECRET, OLD], PURPOSE)
    new_only = Sealer([SECRET], PURPOSE)
    assert rotated.unseal(old_only.seal(b"legacy")) == b"legacy"
    fresh = rotated.seal(b"fresh")
    assert rotated.unseal(fresh) == b"fresh"
    assert new_only.unseal(fresh) == b"fresh"
    assert old_only.unseal(fresh) is None
    assert fresh.split(".")[0] == new_only.seal(b"").split(".")[0]


def test_duplicate_secrets_are_harmless():
    sealer = Sealer([SECRET, SECRET], PURPOSE)
    assert sealer.unseal(sealer.seal(b"x")) == b"x"
    assert Sealer([SECRET], PURPOSE).unseal(sealer.seal(b"x")) == b"x"


def test_derive_key_separates_purposes_and_secrets():
    keys = {derive_key(s, p) for s in (SECRET, OTHER) for p in ("session", "login")}
    assert len(keys) == 4
    assert all(len(k) == 32 for k in keys)
    assert derive_key(SECRET, "session") == derive_key(SECRET, "session")


# -- bounded inflation ----------------------------------------------------------------------------

@pytest.mark.parametrize(("size", "accepted"), [
    pytest.param(1023, True, id="below-max"),
    pytest.param(1024, True, id="exactly-max"),
    pytest.param(1025, False, id="one-over-max"),
    pytest.param(1_000_000, False, id="bomb-1MB"),
])
def test_inflated_size_is_bounded(size, accepted):
    sealer = Sealer([SECRET], PURPOSE, max_plaintext=1024)
    token = sealer.seal(b"\0" * size)
    result = sealer.unseal(token)
    assert (result == b"\0" * size) if accepted else (result is None)


def test_default_limit_refuses_a_compression_bomb():
    sealer = Sealer([SECRET], PURPOSE)
    token = sealer.seal(b"\0" * (10 * 1024 * 1024))
    assert len(token) < 20_000  # the bomb is small on the wire...
    assert sealer.unseal(token) is None  # ...and refused once inflation passes 64 KiB


@pytest.mark.parametrize("payload", [
    pytest.param(b"not deflate at all \xff\xfe", id="not-deflate"),
    pytest.param(_deflate(b"hello")[:-2], id="truncated-stream"),
    pytest.param(zlib.compress(b"zlib header, not raw deflate"), id="zlib-wrapped"),
])
def test_bad_compressed_payload_with_right_key_gives_none(payload):
    sealer = Sealer([SECRET], PURPOSE)
    assert sealer.unseal(seal_raw(SECRET, PURPOSE, _deflate(b"control"))) == b"control"
    assert sealer.unseal(seal_raw(SECRET, PURPOSE, payload)) is None


# -- property: never raises ------------------------------------------------------------------------

_HEADER = Sealer([SECRET], PURPOSE).seal(b"").split(".")[0]
_B64 = st.text(alphabet=B64URL, max_size=40)


@given(st.one_of(
    st.text(),
    st.text(alphabet=B64URL + ".=+/ \n\u00e9", max_size=200),
    st.builds(lambda a, b, c: f"{_HEADER}..{a}.{b}.{c}", _B64, _B64, _B64),
    st.builds(lambda a, b, c: f"{_HEADER}..{a}.{b}.{c}", st.text(), st.text(), st.text()),
    st.builds(lambda n, c, t: f"{_HEADER}..{b64encode(n)}.{b64encode(c)}.{b64encode(t)}",
              st.binary(min_size=12, max_size=12), st.binary(max_size=64),
              st.binary(min_size=16, max_size=16)),
))
def test_unseal_of_arbitrary_text_is_none(text):
    assert Sealer([SECRET], PURPOSE).unseal(text) is None


# -- binding to a storage key (context) -----------------------------------------------------------

def test_value_sealed_under_one_key_does_not_unseal_under_another(sealer):
    """A backend writer without the secret cannot move a victim's record under their own key."""
    token = sealer.seal(b"victim's record", b"session:victim")
    assert sealer.unseal(token, b"session:victim") == b"victim's record"
    assert sealer.unseal(token, b"session:attacker") is None
    assert sealer.unseal(token) is None


def test_value_sealed_without_context_does_not_unseal_with_one(sealer):
    assert sealer.unseal(sealer.seal(b"x"), b"session:any") is None


def test_context_is_jwe_aad_that_joserfc_reads(sealer):
    """The context travels as the JSON serialization's ``aad`` member: standard JWE, not our own."""
    header, _, iv, ciphertext, tag = sealer.seal(b"{}", b"record-key").split(".")
    general = {"protected": header, "iv": iv, "ciphertext": ciphertext, "tag": tag,
               "aad": b64encode(b"record-key")}
    key = OctKey.import_key(derive_key(SECRET, PURPOSE))
    assert jwe.decrypt_json(general, key).plaintext == b"{}"
