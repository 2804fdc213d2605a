"""Pages for user accounts and API tokens (admins only)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from c360.accounts import logic
from c360.accounts.forms import TokenCreateForm, UserCreateForm
from c360.accounts.models import ApiToken
from c360.web.views import admin_page


@admin_page
def user_list(request: HttpRequest) -> HttpResponse:
    """Admins only: every account with its role."""
    users = User.objects.order_by("username")
    rows = [{"user": user, "role": logic.role_of(user)} for user in users]
    return render(request, "accounts/user_list.html", {"rows": rows})


@admin_page
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    """Admins only: create a staff or admin account."""
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = logic.create_user(
                username=data["username"],
                password=data["password"],
                email=data["email"],
                role=data["role"],
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Created the {data['role']} account {user.username!r}.")
            return redirect("user-list")
    return render(request, "accounts/user_form.html", {"form": form})


@admin_page
def token_list(request: HttpRequest) -> HttpResponse:
    """Admins only: every API token, active or revoked (never its secret)."""
    tokens = ApiToken.objects.select_related("created_by").prefetch_related("sources")
    return render(request, "accounts/token_list.html", {"tokens": tokens})


@admin_page
@require_http_methods(["GET", "POST"])
def token_create(request: HttpRequest) -> HttpResponse:
    """Admins only: issue a token; its secret is shown in the answer to this POST, never again."""
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            issued = logic.create_token(
                name=data["name"],
                created_by=request.user,  # type: ignore[arg-type]
                source_ids=[source.pk for source in data["sources"]],
                permissions=list(data["permissions"]),
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            response = render(
                request,
                "accounts/token_issued.html",
                {"token": issued.token, "secret": issued.secret},
            )
            # The secret must not linger in a browser or proxy cache.
            response["Cache-Control"] = "no-store"
            return response
    return render(request, "accounts/token_form.html", {"form": form})


@admin_page
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Admins only: revoke a token; calls made with it are refused from now on."""
    token = get_object_or_404(ApiToken, pk=token_id)
    if token.revoked_at is not None:
        messages.info(request, f"The token {token.name!r} was revoked already.")
    else:
        logic.revoke_token(token=token)
        messages.success(request, f"Revoked the token {token.name!r}.")
    return redirect("token-list")
