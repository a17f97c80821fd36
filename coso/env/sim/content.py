"""Deterministic content: search results, products, videos, places and suggestions generated from queries.

Every generator is a pure function of its inputs and the episode seed. Result order is shuffled with a
probability that grows with the layout variation, so "the first entry" is not always the same product.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from coso.env.sim.catalog import APPS, shopping_sites, site_spec, store_search
from coso.env.sim.text import content_tokens, normalize_text, stable_rng, title_case, url_domain

MAX_SUGGESTIONS = 4
CACHE_SIZE = 4096  # generated lists are memoised (they are pure functions of their arguments) and returned as tuples


@dataclass(frozen=True)
class Product:
    """A product listed by a shopping site."""

    title: str
    price: float
    rating: float
    reviews: int


@dataclass(frozen=True)
class WebResult:
    """A Google search result."""

    domain: str
    title: str
    snippet: str


@dataclass(frozen=True)
class Video:
    """A YouTube video; ``topic`` is the search it answers ("" for ads and unrelated videos)."""

    title: str
    channel: str
    views: str
    topic: str
    ad: bool = False


@dataclass(frozen=True)
class Place:
    """A Google Maps place."""

    name: str
    category: str
    rating: float
    distance: str
    address: str


@dataclass(frozen=True)
class StoreEntry:
    """A Play Store listing; ``ad`` entries are sponsored apps shown above the matches."""

    app: str
    ad: bool = False


def _maybe_shuffle(items: list, variation: float, *seed_parts: object) -> list:
    """Shuffle ``items`` in place with probability ``variation`` (seeded by ``seed_parts``)."""
    rng = stable_rng("shuffle", *seed_parts)
    if rng.random() < variation:
        rng.shuffle(items)
    return items


_PRODUCT_VARIANTS = (
    "", "- Black", "- White", "(2023 Model)", "Wireless", "Bundle with Case", "- Refurbished", "Pro",
    "2-Pack", "Limited Edition", "- Open Box", "with Warranty", "Gen 2", "Compact", "Value Pack",
)


@lru_cache(maxsize=CACHE_SIZE)
def shop_products(site: str, query: str, seed: int, variation: float, count: int = 8) -> tuple[Product, ...]:
    """The results a shopping site lists for ``query``, in the order they are shown."""
    domain = site_spec(site).domain
    query = normalize_text(query)
    rng = stable_rng("products", domain, query, seed)
    base = title_case(query) if query else "Featured item"
    variants = list(_PRODUCT_VARIANTS)
    rng.shuffle(variants)
    products = []
    for index in range(count):
        variant = variants[index % len(variants)]
        title = f"{base} {variant}".strip()
        price = round(rng.uniform(9, 1400), 2)
        products.append(Product(title, price, round(rng.uniform(3.0, 5.0), 1), rng.randint(3, 9000)))
    return tuple(_maybe_shuffle(products, variation, "products", domain, query, seed))


_FEATURED = ("Smart TV 55\"", "Wireless Earbuds", "Gaming Laptop", "Robot Vacuum", "Air Fryer", "Office Chair",
             "4K Monitor", "Coffee Maker", "Smart Watch", "Bluetooth Speaker")


@lru_cache(maxsize=CACHE_SIZE)
def featured_products(site: str, seed: int, count: int = 4) -> tuple[Product, ...]:
    """Products featured on a shopping site's home page."""
    rng = stable_rng("featured", site_spec(site).domain, seed)
    names = rng.sample(_FEATURED, count)
    return tuple(Product(name, round(rng.uniform(19, 999), 2), round(rng.uniform(3.5, 5.0), 1), rng.randint(10, 5000))
                 for name in names)


_WEB_DOMAINS = ("wikipedia.org", "nytimes.com", "bbc.com", "reddit.com", "cnn.com", "tripadvisor.com",
                "yelp.com", "weather.com", "expedia.com", "zillow.com", "imdb.com", "espn.com")


@lru_cache(maxsize=CACHE_SIZE)
def google_results(query: str, seed: int, variation: float, count: int = 6) -> tuple[WebResult, ...]:
    """The Google results page for ``query``: sites the query names, then related pages."""
    query = normalize_text(query)
    rng = stable_rng("google", query, seed)
    shown = title_case(query)
    named = [url_domain(word) for word in query.split() if url_domain(word)] + _shop_domains_named(query)
    results = []
    for domain in dict.fromkeys(named):
        spec = site_spec(domain)
        results.append(WebResult(spec.domain, f"{spec.name} | Official Site", f"Shop and browse {spec.name} online."))
    domains = [domain for domain in _WEB_DOMAINS if domain not in named]
    rng.shuffle(domains)
    templates = ("{q} - Wikipedia", "{q}: What You Need to Know", "Top answers for {q}", "{q} | Latest Updates",
                 "The Complete Guide to {q}", "{q} - Reviews and Tips")
    for index, domain in enumerate(domains[: max(0, count - len(results))]):
        title = templates[index % len(templates)].format(q=shown)
        results.append(WebResult(domain, title, f"Everything about {query}, from {domain}."))
    return tuple(_maybe_shuffle(results, variation, "google", query, seed))


def _shop_domains_named(query: str) -> list[str]:
    words = set(content_tokens(query))
    joined = query.replace(" ", "")
    found = []
    for site in shopping_sites():
        stem = site.domain.split(".")[0]
        if stem in words or stem in joined or set(content_tokens(site.name)) <= words:
            found.append(site.domain)
    return found


