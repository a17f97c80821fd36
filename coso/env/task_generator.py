"""The built-in task generator: AitW-worded tasks from seeded templates, so the default run needs no task file.

Each ``TaskTemplate`` is one wording family of the AitW General or Web Shopping lists. It draws names
from the vocabularies below (taken from the AitW training lists) and returns the sentence together with
the goal the sentence means, built from the drawn names without the parser. The tests check that
``parse_task`` reads every generated sentence back to exactly that goal.

The evaluation convention of the reference ("the first N tasks, sampled sequentially") is
``sequential_tasks``; ``TaskSampler`` hands tasks to rollouts in random or sequential order.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from coso.env.task_parser import content_words, infer_task_set
from coso.env.tasks import (
    TASK_SETS,
    AlarmGoal,
    AppSettingsGoal,
    ChromeTabGoal,
    Goal,
    InstallAppGoal,
    MapsGoal,
    NotificationsGoal,
    OpenAppGoal,
    SettingsPageGoal,
    Task,
    ToggleSettingGoal,
    WebSearchGoal,
    WebShopGoal,
    YouTubeGoal,
)
from coso.errors import ConfigError

GENERATOR_TASK_SETS = (*TASK_SETS, "mixed")

# ---------------------------------------------------------------------------------------------------
# Vocabularies (names as the AitW lists write them).
# ---------------------------------------------------------------------------------------------------

SHOPPING_SITES = ("bestbuy.com", "costco.com", "ebay.com", "newegg.com", "walmart.com", "target.com", "amazon.com")
SHOPPING_QUERIES = (
    "razer blade", "logitech g933", "logitech g910", "usb-c to usb-b", "macbook", "macbook air", "lenovo thinkpad",
    "dell alienware", "dell xps", "usb-a to usb-b", "razer thresher", "logitech g pro", "duracell triple a",
    "bose soundlink", "razer kraken", "razer deathadder", "razer blackwidow", "panasonic triple a", "lg ultragear",
    "bose soundsport free", "beats solo 3", "usb-c to usb-a", "jbl charge 4", "corsair k70", "acer nitro", "usb-a",
    "razer naga", "razer huntsman", "logitech g903", "jbl flip 4", "bose quietcomfort 35", "asus rog",
    "acer predator", "sony triple a", "razer nari", "rayovac triple a", "macbook pro", "bose soundlink mini",
    "asus zenbook", "alienware aurora", "alienware area 51", "usb-c", "macbook pro 15 inch", "logitech g502",
    "apple airpods", "usb-b", "macbook pro 13 inch", "energizer triple a",
)
NEWS_COUNTRIES = (
    "Chile", "Malaysia", "Indonesia", "Myanmar", "Puerto Rico", "Singapore", "Paraguay", "Suriname",
    "Trinidad and Tobago", "the Philippines", "Cambodia", "South Korea", "Venezuela", "Bolivia", "Pakistan",
    "Argentina", "Taiwan", "Brazil", "Colombia", "Nepal", "Japan", "Vietnam", "the Falkland Islands", "Ecuador",
    "Bangladesh", "India", "Thailand", "Guyana", "Peru", "China", "the Dominican Republic", "Laos", "French Guiana",
    "Brunei", "Jamaica", "Uruguay", "Sri Lanka", "the Bahamas", "Barbados",
)
CAPITAL_COUNTRIES = (
    "Colombia", "Uruguay", "Panama", "Peru", "Chile", "Paraguay", "Brazil", "Ecuador", "Mexico", "Venezuela",
    "Bolivia", "Argentina", "Canada", "Germany", "China", "Spain", "Japan", "India", "France", "Switzerland",
    "England", "Italy", "Norway", "Sweden", "the United Kingdom", "the United States",
)
CITIES = (
    "Los Angeles", "Denver", "Seattle", "Atlanta", "San Francisco", "Boston", "Austin", "Sacramento", "Miami",
    "New York", "Chicago", "Phoenix", "Portland", "San Diego", "Dallas", "San Jose", "Houston", "Philadelphia",
    "Las Vegas", "Hong Kong", "Johannesburg", "Moscow", "Seoul", "Mexico City", "Toronto", "Beijing", "Tokyo",
    "London", "Rio de Janeiro", "Delhi", "Paris", "Sydney", "Singapore", "Mumbai", "Berlin", "Orlando",
    "Washington DC", "Zurich", "Buenos Aires",
)
FLIGHT_CITIES = (
    "NYC", "Mexico city", "San Francisco", "Sydney", "Buenos aires", "Zurich", "Helsinki", "Barcelona", "Tokyo",
    "Seoul", "Boston", "Chicago", "London", "Paris", "San Diego", "Seattle",
)
CUISINES = ("Indian", "Thai", "Italian", "Chinese", "French", "Greek", "Japanese", "Korean", "Mexican", "BBQ")
BEAUTY_PRODUCTS = (
    "lipgloss", "blush", "foundation", "eyeshadow", "eyeliner", "perfume", "highlighter", "mascara", "nail polish",
    "bronzer", "lipstick", "skincare product", "hair product",
)
MENU_CHAINS = (
    "Cheesecake Factory", "Domino's", "Red Lobster", "Denny's", "Panera", "Chipotle", "Chick-fil-A", "Subway",
    "Starbucks", "Papa Murphy's", "Five Guys", "McDonalds", "In-N-Out", "Pizza Hut", "Burger King", "Olive Garden",
    "Papa John's", "IHOP", "Taco Bell",
)
TV_BRANDS = ("Samsung", "Vizio", "TCL", "Hisense", "LG", "Sony")
CURRENCIES = (
    "Chinese Yuan", "South Korean Won", "British Pound", "Brazilian Real", "Australian Dollar", "Indian Rupee",
    "Japanese Yen", "Swiss Franc", "Mexican Peso", "Euro", "Canadian Dollar",
)
BEACH_ITEMS = ("hat", "bag", "sandals", "blanket", "towel", "chair", "tote", "cooler", "umbrella", "tent")
WALLPAPER_DEVICES = ("computer", "phone", "laptop", "desktop", "tablet")
SPEED_THINGS = ("a car", "a skateboard", "a jet", "sound", "light", "a rocket", "a tiger", "a train", "a cheetah",
                "a bicycle", "a plane")
SIZE_THINGS = ("the sun", "the moon", "the earth", "a blue whale", "a giraffe", "a tiger", "a lion", "a dinosaur",
               "the universe")
SCIENCE_TOPICS = ("space science", "tech", "space exploration", "cosmology", "astrophysics", "astronomy",
                  "planetary science", "space technology", "space")
ARTISTS = ("Bruno Mars", "Taylor Swift", "Beyonce", "Ariana Grande", "Ed Sheeran", "Justin Bieber", "Maroon 5",
           "Selena Gomez", "Demi Lovato", "Drake", "Katy Perry")
NEWS_OUTLETS = ("Wall Street Journal", "New York Times", "Washington Post", "BBC", "Huffington Post")
GAME_CHANNELS = ("GameSpot Reviews", "GameSpot Trailers", "GameXplain", "IGN", "Game Informer", "GameSpot",
                 "GameSpot News", "Gameranx", "GameTrailers", "GameSpot eSports")
NEAREST_PLACES = ("Verizon Store", "grocery store", "IKEA", "Apple Store", "JCPenney", "Home Depot", "Best Buy",
                  "Burger King", "Starbucks", "Subway", "Target", "AT&T Store", "T-Mobile Store", "McDonalds",
                  "Sprint Store", "Chipotle", "Walmart", "Nordstrom", "electronics store")
MAPS_QUALITIES = ("5 star", "top rated", "good", "vegetarian")
MAPS_FOODS = ("sushi", "Italian", "seafood", "burger", "pizza", "Mexican", "Thai")
MAPS_PLACES = ("coffee shops", "gas stations", "parks", "pharmacies", "bakeries")
# (how the sentence names the app, the canonical app name of the goal)
OPEN_APPS = (("calculator", "calculator"), ("camera", "camera"), ("contacts", "contacts"), ("clock", "clock"),
             ("calendar", "calendar"), ("files", "files"), ("music", "music"), ("settings", "settings"),
             ("gallery", "gallery"), ("downloads", "downloads"), ("play store", "google play store"),
             ("Google play store", "google play store"), ("SMS", "messages"))
NAMED_APPS = ("Reddit",)  # opened as "Open Reddit" / "Go to Reddit"
EMAIL_WORDINGS = ("Check my email", "Check my email inbox", "Check my gmail", "Check my gmail inbox")
INSTALL_APPS = ("News", "Pandora", "Calendar", "Twitter", "Instagram", "CNN", "ESPN", "eBay", "Amazon", "Lyft",
                "Starbucks", "Google", "Uber", "Yahoo", "Weather", "Wikipedia", "Yelp", "Reddit", "Spotify",
                "Facebook")
SETTINGS_APPS = ("Pandora", "YouTube", "Facebook", "Google Play Movies", "Spotify", "Google Play Store",
                 "Google Photos", "Amazon Prime Video", "Google Play Books", "Uber", "Amazon Prime Music",
                 "Amazon Shopping", "Netflix", "Lyft", "Twitter", "Google Play Music", "Instagram", "Amazon Alexa",
                 "Google Chrome", "Amazon Music", "Google Maps")
DEVICE_SWITCHES = (("wifi", "wifi"), ("Wi-Fi", "wifi"), ("bluetooth", "bluetooth"), ("airplane mode", "airplane mode"))
SETTINGS_PAGES_SHOWN = (("wifi", "wifi"), ("bluetooth", "bluetooth"), ("display", "display"),
                        ("notifications", "notifications"))
# (sentence, incognito) for the Chrome tab family, as AitW writes them
CHROME_TAB_SENTENCES = (
    ("Open a new Chrome tab", False), ("Open a new tab in Chrome", False), ("Open a new tab in the chrome app", False),
    ("Open a new Chrome window", False), ("Open a new window in Chrome", False),
    ("Open a new window in the chrome app", False), ("Open a new Chrome incognito tab", True),
    ("Open a new incognito tab in Chrome", True), ("Open a new incognito window in the chrome app", True),
    ("Open a new Chrome private window", True), ("Open a new private tab in Chrome", True),
    ("Open a new Chrome incognito window", True), ("Open a new private window in the chrome app", True),
)

# ---------------------------------------------------------------------------------------------------
# Templates.
# ---------------------------------------------------------------------------------------------------

Draw = Callable[[random.Random], "tuple[str, Goal]"]


@dataclass(frozen=True)
class TaskTemplate:
    """One generated wording family: its task set, how often it is drawn, and how it makes (sentence, goal)."""

    family: str
    task_set: str
    weight: float
    draw: Draw


TASK_TEMPLATES: list[TaskTemplate] = []


def task_template(family: str, task_set: str, weight: float) -> Callable[[Draw], Draw]:
    """Register a template function ``rng -> (sentence, goal)`` under ``task_set`` with a draw ``weight``."""

    def register(draw: Draw) -> Draw:
        TASK_TEMPLATES.append(TaskTemplate(family, task_set, weight, draw))
        return draw

    return register


def _words(name: str) -> tuple[str, ...]:
    """The content words a name adds to a search query."""
    return content_words(name)


def _search(query: str, *keyword_groups: tuple[str, ...]) -> WebSearchGoal:
    """A WebSearchGoal whose keywords are the groups in order, without repeats."""
    return WebSearchGoal(query=query, keywords=tuple(dict.fromkeys(w for group in keyword_groups for w in group)))


# --- web shopping (AitW: a third each of plain, search, search + select) ---


@task_template("go to a site", "webshop", 1.0)
def _shop_visit(rng: random.Random) -> tuple[str, Goal]:
    site = rng.choice(SHOPPING_SITES)
    return f"Go to {site}", WebShopGoal(site=site)


@task_template("search a site", "webshop", 1.0)
def _shop_search(rng: random.Random) -> tuple[str, Goal]:
    site, query = rng.choice(SHOPPING_SITES), rng.choice(SHOPPING_QUERIES)
    quote = rng.choice(('"', '"', "'"))
    return f"Go to {site}, search for {quote}{query}{quote}", WebShopGoal(site=site, query=query)


@task_template("search a site and select the first entry", "webshop", 1.0)
def _shop_select(rng: random.Random) -> tuple[str, Goal]:
    site, query = rng.choice(SHOPPING_SITES), rng.choice(SHOPPING_QUERIES)
    quote = rng.choice(('"', '"', "'"))
    return (f"Go to {site}, search for {quote}{query}{quote}, and select the first entry",
            WebShopGoal(site=site, query=query, select_first=True))


# --- general: web-search questions (about two thirds of AitW General) ---


@task_template("news in a country", "general", 3.0)
def _news_country(rng: random.Random) -> tuple[str, Goal]:
    country = rng.choice(NEWS_COUNTRIES)
    return (f"What's the news in {country}?",
            _search(f"what's the news in {country.lower()}", ("news",), _words(country)))


@task_template("science news", "general", 1.0)
def _science_news(rng: random.Random) -> tuple[str, Goal]:
    topic = rng.choice(SCIENCE_TOPICS)
    return (f"What's the latest news in {topic}?",
            _search(f"what's the latest news in {topic}", ("latest", "news"), _words(topic)))


@task_template("weather in a city", "general", 2.0)
def _weather(rng: random.Random) -> tuple[str, Goal]:
    city = rng.choice(CITIES)
    return (f"What's the weather like in {city}?",
            _search(f"what's the weather like in {city.lower()}", ("weather",), _words(city)))


@task_template("restaurant in a city", "general", 2.0)
def _restaurant(rng: random.Random) -> tuple[str, Goal]:
    city = rng.choice(CITIES)
    return (f"What's a good restaurant in {city}?",
            _search(f"what's a good restaurant in {city.lower()}", ("restaurant",), _words(city)))


@task_template("time in a city", "general", 1.0)
def _time_in(rng: random.Random) -> tuple[str, Goal]:
    city = rng.choice(CITIES)
    return f"What time is it in {city}?", _search(f"what time is it in {city.lower()}", ("time",), _words(city))


@task_template("capital of a country", "general", 2.0)
def _capital(rng: random.Random) -> tuple[str, Goal]:
    country = rng.choice(CAPITAL_COUNTRIES)
    if rng.random() < 0.5:
        return (f"Google the capital of {country}",
                _search(f"capital of {country.lower()}", ("capital",), _words(country)))
    return (f"What is the capital of {country}?",
            _search(f"what is the capital of {country.lower()}", ("capital",), _words(country)))


@task_template("flights", "general", 2.0)
def _flights(rng: random.Random) -> tuple[str, Goal]:
    origin, destination = rng.sample(FLIGHT_CITIES, 2)
    return (f"Search for flights from {origin} to {destination}",
            _search(f"flights from {origin.lower()} to {destination.lower()}", ("flights",), _words(origin),
                    _words(destination)))


@task_template("hotels", "general", 1.5)
def _hotels(rng: random.Random) -> tuple[str, Goal]:
    city = rng.choice(CITIES)
    return f"Search for hotels in {city}", _search(f"hotels in {city.lower()}", ("hotels",), _words(city))


@task_template("cuisine", "general", 1.0)
def _cuisine(rng: random.Random) -> tuple[str, Goal]:
    cuisine = rng.choice(CUISINES)
    return (f"Search for good {cuisine} restaurants",
            _search(f"good {cuisine.lower()} restaurants", _words(cuisine), ("restaurants",)))


@task_template("beauty product", "general", 1.0)
def _beauty(rng: random.Random) -> tuple[str, Goal]:
    product = rng.choice(BEAUTY_PRODUCTS)
    if rng.random() < 0.3:
        return (f"Search for a new {product} on Sephora",
                _search(f"new {product} on sephora", ("new",), _words(product), ("sephora",)))
    return f"Search for a new {product}", _search(f"new {product}", ("new",), _words(product))


@task_template("menu", "general", 1.5)
def _menu(rng: random.Random) -> tuple[str, Goal]:
    chain = rng.choice(MENU_CHAINS)
    return (f"What's on the menu at {chain}?",
            _search(f"what's on the menu at {chain.lower()}", ("menu",), _words(chain)))


@task_template("tv price", "general", 1.0)
def _tv_price(rng: random.Random) -> tuple[str, Goal]:
    brand = rng.choice(TV_BRANDS)
    if rng.random() < 0.5:
        return (f"How much does the {brand} TV cost?",
                _search(f"how much does the {brand.lower()} tv cost", _words(brand), ("tv", "cost")))
    return f"What's the price of the {brand} TV?", _search(f"what's the price of the {brand.lower()} tv", ("price",),
                                                            _words(brand), ("tv",))


@task_template("rent", "general", 1.5)
def _rent(rng: random.Random) -> tuple[str, Goal]:
    rooms, city = rng.choice((2, 3)), rng.choice(CITIES)
    return (f"How much does a {rooms} bedroom apartment rent for in {city}?",
            _search(f"how much does a {rooms} bedroom apartment rent for in {city.lower()}",
                    (str(rooms), "bedroom", "apartment", "rent"), _words(city)))


@task_template("exchange rate", "general", 1.0)
def _exchange(rng: random.Random) -> tuple[str, Goal]:
    currency = rng.choice(CURRENCIES)
    return (f"What's the US dollar exchange rate against the {currency}?",
            _search(f"what's the us dollar exchange rate against the {currency.lower()}",
                    ("us", "dollar", "exchange", "rate"), _words(currency)))


@task_template("where to buy", "general", 0.7)
def _beach(rng: random.Random) -> tuple[str, Goal]:
    item = rng.choice(BEACH_ITEMS)
    return (f"Where can I buy a nice beach {item}?",
            _search(f"where can i buy a nice beach {item}", ("buy", "beach"), _words(item)))


@task_template("wallpapers", "general", 0.4)
def _wallpapers(rng: random.Random) -> tuple[str, Goal]:
    device = rng.choice(WALLPAPER_DEVICES)
    return (f"Show me some nice wallpapers for my {device}",
            _search(f"nice wallpapers for my {device}", ("wallpapers",), _words(device)))


@task_template("speed and size", "general", 1.5)
def _speed_size(rng: random.Random) -> tuple[str, Goal]:
    if rng.random() < 0.5:
        thing = rng.choice(SPEED_THINGS)
        return f"What is the speed of {thing}?", _search(f"what is the speed of {thing}", ("speed",), _words(thing))
    thing = rng.choice(SIZE_THINGS)
    return f"How big is {thing}?", _search(f"how big is {thing}", ("big",), _words(thing))


# --- general: apps, media, maps, device ---


@task_template("YouTube", "general", 2.0)
def _youtube(rng: random.Random) -> tuple[str, Goal]:
    wording = rng.randrange(4)
    if wording == 0:
        artist = rng.choice(ARTISTS)
        return f"Play the new {artist} video on YouTube", YouTubeGoal(query=artist.lower())
    if wording == 1:
        outlet = rng.choice(NEWS_OUTLETS)
        return f"Play the latest video from the {outlet}", YouTubeGoal(query=outlet.lower())
    if wording == 2:
        channel = rng.choice(GAME_CHANNELS)
        return f"What's the latest video from {channel}?", YouTubeGoal(query=channel.lower())
    return "Play some music on YouTube", YouTubeGoal(query="music")


@task_template("Maps", "general", 2.5)
def _maps(rng: random.Random) -> tuple[str, Goal]:
    wording = rng.randrange(4)
    if wording == 0:
        place = rng.choice(NEAREST_PLACES)
        return f"How do I get to the nearest {place}?", MapsGoal(query=place.lower(), directions=True)
    if wording == 1:
        quality, food = rng.choice(MAPS_QUALITIES), rng.choice(MAPS_FOODS)
        maps = rng.choice(("Maps", "Google Maps"))
        query = f"{quality} {food.lower()} restaurants"
        return f"Search for {quality} {food} restaurants on {maps}", MapsGoal(query=query)
    if wording == 2:
        place = rng.choice(MAPS_PLACES)
        return f"Find {place} on Maps", MapsGoal(query=place)
    place = rng.choice(("grocery store", "electronics store", "pharmacy", "gas station"))
    when = rng.choice(("", " that's open now", " that's open today"))
    query = place + when.replace(" that's", "")
    return f"Find the nearest {place}{when}", MapsGoal(query=query)


@task_template("open an app", "general", 1.5)
def _open_app(rng: random.Random) -> tuple[str, Goal]:
    wording = rng.randrange(4)
    if wording == 0:
        return rng.choice(EMAIL_WORDINGS), OpenAppGoal(app="gmail")
    if wording == 1:
        name = rng.choice(NAMED_APPS)
        return f"{rng.choice(('Open', 'Go to'))} {name}", OpenAppGoal(app=name.lower())
    shown, app = rng.choice(OPEN_APPS)
    suffix = " app" if wording == 2 and app != "settings" else ""
    return f"Open the {shown}{suffix}", OpenAppGoal(app=app)


@task_template("install an app", "general", 1.2)
def _install(rng: random.Random) -> tuple[str, Goal]:
    app = rng.choice(INSTALL_APPS)
    return f"Install the {app} app", InstallAppGoal(app=app.lower())


@task_template("app settings", "general", 1.2)
def _app_settings(rng: random.Random) -> tuple[str, Goal]:
    app = rng.choice(SETTINGS_APPS)
    return f"Check the settings for the {app} app", AppSettingsGoal(app=app.lower())


@task_template("alarm", "general", 1.0)
def _alarm(rng: random.Random) -> tuple[str, Goal]:
    wording = rng.randrange(4)
    hour12, meridiem = rng.randint(1, 12), rng.choice(("am", "pm"))
    hour24 = hour12 % 12 + (12 if meridiem == "pm" else 0)
    if wording <= 1:
        return f"Set an alarm for {hour12}{meridiem}", AlarmGoal(hour=hour24)
    minute = rng.choice((0, 15, 30, 45))
    if wording == 2:
        return f"Set an alarm for {hour12}:{minute:02d} {meridiem}", AlarmGoal(hour=hour24, minute=minute)
    return f"Set an alarm for {hour24:02d}:{minute:02d}", AlarmGoal(hour=hour24, minute=minute)


@task_template("chrome tab", "general", 1.0)
def _chrome_tab(rng: random.Random) -> tuple[str, Goal]:
    sentence, incognito = rng.choice(CHROME_TAB_SENTENCES)
    return sentence, ChromeTabGoal(incognito=incognito)


@task_template("notifications and switches", "general", 0.8)
def _device(rng: random.Random) -> tuple[str, Goal]:
    wording = rng.randrange(5)
    if wording == 0:
        return "Show me my notifications", NotificationsGoal()
    if wording == 1:
        app = rng.choice(SETTINGS_APPS)
        verb, state = rng.choice((("Turn on", True), ("Turn off", False), ("Toggle", None)))
        return (f"{verb} notifications for the {app} app",
                ToggleSettingGoal(setting="notifications", app=app.lower(), state=state))
    if wording == 2:
        shown, setting = rng.choice(DEVICE_SWITCHES)
        verb, state = rng.choice((("Turn on", True), ("Turn off", False)))
        return f"{verb} {shown}", ToggleSettingGoal(setting=setting, state=state)
    if wording == 3:
        shown, setting = rng.choice(DEVICE_SWITCHES)
        state = rng.choice((True, False))
        return f"Turn {shown} {'on' if state else 'off'}", ToggleSettingGoal(setting=setting, state=state)
    shown, page = rng.choice(SETTINGS_PAGES_SHOWN)
    return f"Open the {shown} settings", SettingsPageGoal(page=page)


# ---------------------------------------------------------------------------------------------------
# Generation and sampling.
# ---------------------------------------------------------------------------------------------------

UNIQUE_ATTEMPTS_PER_TASK = 30  # redraws spent avoiding a repeated sentence before repeats are allowed


def _templates_for(task_set: str) -> list[TaskTemplate]:
    """The templates of one AitW task set."""
    return [template for template in TASK_TEMPLATES if template.task_set == task_set]


def generate_tasks(n: int, seed: int, task_set: str = "webshop") -> list[Task]:
    """``n`` AitW-worded tasks of a task set ("webshop", "general" or "mixed"), deterministic per ``seed``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"the number of tasks to generate must be an integer >= 0, got {n!r}")
    if task_set not in GENERATOR_TASK_SETS:
        raise ConfigError(
            f"task_set {task_set!r} cannot be generated; use one of {', '.join(GENERATOR_TASK_SETS)}"
        )
    rng = random.Random(f"coso-tasks:{seed}:{task_set}")
    pools = {name: _templates_for(name) for name in TASK_SETS}
    tasks: list[Task] = []
    seen: set[str] = set()
    budget = UNIQUE_ATTEMPTS_PER_TASK * n
    while len(tasks) < n:
        pool = pools[rng.choice(TASK_SETS)] if task_set == "mixed" else pools[task_set]
        template = rng.choices(pool, weights=[t.weight for t in pool])[0]
        sentence, goal = template.draw(rng)
        if sentence in seen and budget > 0:
            budget -= 1
            continue
        seen.add(sentence)
        tasks.append(Task(text=sentence, goal=goal, task_set=infer_task_set(goal)))
    return tasks


