"""Runnable examples of using ganet_jax from Python (``python -m examples.<name>``)."""
