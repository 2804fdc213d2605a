"""Generate the demo dataset: a Dutch fashion retailer's exports, as files, plus the truth.

Every random choice is drawn with numpy from one seed, a whole column at a time; DuckDB turns
the numbers into the strings a business's systems would write (names, addresses, phone numbers
in several notations) and writes the files. No Python loop runs per customer or per row, so a
million customers (about 20 million events) is a matter of minutes.

What the files hold, and how each system identifies people:

- crm_customers.csv: the customer master (customer number, name, contact, address). Some
  households share a landline; a few test accounts carry test@example.com and 0000000000.
- products.csv: the catalogue.
- orders.parquet, order_lines.csv: online orders (delivery address) and in-store orders (store),
  by customer number.
- marketing_emails.jsonl: sends, opens and clicks, by e-mail address only, some written in
  another case or with spaces around; the campaign's seed list includes test@example.com.
- web_logs.csv: hits with a cookie id on every row and the customer number only once the
  visitor logged in (page /login_success.html); prospects who never log in browse too.
- support_calls.csv: calls by the caller's phone number in whatever notation the phone system
  recorded (+31 6 1234 5678, 0612345678, 0031612345678, ...); some callers withhold their
  number (0000000000).
- ground_truth.parquet: for every row of every file about people, the person it belongs to.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from c360.demo import reference as ref
from c360.demo.catalogue import (
    CALLS,
    CUSTOMERS,
    EMAILS,
    GROUND_TRUTH_FILE,
    ORDER_LINES,
    ORDERS,
    PRODUCTS,
    SOURCES,
    WEB_LOGS,
    DemoSource,
)

# Fixed dates keep the output a function of the seed alone (not of the day it runs).
SIGNUP_START = int(datetime(2016, 1, 1, tzinfo=UTC).timestamp())
ACTIVITY_START = int(datetime(2023, 7, 1, tzinfo=UTC).timestamp())
END = int(datetime(2025, 7, 1, tzinfo=UTC).timestamp())  # exclusive
DAY = 86_400
WRITE_BATCH_ROWS = 500_000

NOBODY = -1  # ground truth of a row that belongs to no known person (a test or withheld value)
TEST_EMAIL = "test@example.com"
TEST_PHONE = "0000000000"

# Web event kinds, in the order of WEB_EVENT_MIX; visit and login are placed, not drawn.
WEB_EVENTS = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout",
    "error",
    "visit",
    "login",
)
WEB_EVENT_MIX = (0.37, 0.28, 0.10, 0.11, 0.035, 0.05, 0.055)
VISIT, LOGIN = 7, 8
CATEGORY_PATHS = [path for path, _ in ref.CATEGORY_PAGES]
CATEGORY_TITLES = [title for _, title in ref.CATEGORY_PAGES]


@dataclass(frozen=True)
class DemoFiles:
    """What `generate` wrote: the files by source, the ground truth and the row counts."""

    out_dir: Path
    customers: int
    seed: int
    rows: dict[str, int]  # file name -> data rows
    seconds: float

    def path(self, source: DemoSource) -> Path:
        return self.out_dir / source.file_name

    @property
    def ground_truth(self) -> Path:
        return self.out_dir / GROUND_TRUTH_FILE


def generate(*, out_dir: Path, customers: int = 2000, seed: int = 7) -> DemoFiles:
    """Write the demo files for `customers` customers into `out_dir`; the same seed, the same
    bytes."""
    if customers < 1:
        raise ValueError("customers: expected at least 1")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    db = duckdb.connect(":memory:", config={"preserve_insertion_order": True})
    try:
        db.execute("SET TimeZone = 'UTC'")
        _phone_macros(db)
        writer = _Writer(db, out_dir)
        people = _customers(streams[0], customers)
        writer.customers(people, streams[0])
        products = _products(streams[1], customers)
        writer.products(products)
        writer.orders(people, products, streams[2])
        writer.emails(people, products, streams[3])
        writer.web_logs(people, products, streams[4])
        writer.calls(people, streams[5])
        writer.ground_truth()
        rows = dict(writer.rows)
    finally:
        db.close()
    return DemoFiles(
        out_dir=out_dir,
        customers=customers,
        seed=seed,
        rows=rows,
        seconds=time.perf_counter() - started,
    )


# -- helpers ----------------------------------------------------------------------------
def _p(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Weights as probabilities."""
    array = np.asarray(weights, dtype=float)
    probabilities: np.ndarray = array / array.sum()
    return probabilities


def _take(values: Sequence[str], idx: np.ndarray) -> pa.Array:
    """values[idx] as an Arrow string column; a negative index gives null."""
    indices = pa.array(idx.astype(np.int32), mask=idx < 0)
    return pc.take(pa.array(list(values), pa.string()), indices)


def _uuids(rng: np.random.Generator, count: int) -> pa.Array:
    """Random version-4-looking UUID strings, built as bytes a whole column at a time."""
    raw = rng.integers(0, 256, size=(count, 16), dtype=np.uint8)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    hexed = np.empty((count, 32), dtype=np.uint8)
    hexed[:, 0::2] = digits[raw >> 4]
    hexed[:, 1::2] = digits[raw & 15]
    hexed[:, 12] = ord("4")
    out = np.full((count, 36), ord("-"), dtype=np.uint8)
    for start, stop, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        out[:, at : at + stop - start] = hexed[:, start:stop]
    return pa.array(np.ascontiguousarray(out).view("S36").ravel()).cast(pa.string())


def _between(rng: np.random.Generator, low: np.ndarray, high: np.ndarray | int) -> np.ndarray:
    """A uniform time (seconds) between low and high, per row."""
    moments: np.ndarray = (low + rng.random(len(low)) * (np.asarray(high) - low)).astype(np.int64)
    return moments


