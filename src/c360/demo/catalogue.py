"""The demo's files and the data source each one is imported into, with its column mapping.

Shared by the generator (which writes these file names) and the loader (which creates these
sources). Each mapping names only what the headers do not say by themselves: the loader starts
from the suggestion the import page would make (`c360.ingest.canonical.suggest_mapping`) and
lays these fields over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAPPING_NAME = "Demo: {source}"


@dataclass(frozen=True)
class DemoSource:
    name: str  # the data source's name
    kind: str  # the source kind (the warehouse table its rows land in)
    file_name: str
    description: str
    record_key: str  # the file column that identifies a row (ground truth's record_key)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # laid over the suggestion
    properties: str | list[str] = "rest"
    identifies_people: bool = True  # in ground_truth.parquet (the product catalogue is not)

    @property
    def mapping_name(self) -> str:
        return MAPPING_NAME.format(source=self.name)


CUSTOMERS = DemoSource(
    name="Customers (CRM)",
    kind="customers",
    file_name="crm_customers.csv",
    description="Customer records exported from the CRM, one row per customer number.",
    record_key="customer_number",
    fields={
        "customer_id": {"column": "customer_number"},
        "birth_date": {"column": "date_of_birth", "format": "%d-%m-%Y"},
        "address": {"column": "street_address"},
        "signed_up_at": {"column": "signup_date", "cast": "timestamp"},
    },
)
PRODUCTS = DemoSource(
    name="Products",
    kind="products",
    file_name="products.csv",
    description="The product catalogue of the web shop and the stores.",
    record_key="sku",
    fields={"product_id": {"column": "sku"}, "price": {"column": "price", "cast": "number"}},
    identifies_people=False,
)
ORDERS = DemoSource(
    name="Orders",
    kind="orders",
    file_name="orders.parquet",
    description="Online orders (with a delivery address) and in-store orders (with the store), "
    "by customer number.",
    record_key="order_id",
    fields={
        "customer_id": {"column": "customer_number"},
        "ordered_at": {"column": "ordered_at"},
        "delivery_address": {"column": "delivery_street_address"},
    },
)
ORDER_LINES = DemoSource(
    name="Order lines",
    kind="order_items",
    file_name="order_lines.csv",
    description="The items of every order.",
    record_key="line_id",
    fields={
        "line_number": {"column": "line_number"},
        "product_id": {"column": "sku"},
        "unit_price": {"column": "unit_price"},
        "amount": {"column": "line_amount"},
    },
)
EMAILS = DemoSource(
    name="Marketing e-mails",
    kind="events",
    file_name="marketing_emails.jsonl",
    description="Sends, opens and clicks exported from the e-mail service, by e-mail address.",
    record_key="id",
    fields={
        "message_id": {"column": "id"},
        "event": {"column": "event"},
        "timestamp": {"column": "timestamp"},
        "email": {"column": "email"},
        "channel": {"constant": "email"},
        "item_url": {"column": "url"},
    },
    properties=["campaign", "campaign_id", "subject", "product_id"],
)
WEB_LOGS = DemoSource(
    name="Web logs",
    kind="events",
    file_name="web_logs.csv",
    description="Clickstream of www.noordkust.nl: a cookie id on every hit, the customer number "
    "once the visitor has logged in.",
    record_key="hit_id",
    fields={
        "message_id": {"column": "hit_id"},
        "event": {"column": "event"},
        "timestamp": {"column": "timestamp"},
        "anonymous_id": {"column": "cookie_id"},
        "session_id": {"column": "session_id"},
        "customer_id": {"column": "customer_number"},
        "channel": {"constant": "web"},
        "webpage_hostname": {"constant": "www.noordkust.nl"},
    },
    properties=["page", "product_id", "search_query", "error_message"],
)
CALLS = DemoSource(
    name="Support calls",
    kind="events",
    file_name="support_calls.csv",
    description="Calls to customer service, by the caller's phone number as the phone system "
    "recorded it; times are local (Europe/Amsterdam).",
    record_key="call_id",
    fields={
        "message_id": {"column": "call_id"},
        "event": {"constant": "call"},
        "timestamp": {
            "column": "started_at",
            "format": "%d-%m-%Y %H:%M:%S",
            "timezone": "Europe/Amsterdam",
        },
        "phone": {"column": "caller_phone"},
        "employee": {"column": "agent"},
        "channel": {"constant": "call_center"},
    },
    properties=["reason", "outcome", "queue", "duration_seconds"],
)

SOURCES: tuple[DemoSource, ...] = (
    CUSTOMERS,
    PRODUCTS,
    ORDERS,
    ORDER_LINES,
    EMAILS,
    WEB_LOGS,
    CALLS,
)
GROUND_TRUTH_FILE = "ground_truth.parquet"
