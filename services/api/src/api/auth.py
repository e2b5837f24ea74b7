"""Who may write: a bearer token from the write-tokens file (WRITE_TOKENS_FILE, one per line).

Several lines are several valid tokens, so a token is rotated without downtime: add the new one,
move the clients over, delete the old one. The file is looked at (stat) on every write and read
again whenever it changed, so a change counts at once, without a restart.
Without a file no token exists and every write is refused: the service fails closed.
"""

import hmac
import logging
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import Error

log = logging.getLogger(__name__)

# auto_error=False: a missing header is answered below, as 401 in our error shape (FastAPI's own
# answer is 403 without WWW-Authenticate). The scheme still goes into the OpenAPI document, which is
# what gives Swagger UI its Authorize button.
bearer = HTTPBearer(auto_error=False, description="A write token from WRITE_TOKENS_FILE")
UNAUTHORIZED = {401: {"model": Error, "description": "No valid bearer token (writes need one)"}}


class WriteTokens:
    """The tokens in one file, one per line."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        # The tokens as last read, and the file's identity then: reading and parsing the file on
        # every write cost 6 % of a POST's CPU in a profile; a stat tells whether it changed.
        self._tokens: list[bytes] = []
        self._read_from: tuple[int, int, int] | None = None
        if path is None:
            log.warning("WRITE_TOKENS_FILE is not set: every write will be refused")
        else:
            self._read()  # a file that is set but unreadable stops the service at start, loudly

    def _read(self) -> list[bytes]:
        assert self._path is not None
        status = self._path.stat()
        identity = (status.st_ino, status.st_size, status.st_mtime_ns)
        if identity != self._read_from:
            text = self._path.read_text()
            self._tokens = [line.strip().encode() for line in text.splitlines() if line.strip()]
            self._read_from = identity
        return self._tokens

    def accepts(self, presented: str) -> bool:
        if self._path is None:
            return False
        try:
            tokens = self._read()
        except OSError:
            log.exception("cannot read WRITE_TOKENS_FILE; refusing writes until it is back")
            return False
        candidate = presented.encode()
        # Constant time: every token is compared, each with compare_digest, whatever matched, so
        # the time taken says nothing about which token or how much of one was right.
        matched = False
        for token in tokens:
            matched |= hmac.compare_digest(candidate, token)
        return matched


async def require_write_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    if credentials is None:
        raise HTTPException(
            401, "writes need an Authorization: Bearer <token> header", {"WWW-Authenticate": "Bearer"}
        )
    tokens: WriteTokens = request.app.state.write_tokens
    if not tokens.accepts(credentials.credentials):
        raise HTTPException(
            401, "the bearer token is not valid", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )


# On a route: dependencies=[WriteAccess]. Runs before the route's other dependencies (the database
# connection among them), so a refused write costs no connection.
WriteAccess = Depends(require_write_token)
