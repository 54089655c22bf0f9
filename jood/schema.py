"""The OpenAPI document: every operation lists the JSON errors it can answer, once, here (issue 13).

A module of its own: drf-spectacular imports DRF's views, which import the
settings' classes (jood.api): the schema class cannot live there.
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: `validation_error`, `not_found`, ...")
    message = serializers.CharField(help_text="For people: what went wrong and what to do.")
    details = serializers.DictField(help_text="Per field or per item: what was refused.")


class ErrorSerializer(serializers.Serializer):
    """The shape of every API error."""

    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    "400": "The request is not valid (a field, a filter, a cursor, malformed JSON).",
    "401": "No API key, or an unknown or revoked one.",
    "403": "The key's role does not allow this.",
    "404": "No such object in this organization, or an invalid cursor.",
    "405": "The method is not allowed here.",
    "409": "The object is not in a state that allows this.",
    "413": "The request body is too large.",
    "415": "The request body's content type is not accepted.",
    "429": "Too many requests; `details.retry_after` says how many seconds to wait.",
    "500": "An unexpected error on our side (logged).",
}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with the JSON error responses every operation can answer."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = ["400", "401", "403", "404", "405", "409", "429", "500"]
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["413", "415"]
        component = self.resolve_serializer(ErrorSerializer, "response")

        def error_content():
            return {"application/json": {"schema": component.ref}}

        for code in codes:
            if code not in responses:
                responses[code] = {"description": ERROR_DESCRIPTIONS[code], "content": error_content()}
        for code, response in responses.items():
            # An error a view documents by its description only (`OpenApiResponse(description=...)`)
            # still answers in the JSON error shape.
            if code[:1] in ("4", "5") and not response.get("content"):
                response["content"] = error_content()
        return dict(sorted(responses.items()))


def create_examples(request: dict, response: dict) -> list[OpenApiExample]:
    """Return the examples of a create: what is posted, and the 201 answer."""
    return [
        OpenApiExample("Create", value=request, request_only=True),
        OpenApiExample("Created", value=response, response_only=True, status_codes=["201"]),
    ]
