"""The CPU record: model name and the ISA flags that decide int8 behaviour, parsed from /proc/cpuinfo."""

from __future__ import annotations

from compressor_edge.machine import cpu_info, describe_cpu, parse_cpuinfo, summarize

_AVX2_ONLY = "processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n"
_SAPPHIRE = (
    "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t: avx2 avx512f avx512_vnni amx_int8 amx_bf16\n"
)


def test_vnni_and_amx_come_from_the_flags() -> None:
    old = summarize(*parse_cpuinfo(_AVX2_ONLY))
    assert old["model"] == "AMD EPYC 7B12" and old["isa"]["avx2"] and not old["vnni"] and not old["amx"]
    new = summarize(*parse_cpuinfo(_SAPPHIRE))
    assert new["vnni"] and new["amx"] and new["isa"]["avx512_vnni"] and not new["isa"]["avx_vnni"]
    assert "amx_int8" in describe_cpu(new) and "Platinum 8480+" in describe_cpu(new)


def test_unknown_flags_are_said_so() -> None:
    info = summarize("", set())
    assert info["flags_known"] is False and info["vnni"] is False and info["isa"] == {}
    assert "ISA flags unknown" in describe_cpu(info)


def test_this_machine_has_a_record() -> None:
    info = cpu_info()
    assert info["model"] and info["model"] != "unknown cpu" and isinstance(info["vnni"], bool)
