"""Generate files in the classic customer-journey format, fast (vectorised with DuckDB)."""

from __future__ import annotations

from pathlib import Path

import duckdb

JOURNEY_HEADER = (
    "customer_id,action_type,time,channel,device_category,device_os,device_browser,geo_country,"
    "geo_city,traffic_source,store,employee,webpage_hostname,webpage_url,webpage_title,app_name,"
    "app_screen_title,item_type,item_url,item_content,experience_emotion,experience_score"
)


def write_journey_csv(
    path: Path, rows: int, *, customers: int | None = None, seed: int = 7
) -> Path:
    """Write `rows` journey events for `customers` people (default rows / 20) as CSV."""
    customers = customers or max(1, rows // 20)
    db = duckdb.connect()
    db.execute(f"SELECT setseed({(seed % 100) / 100})")
    db.execute(
        f"""
        COPY (
          SELECT
            'C' || lpad(CAST(1 + (i * 7919) % {customers} AS VARCHAR), 8, '0') AS customer_id,
            (['visit','page_view','search','product_view','add_to_cart','checkout','order',
              'email_open','call'])[1 + (i % 9)] AS action_type,
            strftime(TIMESTAMP '2024-01-01' + to_seconds(i * 31), '%Y-%m-%d %H:%M:%S') AS time,
            (['web','app','store','email','call_center'])[1 + (i % 5)] AS channel,
            (['desktop','mobile','tablet'])[1 + (i % 3)] AS device_category,
            (['Windows','iOS','Android','macOS'])[1 + (i % 4)] AS device_os,
            (['Chrome','Safari','Firefox','Edge'])[1 + (i % 4)] AS device_browser,
            'Netherlands' AS geo_country,
            (['Amsterdam','Rotterdam','Utrecht','Eindhoven'])[1 + (i % 4)] AS geo_city,
            (['organic','cpc','email','direct'])[1 + (i % 4)] AS traffic_source,
            CASE WHEN i % 5 = 2 THEN 'Store ' || (i % 40) END AS store,
            CASE WHEN i % 5 = 2 THEN 'E' || (i % 300) END AS employee,
            'shop.example.com' AS webpage_hostname,
            'https://shop.example.com/p/' || (i % 5000) AS webpage_url,
            'Product ' || (i % 5000) AS webpage_title,
            CASE WHEN i % 5 = 1 THEN 'ShopApp' END AS app_name,
            CASE WHEN i % 5 = 1 THEN 'Home' END AS app_screen_title,
            'product' AS item_type,
            'https://shop.example.com/p/' || (i % 5000) AS item_url,
            'Item ' || (i % 5000) AS item_content,
            (['happy','neutral','frustrated'])[1 + (i % 3)] AS experience_emotion,
            CAST(1 + (i % 5) AS VARCHAR) AS experience_score
          FROM range({rows}) t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')
        """
    )
    db.close()
    return path


def embedded_setup(prefix: str, rows: int) -> tuple[Path, Path]:
    """A fresh embedded data dir (SQLite + DuckDB) for this process, with Django set up and
    migrated, and a journey CSV of `rows` rows beside it: (work dir, CSV path)."""
    import os
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["C360_DATA_DIR"] = str(work / "data")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c360.web.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return work, write_journey_csv(work / "journey.csv", rows)
