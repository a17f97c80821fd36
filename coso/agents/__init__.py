"""Agents write one AutoUI action text per observation: the trained policy (``coso.agents.autoui``) and
the evaluation-only remote CogAgent (``coso.agents.cogagent``). Only the light CogAgent names are
re-exported here, so importing the package does not load torch."""

from coso.agents.cogagent import CogAgent, CogAgentConfig, parse_grounded_operation, reply_to_action_text

__all__ = ["CogAgent", "CogAgentConfig", "parse_grounded_operation", "reply_to_action_text"]
