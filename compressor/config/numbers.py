"""Recipe numbers may be written as fractions ("8/255"), as the literature writes them."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_FRACTION = re.compile(r"^\s*([0-9.eE+-]+)\s*/\s*([0-9.eE+-]+)\s*$")


def parse_number(value: Any) -> Any:
    """Turn "8/255" into 0.0313...; leave everything else to pydantic."""
    if isinstance(value, str):
        match = _FRACTION.match(value)
        if match:
            numerator, denominator = (float(g) for g in match.groups())
            if denominator == 0:
                raise ValueError(f"division by zero in {value!r}")
            return numerator / denominator
    return value


Number = Annotated[float, BeforeValidator(parse_number)]
