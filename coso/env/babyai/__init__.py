"""BabyAI through the ``minigrid`` package: a level's mission and the agent's rendered partial view as the
observation, the seven minigrid actions as text words, minigrid's BabyAI bot as the expert, the coso domain."""
