"""Learners. `sac.py` holds the whole SAC/RLPD update; networks and replay are shared pieces."""
