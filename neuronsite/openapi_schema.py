"""The project's drf-spectacular ``AutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``).

drf-spectacular maps ``min_length``/``max_length`` of lists to ``minItems``/``maxItems`` but not
``allow_empty=False`` (``ListField`` or a nested ``many=True`` serializer): the server answers an
empty list 400 while the schema allowed it, which schemathesis reports as a schema-valid request
refused (issue 10). Here every such list says ``minItems: 1``.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions=bypass_extensions)
        if getattr(field, "allow_empty", True) is False and isinstance(schema, dict):
            if schema.get("type") == "array" and "minItems" not in schema:
                schema["minItems"] = 1
        return schema
