"""The built-in stages: every module here declares one `Stage` as `STAGE`; the stage registry
(compressor/pipeline/stage.py) imports them all and registers them in an order where each stage comes after
those it needs or uses (ties by name). A new stage is one module."""
