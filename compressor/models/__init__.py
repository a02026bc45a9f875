"""Model factory, [0,1] wrapper, small-input zoo (timm registry), CLIP classifiers."""

from compressor.models.factory import check_model_name, create_classifier
from compressor.models.wrapper import Normalized, unwrap

__all__ = ["Normalized", "check_model_name", "create_classifier", "unwrap"]
