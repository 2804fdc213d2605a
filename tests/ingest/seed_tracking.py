"""Prepare a fresh data dir for a live tracking server: an admin, an events source, a write
key and an API token that may read its profiles.

Run as `python seed_tracking.py DATA_DIR` (with C360_DATA_DIR=DATA_DIR) before `c360 serve`
starts there; prints {"source_id", "write_key", "token"} as JSON.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    os.environ["C360_DATA_DIR"] = sys.argv[1]
    os.environ.setdefault("C360_ENV", "test")
    os.environ["DJANGO_SETTINGS_MODULE"] = "c360.web.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from c360.accounts.logic import create_token, create_user
    from c360.sources.logic import create_source, create_write_key

    admin = create_user(username="admin", password="a-long-test-password", role="admin")
    source = create_source(actor=admin, name="Web tracking", kind="events")
    issued = create_write_key(actor=admin, source=source, name="live test")
    token = create_token(
        name="profile reader", created_by=admin, source_ids=[source.pk], permissions=["analyze"]
    )
    print(json.dumps({"source_id": source.pk, "write_key": issued.secret, "token": token.secret}))


if __name__ == "__main__":
    main()
