"""Plain Python values from numpy and pandas results, for JSON files, JSON columns and metadata.

``json.dumps`` refuses numpy scalars and arrays, and writes NaN and infinity as the non-standard
tokens ``NaN`` and ``Infinity``. ``jsonable`` turns a (nested) result into dicts with string
keys, lists, Python numbers, strings, booleans and None; what it does not know (strings,
timestamps, other objects) passes through unchanged, for ``json.dumps(default=...)`` or the
caller to handle. It imports nothing beyond the standard library (numpy and pandas objects are
recognised by their ``tolist``/``item`` methods), so light modules can use it.
"""

from __future__ import annotations

import math
from typing import Any


def jsonable(value: Any, *, keep_nan: bool = False, keep_inf: bool = False) -> Any:
    """``value`` with numpy and container types replaced by plain Python ones, recursively.

    - dict -> dict with ``str`` keys; list and tuple -> list (a tuple subclass, such as a named
      tuple or a Dagster ``MetadataValue``, is an object of its own and passes unchanged);
    - float and numpy floating -> float, but NaN -> None and +-inf -> None (JSON has neither);
      ``keep_nan`` / ``keep_inf`` keep them as floats (for files that round-trip through
      Python's own ``json``, which reads them back);
    - numpy scalars (integer -> int, bool -> bool, ...), numpy arrays, pandas Series and Index
      -> their ``tolist()``, converted;
    - anything else with ``item()`` -> that item;
    - everything else (str, None, int, bool, timestamps, ...) unchanged.
    """

    def convert(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): convert(x) for k, x in v.items()}
        if type(v) in (list, tuple):
            return [convert(x) for x in v]
        if isinstance(v, float):  # numpy.float64 is a float too
            if math.isnan(v):
                return float(v) if keep_nan else None
            if math.isinf(v):
                return float(v) if keep_inf else None
            return float(v)
        for method in ("tolist", "item"):  # tolist: numpy scalars and arrays, pandas Series and Index
            if hasattr(v, method):
                plain = getattr(v, method)()
                return v if type(plain) is type(v) else convert(plain)  # e.g. numpy.longdouble stays
        return v

    return convert(value)
