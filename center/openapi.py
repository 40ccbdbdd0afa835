"""The OpenAPI 3.0 document of the Licensing Center API v1 (served at /openapi.json).

Hand-written so it states exactly what the server keeps (schemathesis checks
the running server against it).
"""

from __future__ import annotations

from typing import Any

from licwiz.core import __version__
from licwiz.core.owner import OwnerData

_S = {"type": "string"}
_ERR = {"$ref": "#/components/responses/Error"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}},
            "headers": {"X-Request-Id": {"schema": _S, "description": "id of this request (logs, audit)"}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _ERR for c in codes}


def _admin_security() -> list[dict[str, list[str]]]:
    return [{"admin": []}]


def openapi_document() -> dict[str, Any]:
    owner = {
        "type": "object", "additionalProperties": False,
        "properties": {name: _S for name in OwnerData.field_names()},
    }
    activation_request = {
        "type": "object",
        "required": ["product", "regnum", "pin", "operation", "params", "method", "nonce",
                     "client_version", "created"],
        "properties": {
            "product": {"type": "string", "minLength": 1, "maxLength": 100},
            "regnum": {"type": "string", "pattern": "^[0-9]{10}$",
                       "description": "10 digits, the last a Damm check digit (dashes and spaces"
                                      " between digits are accepted and removed)"},
            "pin": {"type": "string", "pattern": "^[0-9]{15}$",
                    "description": "15 digits (last a check digit), dashes and spaces accepted; for"
                                   " recover/update the last used PIN"},
            "operation": {"type": "string", "enum": ["first", "recover", "update"]},
            "owner": owner,
            "params": {"type": "object", "maxProperties": 32,
                       "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 128}},
            "method": {"type": "string"},
            "extra_pin": {"type": "string", "nullable": True, "pattern": "^[0-9]{15}$"},
            "nonce": _S, "client_version": _S, "created": _S,
        },
    }
    issued = {
        "type": "object", "required": ["license", "license_id", "users", "supersedes", "request_id"],
        "properties": {
            "license": _S, "license_id": _S, "users": {"type": "integer"},
            "supersedes": {"type": "string", "nullable": True}, "request_id": _S,
        },
    }
    # A kit's PINs are in the answer that creates it only (single_pins, multi_pins);
    # afterwards the center has their hashes and names each by set and position.
    pin_state = {
        "type": "object", "required": ["set", "position", "state"],
        "properties": {"set": {"type": "string", "enum": ["single", "multi"]},
                       "position": {"type": "integer"},
                       "state": {"type": "string", "enum": ["unused", "used"]}},
    }
    kit = {
        "type": "object", "required": ["regnum", "product", "users", "pins"],
        "properties": {
            "regnum": _S, "product": _S, "users": {"type": "integer"},
            "single_pins": {"type": "array", "items": _S}, "multi_pins": {"type": "array", "items": _S},
            "pin_set": {"type": "string", "nullable": True}, "issued": {"type": "integer"},
            "created": _S, "pins": {"type": "array", "items": pin_state},
            "locked_until": {"type": "string", "nullable": True},
        },
    }
    license_summary = {
        "type": "object", "required": ["license_id", "regnum", "status"],
        "properties": {"license_id": _S, "regnum": _S, "status": _S, "serial": {"type": "integer"},
                       "users": {"type": "integer"}, "method": _S, "product": _S},
    }
    published = {"type": "array", "items": {
        "type": "object", "required": ["key_id", "pem", "status"],
        "properties": {"key_id": _S, "pem": _S,
                       "status": {"type": "string", "enum": ["next", "current", "previous"]},
                       "created": {"type": "string", "nullable": True}}}}
    body = {"required": True, "content": {"application/json": {"schema": activation_request}}}
    idem = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": _S,
            "description": "a retry with the same key returns the first answer"}
    public = _errors(400, 403, 404, 409, 413, 422, 423, 429, 503)
    return {
        "openapi": "3.0.3",
        "info": {"title": "licwiz Licensing Center", "version": __version__,
                 "description": "Kits, PIN codes and signed licenses. Errors: "
                                "{\"error\": {code, brief, detail, request_id}}."},
        "paths": {
            "/api/v1/health": {"get": {"operationId": "health", "responses": {"200": _json({
                "type": "object", "required": ["status", "version"],
                "properties": {"status": {"type": "string", "enum": ["ok"]}, "version": _S}})}}},
            "/api/v1/keys": {"get": {
                "operationId": "keys",
                "description": "The published keys of each kind, the current one first: next (published "
                               "for clients to trust, not used yet), current, previous (not used, still "
                               "trusted). Retired keys are not listed.",
                "responses": {"200": _json({
                    "type": "object", "required": ["signing", "sealing"],
                    "properties": {"signing": published, "sealing": published}})}}},
            "/api/v1/check": {"post": {
                "operationId": "check",
                "requestBody": body,
                "responses": {"200": _json({
                    "type": "object",
                    "required": ["available", "product", "users", "pin_set", "method_family",
                                 "signing_key_id"],
                    "properties": {
                        "available": {"type": "boolean"}, "product": _S, "users": {"type": "integer"},
                        "pin_set": {"type": "string", "enum": ["single", "multi"]},
                        "method_family": {"type": "string", "enum": ["online-or-file", "phone"]},
                        "signing_key_id": {
                            "type": "string",
                            "description": "the key that would sign the license (for a recovery, the "
                                           "key that signed it): a client that does not trust it stops "
                                           "here, before a PIN is spent"}}}),
                              **public}}},
            "/api/v1/activate": {"post": {
                "operationId": "activate", "parameters": [idem],
                "requestBody": body,
                "responses": {"200": _json(issued), **public}}},
            "/api/v1/requests": {"post": {
                "operationId": "submitRequestFile", "parameters": [idem],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["request"],
                    "properties": {"request": {"type": "string",
                                               "description": "armoured, sealed license request file"}}}}}},
                "responses": {"200": _json(issued), **public}}},
            "/api/v1/admin/kits": {
                "get": {"operationId": "listKits", "security": _admin_security(), "responses": {
                    "200": _json({"type": "object", "required": ["kits"],
                                  "properties": {"kits": {"type": "array", "items": kit}}}),
                    **_errors(401, 503)}},
                "post": {"operationId": "createKits", "security": _admin_security(),
                         "requestBody": {"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "required": ["product"],
                             "properties": {
                                 "product": {"type": "string", "minLength": 1, "maxLength": 100},
                                 "users": {"type": "integer", "minimum": 1, "maximum": 10000},
                                 "pins": {"type": "integer", "minimum": 1, "maximum": 1000},
                                 "count": {"type": "integer", "minimum": 1, "maximum": 1000}}}}}},
                         "responses": {"201": _json({"type": "object", "required": ["kits"],
                                                     "properties": {"kits": {"type": "array", "items": kit}}},
                                                    "Created"),
                                       **_errors(400, 401, 413, 503)}},
            },
            "/api/v1/admin/kits/{regnum}": {"get": {
                "operationId": "showKit", "security": _admin_security(),
                "parameters": [{"name": "regnum", "in": "path", "required": True, "schema": _S}],
                "responses": {"200": _json(kit), **_errors(401, 404, 503)}}},
            "/api/v1/admin/licenses": {"get": {
                "operationId": "listLicenses", "security": _admin_security(),
                "parameters": [{"name": "regnum", "in": "query", "required": False, "schema": _S}],
                "responses": {"200": _json({"type": "object", "required": ["licenses"],
                                            "properties": {"licenses": {"type": "array",
                                                                        "items": license_summary}}}),
                              **_errors(401, 503)}}},
            "/api/v1/admin/licenses/{license_id}": {"get": {
                "operationId": "showLicense", "security": _admin_security(),
                "parameters": [{"name": "license_id", "in": "path", "required": True, "schema": _S}],
                "responses": {"200": _json(license_summary), **_errors(401, 404, 503)}}},
            "/api/v1/admin/licenses/{license_id}/revoke": {"post": {
                "operationId": "revokeLicense", "security": _admin_security(),
                "parameters": [{"name": "license_id", "in": "path", "required": True, "schema": _S}],
                "responses": {"200": _json(license_summary), **_errors(401, 404, 503)}}},
        },
        "components": {
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {
                "description": "refused: a stable code, a brief text for people, a detail for support",
                "headers": {"X-Request-Id": {"schema": _S}},
                "content": {"application/json": {"schema": {
                    "type": "object", "required": ["error"],
                    "properties": {"error": {
                        "type": "object", "required": ["code", "brief", "detail", "request_id"],
                        "properties": {"code": _S, "brief": _S, "detail": _S, "request_id": _S}}}}}},
            }},
        },
    }
