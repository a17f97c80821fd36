"""coso: online RL fine-tuning of device-control agents (CoSo on the DigiRL lineage)."""

__version__ = "0.1.0"
