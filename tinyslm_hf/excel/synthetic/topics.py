"""Random, realistic typed tables for training and testing the Excel-formula task.

Topics and header names come in two disjoint families, `train` and `test`, so the held-out split really asks the
model to read the schema instead of remembering that "Sales" lives in column C; invented topics (made-up headers and
values) widen the training side.
"""

from __future__ import annotations

import datetime as _dt
import functools
import random
import re
from dataclasses import dataclass
from typing import Any

from ...corpus import embedded_corpus_path
from ..table import CATEGORY, DATE, NUMBER, TEXT, Column, Table, col_letter, date_to_serial
from .phrasings import FILLER_WORDS, held_out_phrasing_words
from .words import made_up_word

FIRST = ["Ann", "Ben", "Carla", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jamal", "Kira", "Liam", "Mona",
         "Nico", "Olga", "Pablo", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Wes", "Xena", "Yuki", "Zoe",
         "Maria", "John", "Priya", "Chen", "Omar", "Lucy", "Ivan", "Aisha", "Tom", "Nadia"]


LAST = ["Lee", "Smith", "Garcia", "Kim", "Patel", "Novak", "Brown", "Silva", "Khan", "Rossi", "Meyer", "Jones",
        "Ito", "Diaz", "Clark", "Young", "Moreau", "Berg", "Walsh", "Costa", "Park", "Adams", "Nowak", "Ford"]


ADJ = ["Red", "Blue", "Steel", "Mini", "Pro", "Eco", "Smart", "Classic", "Ultra", "Solar", "Urban", "Swift"]


NOUN = ["Lamp", "Drill", "Kettle", "Chair", "Fan", "Hose", "Mixer", "Router", "Desk", "Heater", "Jar", "Saw"]


