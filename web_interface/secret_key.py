"""The key that signs session cookies and CSRF tokens.

WEB_SECRET_KEY when the operator sets one (several processes behind one address must
share it); otherwise a random key generated once into DATA_DIR, readable by the owner
only, so sessions survive restarts without anyone having to invent a secret.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

KEY_FILE = "web_secret_key"
KEY_BYTES = 32


def load_or_create_secret_key(configured: SecretStr | None, data_dir: Path) -> bytes:
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value().encode()
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(KEY_BYTES)
    try:
        # O_EXCL: two processes starting at once must not each write a different key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key.encode()


def _read(path: Path) -> bytes:
    key = path.read_text().strip()
    if len(key) < KEY_BYTES:
        raise ValueError(f"{path} holds no usable key; delete it to generate a new one")
    return key.encode()
