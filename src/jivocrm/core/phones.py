"""Phone numbers and e-mails in the one form that duplicate checks compare: E.164, lower case."""

from __future__ import annotations

import functools

DEFAULT_REGION = "RU"
# Longer text is not a phone number, however written ("+7 (916) 123-45-67 доб. 1234" is 28):
# refused before parsing or caching, so the cache holds at most CACHED × MAX_TEXT characters.
MAX_TEXT = 64
MAX_DIGITS = 17  # E.164 allows 15, plus a short extension
CACHED = 8192


def normalize_phone(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """``+7 916 123-45-67``, ``8 (916) 123-45-67`` and ``79161234567`` → ``+79161234567``.

    Returns None for empty input or text that is not a possible number (longer than
    ``MAX_TEXT`` characters, or with more than ``MAX_DIGITS`` digits).
    """
    if raw is None:
        return None
    text = str(raw)
    if len(text) > MAX_TEXT or len(region) > 3 or sum(c.isdigit() for c in text) > MAX_DIGITS:
        return None
    return _normalize(text, region)


# The events of one chat carry the same phone again and again; parsing costs ~60 µs.
@functools.lru_cache(maxsize=CACHED)
def _normalize(raw: str, region: str) -> str | None:
    import phonenumbers  # on first use: validate and the CLI's start-up need no phone data

    text = raw.strip()
    if not text:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    candidates = [text]
    if not text.startswith("+") and digits:
        # "79161234567" has no "+": try it as an international number before the region's.
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # Possible but not valid for any region: keep the digits so equal inputs still compare equal.
    return "+" + digits if len(digits) >= 7 else None


def normalize_email(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = str(raw).strip().lower()
    return text if "@" in text else None


def national_digits(e164: str) -> str:
    """The digits every written form of a number shares: the national number without trunk
    prefix or country code (``+79161234567`` → ``9161234567``, what ``8 (916) 123-45-67`` and
    ``+7 916 123 45 67`` both contain). CRMs that match stored text are searched by these."""
    import phonenumbers

    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "".join(ch for ch in e164 if ch.isdigit())
    return str(number.national_number)


def spellings(e164: str) -> list[str]:
    """The ways a number is commonly stored, for a CRM that matches numbers as written text.

    ``+79161234567`` → ``+79161234567``, ``79161234567``, ``+7 916 123-45-67``,
    ``8 (916) 123-45-67``, ``89161234567``, ``9161234567`` and the usual Russian groupings with
    ``+7`` and ``8``: at most 20, what one duplicate search of a CRM takes.
    """
    import phonenumbers

    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return [e164]
    fmt = phonenumbers.PhoneNumberFormat
    plus = phonenumbers.format_number(number, fmt.E164)
    national = phonenumbers.format_number(number, fmt.NATIONAL)
    nsn = phonenumbers.national_significant_number(number)
    found = [
        plus,
        plus[1:],
        phonenumbers.format_number(number, fmt.INTERNATIONAL),
        national,
        "".join(ch for ch in national if ch.isdigit()),
        nsn,
    ]
    if number.country_code == 7 and len(nsn) == 10:
        a, b, c, d = nsn[:3], nsn[3:6], nsn[6:8], nsn[8:]
        for prefix in ("+7", "8"):
            found += [
                f"{prefix} ({a}) {b}-{c}-{d}",
                f"{prefix} {a} {b}-{c}-{d}",
                f"{prefix} {a} {b} {c} {d}",
                f"{prefix}({a}){b}-{c}-{d}",
                f"{prefix}-{a}-{b}-{c}-{d}",
            ]
    return list(dict.fromkeys(found))[:20]
