"""Search attributes the pipeline sets, so operators can filter sessions in the Temporal UI."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

SESSION_ID = SearchAttributeKey.for_keyword("SessionId")
DROP_KIND = SearchAttributeKey.for_keyword("DropKind")
PIPELINE_STAGE = SearchAttributeKey.for_keyword("PipelineStage")

ALL: dict[str, str] = {
    SESSION_ID.name: "Keyword",
    DROP_KIND.name: "Keyword",
    PIPELINE_STAGE.name: "Keyword",
}
"""Name → type, as ``temporal server start-dev --search-attribute`` and operators take them."""
