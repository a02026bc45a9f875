"""Which Hugging Face Hub files a model spec loads, whether this machine's cache holds them, and how to fetch them.

timm and open_clip download through `huggingface_hub` into its cache (`$HF_HOME/hub`); with
`HF_HUB_OFFLINE=1` they read only that cache. This module names the repository and files each spec needs
so that a missing file is one line saying what to fetch and how, not a traceback from deep in the hub code.
"""

from __future__ import annotations

from dataclasses import dataclass

from compressor.config.schema import ModelSpec
from compressor.errors import UserInputError

HF_PREFIX = "hf-hub:"
_TIMM_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_OPEN_CLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


@dataclass(frozen=True)
class HubFiles:
    """A Hub repository and the files read from it; each entry lists alternatives, any one of which will do."""

    repo: str
    files: tuple[tuple[str, ...], ...]

    def fetch_hint(self) -> str:
        """How to put the files into the cache on a machine with a network."""
        first = " ".join(alternatives[0] for alternatives in self.files)
        return (
            f"fetch them where a network exists with `hf download {self.repo} {first}` and copy the "
            "Hugging Face cache ($HF_HOME/hub) here, or set `checkpoint:` to a local file"
        )


def hub_files(spec: ModelSpec) -> HubFiles | None:
    """The Hub files building this spec reads (None: nothing comes from the Hub)."""
    if spec.checkpoint is not None and not spec.name.startswith(HF_PREFIX):
        return None
    if spec.source == "timm":
        return _timm_files(spec)
    if spec.source == "open_clip":
        return _open_clip_files(spec)
    return None


def is_offline() -> bool:
    """Whether huggingface_hub was told not to use the network (HF_HUB_OFFLINE=1)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def cache_dir() -> str:
    """The Hugging Face Hub cache this process reads."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def missing_files(needed: HubFiles) -> list[str]:
    """The needed files that are not in the local cache (for each, its first alternative's name)."""
    from huggingface_hub import try_to_load_from_cache

    return [
        alternatives[0]
        for alternatives in needed.files
        if not any(isinstance(try_to_load_from_cache(needed.repo, f), str) for f in alternatives)
    ]


def offline_problem(spec: ModelSpec) -> str | None:
    """Why this spec cannot be built here when offline (None: online, no Hub files, or all cached)."""
    needed = hub_files(spec)
    if needed is None or not is_offline():
        return None
    missing = missing_files(needed)
    if not missing:
        return None
    return (
        f"{spec.source} model '{spec.name}' needs {', '.join(missing)} from the Hugging Face Hub repo "
        f"{needed.repo}, which is not in the cache {cache_dir()} and this machine is offline (HF_HUB_OFFLINE=1); "
        f"{needed.fetch_hint()}"
    )


def load_error(spec: ModelSpec, exc: Exception) -> str:
    """The one-line error for a failed Hub load."""
    needed = hub_files(spec)
    detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    if needed is None:
        return (
            f"could not load {spec.source} model '{spec.name}' ({type(exc).__name__}: {detail}); offline? "
            "download the weights where a network exists and set `checkpoint:` to the local file"
        )
    return (
        f"could not load {spec.source} model '{spec.name}' from the Hugging Face Hub repo {needed.repo} "
        f"({type(exc).__name__}: {detail}); {needed.fetch_hint()}"
    )


def _timm_files(spec: ModelSpec) -> HubFiles | None:
    weights = (_TIMM_WEIGHTS,) if spec.pretrained else ()
    if spec.name.startswith(HF_PREFIX):  # the architecture comes from the repo's config.json
        return HubFiles(_repo(spec.name), (("config.json",), *weights))
    if not spec.pretrained:
        return None
    import timm

    cfg = timm.get_pretrained_cfg(spec.name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        return None
    filename = getattr(cfg, "hf_hub_filename", None)
    return HubFiles(repo, ((filename,),) if filename else weights)


def pretrained_tag(spec: ModelSpec) -> str | None:
    """The open_clip pretrained tag to load (None: random init, or weights that come with the name)."""
    import open_clip

    if spec.name.startswith(("hf-hub:", "local-dir:")) or spec.pretrained is False:
        return None
    tags = open_clip.list_pretrained_tags_by_model(spec.name)
    if spec.pretrained is True:
        if not tags:
            raise UserInputError(
                f"open_clip model '{spec.name}' has no pretrained weights; set pretrained: false"
            )
        return "openai" if "openai" in tags else tags[0]
    if spec.pretrained not in tags:
        known = ", ".join(tags) or "none"
        raise UserInputError(
            f"unknown pretrained tag '{spec.pretrained}' for open_clip model '{spec.name}' (known: {known}); "
            "for a local file use `checkpoint:`"
        )
    return spec.pretrained


def _open_clip_files(spec: ModelSpec) -> HubFiles | None:
    if spec.name.startswith(HF_PREFIX):
        return HubFiles(_repo(spec.name), (("open_clip_config.json",), _OPEN_CLIP_WEIGHTS))
    if spec.pretrained is False:
        return None
    import open_clip

    tag = pretrained_tag(spec)
    cfg = open_clip.get_pretrained_cfg(spec.name, tag) if tag else {}
    repo = str(cfg.get("hf_hub", "")).strip("/")
    if not repo:
        return None
    filename = cfg.get("hf_hub_filename")
    return HubFiles(repo, ((filename,),) if filename else (_OPEN_CLIP_WEIGHTS,))


def _repo(name: str) -> str:
    """`hf-hub:org/repo@rev` -> `org/repo`."""
    return name.removeprefix(HF_PREFIX).split("@", 1)[0]
