"""Pages of the web app itself (dashboard) and the plumbing every page view shares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from c360.accounts.logic import is_admin
from c360.sources.logic import NotAllowed, NotFound
from c360.sources.models import BatchStatus, ImportBatch
from c360.sources.permissions import visible_sources

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def page(view: View) -> View:
    """Log-in required; the logic's refusals become the 404 and 403 pages.

    NotFound also covers sources the user may not see, so a page never reveals that they exist.
    """

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(str(exc)) from exc
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc

    return login_required(wrapped)  # type: ignore[return-value]


def admin_page(view: View) -> View:
    """Log-in required, and admins only: anyone else gets the 403 page."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_admin(request.user):
            raise PermissionDenied("This page is for admins.")
        return view(request, *args, **kwargs)

    return page(wrapped)  # type: ignore[return-value]


@page
def home(request: HttpRequest) -> HttpResponse:
    """Anyone logged in: counts and recent imports of the sources they can see."""
    sources = visible_sources(request.user)
    batches = ImportBatch.objects.filter(source__in=sources.values("pk"))
    context = {
        "source_count": sources.count(),
        "batch_count": batches.count(),
        "running_count": batches.filter(
            status__in=[BatchStatus.PENDING, BatchStatus.RUNNING]
        ).count(),
        "rows_landed": batches.filter(status=BatchStatus.DONE).aggregate(rows=Sum("rows_inserted"))[
            "rows"
        ]
        or 0,
        "recent_batches": batches.select_related("source", "created_by", "api_token")[:10],
    }
    return render(request, "web/home.html", context)