def _phone_macros(db: duckdb.DuckDBPyConnection) -> None:
    """Dutch phone notations of a national number (nsn: '612345678', area length 1 or 2)."""
    db.execute(
        """
        CREATE MACRO phone_rest(nsn, alen) AS substr(nsn, alen + 1);
        CREATE MACRO phone_split(rest) AS
            substr(rest, 1, length(rest) - 4) || ' ' || right(rest, 4);
        CREATE MACRO phone_as(nsn, alen, notation) AS CASE notation
            WHEN 0 THEN '+31' || nsn
            WHEN 1 THEN '+31 ' || left(nsn, alen) || ' ' || phone_split(phone_rest(nsn, alen))
            WHEN 2 THEN '0' || nsn
            WHEN 3 THEN '0' || left(nsn, alen) || '-' || phone_rest(nsn, alen)
            WHEN 4 THEN '0031' || nsn
            WHEN 5 THEN '0' || left(nsn, alen) || ' ' || phone_split(phone_rest(nsn, alen))
            ELSE '(0' || left(nsn, alen) || ') ' || phone_rest(nsn, alen)
        END;
        """
    )


# -- customers --------------------------------------------------------------------------
@dataclass
class _People:
    n: int
    tests: int  # test accounts, numbered after the customers
    width: int  # digits of a customer number
    first: np.ndarray  # index into FIRST_NAMES
    last: np.ndarray
    gender: np.ndarray  # 0 female, 1 male, 2 not given
    birth_days: np.ndarray  # days since 1970-01-01
    city: np.ndarray
    street: np.ndarray
    house: np.ndarray
    postal: np.ndarray  # the four digits
    postal_letters: np.ndarray  # two indices into POSTAL_LETTERS
    signup: np.ndarray  # seconds
    active_from: np.ndarray  # seconds: the later of sign-up and the start of the activity window
    has_email: np.ndarray
    email_pattern: np.ndarray
    email_domain: np.ndarray
    phone_nsn: pa.Array  # national significant number, '' when none
    phone_area_len: np.ndarray
    household: np.ndarray  # household number, -1 when the customer has a phone of their own
    home_store: np.ndarray
    emails: pa.Array | None = None  # the e-mail address as the CRM holds it ('' when none)

    @property
    def customer_ids(self) -> pa.Array:
        return _customer_ids(np.arange(self.n), self.width)


FIRST_NAMES = ref.FEMALE_FIRST_NAMES + ref.MALE_FIRST_NAMES


