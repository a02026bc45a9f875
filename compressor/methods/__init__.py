"""Training methods: a torch-free registry (names, parameters, teacher roles) and one module per method.

Implementations load when `get_method` first needs one, so importing this package costs no torch.
"""

from compressor.methods.registry import (
    MethodInfo,
    get_method,
    method_info,
    method_names,
    register_method,
    register_params,
)

__all__ = ["MethodInfo", "get_method", "method_info", "method_names", "register_method", "register_params"]
