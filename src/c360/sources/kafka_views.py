"""The Kafka panel of an events source's page: the consumer's state, lag per partition, last
error and latest dead letters (refreshed by htmx), and the connection's settings for admins."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from c360.accounts.logic import is_admin
from c360.sources import logic
from c360.sources.kafka import (
    SASL_MECHANISMS,
    delete_kafka_connection,
    may_see_dead_letters,
    save_kafka_connection,
    validate_settings,
)
from c360.sources.models import (
    DataSource,
    KafkaConnection,
    KafkaDeadLetter,
    KafkaFormat,
    KafkaSecurity,
    SourceKind,
)
from c360.web.views import page

DEAD_LETTERS_SHOWN = 20


def _state_context(request: HttpRequest, source: DataSource) -> dict[str, Any]:
    connection = KafkaConnection.objects.filter(source=source).first()
    context: dict[str, Any] = {"source": source, "connection": connection}
    if connection is not None and may_see_dead_letters(request.user, source):
        context["show_dead_letters"] = True
        context["dead_letters"] = KafkaDeadLetter.objects.filter(source=source)[:DEAD_LETTERS_SHOWN]
        context["dead_letter_total"] = KafkaDeadLetter.objects.filter(source=source).count()
    return context


@page
def kafka_panel(request: HttpRequest, source_id: int) -> HttpResponse:
    """Anyone who may see an events source: its Kafka consumer; admins also edit the settings."""
    source = logic.get_source(request.user, source_id)
    if source.kind != SourceKind.EVENTS:
        return HttpResponse("")
    context = _state_context(request, source)
    context["may_edit"] = is_admin(request.user)
    if context["connection"] is None and not context["may_edit"]:
        return HttpResponse("")
    context.update(
        formats=KafkaFormat.choices,
        securities=KafkaSecurity.choices,
        mechanisms=SASL_MECHANISMS,
    )
    return render(request, "sources/_kafka.html", context)


@page
def kafka_state(request: HttpRequest, source_id: int) -> HttpResponse:
    """Anyone who may see the source: the consumer state partial htmx polls."""
    source = logic.get_source(request.user, source_id)
    return render(request, "sources/_kafka_state.html", _state_context(request, source))


@page
@require_POST
def kafka_save(request: HttpRequest, source_id: int) -> HttpResponse:
    """Admins: connect the source to Kafka, or change its connection (the consumer restarts)."""
    source = logic.get_source(request.user, source_id)
    if not is_admin(request.user):  # before reading the form: no hints for anyone else
        raise logic.NotAllowed("only admins connect a data source to Kafka")
    back = reverse("source-detail", args=[source.pk]) + "#kafka"
    existing = KafkaConnection.objects.filter(source=source).first()
    data = request.POST
    password = data.get("sasl_password", "")
    if not password and existing is not None and data.get("sasl_username"):
        password = existing.sasl_password  # a blank password field keeps the stored one
    try:
        settings = validate_settings(
            bootstrap_servers=data.get("bootstrap_servers", ""),
            topics=data.get("topics", ""),
            group_id=data.get("group_id", ""),
            message_format=data.get("message_format", KafkaFormat.SEGMENT),
            security_protocol=data.get("security_protocol", KafkaSecurity.PLAINTEXT),
            sasl_mechanism=data.get("sasl_mechanism", ""),
            sasl_username=data.get("sasl_username", ""),
            sasl_password=password,
            ssl_ca_location=data.get("ssl_ca_location", ""),
            session_timeout_ms=data.get("session_timeout_ms") or 10_000,
            enabled=data.get("enabled") == "on",
        )
        save_kafka_connection(actor=request.user, source=source, settings=settings)  # type: ignore[arg-type]
    except ValueError as exc:
        messages.error(request, f"The Kafka connection was not saved: {exc}.")
        return redirect(back)
    messages.success(
        request,
        f"Saved the Kafka connection of {source.name}"
        + (": the consumer starts now." if settings.enabled else " (paused)."),
    )
    return redirect(back)


@page
@require_POST
def kafka_delete(request: HttpRequest, source_id: int) -> HttpResponse:
    """Admins: stop consuming and forget the connection (dead letters stay)."""
    source = logic.get_source(request.user, source_id)
    delete_kafka_connection(actor=request.user, source=source)  # type: ignore[arg-type]
    messages.success(request, f"{source.name} no longer consumes Kafka topics.")
    return redirect(reverse("source-detail", args=[source.pk]) + "#kafka")
