"""Training methods, one module each (its parameters class and its implementation), and their registry.

The modules load on the first lookup (`load_methods`, which reading a recipe calls), so importing this
package costs no torch.
"""

from compressor.methods.registry import (
    MethodInfo,
    get_method,
    load_methods,
    method_info,
    method_names,
    register_method,
    register_params,
)

__all__ = [
    "MethodInfo",
    "get_method",
    "load_methods",
    "method_info",
    "method_names",
    "register_method",
    "register_params",
]
