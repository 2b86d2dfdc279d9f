"""Choosing a rollout backend by name ('hf' or 'vllm'): the one place above the backends that knows them all, so the
interface (sdbench.rollout.backend) imports none of its implementations."""

from __future__ import annotations

from sdbench.core.errors import unknown_name_error
from sdbench.rollout.backend import RolloutBackend

BACKENDS = ("hf", "vllm")


def make_backend(name: str, policy, seed: int | None = None, trust_remote_code: bool = False,
                 **options) -> RolloutBackend:
    """A backend by name; each is imported only when chosen ('vllm' raises SdbenchError with the install
    command when vLLM is missing). `seed` and `trust_remote_code` are for backends that load a copy of the
    model with a sampler of their own (vLLM); the HF backend samples from the policy object with torch's global
    generator, which the caller seeds. `options` go to the backend's constructor (VLLMBackend's knobs:
    gpu_memory_utilization, enable_sleep_mode, …)."""
    if name == "hf":
        from sdbench.rollout.hf_backend import HFBackend

        return HFBackend(policy, **options)
    if name == "vllm":
        from sdbench.rollout.vllm_backend import VLLMBackend

        return VLLMBackend(policy, **({} if seed is None else {"seed": seed}), trust_remote_code=trust_remote_code,
                           **options)
    raise unknown_name_error("rollout backend", name, BACKENDS)