def _numbered(prefix: str | pa.Array, numbers: np.ndarray, width: int) -> pa.Array:
    """Keys such as C0000042: a prefix, then the number zero-padded to `width` digits."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _customer_ids(idx: np.ndarray, width: int) -> pa.Array:
    return _numbered("C", idx + 1, width)


def _customers(rng: np.random.Generator, n: int) -> _People:
    gender = rng.choice(3, n, p=[0.54, 0.44, 0.02])
    female = rng.integers(0, len(ref.FEMALE_FIRST_NAMES), n)
    male = len(ref.FEMALE_FIRST_NAMES) + rng.integers(0, len(ref.MALE_FIRST_NAMES), n)
    coin = rng.random(n) < 0.5  # a customer who gave no gender has either kind of name
    first = np.where((gender == 1) | ((gender == 2) & coin), male, female)
    last = rng.choice(len(ref.LAST_NAMES), n, p=_p(1 / (np.arange(len(ref.LAST_NAMES)) + 4)))
    age = np.clip(rng.normal(41, 14, n), 18, 88)
    birth_days = ((END - age * 365.25 * DAY) // DAY).astype(np.int64)
    city = rng.choice(len(ref.CITIES), n, p=_p([c[1] for c in ref.CITIES]))
    low = np.array([c[2][0] for c in ref.CITIES])[city]
    high = np.array([c[2][1] for c in ref.CITIES])[city]
    postal = (low + rng.random(n) * (high - low + 1)).astype(np.int64)
    postal_letters = rng.integers(0, len(ref.POSTAL_LETTERS), (n, 2))
    street = rng.integers(0, len(ref.STREETS), n)
    house = 1 + rng.geometric(1 / 40, n)
    # Sign-ups lean to recent years, as a growing shop's do.
    signup = (SIGNUP_START + rng.random(n) ** 0.6 * (END - 7 * DAY - SIGNUP_START)).astype(np.int64)
    active_from = np.maximum(signup, ACTIVITY_START)

    # Households: 2 or 3 customers at one address sharing one landline.
    heads_count = max(1, round(n * 0.02)) if n >= 10 else 0
    sizes = np.where(rng.random(heads_count) < 0.8, 2, 3)
    order = rng.permutation(n)
    heads = order[:heads_count]
    members = order[heads_count : heads_count + int((sizes - 1).sum())]
    member_head = np.repeat(heads, sizes - 1)[: len(members)]
    for column in (last, city, postal, street, house):
        column[members] = column[member_head]
    postal_letters[members] = postal_letters[member_head]
    household = np.full(n, -1, dtype=np.int64)
    household[heads] = np.arange(heads_count)
    household[members] = household[member_head]

    # Mobile numbers: 06-1xxxxxxx to 06-5xxxxxxx, distinct by construction (an affine map of
    # the index modulo 5 * 10^7 with a multiplier prime to 10 is one-to-one).
    multiplier = int(rng.integers(1_000_000, 9_999_999)) * 10 + int(rng.choice([1, 3, 7, 9]))
    offset = int(rng.integers(0, 5 * 10**7))
    mobile = 10**7 + (np.arange(n, dtype=np.int64) * multiplier + offset) % (5 * 10**7)
    mobile_nsn = pc.binary_join_element_wise(
        "6", pc.utf8_lpad(pc.cast(pa.array(mobile), pa.string()), 8, "0"), ""
    )
    landline = 1_000_000 + (household * 7_654_321 + offset) % 9_000_000
    area = _take([c[3] for c in ref.CITIES], city)
    landline_nsn = pc.binary_join_element_wise(area, pc.cast(pa.array(landline), pa.string()), "")
    in_household = pa.array(household >= 0)
    has_phone = (household >= 0) | (rng.random(n) < 0.95)
    phone_nsn = pc.if_else(
        pa.array(has_phone), pc.if_else(in_household, landline_nsn, mobile_nsn), ""
    )
    area_len = np.where(household >= 0, 2, 1)

    stores_by_city = np.full(len(ref.CITIES), -1)
    for index, (_, city_index, _) in reversed(list(enumerate(ref.STORES))):
        stores_by_city[city_index] = index
    any_store = rng.choice(len(ref.STORES), n, p=_p([s[2] for s in ref.STORES]))
    local_store = stores_by_city[city]
    home_store = np.where((local_store >= 0) & (rng.random(n) < 0.85), local_store, any_store)

    return _People(
        n=n,
        tests=max(3, n // 500),
        width=max(7, len(str(n + max(3, n // 500)))),
        first=first,
        last=last,
        gender=gender,
        birth_days=birth_days,
        city=city,
        street=street,
        house=house,
        postal=postal,
        postal_letters=postal_letters,
        signup=signup,
        active_from=active_from,
        has_email=rng.random(n) < 0.97,
        email_pattern=rng.choice(5, n, p=[0.4, 0.2, 0.15, 0.1, 0.15]),
        email_domain=rng.choice(len(ref.EMAIL_DOMAINS), n, p=_p([d[1] for d in ref.EMAIL_DOMAINS])),
        phone_nsn=phone_nsn,
        phone_area_len=area_len,
        household=household,
        home_store=home_store,
    )


# -- products ---------------------------------------------------------------------------
def _products(rng: np.random.Generator, customers: int) -> pa.Table:
    count = int(np.clip(150 + customers // 20, 150, 5000))
    category = rng.integers(0, len(ref.CATEGORIES), count)
    items = [item for c in ref.CATEGORIES for item in c[1]]
    item_offset = np.cumsum([0] + [len(c[1]) for c in ref.CATEGORIES])[:-1]
    item_count = np.array([len(c[1]) for c in ref.CATEGORIES])
    item = item_offset[category] + (rng.random(count) * item_count[category]).astype(int)
    genders = [g for c in ref.CATEGORIES for g in c[3]]
    gender_offset = np.cumsum([0] + [len(c[3]) for c in ref.CATEGORIES])[:-1]
    gender_count = np.array([len(c[3]) for c in ref.CATEGORIES])
    gender = gender_offset[category] + (rng.random(count) * gender_count[category]).astype(int)
    low = np.array([c[2][0] for c in ref.CATEGORIES])[category]
    high = np.array([c[2][1] for c in ref.CATEGORIES])[category]
    price = np.floor(low + rng.random(count) * (high - low)) + 0.95
    colour = rng.integers(0, len(ref.COLOURS), count)
    ids = _numbered("P", np.arange(1, count + 1), 5)
    names = pc.binary_join_element_wise(_take(ref.COLOURS, colour), _take(items, item), " ")
    rank = rng.permutation(count)
    return pa.table(
        {
            "sku": ids,
            "name": names,
            "brand": _take(ref.BRANDS, rng.integers(0, len(ref.BRANDS), count)),
            "category": _take([c[0] for c in ref.CATEGORIES], category),
            "season": _take(ref.SEASONS, rng.choice(len(ref.SEASONS), count, p=_p([2, 3, 4, 3]))),
            "gender": _take(genders, gender),
            "price": pa.array(np.round(price, 2)),
            "currency": pa.array(["EUR"] * count),
            "colour": _take(ref.COLOURS, colour),
            "_popularity": pa.array(_p(1 / (rank + 8.0))),
        }
    )


# -- writing ----------------------------------------------------------------------------
class _Writer:
    """Writes each file from numpy columns, and records each row's person for the truth."""

    def __init__(self, db: duckdb.DuckDBPyConnection, out_dir: Path) -> None:
        self.db = db
        self.out_dir = out_dir
        self.rows: dict[str, int] = {}
        self.truth: list[pa.Table] = []

    def _copy(self, select: str, source: DemoSource, fmt: str, rows: int) -> None:
        """Write the rows of `select` to the source's file, streaming in batches.

        DuckDB writes JSON Lines; Arrow writes CSV and Parquet (several times faster than
        DuckDB's CSV writer on these wide text rows).
        """
        path = self.out_dir / source.file_name
        if fmt == "json":
            self.db.execute(f"COPY ({select}) TO '{path}' (FORMAT JSON)")
        else:
            reader = self.db.sql(select).to_arrow_reader(WRITE_BATCH_ROWS)
            writer: pacsv.CSVWriter | pq.ParquetWriter
            if fmt == "csv":
                options = pacsv.WriteOptions(quoting_style="needed")
                writer = pacsv.CSVWriter(path, reader.schema, write_options=options)
            else:
                writer = pq.ParquetWriter(path, reader.schema, compression="zstd")
            with writer:
                for batch in reader:
                    writer.write_batch(batch)
        self.rows[source.file_name] = rows

    def _truth(self, source: DemoSource, keys: pa.Array, person: np.ndarray) -> None:
        count = len(keys)
        self.truth.append(
            pa.table(
                {
                    "file": pa.DictionaryArray.from_arrays(
                        pa.array(np.zeros(count, dtype=np.int32)), pa.array([source.file_name])
                    ),
                    "source": pa.DictionaryArray.from_arrays(
                        pa.array(np.zeros(count, dtype=np.int32)), pa.array([source.name])
                    ),
                    "row_number": pa.array(np.arange(1, count + 1, dtype=np.int64)),
                    "record_key": keys,
                    "person": pa.array(person.astype(np.int64)),
                }
            )
        )

    # customers ------------------------------------------------------------------------
    def customers(self, people: _People, rng: np.random.Generator) -> None:
        n = people.n
        base = pa.table(
            {
                "idx": pa.array(np.arange(n)),
                "first": _take(FIRST_NAMES, people.first),
                "last": _take(ref.LAST_NAMES, people.last),
                "gender": _take(["female", "male", ""], people.gender),
                "birth": pa.array(people.birth_days.astype(np.int32)).cast(pa.date32()),
                "pattern": pa.array(people.email_pattern),
                "domain": _take([d[0] for d in ref.EMAIL_DOMAINS], people.email_domain),
                "has_email": pa.array(people.has_email),
            }
        )
        self.db.register("people_base", base)
        # Addresses unique per person: first.last, f.last, firstlast, first_last, firstlastYY;
        # a second person with the same address gets their customer index appended.
        emails = self.db.sql(
            """
            WITH parts AS (
                SELECT idx, domain, has_email, pattern,
                       lower(strip_accents(replace(first, ' ', ''))) AS f,
                       lower(strip_accents(regexp_replace(last, '[ ''’]', '', 'g'))) AS l,
                       strftime(birth, '%y') AS yy
                FROM people_base
            ), local AS (
                SELECT idx, domain, has_email, CASE pattern
                    WHEN 0 THEN f || '.' || l WHEN 1 THEN left(f, 1) || '.' || l
                    WHEN 2 THEN f || l WHEN 3 THEN f || '_' || l ELSE f || l || yy END AS name
                FROM parts
            ), ranked AS (
                SELECT idx, has_email, name, domain,
                       row_number() OVER (PARTITION BY name, domain ORDER BY idx) AS nth
                FROM local
            )
            SELECT CASE WHEN NOT has_email THEN ''
                        WHEN nth = 1 THEN name || '@' || domain
                        ELSE name || '.' || (idx + 1) || '@' || domain END AS email
            FROM ranked ORDER BY idx
            """
        ).to_arrow_table()
        people.emails = emails.column("email").combine_chunks()
        self.db.unregister("people_base")

        tests = people.tests
        test_idx = np.arange(n, n + tests)
        crm = pa.table(
            {
                "customer_number": _customer_ids(np.arange(n + tests), people.width),
                "first_name": pa.concat_arrays(
                    [_take(FIRST_NAMES, people.first), pa.array(["Test"] * tests)]
                ),
                "last_name": pa.concat_arrays(
                    [
                        _take(ref.LAST_NAMES, people.last),
                        _take(["Test", "Testaccount", "Kassa Test"], test_idx % 3),
                    ]
                ),
                "gender": pa.concat_arrays(
                    [_take(["female", "male", ""], people.gender), pa.array([""] * tests)]
                ),
                "birth": pa.concat_arrays(
                    [
                        pa.array(people.birth_days.astype(np.int32)).cast(pa.date32()),
                        pa.nulls(tests, pa.date32()),
                    ]
                ),
                "email": pa.concat_arrays(
                    [
                        people.emails,
                        _take([TEST_EMAIL, "TEST@example.com", "Test@Example.com"], test_idx % 3),
                    ]
                ),
                "is_test": pa.array(np.arange(n + tests) >= n),
                "nsn": pa.concat_arrays([people.phone_nsn, pa.array([""] * tests)]),
                "alen": pa.array(np.concatenate([people.phone_area_len, np.ones(tests, int)])),
                # The CRM holds most numbers as +31..., some as typed at the till (06-...).
                "notation": pa.array(
                    np.concatenate([np.where(rng.random(n) < 0.75, 0, 3), np.zeros(tests, int)])
                ),
                "street": _take(ref.STREETS, np.concatenate([people.street, np.zeros(tests, int)])),
                "house": pa.array(np.concatenate([people.house, np.ones(tests, int)])),
                "postal": pa.array(np.concatenate([people.postal, np.full(tests, 1011)])),
                "l1": _take(
                    ref.POSTAL_LETTERS,
                    np.concatenate([people.postal_letters[:, 0], np.zeros(tests, int)]),
                ),
                "l2": _take(
                    ref.POSTAL_LETTERS,
                    np.concatenate([people.postal_letters[:, 1], np.zeros(tests, int)]),
                ),
                "city": _take(
                    [c[0] for c in ref.CITIES], np.concatenate([people.city, np.zeros(tests, int)])
                ),
                "signup": pa.array(
                    np.concatenate([people.signup, np.full(tests, SIGNUP_START + 30 * DAY)])
                    * 1_000_000
                ).cast(pa.timestamp("us", tz="UTC")),
                "newsletter": pa.array(
                    np.concatenate([rng.random(n) < 0.72, np.ones(tests, bool)])
                ),
                "tier": _take(
                    ["member", "silver", "gold"],
                    np.concatenate([rng.choice(3, n, p=[0.75, 0.18, 0.07]), np.zeros(tests, int)]),
                ),
            }
        )
        self.db.register("crm", crm)
        self._copy(
            f"""
            SELECT customer_number, first_name, last_name, gender,
                   strftime(birth, '%d-%m-%Y') AS date_of_birth, email,
                   CASE WHEN is_test THEN '{TEST_PHONE}' WHEN nsn = '' THEN ''
                        ELSE phone_as(nsn, alen, notation) END AS phone,
                   street || ' ' || house AS street_address,
                   postal || ' ' || l1 || l2 AS postal_code, city,
                   '{ref.COUNTRY}' AS country, strftime(signup, '%Y-%m-%d') AS signup_date,
                   newsletter AS newsletter_opt_in, tier AS loyalty_tier
            FROM crm
            """,  # noqa: S608 (constants of this module, no input)
            CUSTOMERS,
            "csv",
            n + tests,
        )
        self.db.unregister("crm")
        person = np.concatenate([np.arange(n), np.full(tests, NOBODY)])
        self._truth(CUSTOMERS, _customer_ids(np.arange(n + tests), people.width), person)

    # products -------------------------------------------------------------------------
    def products(self, products: pa.Table) -> None:
        self.db.register("catalogue", products.drop_columns(["_popularity"]))
        self._copy("SELECT * FROM catalogue", PRODUCTS, "csv", len(products))
        self.db.unregister("catalogue")

    # orders ---------------------------------------------------------------------------
    def orders(self, people: _People, products: pa.Table, rng: np.random.Generator) -> None:
        n = people.n
        appetite = rng.gamma(1.3, 2.0, n)
        count = rng.poisson(appetite)
        owner = np.repeat(np.arange(n), count)
        at = _between(rng, people.active_from[owner], END)
        by_time = np.argsort(at, kind="stable")
        owner, at = owner[by_time], at[by_time]
        total = len(owner)
        online = rng.random(total) < rng.beta(2, 2, n)[owner]
        store = np.where(
            rng.random(total) < 0.75,
            people.home_store[owner],
            rng.choice(len(ref.STORES), total, p=_p([s[2] for s in ref.STORES])),
        )
        elsewhere = online & (rng.random(total) < 0.12)  # a gift, or to the office
        city = np.where(elsewhere, rng.integers(0, len(ref.CITIES), total), people.city[owner])
        street = np.where(elsewhere, rng.integers(0, len(ref.STREETS), total), people.street[owner])
        house = np.where(elsewhere, 1 + rng.geometric(1 / 40, total), people.house[owner])
        low = np.array([c[2][0] for c in ref.CITIES])[city]
        postal = np.where(elsewhere, low + rng.integers(0, 10, total), people.postal[owner])
        letters = np.where(
            elsewhere[:, None],
            rng.integers(0, len(ref.POSTAL_LETTERS), (total, 2)),
            people.postal_letters[owner],
        )

        # Lines: 1 + Poisson(0.9) items per order, products by popularity.
        lines = np.minimum(1 + rng.poisson(0.9, total), 8)
        line_order = np.repeat(np.arange(total), lines)
        starts = np.concatenate([[0], np.cumsum(lines)[:-1]])
        line_number = np.arange(len(line_order)) - np.repeat(starts, lines) + 1
        popularity = products.column("_popularity").to_numpy()
        product = rng.choice(len(popularity), len(line_order), p=popularity)
        price = products.column("price").to_numpy()[product]
        discounted = rng.random(len(line_order)) < 0.2
        unit = np.where(discounted, np.round(price * 0.7, 2), price)
        quantity = rng.choice([1, 2, 3], len(line_order), p=[0.88, 0.1, 0.02])
        amount = np.round(unit * quantity, 2)
        order_total = np.round(np.bincount(line_order, weights=amount, minlength=total), 2)

        width = max(8, len(str(total)))
        order_ids = _numbered(
            pc.if_else(pa.array(online), "W", "S"), np.arange(1, total + 1), width
        )
        table = pa.table(
            {
                "order_id": order_ids,
                "customer_number": _customer_ids(owner, people.width),
                "ts": pa.array(at * 1_000_000).cast(pa.timestamp("us", tz="UTC")),
                "online": pa.array(online),
                "store": _take([s[0] for s in ref.STORES], store),
                "status": _take(
                    ["completed", "returned", "cancelled"],
                    rng.choice(3, total, p=[0.91, 0.06, 0.03]),
                ),
                "total": pa.array(order_total),
                "street": _take(ref.STREETS, street),
                "house": pa.array(house),
                "postal": pa.array(postal),
                "l1": _take(ref.POSTAL_LETTERS, letters[:, 0]),
                "l2": _take(ref.POSTAL_LETTERS, letters[:, 1]),
                "city": _take([c[0] for c in ref.CITIES], city),
                "payment": pc.if_else(
                    pa.array(online),
                    _take(
                        ["iDEAL", "credit card", "PayPal", "Klarna"],
                        rng.choice(4, total, p=[0.6, 0.15, 0.1, 0.15]),
                    ),
                    _take(
                        ["debit card", "cash", "contactless phone"],
                        rng.choice(3, total, p=[0.72, 0.1, 0.18]),
                    ),
                ),
            }
        )
        self.db.register("orders_base", table)
        self._copy(
            f"""
            SELECT order_id, customer_number, ts AS ordered_at,
                   CASE WHEN online THEN 'online' ELSE 'in_store' END AS channel,
                   CASE WHEN online THEN NULL ELSE store END AS store, status,
                   total AS total_amount, 'EUR' AS currency,
                   CASE WHEN online THEN street || ' ' || house END AS delivery_street_address,
                   CASE WHEN online THEN postal || ' ' || l1 || l2 END AS delivery_postal_code,
                   CASE WHEN online THEN city END AS delivery_city,
                   CASE WHEN online THEN '{ref.COUNTRY_CODE}' END AS delivery_country,
                   payment AS payment_method
            FROM orders_base
            """,  # noqa: S608 (constants of this module, no input)
            ORDERS,
            "parquet",
            total,
        )
        self.db.unregister("orders_base")
        self._truth(ORDERS, order_ids, owner)

        line_ids = pc.binary_join_element_wise(
            pc.take(order_ids, pa.array(line_order)),
            pc.cast(pa.array(line_number), pa.string()),
            "-",
        )
        lines_table = pa.table(
            {
                "line_id": line_ids,
                "order_id": pc.take(order_ids, pa.array(line_order)),
                "line_number": pa.array(line_number),
                "sku": pc.take(products.column("sku"), pa.array(product)),
                "quantity": pa.array(quantity),
                "unit_price": pa.array(unit),
                "line_amount": pa.array(amount),
            }
        )
        self.db.register("lines_base", lines_table)
        self._copy("SELECT * FROM lines_base", ORDER_LINES, "csv", len(lines_table))
        self.db.unregister("lines_base")
        self._truth(ORDER_LINES, line_ids, owner[line_order])

    # marketing e-mails ---------------------------------------------------------------
    def emails(self, people: _People, products: pa.Table, rng: np.random.Generator) -> None:
        n = people.n
        subscribed = people.has_email & (rng.random(n) < 0.72)
        # How the e-mail service holds the address: as in the CRM, upper case, capitalised,
        # or with spaces around it (typed into a sign-up form).
        notation = rng.choice(4, n, p=[0.82, 0.06, 0.07, 0.05])
        popularity = products.column("_popularity").to_numpy()
        person_parts, kind_parts, at_parts, campaign_parts, product_parts = [], [], [], [], []
        for index, (_, _, _, sent) in enumerate(ref.CAMPAIGNS):
            send = int(datetime.fromisoformat(sent).replace(tzinfo=UTC).timestamp())
            chosen = np.flatnonzero(subscribed & (people.signup < send) & (rng.random(n) < 0.5))
            count = len(chosen)
            sent_at = send + rng.integers(0, 3 * 3600, count)
            opened = rng.random(count) < 0.38
            opened_at = sent_at + rng.exponential(5 * 3600, count).astype(np.int64)
            clicked = opened & (rng.random(count) < 0.3)
            clicked_at = opened_at + rng.exponential(180, count).astype(np.int64)
            product = rng.choice(len(popularity), count, p=popularity)
            # The seed list: every campaign also goes to the team's test address.
            for event_kind, mask, moment in (
                (0, None, sent_at),
                (1, opened, opened_at),
                (2, clicked, clicked_at),
            ):
                rows = np.arange(count) if mask is None else np.flatnonzero(mask)
                times = moment[rows]
                person_parts.append(chosen[rows])
                kind_parts.append(np.full(len(rows), event_kind))
                at_parts.append(times)
                campaign_parts.append(np.full(len(rows), index))
                product_parts.append(product[rows])
            person_parts.append(np.array([-1, -2]))  # the two seed addresses
            kind_parts.append(np.zeros(2, int))
            at_parts.append(np.array([send, send]))
            campaign_parts.append(np.full(2, index))
            product_parts.append(rng.choice(len(popularity), 2, p=popularity))
        person = np.concatenate(person_parts)
        at = np.minimum(np.concatenate(at_parts), END - 1)
        by_time = np.argsort(at, kind="stable")
        person, at = person[by_time], at[by_time]
        kind = np.concatenate(kind_parts)[by_time]
        campaign = np.concatenate(campaign_parts)[by_time]
        product = np.concatenate(product_parts)[by_time]
        total = len(person)
        real = person >= 0
        customer = np.where(real, person, 0)
        address = pc.if_else(
            pa.array(real),
            pc.take(people.emails, pa.array(customer)),
            _take([TEST_EMAIL, "TEST@example.com"], np.where(person == -1, 0, 1)),
        )
        ids = _numbered("em-", np.arange(1, total + 1), 9)
        table = pa.table(
            {
                "id": ids,
                "kind": pa.array(kind),
                "ts": pa.array(at * 1_000_000).cast(pa.timestamp("us", tz="UTC")),
                "address": address,
                "notation": pa.array(np.where(real, notation[customer], 0)),
                "campaign": _take([c[1] for c in ref.CAMPAIGNS], campaign),
                "campaign_id": _take([c[0] for c in ref.CAMPAIGNS], campaign),
                "subject": _take([c[2] for c in ref.CAMPAIGNS], campaign),
                "sku": pc.take(products.column("sku"), pa.array(product)),
            }
        )
        self.db.register("emails_base", table)
        self._copy(
            f"""
            SELECT id,
                   ['email_sent', 'email_opened', 'email_clicked'][kind + 1] AS event,
                   strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS timestamp,
                   CASE notation WHEN 1 THEN upper(address)
                                 WHEN 2 THEN upper(left(address, 1)) || substr(address, 2)
                                 WHEN 3 THEN ' ' || address || ' '
                                 ELSE address END AS email,
                   campaign, campaign_id, subject, sku AS product_id,
                   CASE WHEN kind = 2 THEN 'https://{ref.WEB_HOST}/product/' || sku
                        || '?utm_source=newsletter&utm_campaign=' || campaign_id END AS url
            FROM emails_base
            """,  # noqa: S608 (constants of this module, no input)
            EMAILS,
            "json",
            total,
        )
        self.db.unregister("emails_base")
        self._truth(EMAILS, ids, np.where(real, person, NOBODY))

    # web logs -------------------------------------------------------------------------
    def web_logs(self, people: _People, products: pa.Table, rng: np.random.Generator) -> None:
        n = people.n
        # Cookies: most customers browse, on one or more devices; prospects browse too and
        # never log in.
        per_customer = np.where(rng.random(n) < 0.8, 1 + rng.poisson(0.6, n), 0)
        prospects = max(1, round(n * 0.3))
        cookie_person = np.concatenate(
            [np.repeat(np.arange(n), per_customer), n + np.arange(prospects)]
        )
        cookies = len(cookie_person)
        is_customer = cookie_person < n
        owner = np.where(is_customer, cookie_person, 0)
        cookie_from = np.where(is_customer, people.active_from[owner], ACTIVITY_START)
        device = rng.choice(len(ref.DEVICES), cookies, p=_p([d[3] for d in ref.DEVICES]))
        city = np.where(
            is_customer & (rng.random(cookies) < 0.85),
            people.city[owner],
            rng.choice(len(ref.CITIES), cookies, p=_p([c[1] for c in ref.CITIES])),
        )

        # Sessions, in time order per cookie. Every customer's cookie logs in at some session
        # (its first anonymous hits are linked through the cookie); later sessions are either
        # remembered (logged in from the first hit) or log in again.
        sessions_per = np.where(
            is_customer, 1 + rng.poisson(1.5, cookies), 1 + rng.poisson(0.4, cookies)
        )
        session_cookie = np.repeat(np.arange(cookies), sessions_per)
        sessions = len(session_cookie)
        start = _between(rng, cookie_from[session_cookie], END - 3600)
        in_order = np.lexsort((start, session_cookie))
        start = start[in_order]
        first_session = np.concatenate([[0], np.cumsum(sessions_per)[:-1]])
        rank = np.arange(sessions) - np.repeat(first_session, sessions_per)
        login_rank = (rng.random(cookies) * sessions_per).astype(np.int64)[session_cookie]
        customer_session = is_customer[session_cookie]
        logs_in = customer_session & (
            (rank == login_rank) | ((rank > login_rank) & (rng.random(sessions) < 0.35))
        )
        remembered = customer_session & (rank > login_rank) & ~logs_in
        length = 2 + rng.poisson(2.5, sessions)
        length = np.where(logs_in, np.maximum(length, 3), length)
        login_at = np.where(logs_in, 1 + (rng.random(sessions) * (length - 1)).astype(np.int64), -1)
        traffic = rng.choice(
            len(ref.TRAFFIC_SOURCES), sessions, p=_p([t[1] for t in ref.TRAFFIC_SOURCES])
        )

        # Hits.
        hit_session = np.repeat(np.arange(sessions), length)
        hits = len(hit_session)
        session_first = np.concatenate([[0], np.cumsum(length)[:-1]])
        position = np.arange(hits) - np.repeat(session_first, length)
        kind = rng.choice(len(WEB_EVENT_MIX), hits, p=_p(WEB_EVENT_MIX))
        kind[position == 0] = VISIT
        kind[position == login_at[hit_session]] = LOGIN
        gap = rng.exponential(40.0, hits)
        gap[position == 0] = 0.0
        elapsed = np.cumsum(gap)
        elapsed -= np.repeat(elapsed[session_first], length)
        at_ms = start[hit_session] * 1000 + (elapsed * 1000).astype(np.int64)
        logged_in = remembered[hit_session] | (
            logs_in[hit_session] & (position >= login_at[hit_session])
        )
        by_time = np.argsort(at_ms, kind="stable")
        hit_session, kind, at_ms, logged_in = (
            hit_session[by_time],
            kind[by_time],
            at_ms[by_time],
            logged_in[by_time],
        )
        hit_cookie = session_cookie[hit_session]
        person = cookie_person[hit_cookie]

        popularity = products.column("_popularity").to_numpy()
        product = rng.choice(len(popularity), hits, p=popularity)
        cookie_ids = _uuids(rng, cookies)
        keys = _numbered("hit-", np.arange(1, hits + 1), 10)
        table = pa.table(
            {
                "hit_id": keys,
                "ts": pa.array(at_ms * 1000).cast(pa.timestamp("us", tz="UTC")),
                "kind": pa.array(kind),
                "cookie_id": pc.take(cookie_ids, pa.array(hit_cookie)),
                "session": pa.array(hit_session + 1),
                "customer_number": pc.if_else(
                    pa.array(logged_in),
                    _customer_ids(np.where(logged_in, person, 0), people.width),
                    pa.scalar(None, pa.string()),
                ),
                "landing": rng.integers(0, len(ref.LANDING_PAGES), hits),
                "category_page": rng.integers(0, len(ref.CATEGORY_PAGES), hits),
                "term": _take(ref.SEARCH_TERMS, rng.integers(0, len(ref.SEARCH_TERMS), hits)),
                "error": rng.integers(0, len(ref.ERRORS), hits),
                "sku": pc.take(products.column("sku"), pa.array(product)),
                "product_name": pc.take(products.column("name"), pa.array(product)),
                "device": pa.array(device[hit_cookie]),
                "traffic": _take([t[0] for t in ref.TRAFFIC_SOURCES], traffic[hit_session]),
                "city": _take([c[0] for c in ref.CITIES], city[hit_cookie]),
            }
        )
        self.db.register("hits", table)
        self._copy(
            f"""
            WITH paged AS (
                SELECT *, {_list([e for e in WEB_EVENTS])}[kind + 1] AS event,
                       CASE kind
                           WHEN {VISIT} THEN {_list([p[0] for p in ref.LANDING_PAGES])}[landing + 1]
                           WHEN 0 THEN {_list(CATEGORY_PATHS)}[category_page + 1]
                           WHEN 2 THEN '/zoeken?q=' || replace(term, ' ', '+')
                           WHEN 5 THEN '/afrekenen'
                           WHEN 4 THEN '/winkelwagen'
                           WHEN 6 THEN {_list([e[0] for e in ref.ERRORS])}[error + 1]
                           WHEN {LOGIN} THEN '{ref.LOGIN_PAGE}'
                           ELSE '/product/' || sku END AS page
                FROM hits
            )
            SELECT hit_id,
                   strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ') AS timestamp, event, cookie_id,
                   's-' || lpad(CAST(session AS VARCHAR), 9, '0') AS session_id,
                   customer_number, page,
                   'https://{ref.WEB_HOST}' || page AS webpage_url,
                   CASE kind
                       WHEN {VISIT} THEN {_list([p[1] for p in ref.LANDING_PAGES])}[landing + 1]
                       WHEN 0 THEN {_list(CATEGORY_TITLES)}[category_page + 1]
                       WHEN 2 THEN 'Search results | {ref.RETAILER}'
                       WHEN 5 THEN 'Checkout | {ref.RETAILER}'
                       WHEN 4 THEN 'Shopping bag | {ref.RETAILER}'
                       WHEN 6 THEN 'Something went wrong | {ref.RETAILER}'
                       WHEN {LOGIN} THEN 'Welcome back | {ref.RETAILER}'
                       ELSE product_name || ' | {ref.RETAILER}' END AS webpage_title,
                   {_list([d[0] for d in ref.DEVICES])}[device + 1] AS device_category,
                   {_list([d[1] for d in ref.DEVICES])}[device + 1] AS device_os,
                   {_list([d[2] for d in ref.DEVICES])}[device + 1] AS device_browser,
                   CASE WHEN kind = {VISIT} THEN traffic END AS traffic_source,
                   city AS geo_city, '{ref.COUNTRY_CODE}' AS geo_country,
                   CASE WHEN kind IN (1, 3, 4) THEN sku END AS product_id,
                   CASE WHEN kind = 2 THEN term END AS search_query,
                   CASE WHEN kind = 6 THEN {_list([e[1] for e in ref.ERRORS])}[error + 1]
                   END AS error_message
            FROM paged
            """,  # noqa: S608 (constants of this module, no input)
            WEB_LOGS,
            "csv",
            hits,
        )
        self.db.unregister("hits")
        self._truth(WEB_LOGS, keys, person)

    # support calls -----------------------------------------------------------------------
    def calls(self, people: _People, rng: np.random.Generator) -> None:
        n = people.n
        has_phone = np.asarray(pc.not_equal(people.phone_nsn, "").to_numpy(zero_copy_only=False))
        count = np.where(has_phone, rng.poisson(0.3, n), 0)
        caller = np.repeat(np.arange(n), count)
        withheld = max(1, round(len(caller) * 0.03))
        person = np.concatenate([caller, np.full(withheld, NOBODY)])
        total = len(person)
        known = person >= 0
        owner = np.where(known, person, 0)
        at = _between(rng, np.where(known, people.active_from[owner], ACTIVITY_START), END)
        # Office hours, Amsterdam time (about UTC+1): 07:00-18:00 UTC.
        at = at - at % DAY + 7 * 3600 + rng.integers(0, 11 * 3600, total)
        at = np.minimum(at, END - 1)
        by_time = np.argsort(at, kind="stable")
        person, at, known, owner = person[by_time], at[by_time], known[by_time], owner[by_time]
        reason = rng.choice(len(ref.CALL_REASONS), total, p=_p([r[1] for r in ref.CALL_REASONS]))
        outcome_names = sorted({o for r in ref.CALL_REASONS for o, _ in r[2]})
        outcome = np.zeros(total, dtype=np.int64)
        for index, (_, _, outcomes) in enumerate(ref.CALL_REASONS):  # eight reasons, not rows
            rows = np.flatnonzero(reason == index)
            picks = rng.choice(len(outcomes), len(rows), p=_p([w for _, w in outcomes]))
            outcome[rows] = np.array([outcome_names.index(o) for o, _ in outcomes])[picks]
        ids = _numbered("CALL-", np.arange(1, total + 1), 8)
        table = pa.table(
            {
                "call_id": ids,
                "ts": pa.array(at * 1_000_000).cast(pa.timestamp("us", tz="UTC")),
                "known": pa.array(known),
                "nsn": pc.take(people.phone_nsn, pa.array(owner)),
                "alen": pa.array(people.phone_area_len[owner]),
                "notation": pa.array(rng.choice(7, total, p=[0.2, 0.2, 0.2, 0.1, 0.1, 0.15, 0.05])),
                "agent": _take(ref.AGENTS, rng.integers(0, len(ref.AGENTS), total)),
                "reason": _take([r[0] for r in ref.CALL_REASONS], reason),
                "outcome": _take(outcome_names, outcome),
                "queue": _take(["Orders & delivery", "Returns", "General"], np.minimum(reason, 2)),
                "duration": pa.array(rng.lognormal(5.4, 0.6, total).astype(np.int64) + 20),
            }
        )
        self.db.register("calls_base", table)
        self._copy(
            f"""
            SELECT call_id,
                   strftime(timezone('Europe/Amsterdam', ts), '%d-%m-%Y %H:%M:%S') AS started_at,
                   CASE WHEN known THEN phone_as(nsn, alen, notation) ELSE '{TEST_PHONE}' END
                       AS caller_phone,
                   agent, reason, outcome, queue, duration AS duration_seconds
            FROM calls_base
            """,  # noqa: S608 (constants of this module, no input)
            CALLS,
            "csv",
            total,
        )
        self.db.unregister("calls_base")
        self._truth(CALLS, ids, person)

    # ground truth -----------------------------------------------------------------------
    def ground_truth(self) -> None:
        tables = [t.cast(self.truth[0].schema) for t in self.truth]
        # Unify the one-value dictionaries so the file column reads as one dictionary.
        truth = pa.concat_tables(tables).unify_dictionaries()
        pq.write_table(truth, self.out_dir / GROUND_TRUTH_FILE, compression="zstd")
        order = [s.file_name for s in SOURCES if s.identifies_people]
        missing = [name for name in order if name not in self.rows]
        if missing:
            raise RuntimeError(f"no rows written for {missing}")


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"
