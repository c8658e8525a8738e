"""Website → domain normalisation: the de-duplication key for accounts."""

from urllib.parse import urlsplit


def normalize_domain(website: str | None) -> str:
    """Return the bare, lower-case host of a website (``https://www.Acme.com/about`` → ``acme.com``).

    Anything that has no recognisable host gives ``""``. Internationalised names are kept in their punycode form so
    that two spellings of one domain compare equal.
    """
    value = (website or "").strip()
    if not value:
        return ""
    if "://" not in value:
        value = "//" + value
    try:
        host = urlsplit(value).hostname or ""
    except ValueError:
        return ""
    host = host.rstrip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return ""
    return host if "." in host else ""
