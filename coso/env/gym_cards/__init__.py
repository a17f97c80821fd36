"""RL4VLM's Gym Cards (NumberLine, EZPoints, Points24, Blackjack) in process: rules, Pillow rendering, the
``{"thoughts", "action"}`` answer grammar, scripted experts, a gymnasium env and the coso domain."""
