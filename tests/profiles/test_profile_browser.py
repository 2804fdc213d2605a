"""The customer pages in a real headless Chromium, against a running `c360 serve`.

Small files are imported into a fresh data dir through the import path, the server is started
on a free port, and profile_page.mjs (playwright-core from frontend/) logs in, searches in the
top bar, opens the profile, reads it, filters the timeline and saves a screenshot.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from live_server import Server, server_env

pytestmark = pytest.mark.browser

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "a-long-test-password"

FILES = {
    "customers.csv": (
        "customer_id,email,phone,first_name,last_name,gender,birth_date,"
        "address,postal_code,city,country,signed_up_at\n"
        "C1,anna@example.nl,06 1234 5678,Anna,de Vries,female,1990-05-17,"
        "Oudegracht 12,3511 AB,Utrecht,NL,2021-03-01T10:00:00Z\n"
        "C2,bram@example.nl,0687654321,Bram,Jansen,male,1985-11-02,"
        "Damrak 1,1012 LG,Amsterdam,NL,2022-06-15T10:00:00Z\n"
    ),
    "orders.csv": """order_id,customer_id,ordered_at,channel,store,status,total_amount,currency
O1,C1,2024-01-10T12:00:00Z,online,,completed,100.00,EUR
O2,C1,2024-02-01T15:30:00Z,in_store,Utrecht Centrum,completed,50.00,EUR
O3,C1,2024-03-05T19:10:00Z,online,,completed,150.00,EUR
O4,C2,2024-03-06T09:00:00Z,online,,completed,20.00,EUR
""",
    "order_items.csv": """order_id,line_number,product_id,quantity,unit_price,amount
O1,1,P1,2,30.00,60.00
O1,2,P2,1,40.00,40.00
O2,1,P1,1,50.00,50.00
O3,1,P3,3,50.00,150.00
O4,1,P2,1,20.00,20.00
""",
    "products.csv": """product_id,name,brand,category,season,gender,price,currency
P1,Linen shirt,Nordic,Shirts,summer,women,30.00,EUR
P2,Wool coat,Alpine,Coats,winter,women,40.00,EUR
P3,Merino socks,Nordic,Accessories,all,unisex,50.00,EUR
""",
    "web.csv": """anonymous_id,customer_id,event,timestamp,channel,webpage_url,error_message
a-123,,visit,2024-03-01T09:00:00Z,web,/,
a-123,,product_view,2024-03-01T09:02:00Z,web,/p/P1,
a-123,C1,login,2024-03-02T10:00:00Z,web,/login_success.html,
a-123,C1,error,2024-03-03T11:00:00Z,web,/checkout,Payment failed
a-123,,error,2024-03-04T08:30:00Z,web,/cart,Timeout
""",
    "emails.csv": """email,event,timestamp,channel,campaign
ANNA@example.nl ,email_sent,2024-03-06T07:00:00Z,email,Spring
anna@EXAMPLE.nl,email_opened,2024-03-07T08:00:00Z,email,Spring
anna@example.nl,email_clicked,2024-03-08T08:05:00Z,email,Spring
""",
    "calls.csv": """phone,event,timestamp,channel,employee,reason
+31 6 1234 5678,call,2024-03-09T14:00:00Z,phone,agent Kim,delivery
""",
}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Server]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make install` installs it (Debian package chromium)")
    csv_dir = tmp_path / "files"
    csv_dir.mkdir()
    for name, text in FILES.items():
        (csv_dir / name).write_text(text)
    data_dir = tmp_path / "data"
    env = server_env(data_dir)
    seeded = subprocess.run(
        [sys.executable, str(HERE / "seed_site.py"), str(data_dir), str(csv_dir), PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert seeded.returncode == 0, seeded.stderr
    server = Server(data_dir=data_dir, log=tmp_path / "server.log")
    server.seeded = json.loads(seeded.stdout.strip().splitlines()[-1])
    try:
        server.start(timeout=60)
        yield server
    finally:
        server.stop()


def _drive(site: Server, **options: Any) -> dict[str, Any]:
    options = {"base": site.url, "password": PASSWORD, "chromium": CHROMIUM, **options}
    run = subprocess.run(
        ["node", str(HERE / "profile_page.mjs"), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr + "\n" + site.log.read_text()[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_search_open_and_read_a_profile_in_chromium(site: Server, tmp_path: Path) -> None:
    screenshot = tmp_path / "profile.png"

    seen = _drive(site, username="admin", query="anna", screenshot=str(screenshot))

    assert seen["consoleErrors"] == []
    (hit,) = seen["suggestions"]
    assert hit["name"] == "Anna de Vries"
    assert hit["meta"] == "anna@example.nl · Utrecht"
    assert "3 orders" in hit["side"] and "since Mar 2021" in hit["side"]
    assert seen["name"] == "Anna de Vries"
    assert seen["sections"] == [
        "who",
        "latest",
        "errors",
        "purchases",
        "favourites",
        "timeline",
        "identifiers",
    ]
    assert "+31612345678" in seen["details"] and "Utrecht" in seen["details"]
    assert seen["errors"] == ["Timeout", "Payment failed"]
    assert seen["totalSpent"] == "€300.00"
    assert seen["favourites"][:2] == ["Linen shirt", "Merino socks"]
    assert any(line.startswith("Call") and "9 Mar 2024" in line for line in seen["latest"])
    # One person across every source, the anonymous visit before the login included.
    assert seen["timelineSources"] and set(seen["timelineSources"]) == {
        "Support calls",
        "Marketing e-mails",
        "Orders",
        "Web logs",
    }
    assert seen["timelineActivities"][0] == "call"
    assert seen["timelineActivities"][-4:] == ["product_view", "visit", "order", "order"]
    assert {"C1", "anna@example.nl", "+31612345678", "a-123"} <= set(seen["identifiers"])
    assert any("a-123" in line for line in seen["links"])
    assert seen["layout"] == {
        "detailsLeftOfErrors": True,
        "purchasesBelowDetails": True,
        "timelineBelowPurchases": True,
    }
    assert seen["searchVisibleOnProfile"]
    assert seen["emailTimeline"] == ["email_clicked", "email_opened", "email_sent"]
    assert screenshot.stat().st_size > 20_000


def test_staff_without_the_calls_source_see_no_call_in_chromium(
    site: Server, tmp_path: Path
) -> None:
    seen = _drive(
        site, username="vera", query="06 1234 5678", screenshot=str(tmp_path / "profile-vera.png")
    )

    assert seen["name"] == "Anna de Vries"
    assert "call" not in seen["timelineActivities"]
    assert "Support calls" not in seen["timelineSources"]
    assert any(line.startswith("Call") and "never" in line for line in seen["latest"])


def test_an_open_profile_shows_a_tracked_event_without_a_reload(
    site: Server, tmp_path: Path
) -> None:
    live = {"writeKey": site.seeded["write_key"], "anonymousId": "a-123", "event": "Live chat"}

    seen = _drive(
        site, username="admin", query="anna", screenshot=str(tmp_path / "live.png"), live=live
    )

    assert seen["liveAnswer"] == 200
    assert seen["liveNotReloaded"]  # the page polled; it was not loaded again
    assert seen["liveFirst"] == "Live chat"  # the newest entry, on top
    assert seen["liveUpdated"] == "updated just now"
    assert seen["liveSeconds"] < 10  # a poll every 3 s
