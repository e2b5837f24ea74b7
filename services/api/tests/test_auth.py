"""The write tokens in process: every token is compared in constant time, the file is read on every
write (rotation without a restart), and no file means no writes."""

import hmac
from pathlib import Path

import pytest
from api import auth
from api.auth import WriteTokens


def test_every_token_is_compared_with_compare_digest_whichever_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens"
    path.write_text("first-token\nsecond-token\n\nthird-token\n")
    tokens = WriteTokens(path)
    compared: list[bytes] = []
    compare_digest = hmac.compare_digest

    def recording_compare(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return compare_digest(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", recording_compare)
    for presented in ("first-token", "third-token", "nope"):
        compared.clear()
        tokens.accepts(presented)
        # A match on the first token does not stop the loop: the time says nothing about which matched.
        assert compared == [b"first-token", b"second-token", b"third-token"]


def test_tokens_are_whole_lines_and_rotation_needs_no_restart(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("old-token\n")
    tokens = WriteTokens(path)
    assert tokens.accepts("old-token")
    assert not tokens.accepts("old-toke") and not tokens.accepts("old-token\n") and not tokens.accepts("")
    path.write_text("old-token\nnew-token\n")  # rotation: the new token first, beside the old
    assert tokens.accepts("new-token") and tokens.accepts("old-token")
    path.write_text("new-token\n")  # then the old one goes
    assert tokens.accepts("new-token") and not tokens.accepts("old-token")


def test_without_a_tokens_file_every_write_is_refused() -> None:
    tokens = WriteTokens(None)
    assert not tokens.accepts("") and not tokens.accepts("anything")


def test_an_empty_file_accepts_no_token(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("\n  \n")
    assert not WriteTokens(path).accepts("") and not WriteTokens(path).accepts(" ")


def test_a_tokens_file_that_is_set_but_missing_stops_the_service_at_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        WriteTokens(tmp_path / "missing")
