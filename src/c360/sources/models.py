"""Data sources, who may use them, saved column mappings and the import log."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SourceKind(models.TextChoices):
    EVENTS = "events", "Events"
    CUSTOMERS = "customers", "Customers"
    ORDERS = "orders", "Orders"
    ORDER_ITEMS = "order_items", "Order lines"
    PRODUCTS = "products", "Products"


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private"
    PUBLIC = "public", "Public"


class DataSource(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_sources"
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Grant(models.Model):
    """What a staff member may do with a source beyond seeing it."""

    source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="source_grants"
    )
    can_import = models.BooleanField(default=False)
    can_analyze = models.BooleanField(default=False)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "user"], name="one_grant_per_user_source")
        ]


class ColumnMapping(models.Model):
    """File columns to canonical fields, saved by name per source kind and reused."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    spec = models.JSONField()  # see c360.ingest.mapping.Mapping
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="one_mapping_name_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Importing"
    DONE = "done", "Imported"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"


class ImportMode(models.TextChoices):
    STRICT = "strict", "Strict: any bad row rejects the file"
    LENIENT = "lenient", "Lenient: good rows land, bad rows are reported"


class ImportBatch(models.Model):
    """One import, logged whatever its outcome; its warehouse rows carry its id."""

    source = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    api_token = models.ForeignKey(
        "accounts.ApiToken", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    file_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0)
    file_format = models.CharField(max_length=20, blank=True)
    mapping_name = models.CharField(max_length=100, blank=True)
    mapping = models.JSONField(default=dict)  # the mapping as applied, kept with the batch
    mode = models.CharField(max_length=10, choices=ImportMode.choices, default=ImportMode.STRICT)
    status = models.CharField(
        max_length=12, choices=BatchStatus.choices, default=BatchStatus.PENDING
    )
    stage = models.CharField(max_length=40, blank=True)  # progress, for the page
    progress = models.FloatField(default=0.0)  # 0..1
    rows_read = models.BigIntegerField(default=0)
    rows_accepted = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    rows_duplicate = models.BigIntegerField(default=0)  # accepted but already in the warehouse
    rows_inserted = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    errors_sample = models.JSONField(default=list)  # first per-row errors: row, column, reason
    rejected_path = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rolled_back_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rows_removed = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"batch {self.pk} of {self.source}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def is_finished(self) -> bool:
        return self.status not in {BatchStatus.PENDING, BatchStatus.RUNNING}


class WriteKey(models.Model):
    """The credential a tracking client sends to the HTTP tracking API (/v1/...) for one
    source; stored hashed, shown once, revocable. A source may hold several, so a key can be
    rotated without a gap."""

    source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="write_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.source}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class KafkaFormat(models.TextChoices):
    SEGMENT = "segment", "Segment JSON"
    JOURNEY = "journey", "Journey JSON"


class KafkaSecurity(models.TextChoices):
    PLAINTEXT = "PLAINTEXT", "None"
    SSL = "SSL", "TLS"
    SASL_PLAINTEXT = "SASL_PLAINTEXT", "SASL without TLS"
    SASL_SSL = "SASL_SSL", "SASL over TLS"


class KafkaConsumerState(models.TextChoices):
    STOPPED = "stopped", "Stopped"
    STARTING = "starting", "Starting"
    RUNNING = "running", "Running"
    ERROR = "error", "Error"


class KafkaConnection(models.Model):
    """Where an events source reads its Kafka topics, and how its consumer is doing.

    Settings are validated by c360.ingest.kafka_settings; the state fields are written by the
    consumer (c360.ingest.kafka), in whichever process runs it, so the source page can show
    them whether the server or `c360 consume` consumes.
    """

    source = models.OneToOneField(
        DataSource, on_delete=models.CASCADE, related_name="kafka_connection"
    )
    bootstrap_servers = models.CharField(max_length=1000)
    topics = models.JSONField(default=list)  # topic names
    group_id = models.CharField(max_length=255)
    message_format = models.CharField(
        max_length=10, choices=KafkaFormat.choices, default=KafkaFormat.SEGMENT
    )
    security_protocol = models.CharField(
        max_length=20, choices=KafkaSecurity.choices, default=KafkaSecurity.PLAINTEXT
    )
    sasl_mechanism = models.CharField(max_length=20, blank=True)
    sasl_username = models.CharField(max_length=255, blank=True)
    # Kept as given: the consumer must send it to the broker. Never shown on a page or by the API.
    sasl_password = models.CharField(max_length=1000, blank=True)
    ssl_ca_location = models.CharField(max_length=1000, blank=True)
    session_timeout_ms = models.PositiveIntegerField(default=10_000)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The consumer's state, as it last reported it.
    state = models.CharField(
        max_length=10, choices=KafkaConsumerState.choices, default=KafkaConsumerState.STOPPED
    )
    state_at = models.DateTimeField(null=True, blank=True)
    consumer_host = models.CharField(max_length=255, blank=True)  # host:pid of the consumer
    partitions = models.JSONField(default=list)  # [{topic, partition, committed, end, lag}]
    messages_stored = models.BigIntegerField(default=0)
    messages_dead = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Kafka {', '.join(self.topics)} for {self.source}"

    @property
    def total_lag(self) -> int | None:
        lags = [p.get("lag") for p in self.partitions if p.get("lag") is not None]
        return sum(lags) if lags else None


class KafkaDeadLetter(models.Model):
    """A Kafka message that could not be stored as an event, with where it was and why.

    Kept in the metadata database, not the warehouse: a dead letter is not a touchpoint of a
    customer but an operator's to-do, read by the source page next to the import log (whose
    per-row errors live here too); it must stay out of the events' lineage, so rolling back a
    stream batch or recomputing people never touches it. Few are expected; one per
    (topic, partition, offset), so a replay after a restart records it once.
    """

    source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="dead_letters")
    topic = models.CharField(max_length=255)
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    key = models.TextField(blank=True)
    value = models.TextField(blank=True)  # the first VALUE_LIMIT characters of the message
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "topic", "partition", "offset"], name="one_dead_letter_per_offset"
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}: {self.reason[:60]}"
