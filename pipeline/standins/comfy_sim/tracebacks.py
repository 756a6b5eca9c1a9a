"""The traceback entries ComfyUI 0.3.64 prints when validating a prompt raises.

The contract captures (``post_prompt_err_link_*``) show them in
``exception_during_(inner_)validation`` bodies; comfy-sim hands ``validation_traceback`` to
``validate_graph`` so its answers carry the same lines. The product has no use for them.
"""

from __future__ import annotations

from workflows_comfy.validate_inputs import ValidationSite


def _frame(line: int, func: str, code: str, start: int, tildes: int, carets: int) -> str:
    """One ``traceback.format_tb`` entry from ComfyUI's execution.py, as Python 3.11 prints it."""
    marks = " " * (4 + start) + "~" * tildes + "^" * carets
    return f'  File "/opt/ComfyUI/execution.py", line {line}, in {func}\n    {code}\n{marks}\n'


_VALIDATION_FRAMES: dict[ValidationSite, str] = {
    "outer_call": _frame(
        1010,
        "validate_prompt",
        "m = await validate_inputs(prompt_id, prompt, o, validated)",
        4,
        0,
        54,
    ),
    "inner_call": _frame(
        808,
        "validate_inputs",
        "r = await validate_inputs(prompt_id, prompt, o_id, validated)",
        4,
        0,
        57,
    ),
    "inputs": _frame(730, "validate_inputs", "inputs = prompt[unique_id]['inputs']", 9, 17, 10),
    "linked_node": _frame(
        788, "validate_inputs", "o_class_type = prompt[o_id]['class_type']", 15, 6, 6
    ),
    "linked_slot": _frame(790, "validate_inputs", "received_type = r[val[1]]", 16, 1, 8),
}


def validation_traceback(site: ValidationSite) -> str:
    """The entry ComfyUI prints for ``site`` (a ``workflows_comfy.validate_inputs.Tracebacks``)."""
    return _VALIDATION_FRAMES[site]
