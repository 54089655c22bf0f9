"""Shapes of the accounts API. Serializers validate; services decide."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import ApiKey, Organization, Role


class OrganizationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    paused = serializers.BooleanField(source="is_paused", read_only=True)

    class Meta:
        model = Organization
        fields = ["id", "name", "created_at", "retention_days", "paused", "time_zone"]
        read_only_fields = fields


class ApiKeySerializer(serializers.ModelSerializer):
    """A key as listed: its prefix, never its secret (only a hash is stored)."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "role",
            "scopes",
            "active",
            "created_at",
            "created_by",
            "last_used_at",
            "last_used_ip",
            "revoked_at",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(
        choices=ApiKey._meta.get_field("role").choices,
        default=Role.MEMBER.value,
        help_text="viewer reads, member sends, admin also manages keys and settings.",
    )
    scopes = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text='Extra rights. "privacy" (export, pause, delete the organization) is given only by an owner in '
        "the portal, never through the API.",
    )


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """The answer to a create: the only time the secret is shown."""

    secret = serializers.CharField(read_only=True, help_text="Shown once. Store it now: it cannot be shown again.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "secret"]
        read_only_fields = fields