STREET = ["Oak St", "Elm Ave", "Pine Rd", "Lake Dr", "Hill Ln", "Park Way", "River Rd", "Main St", "Bay Ct"]


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a topic: its type, header names per split, and how to draw a value."""

    kind: str  # text | category | number | date
    train_names: tuple[str, ...]
    test_names: tuple[str, ...]
    values: tuple[Any, ...] = ()  # category levels
    low: float = 0
    high: float = 100
    decimals: int = 0
    key: str = ""  # text generator: person | product | address


@dataclass(frozen=True)
class Topic:
    name: str
    split: str  # train | test
    columns: tuple[ColumnSpec, ...]


def _c(kind, train, test, **kw) -> ColumnSpec:
    return ColumnSpec(kind, tuple(train), tuple(test), **kw)


TOPICS: tuple[Topic, ...] = (
    Topic("sales", "train", (
        _c(TEXT, ["Rep", "Salesperson", "Sales Rep", "Seller Name"], [], key="person"),
        _c(CATEGORY, ["Region", "Area"], [], values=("North", "South", "East", "West", "Central")),
        _c(CATEGORY, ["Product", "Item Sold"], [], values=("Laptop", "Phone", "Tablet", "Monitor", "Printer")),
        _c(NUMBER, ["Sales", "Revenue", "Sales Amount"], [], low=100, high=9000),
        _c(NUMBER, ["Qty", "Quantity", "Units"], [], low=1, high=60),
        _c(NUMBER, ["Price", "Unit Price"], [], low=5, high=900, decimals=2),
        _c(NUMBER, ["Target", "Quota"], [], low=500, high=8000),
        _c(DATE, ["Date", "Order Date"], []),
    )),
    Topic("hr", "train", (
        _c(TEXT, ["Employee", "Name", "Staff Member"], [], key="person"),
        _c(CATEGORY, ["Department", "Dept", "Team"], [], values=("Sales", "IT", "HR", "Finance", "Ops", "Legal")),
        _c(CATEGORY, ["Level", "Grade"], [], values=("Junior", "Mid", "Senior", "Lead")),
        _c(NUMBER, ["Salary", "Pay"], [], low=30000, high=150000),
        _c(NUMBER, ["Age"], [], low=20, high=65),
        _c(NUMBER, ["Rating", "Performance"], [], low=1, high=5),
        _c(NUMBER, ["Bonus"], [], low=0, high=9000),
        _c(DATE, ["Hire Date", "Start Date"], []),
    )),
    Topic("school", "train", (
        _c(TEXT, ["Student", "Pupil"], [], key="person"),
        _c(CATEGORY, ["Subject", "Course"], [], values=("Math", "Science", "History", "Art", "English")),
        # not 7A/8A: `formulas` reads "7A" as 7 AM
        _c(CATEGORY, ["Class", "Section"], [], values=("7B", "7C", "8B", "8C", "9C")),
        _c(NUMBER, ["Score", "Marks", "Exam Score"], [], low=0, high=100),
        _c(NUMBER, ["Attendance", "Days Present"], [], low=50, high=180),
        _c(NUMBER, ["Homework", "HW Points"], [], low=0, high=20),
        _c(DATE, ["Exam Date", "Test Date"], []),
    )),
    Topic("inventory", "train", (
        _c(TEXT, ["Item", "Product Name", "SKU Name"], [], key="product"),
        _c(CATEGORY, ["Category", "Type"], [], values=("Tools", "Toys", "Garden", "Kitchen", "Office")),
        _c(CATEGORY, ["Warehouse", "Location"], [], values=("Berlin", "Paris", "Madrid", "Rome", "Oslo")),
        _c(NUMBER, ["Stock", "On Hand", "In Stock"], [], low=0, high=500),
        _c(NUMBER, ["Cost", "Unit Cost"], [], low=1, high=250, decimals=2),
        _c(NUMBER, ["Reorder Level", "Min Stock"], [], low=5, high=80),
        _c(DATE, ["Last Restock", "Received"], []),
    )),
    Topic("sports", "train", (
        _c(TEXT, ["Player", "Athlete"], [], key="person"),
        _c(CATEGORY, ["Team", "Club"], [], values=("Lions", "Tigers", "Bears", "Hawks", "Wolves")),
        _c(CATEGORY, ["Position", "Role"], [], values=("Guard", "Forward", "Center", "Keeper")),
        _c(NUMBER, ["Points", "Pts", "Goals"], [], low=0, high=40),
        _c(NUMBER, ["Games", "Matches", "Games Played"], [], low=1, high=82),
        _c(NUMBER, ["Assists", "Ast"], [], low=0, high=15),
        _c(DATE, ["Match Date", "Game Day"], []),
    )),
    # Held-out topics: none of these header names appear in any training topic.
    Topic("expenses", "test", (
        _c(TEXT, [], ["Vendor", "Supplier"], key="product"),
        _c(CATEGORY, [], ["Expense Type", "Cost Center"], values=("Travel", "Meals", "Software", "Office", "Training")),
        _c(CATEGORY, [], ["Approver", "Manager"], values=("Kim", "Patel", "Rossi", "Walsh")),
        _c(NUMBER, [], ["Spend", "Amount Spent"], low=20, high=6000, decimals=2),
        _c(NUMBER, [], ["Budget", "Allowance"], low=100, high=7000),
        _c(NUMBER, [], ["Invoices", "Receipts"], low=1, high=30),
        _c(DATE, [], ["Invoice Date", "Paid On"]),
    )),
    Topic("clinic", "test", (
        _c(TEXT, [], ["Patient", "Patient Name"], key="person"),
        _c(CATEGORY, [], ["Ward", "Unit"], values=("Cardio", "Neuro", "Ortho", "Peds")),
        _c(CATEGORY, [], ["Doctor", "Physician"], values=("Dr Ito", "Dr Berg", "Dr Costa", "Dr Ford")),
        _c(NUMBER, [], ["Heart Rate", "Pulse"], low=50, high=140),
        _c(NUMBER, [], ["Weight", "Weight kg"], low=40, high=130),
        _c(NUMBER, [], ["Visits", "Appointments"], low=1, high=25),
        _c(DATE, [], ["Admitted", "Visit Date"]),
    )),
    Topic("property", "test", (
        _c(TEXT, [], ["Address", "Listing"], key="address"),
        _c(CATEGORY, [], ["City", "Town"], values=("Leeds", "York", "Bath", "Derby", "Hull")),
        _c(CATEGORY, [], ["Agent", "Broker"], values=("Nowak", "Adams", "Park", "Young")),
        _c(NUMBER, [], ["List Price", "Asking Price"], low=90000, high=900000),
        _c(NUMBER, [], ["Bedrooms", "Beds"], low=1, high=6),
        _c(NUMBER, [], ["Sq Ft", "Floor Area"], low=400, high=4000),
        _c(DATE, [], ["Listed On", "Sale Date"]),
    )),
)


# --- Invented topics (training and validation only) ----------------------------------------------------------------
# Five fixed training topics hold ~90 header names and ~30 category values: a model can memorise them instead of
# learning to *read the schema* (find the header the request names, copy its letter; copy a value from the request).
# Tables drawn from invented topics -- headers and values from broad word pools plus made-up words -- make memorising
# useless, so what is learned is the copying that the held-out topics need. Nothing here may coincide with a held-out
# header or category value (`_HELD_OUT_WORDS` filters them; a test checks it).
INVENTED_FRACTION = 0.5  # default share of invented-topic tables in generated training data (docs/excel.md)


ENGLISH_VALUE_FRACTION = 1 / 3  # share of invented category columns whose values are English words (english_words)


_NUMBER_WORDS = ["Height", "Distance", "Volume", "Fuel", "Speed", "Load", "Yield", "Rainfall", "Calories", "Votes",
                 "Clicks", "Views", "Likes", "Downloads", "Errors", "Tickets", "Hours", "Miles", "Laps", "Pages",
                 "Orders", "Returns", "Profit", "Margin", "Tax", "Fee", "Rent", "Deposit", "Balance", "Credits",
                 "Energy", "Temperature", "Humidity", "Capacity", "Seats", "Guests", "Nights", "Duration", "Minutes",
                 "Members", "Shares", "Dividend", "Mileage", "Output", "Defects", "Batches", "Signups", "Refunds",
                 "Donations", "Hits", "Runs", "Wins", "Losses", "Saves", "Steps", "Sleep", "Water", "Protein",
                 "Cost Per Unit", "Net Income", "Gross Pay", "Overtime", "Commission", "Discount", "Freight", "Area"]


_CATEGORY_WORDS = ["Status", "Color", "Size", "Shift", "Channel", "Tier", "Country", "Season", "Stage", "Priority",
                   "Platform", "Genre", "Brand", "Route", "Group", "Zone", "Plan", "Source", "Segment", "Branch",
                   "Store", "Floor", "Fleet", "Batch Type", "Plant", "Line", "League", "Division", "Market", "State"]


_CATEGORY_VALUES = ["Red", "Green", "Blue", "Gold", "Silver", "Small", "Medium", "Large", "Open", "Closed", "Pending",
                    "Active", "Day", "Night", "Web", "Retail", "Mobile", "Basic", "Plus", "Premium", "Spring",
                    "Summer", "Autumn", "Winter", "Alpha", "Beta", "Gamma", "Delta", "Omega", "Low", "High", "Urgent",
                    "Online", "Store", "Partner", "Direct", "Texas", "Ohio", "Oregon", "Kenya", "Chile", "Peru",
                    "Japan", "Spain", "Norway", "Egypt", "Q1", "Q2", "Q3", "Q4", "Zone 1", "Zone 2", "Line A",
                    "Line B", "Team X", "Team Y"]


_TEXT_WORDS = ["Customer", "Client", "Member", "Contact", "Owner", "Driver", "Author", "Project", "Account", "Title",
               "Code", "Model", "Part", "Course Name", "Venue", "Station", "Site", "Ship", "Recipe", "Task"]


_DATE_WORDS = ["Due Date", "Created", "Shipped", "Closed On", "Event Date", "Signup Date", "Renewal", "Deadline",
               "Start", "End Date", "Joined", "Updated", "Delivered", "Booked"]




# Lower-cased held-out header names and category values: what an invented topic must never produce.
_HELD_OUT_WORDS = frozenset(
    {n.lower() for t in TOPICS if t.split == "test" for c in t.columns for n in c.test_names}
    | {str(v).lower() for t in TOPICS if t.split == "test" for c in t.columns for v in c.values})


@functools.lru_cache(maxsize=1)
def english_words() -> tuple[str, ...]:
    """Distinct 4-10 letter words of the embedded corpus (Tiny Shakespeare), capitalised: category values to copy.

    Five fixed topics and syllable-made words give the model a narrow set of strings to copy, and it then writes a
    memorised value instead of an unseen one (`"Neuro"` -> `"Night"`). Thousands of real English words widen that.
    Held-out header names and values are left out, and so is every word of a held-out phrasing, opener or closer:
    a value is typed into the request, and it must not bring test vocabulary into training. Request-noise filler
    words are left out too, so a filler is never also a value to copy.
    """

    text = embedded_corpus_path().read_text(encoding="utf-8")
    forbidden = _HELD_OUT_WORDS | held_out_phrasing_words() | set(FILLER_WORDS)
    words = {w.lower() for w in re.findall(r"[A-Za-z]{4,10}", text)} - forbidden
    return tuple(sorted(w.capitalize() for w in words))


def _fresh_name(rng: random.Random, pool: list[str], used: set[str], forbidden: set[str]) -> str:
    """A header from `pool`, sometimes made up or two-word, never a held-out name and never twice in a table."""
    while True:
        r = rng.random()
        if r < 0.55:
            name = rng.choice(pool)
        elif r < 0.8:
            name = made_up_word(rng)
        else:
            name = f"{made_up_word(rng)} {rng.choice(pool)}"
        if name.lower() not in forbidden and name.lower() not in used:
            used.add(name.lower())
            return name


def invented_topic(rng: random.Random) -> Topic:
    """A one-off topic: 1 text, 1-2 category, 2-4 number and one date column with fresh names and values."""
    forbidden, used = _HELD_OUT_WORDS, set()
    cols = [_c(TEXT, [_fresh_name(rng, _TEXT_WORDS, used, forbidden)], [], key=rng.choice(["person", "product", "made_up"]))]
    for _ in range(rng.randint(1, 2)):
        r = rng.random()
        if r < ENGLISH_VALUE_FRACTION:
            pool = list(rng.sample(english_words(), 5))
        elif r < 0.5 + ENGLISH_VALUE_FRACTION / 2:
            pool = [v for v in _CATEGORY_VALUES if v.lower() not in forbidden]
        else:
            pool = []
        while len(pool) < 5:
            word = made_up_word(rng)
            if word.lower() not in forbidden:
                pool.append(word)
        values = tuple(rng.sample(pool, rng.randint(2, 5)))
        cols.append(_c(CATEGORY, [_fresh_name(rng, _CATEGORY_WORDS, used, forbidden)], [], values=values))
    for _ in range(rng.randint(2, 4)):
        low = rng.choice([0, 1, 5, 10, 50, 100, 1000])
        high = low + rng.choice([10, 50, 100, 500, 2000, 10000, 90000])
        cols.append(_c(NUMBER, [_fresh_name(rng, _NUMBER_WORDS, used, forbidden)], [], low=low, high=high,
                       decimals=rng.choice([0, 0, 0, 1, 2])))
    cols.append(_c(DATE, [_fresh_name(rng, _DATE_WORDS, used, forbidden)], []))
    return Topic("invented", "train", tuple(cols))


def _draw(spec: ColumnSpec, rng: random.Random, n: int) -> list[Any]:
    if spec.kind == TEXT and spec.key == "code":
        return _codes(rng, n)
    if spec.kind == TEXT:
        pool: set[str] = set()
        while len(pool) < n:
            if spec.key == "person":
                pool.add(f"{rng.choice(FIRST)} {rng.choice(LAST)}")
            elif spec.key == "address":
                pool.add(f"{rng.randint(1, 250)} {rng.choice(STREET)}")
            elif spec.key == "made_up":
                pool.add(f"{made_up_word(rng)} {rng.randint(1, 99)}")
            else:
                pool.add(f"{rng.choice(ADJ)} {rng.choice(NOUN)}")
        values = sorted(pool)
        rng.shuffle(values)
        return values
    if spec.kind == CATEGORY:
        return [rng.choice(spec.values) for _ in range(n)]
    if spec.kind == NUMBER:
        if spec.decimals:
            return [round(rng.uniform(spec.low, spec.high), spec.decimals) for _ in range(n)]
        return [rng.randint(int(spec.low), int(spec.high)) for _ in range(n)]
    start = date_to_serial(_dt.date(2022, 1, 1))
    return [start + rng.randint(0, 3 * 365) for _ in range(n)]


# Real tables are messier than the topics above: a record key before the name (`L-0401`, `WS-007`), so the name
# becomes a value to look up or return; units in number headers (`Fee (EUR)`) that nobody types. Both are shared by
# all splits: they are layout, not vocabulary.
CODE_KEY = _c(TEXT, ["ID", "Ref", "Record ID", "Entry ID", "Key"], ["ID", "Ref", "Record ID", "Entry ID", "Key"],
              key="code")
CODE_KEY_FRACTION = 0.3
HEADER_UNITS = ("EUR", "USD", "$", "GBP", "km", "min", "h", "%", "cm", "L")  # not kg: `Weight kg` is held out
UNIT_FRACTION = 0.25


def _codes(rng: random.Random, n: int) -> list[str]:
    """`n` record keys in order, as a system numbers them: `KX-0401`, `KX-0402`, ..."""
    prefix = "".join(rng.choice("BCDEFGHKLMNPRSTW") for _ in range(rng.randint(1, 2)))  # no held-out `x`
    start, width = rng.randint(1, 900), rng.choice([3, 4])
    return [f"{prefix}-{start + i:0{width}d}" for i in range(n)]


def _header(spec: ColumnSpec, rng: random.Random, split: str) -> str:
    name = rng.choice(spec.test_names if split == "test" else spec.train_names)
    if spec.kind == NUMBER and rng.random() < UNIT_FRACTION:
        name = f"{name} ({rng.choice(HEADER_UNITS)})"
    return name


def topics_for(split: str) -> list[Topic]:
    """Training and validation share the train topics; the test split uses only the held-out ones."""
    want = "test" if split == "test" else "train"
    return [t for t in TOPICS if t.split == want]


def random_table(rng: random.Random, split: str = "train", min_rows: int = 5, max_rows: int = 50,
                 invented_fraction: float = 0.0) -> Table:
    """Draw a table: the key text column, 1-2 categories, 2-4 numbers, maybe a date, in a shuffled order; sometimes
    a record-key column first (`CODE_KEY_FRACTION`) and units in number headers (`UNIT_FRACTION`).

    Outside the test split, `invented_fraction` of the tables come from a freshly invented topic (see above).
    """
    if split != "test" and invented_fraction and rng.random() < invented_fraction:
        topic = invented_topic(rng)
    else:
        topic = rng.choice(topics_for(split))
    text = [c for c in topic.columns if c.kind == TEXT]
    cats = [c for c in topic.columns if c.kind == CATEGORY]
    nums = [c for c in topic.columns if c.kind == NUMBER]
    dates = [c for c in topic.columns if c.kind == DATE]
    chosen = list(text) + rng.sample(cats, rng.randint(1, len(cats))) + rng.sample(nums, rng.randint(2, len(nums)))
    if dates and rng.random() < 0.5:
        chosen.append(dates[0])
    # Key column usually first (as people lay tables out), sometimes elsewhere so INDEX/MATCH is needed.
    rest = chosen[1:]
    rng.shuffle(rest)
    if rng.random() < 0.7:
        chosen = [chosen[0]] + rest
    else:
        pos = rng.randint(1, len(rest))
        chosen = rest[:pos] + [chosen[0]] + rest[pos:]
    if rng.random() < CODE_KEY_FRACTION:
        chosen.insert(0, CODE_KEY)
    n = rng.randint(min_rows, max_rows)
    columns = [Column(col_letter(i), _header(spec, rng, split), spec.kind, _draw(spec, rng, n))
               for i, spec in enumerate(chosen)]
    return Table(topic.name, columns)


def header_names(split: str) -> set[str]:
    """Every header name a split can use (tests check train and test never share one)."""
    names: set[str] = set()
    for topic in topics_for(split):
        for spec in topic.columns:
            names.update(spec.test_names if split == "test" else spec.train_names)
    return names
