"""Calling the API as a given actor; the world the permission tests run in."""

from __future__ import annotations

import json as jsonlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.test import Client

from c360.accounts.models import ApiToken
from c360.sources.models import DataSource, ImportBatch

JOURNEY_CSV = (
    "customer_id,action_type,time,channel\n"
    "c1,visit,2024-03-01 10:00:00,web\n"
    "c1,purchase,2024-03-01 10:05:00,web\n"
    "c2,visit,2024-03-02 09:00:00,app\n"
)

ANONYMOUS = None


def csv_upload(text: str = JOURNEY_CSV, name: str = "journey.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


class Api:
    """The API as seen by one actor: a user (browser session), a token secret, or nobody.

    CSRF checks are on, as for real callers: sessions send the token the page would send,
    tokens and anonymous callers send none.
    """

    def __init__(self, actor: User | str | None) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.headers: dict[str, str] = {}
        if isinstance(actor, User):
            self.client.force_login(actor)
            csrf = secrets.token_hex(16)  # 32 characters, a valid unmasked CSRF secret
            self.client.cookies["csrftoken"] = csrf
            self.headers["HTTP_X_CSRFTOKEN"] = csrf
        elif isinstance(actor, str):
            self.headers["HTTP_AUTHORIZATION"] = f"Bearer {actor}"

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: dict[str, Any] | None = None,
    ) -> HttpResponse:
        send = getattr(self.client, method.lower())
        if data is not None:  # multipart
            response = send(path, data=data, **self.headers)
        elif json is not None:
            response = send(
                path, data=jsonlib.dumps(json), content_type="application/json", **self.headers
            )
        else:
            response = send(path, **self.headers)
        if response.streaming:
            # Read a download whole and close it, so no file stays open after the test.
            response.downloaded = b"".join(response.streaming_content)
            response.close()
        return response  # type: ignore[no-any-return]

    def get(self, path: str) -> HttpResponse:
        return self.call("get", path)

    def post(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.call("post", path, **kwargs)


def assert_error(response: HttpResponse, status: int, code: str) -> dict[str, Any]:
    """The response is the one error shape, with this status and code."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    return body["error"]  # type: ignore[no-any-return]


@dataclass
class World:
    admin: User
    owner: User  # staff who owns a private source
    bystander: User  # staff with no grant on anything
    granted: User  # staff with import and analyze on the public source
    shop: DataSource  # public, owned by the admin
    crm: DataSource  # public, owned by the admin; the other token's source
    private: DataSource  # the owner's private source
    shop_batch: ImportBatch
    private_batch: ImportBatch
    shop_token: str  # import + analyze on shop
    crm_token: str  # import + analyze on crm only
    revoked_token: str  # was import + analyze on shop
    shop_token_row: ApiToken

    def actor(self, name: str) -> User | str | None:
        return {
            "anonymous": ANONYMOUS,
            "admin": self.admin,
            "owner": self.owner,
            "bystander": self.bystander,
            "granted": self.granted,
            "shop_token": self.shop_token,
            "crm_token": self.crm_token,
            "revoked_token": self.revoked_token,
        }[name]
