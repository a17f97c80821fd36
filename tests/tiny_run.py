"""Hydra overrides for a training run small enough for the test suite (tiny policy, short budgets).

A plain module without imports, so tests that start runs as subprocesses need not load torch themselves.
"""

TINY = [
    "scale=smoke",
    "train.eval_episodes=2",
    "agent.max_new_tokens=40",
    "agent.model.d_model=64",
    "agent.model.d_ff=128",
    "agent.model.num_layers=2",
    "agent.model.num_decoder_layers=2",
    "agent.model.num_heads=2",
    "logging.progress=false",
]
