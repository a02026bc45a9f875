"""VerifyTolerances: defaults per format, overlay from a dict, one-line errors for bad keys."""

from __future__ import annotations

import pytest

from compressor_edge import VerifyTolerances


def test_defaults_tighten_from_int8_to_fp32() -> None:
    tol = VerifyTolerances()
    assert tol.fp32.max_abs_logit_diff < tol.fp16.max_abs_logit_diff
    assert tol.int8.max_abs_logit_diff is None and tol.int8.max_rel_logit_diff == 0.25  # scale-relative
    assert tol.fp32.min_top1_agreement > tol.fp16.min_top1_agreement > tol.int8.min_top1_agreement
    assert tol.fp32.max_adv_acc_drop < tol.int8.max_adv_acc_drop
    assert tol.fp32.min_square_acc is None and tol.int8.max_latency_ms is None


def test_from_dict_overlays_only_given_fields() -> None:
    tol = VerifyTolerances.from_dict({"int8": {"max_adv_acc_drop": 0.1, "max_latency_ms": 5}, "fp16": {}})
    assert tol.int8.max_adv_acc_drop == 0.1 and tol.int8.max_latency_ms == 5
    assert tol.int8.max_clean_acc_drop == VerifyTolerances().int8.max_clean_acc_drop
    assert tol.fp32 == VerifyTolerances().fp32
    assert VerifyTolerances.from_dict(tol.to_dict()) == tol
    assert VerifyTolerances.from_dict(None) == VerifyTolerances()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"int8": {"max_adv_acc_dorp": 0.1}}, "did you mean 'max_adv_acc_drop'"),
        ({"int4": {}}, "unknown format"),
        ({"fp16": {"max_abs_logit_diff": "big"}}, "expected a number"),
        ({"fp16": {"min_top1_agreement": None}}, "expected a number"),
        ({"fp16": 3}, "expected a mapping"),
    ],
)
def test_bad_tolerances_raise_one_line(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        VerifyTolerances.from_dict(data)
    assert "\n" not in str(info.value)


def test_optional_tolerances_accept_none() -> None:
    tol = VerifyTolerances.from_dict({"fp32": {"min_square_acc": 0.5}})
    assert VerifyTolerances.from_dict({"fp32": {"min_square_acc": None}}).fp32.min_square_acc is None
    assert tol.fp32.min_square_acc == 0.5
