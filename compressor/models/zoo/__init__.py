"""Small-input architectures of the robust-distillation literature, registered in timm's model registry.

Importing compressor.models.catalog registers them all: `timm.create_model("cifar_resnet18", num_classes=10)` then works, and each
model carries a `pretrained_cfg` with the input size and normalisation it expects. No weights are shipped.
Adding an architecture is one module here: its `default_cfgs` (config as data, `zoo_cfg`), a
`@register_model` entry point per name and, when a training step takes well under a second on a CPU,
`SMOKE_MODELS` (smoke mode keeps those, replaces the rest by tiny_cnn); the catalog imports every module here.
"""
