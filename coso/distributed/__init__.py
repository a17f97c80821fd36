"""Rollout engines: ``local`` (the trainer's process) and ``ray`` (rollout workers on a Ray cluster).

See coso.distributed.ray_engine and docs/distributed.md. Ray is imported only when ``rollout.engine=ray``.
"""

from coso.distributed.ray_engine import ROLLOUT_ENGINES, LocalEngine, RayEngine, build_engine

__all__ = ["ROLLOUT_ENGINES", "LocalEngine", "RayEngine", "build_engine"]
