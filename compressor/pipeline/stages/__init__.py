"""The built-in stages, registered in run order. A new stage is one module and one `register_stage` call."""

from compressor.pipeline.stage import register_stage
from compressor.pipeline.stages.distill import DISTILL
from compressor.pipeline.stages.evaluate import EVALUATE
from compressor.pipeline.stages.export import EXPORT
from compressor.pipeline.stages.report import REPORT
from compressor.pipeline.stages.teachers import TEACHERS
from compressor.pipeline.stages.verify import VERIFY

BUILTIN = (TEACHERS, DISTILL, EVALUATE, EXPORT, VERIFY, REPORT)
for _stage in BUILTIN:
    register_stage(_stage)