_COMPLETIONS = {
    "web": ("near me", "today", "reviews", "price", "2023", "for sale", "deals", "meaning", "news", "wiki"),
    "shop": ("case", "wireless", "refurbished", "black", "bundle", "on sale", "pro", "2 pack"),
    "maps": ("near me", "open now", "nearby", "24 hours", "reviews"),
    "video": ("live", "official video", "lyrics", "2023", "full", "highlights", "reaction"),
    "store": ("app", "free", "lite", "games"),
}
_COMPLETION_KIND = {"youtube": "video", "maps": "maps", "store": "store"}


@lru_cache(maxsize=CACHE_SIZE)
def search_suggestions(text: str, context: str) -> tuple[str, ...]:
    """Autocomplete suggestions for ``text`` typed in a search box (``context`` names which box)."""
    typed = normalize_text(text)
    if not typed:
        return ()
    kind = "shop" if context.startswith("shop:") else _COMPLETION_KIND.get(context, "web")
    rng = stable_rng("suggest", context, typed)
    completions = rng.sample(_COMPLETIONS[kind], MAX_SUGGESTIONS - 1)
    return (typed, *(f"{typed} {completion}" for completion in completions))


_CHANNEL_SUFFIX = ("Official", "VEVO", "TV", "Music", "News", "Channel")
_VIDEO_TEMPLATES = ("{q} (Official Video)", "{q} - Latest", "{q} | Full Episode", "{q} Live", "Best of {q}",
                    "{q} Highlights", "{q} - Explained")
_OTHER_VIDEOS = ("Easy pasta recipe in 10 minutes", "Top 10 travel destinations", "Relaxing rain sounds",
                 "How to fix a bike chain", "Funny cats compilation", "Morning yoga routine")


@lru_cache(maxsize=CACHE_SIZE)
def youtube_results(query: str, seed: int, variation: float, count: int = 6) -> tuple[Video, ...]:
    """YouTube results for ``query``: matching videos, plus (more often when harder) an ad and an unrelated video."""
    query = normalize_text(query)
    rng = stable_rng("youtube", query, seed)
    shown = title_case(query)
    channel = f"{shown.split()[0] if shown else 'Video'} {rng.choice(_CHANNEL_SUFFIX)}"
    videos = [
        Video(_VIDEO_TEMPLATES[i % len(_VIDEO_TEMPLATES)].format(q=shown), channel,
              f"{rng.randint(1, 900)}K views", query)
        for i in range(count)
    ]
    videos = _maybe_shuffle(videos, variation, "youtube", query, seed)
    if rng.random() < variation:
        videos.insert(rng.randint(0, 2), Video(rng.choice(_OTHER_VIDEOS), "Trending", f"{rng.randint(1, 90)}M views", ""))
    if rng.random() < 0.7 * variation:
        videos.insert(0, Video("Get 3 months of Premium free", "YouTube Premium", "Sponsored", "", ad=True))
    return tuple(videos)


@lru_cache(maxsize=CACHE_SIZE)
def youtube_home(seed: int) -> tuple[Video, ...]:
    """Videos on the YouTube home feed (none of them is a search result)."""
    rng = stable_rng("youtube-home", seed)
    return tuple(Video(title, "Recommended", f"{rng.randint(1, 50)}M views", "") for title in rng.sample(_OTHER_VIDEOS, 4))


_STREETS = ("Main St", "Market St", "Broadway", "Oak Ave", "5th Ave", "Park Blvd", "Elm St", "Lake Dr")
_PLACE_SUFFIX = ("", "Downtown", "Central", "Express", "Plaza", "Uptown", "West")


@lru_cache(maxsize=CACHE_SIZE)
def maps_results(query: str, seed: int, variation: float, count: int = 5) -> tuple[Place, ...]:
    """Places Google Maps lists for ``query``."""
    query = normalize_text(query)
    rng = stable_rng("maps", query, seed)
    base = title_case(" ".join(w for w in query.split() if w not in ("nearest", "the", "near", "me", "a")) or query)
    suffixes = list(_PLACE_SUFFIX)
    rng.shuffle(suffixes)
    places = []
    for index in range(count):
        name = f"{base} {suffixes[index % len(suffixes)]}".strip()
        address = f"{rng.randint(10, 2999)} {rng.choice(_STREETS)}"
        places.append(Place(name, "Place", round(rng.uniform(3.2, 4.9), 1), f"{rng.uniform(0.2, 9.5):.1f} mi", address))
    places.sort(key=lambda place: float(place.distance.split()[0]))
    return tuple(_maybe_shuffle(places, variation, "maps", query, seed))


@lru_cache(maxsize=CACHE_SIZE)
def store_results(query: str, seed: int, variation: float, count: int = 6) -> tuple[StoreEntry, ...]:
    """Play Store results for ``query``: matching apps, then related ones; harder layouts add a sponsored entry."""
    query = normalize_text(query)
    rng = stable_rng("store", query, seed)
    matches = store_search(query)
    others = [spec.name for spec in APPS if spec.name not in matches and not spec.name.startswith("play ")]
    rng.shuffle(others)
    names = (matches + others)[:count]
    entries = [StoreEntry(name) for name in names]
    if rng.random() < 0.7 * variation:
        sponsor = rng.choice([name for name in others if name not in names] or others)
        entries.insert(0, StoreEntry(sponsor, ad=True))
    return tuple(entries)


@lru_cache(maxsize=CACHE_SIZE)
def store_featured(seed: int, count: int = 5) -> tuple[str, ...]:
    """Apps recommended on the Play Store's home page."""
    rng = stable_rng("store-home", seed)
    pool = [spec.name for spec in APPS if not spec.preinstalled]
    return tuple(rng.sample(pool, count))


@lru_cache(maxsize=CACHE_SIZE)
def app_rating(app: str) -> tuple[float, str]:
    """A stable rating and download count for an app."""
    rng = stable_rng("rating", app)
    return round(rng.uniform(3.6, 4.8), 1), f"{rng.choice((10, 50, 100, 500))}M+"
