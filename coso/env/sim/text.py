"""Text helpers shared by the simulator, the judge and the demonstrator: normalisation, tokens, stable seeds.

Everything here is a pure function. Seeds are derived with a cryptographic hash (never Python's ``hash``,
which changes between processes) so that a simulator episode is reproducible across runs and machines.
"""

from __future__ import annotations

import hashlib
import random
import re

_SPACES = re.compile(r"\s+")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
_URL = re.compile(r"^(?:https?://)?(?:www\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)(?:[/?#]\S*)?$")

# Words that carry no content when deciding whether a query matches a goal.
STOPWORDS = frozenset(
    "a an the of on in at to for from and or is are was be me my i you your it its this that what whats "
    "what's how do does can where which who whos when s please show find search google look up".split()
)


def normalize_text(text: str) -> str:
    """Lower-case ``text`` and collapse runs of whitespace (the form queries are stored and compared in)."""
    return _SPACES.sub(" ", str(text)).strip().lower()


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric tokens of ``text``; possessives lose "'s" ("denny's" -> "denny"), other
    apostrophes are dropped ("don't" -> "dont"), as the task parser writes keywords."""
    found = _TOKEN.findall(str(text).lower().replace("\u2019", "'"))
    return [(word[:-2] if word.endswith("'s") else word).replace("'", "") for word in found]


def content_tokens(text: str) -> set[str]:
    """The tokens of ``text`` that are not stopwords; falls back to all tokens when every one is a stopword."""
    all_tokens = tokens(text)
    content = {token for token in all_tokens if token not in STOPWORDS}
    return content or set(all_tokens)


def covers(query: str, required: str | tuple[str, ...] | list[str]) -> bool:
    """True when every content token of ``required`` (text or keyword list) occurs in ``query``."""
    wanted = set()
    if isinstance(required, str):
        wanted = content_tokens(required)
    else:
        for keyword in required:
            wanted |= set(tokens(keyword))
    return bool(wanted) and wanted <= set(tokens(query))


def url_domain(text: str) -> str:
    """The domain of ``text`` when it reads as a web address ("https://www.BestBuy.com/x" -> "bestbuy.com"), else ""."""
    match = _URL.match(normalize_text(text))
    if match is None or " " in text.strip():
        return ""
    domain = match.group(1)
    return domain if re_tld(domain) else ""


def re_tld(domain: str) -> bool:
    """True when the last label of ``domain`` looks like a top-level domain (letters, 2 to 6 of them)."""
    last = domain.rsplit(".", 1)[-1]
    return last.isalpha() and 2 <= len(last) <= 6


def normalize_domain(site: str) -> str:
    """A site as its bare domain ("www.costco.com/" -> "costco.com"; "costco" -> "costco.com")."""
    domain = url_domain(site)
    if domain:
        return domain
    bare = "".join(tokens(site))
    return f"{bare}.com" if bare else ""


def title_case(text: str) -> str:
    """Capitalise each word of ``text`` for display, keeping words that already hold capitals or digits."""
    return " ".join(word if any(ch.isupper() or ch.isdigit() for ch in word) else word.capitalize() for word in text.split())


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from ``parts``, identical in every process (SHA-256 of their text)."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def stable_rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from ``parts`` with ``stable_seed``."""
    return random.Random(stable_seed(*parts))
