"""What a Temporal namespace needs before the pipeline runs on it: the search attributes
the workflows set and the reconcile schedule. ``pipeline setup temporal`` applies both,
idempotently, to the dev server, a self-hosted cluster or Temporal Cloud."""

from __future__ import annotations

import re
from collections.abc import Mapping

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode


class SearchAttributesRefused(Exception):
    """The server does not let this client add search attributes (Temporal Cloud)."""


def _indexed_type(kind: str) -> IndexedValueType.ValueType:
    """``"KeywordList"`` → ``INDEXED_VALUE_TYPE_KEYWORD_LIST``."""
    return IndexedValueType.Value(
        "INDEXED_VALUE_TYPE_" + re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper()
    )


async def ensure_search_attributes(client: Client, wanted: Mapping[str, str]) -> dict[str, str]:
    """Add the ``wanted`` (name → type, e.g. ``"Keyword"``) search attributes the namespace
    lacks; name → ``created`` or ``present``.

    Temporal Cloud takes search attributes only through its own API (``tcld``, the UI):
    there the operator call is refused and ``SearchAttributesRefused`` says what to run.
    """
    operator = client.operator_service
    present = await operator.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {name: kind for name, kind in wanted.items() if name not in present.custom_attributes}
    if missing:
        try:
            await operator.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=client.namespace,
                    search_attributes={name: _indexed_type(k) for name, k in missing.items()},
                )
            )
        except RPCError as exc:
            if exc.status not in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
                raise
            flags = " ".join(f"--sa '{name}={kind}'" for name, kind in missing.items())
            raise SearchAttributesRefused(
                f"{client.namespace} refused adding search attributes ({exc.message}); add "
                f"them with: tcld namespace search-attributes add -n {client.namespace} {flags}"
            ) from None
    return {name: "created" if name in missing else "present" for name in wanted}
