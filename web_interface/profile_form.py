"""The profile form as typed: every problem at once, per field, in plain words.

Why not stop at the first problem: a person who typed five fields should fix them all in
one go, and see what they typed kept (nothing is thrown away because one field is wrong).
Facts come as label/value rows, so a line without a colon cannot turn into a fact that
is its own label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from common.phone_numbers import to_e164
from web_interface.plain_errors import plain
from web_interface.schemas import ProfileUpdate

LABELS = {
    "display_name": "Name",
    "phone_number": "Phone number",
    "time_zone": "Time zone",
    "facts": "Facts:",
    "never_share": "Things never to share:",
}
MAX_LABEL, MAX_FACT = 100, 500


@dataclass
class ProfileForm:
    display_name: str = ""
    phone_number: str = ""
    time_zone: str = "UTC"
    facts: list[tuple[str, str]] = field(default_factory=list)
    never_share: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)

    def check(self, region: str) -> ProfileUpdate | None:
        """The update to apply, or None with `errors` filled for every field that is wrong."""
        self.errors = {}
        facts = self._facts()
        update = None
        try:
            update = ProfileUpdate(
                display_name=self.display_name,
                phone_number=self.phone_number,
                time_zone=self.time_zone.strip(),
                facts=facts,
                never_share=[x.strip() for x in self.never_share.splitlines() if x.strip()],
            )
        except ValidationError as exc:
            for err in exc.errors():
                where = err["loc"][0] if err["loc"] else "display_name"
                index = err["loc"][1] if len(err["loc"]) > 1 else None
                line = f"line {index + 1} " if isinstance(index, int) else ""
                self._add(str(where), line + plain(err))
        self._check_phone(region)
        return None if self.errors else update

    def summary(self) -> list[str]:
        return [f"{LABELS.get(k, k)} {m}" for k, found in self.errors.items() for m in found]

    def _add(self, where: str, message: str) -> None:
        self.errors.setdefault(where, []).append(message)

    def _check_phone(self, region: str) -> None:
        typed = self.phone_number.strip()
        if typed and "phone_number" not in self.errors:
            try:
                to_e164(typed, region)
            except ValueError as exc:
                self._add("phone_number", f'"{typed}" {exc}')

    def _facts(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for row, (raw_label, raw_value) in enumerate(self.facts, start=1):
            label, value = raw_label.strip(), raw_value.strip()
            if not label and not value:
                continue
            if not label:
                self._add("facts", f'row {row} needs a label, e.g. "Name" for "{value[:40]}"')
            elif not value:
                self._add("facts", f'"{label[:40]}" needs what the agent may say')
            elif len(label) > MAX_LABEL or len(value) > MAX_FACT:
                limits = f"{MAX_LABEL} characters for a label, {MAX_FACT} for what is said"
                self._add("facts", f"row {row} is too long (at most {limits})")
            elif label in out:
                self._add("facts", f'"{label[:40]}" is there twice; keep one')
            else:
                out[label] = value
        return out