def goal_strings(task: Task) -> list[str]:
    """The non-empty string fields of a task's goal (sites, queries, app names): what an agent types."""
    values = [getattr(task.goal, f.name) for f in dataclasses.fields(task.goal)]
    return [value for value in values if isinstance(value, str) and value]


def corpus_tasks(n_per_set: int, seed: int) -> tuple[list[str], list[str]]:
    """Generated sentences of every task set (``n_per_set`` each) and the goal strings typed for them."""
    tasks = [task for task_set in TASK_SETS for task in generate_tasks(n_per_set, seed, task_set)]
    return [task.text for task in tasks], [text for task in tasks for text in goal_strings(task)]


def sequential_tasks(tasks: Sequence[Task], n: int) -> list[Task]:
    """The first ``n`` tasks in order, cycling when ``n`` exceeds the list: the reference's evaluation convention."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"the number of evaluation tasks must be an integer >= 0, got {n!r}")
    if n and not tasks:
        raise ConfigError(f"cannot take {n} tasks from an empty task list; give a task file or generate tasks")
    return [tasks[index % len(tasks)] for index in range(n)]


def _next_random(sampler: TaskSampler) -> int:
    return sampler.rng.randrange(len(sampler.tasks))


def _next_sequential(sampler: TaskSampler) -> int:
    return sampler.position % len(sampler.tasks)


SAMPLE_MODES: dict[str, Callable[[TaskSampler], int]] = {"random": _next_random, "sequential": _next_sequential}


@dataclass
class TaskSampler:
    """Hands out tasks for rollouts: "random" draws with a seeded generator, "sequential" cycles in order."""

    tasks: Sequence[Task]
    mode: str = "random"
    seed: int = 0
    position: int = 0
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in SAMPLE_MODES:
            raise ConfigError(f"task sample mode {self.mode!r} is unknown; use one of {', '.join(SAMPLE_MODES)}")
        if not self.tasks:
            raise ConfigError("the task sampler got no tasks; give a task file with tasks or generate some")
        self.rng = random.Random(self.seed)

    def next(self) -> Task:
        """The next task under this sampler's mode."""
        task = self.tasks[SAMPLE_MODES[self.mode](self)]
        self.position += 1
        return task

    def take(self, n: int) -> list[Task]:
        """The next ``n`` tasks."""
        return [self.next() for _ in range(n)]
